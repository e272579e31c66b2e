"""The dashboard's stylesheet and script, served by the app itself (no CDN, no build).

The script does two things: it asks before a form marked ``data-confirm`` is sent (a
remove), and it fetches the page's ``#live`` part again every few seconds (the server
answers a request with the header ``X-Tickwork-Fragment: 1`` with that part alone).
"""

from __future__ import annotations

__all__ = ["FILES"]

CSS = """
:root { --fg: #1d2329; --muted: #68717a; --line: #dde1e5; --bg: #fff; --head: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.2em; align-items: baseline; padding: .6em 1.2em;
         background: #1d2329; color: #fff; flex-wrap: wrap; }
header a { color: #fff; text-decoration: none; }
header nav a { margin-right: 1em; opacity: .85; }
header nav a.here { opacity: 1; border-bottom: 2px solid #7cb3ff; }
header .brand { font-weight: 700; }
header .source, header .mode, #status { font-size: 12px; opacity: .8; }
#status.failed { color: #ffb4a9; opacity: 1; }
main, .controls, .flash { padding: 0 1.2em; }
h1 { font-size: 20px; margin: .8em 0 .4em; word-break: break-all; }
h2 { font-size: 16px; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; }
th, td { text-align: left; vertical-align: top; padding: .3em .5em;
         border-bottom: 1px solid var(--line); }
thead th { background: var(--head); font-weight: 600; }
table.details th { width: 12em; background: none; font-weight: 600; }
td.id { word-break: break-all; max-width: 22em; }
.muted { color: var(--muted); }
.error { color: #b71c1c; }
.note { color: var(--muted); font-style: italic; }
.empty { color: var(--muted); font-style: italic; }
pre { white-space: pre-wrap; font-size: 12px; background: #fafafa; padding: .5em;
      border: 1px solid var(--line); }
code { font-size: 12px; }
.badge { display: inline-block; padding: 0 .45em; border-radius: 3px; font-size: 12px;
         color: #fff; background: #607d8b; white-space: nowrap; }
.badge.success { background: #2e7d32; } .badge.failure { background: #c62828; }
.badge.missed { background: #ef6c00; } .badge.skipped { background: #9e9e9e; }
.badge.interrupted { background: #6a1b9a; } .badge.late { background: #d84315; }
.badge.paused { background: #455a64; } .badge.broken { background: #880e4f; }
.badge.scheduled { background: #1565c0; } .badge.finished { background: #78909c; }
.summary { display: flex; gap: .6em; flex-wrap: wrap; margin: .8em 0; }
.summary .count { padding: .3em .7em; border: 1px solid var(--line); border-radius: 4px;
                  color: var(--fg); text-decoration: none; }
.charts { display: flex; gap: 1.2em; flex-wrap: wrap; }
.charts figure { flex: 1 1 380px; margin: 0; }
.charts figcaption { font-weight: 600; font-size: 13px; }
svg.chart { display: block; background: #fbfcfd; border: 1px solid var(--line); }
.chart-box { position: relative; }
.chart-box .axis { display: flex; justify-content: space-between; font-size: 11px;
                   color: var(--muted); }
.chart-box .chart-empty { position: absolute; top: 40px; width: 100%; margin: 0;
                          text-align: center; color: var(--muted); }
.timeline { display: flex; gap: 2px; margin: .4em 0; flex-wrap: wrap; }
.timeline .cell { width: 12px; height: 12px; border-radius: 2px; background: #9e9e9e; }
.timeline .success { background: #2e7d32; } .timeline .failure { background: #c62828; }
.timeline .missed { background: #ef6c00; } .timeline .interrupted { background: #6a1b9a; }
form.inline { display: inline; }
form.filters { margin: .8em 0; display: flex; gap: 1em; flex-wrap: wrap; align-items: end; }
button { font: inherit; font-size: 12px; padding: .15em .6em; cursor: pointer; }
button.remove { color: #b71c1c; }
.pager { margin: .8em 0; display: flex; gap: 1em; }
.flash { background: #e8f5e9; border-left: 4px solid #2e7d32; margin: .6em 1.2em;
         padding: .4em .8em; }
.problem { border-left: 4px solid #c62828; background: #ffebee; padding: .6em 1em; }
td.dst { color: #8a4b00; }
"""

JS = """
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  var live = document.getElementById("live");
  var status = document.getElementById("status");
  var every = Number(document.body.getAttribute("data-refresh") || "0");
  if (!live || !(every > 0)) {
    return;
  }
  var busy = false;
  function quiet() {
    // Leave the page alone while someone reads a traceback or types a note.
    var focus = document.activeElement;
    if (focus && live.contains(focus) && focus.tagName === "INPUT") {
      return true;
    }
    return live.querySelector("details[open]") !== null;
  }
  function update() {
    if (busy || document.hidden || quiet()) {
      return;
    }
    busy = true;
    fetch(window.location.href, {
      headers: {"X-Tickwork-Fragment": "1"},
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    }).then(function (html) {
      live.innerHTML = html;
      status.textContent = "updated " + new Date().toLocaleTimeString();
      status.className = "ok";
    }).catch(function (error) {
      status.textContent = "update failed: " + error.message;
      status.className = "failed";
    }).then(function () {
      busy = false;
    });
  }
  window.setInterval(update, every * 1000);
})();
"""

ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">
<circle cx="8" cy="8" r="7" fill="#1d2329"/>
<path d="M8 3v5l3 2" stroke="#7cb3ff" stroke-width="1.6" fill="none"/></svg>
"""

#: Path under ``/static/`` to (content type, body).
FILES = {
    "favicon.svg": ("image/svg+xml", ICON.encode()),
    "dashboard.css": ("text/css; charset=utf-8", CSS.encode()),
    "dashboard.js": ("text/javascript; charset=utf-8", JS.encode()),
}

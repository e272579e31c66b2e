"""The dashboard's security model, over WSGI and ASGI alike: read-only by default, actions
only with allow_actions and authorize, each a POST with a CSRF token and a same-origin
Origin (or Referer), GET changing nothing, and everything from a job escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tickwork import Scheduler
from tickwork.web import Request, local_only, wsgi_app

from .client import ORIGIN, Client, csrf_token, urls
from .conftest import EVIL, Maker


def allow(request: Request) -> bool:
    return True


def _acting(make_client: Maker, target: Scheduler, **options: Any) -> tuple[Client, str]:
    """A client of a dashboard with actions, that has loaded the jobs page (its cookie
    and token)."""
    options.setdefault("authorize", allow)
    client = make_client(target, allow_actions=True, **options)
    page = client.get("/")
    assert page.status == 200
    return client, csrf_token(page.text)


def test_read_only_by_default_renders_no_form_and_refuses_actions(
    make_client: Maker, ran: Scheduler
) -> None:
    client = make_client(ran)
    for path, query in [("/", ""), ("/job", "id=nightly"), ("/runs", ""), ("/processes", "")]:
        page = client.get(path, query)
        assert page.status == 200, page.text
        assert 'method="post"' not in page.text
        assert "read-only" in page.text
    refused = client.post("/actions/pause", {"job_id": "nightly", "csrf": "x"})
    assert refused.status == 403
    assert "read-only" in refused.text
    job = ran.get_job("nightly")
    assert job is not None
    assert not job.paused


def test_actions_without_authorize_are_refused_at_construction(ran: Scheduler) -> None:
    with pytest.raises(ValueError, match="authorize"):
        wsgi_app(ran, allow_actions=True)
    with pytest.raises(TypeError, match="authorize"):
        wsgi_app(ran, allow_actions=True, authorize="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Scheduler"):
        wsgi_app("jobs.db")


def test_pause_with_token_and_origin_pauses_and_redirects_under_the_prefix(
    make_client: Maker, ran: Scheduler
) -> None:
    client = make_client(ran, base="/ops/tw", allow_actions=True, authorize=allow)
    token = csrf_token(client.get("/job", "id=nightly").text)
    done = client.post("/actions/pause", {"job_id": "nightly", "csrf": token, "next": "job"})
    assert done.status == 303, done.text
    assert done.header("location") == "/ops/tw/job?id=nightly&done=pause"
    job = ran.get_job("nightly")
    assert job is not None
    assert job.paused
    page = client.get("/job", "id=nightly&done=pause")
    assert "Paused job nightly." in page.text
    assert 'data-action="resume"' in page.text


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({}, "CSRF"),
        ({"csrf": "0" * 64}, "CSRF"),
        ({"csrf": ""}, "CSRF"),
        ({"csrf": "é"}, "CSRF"),  # (not ASCII: a 500, "the dashboard failed (TypeError)")
        ({"csrf": "\ufffd"}, "CSRF"),  # (what "%ff" decodes to)
    ],
)
def test_a_missing_or_wrong_token_is_refused(
    make_client: Maker, ran: Scheduler, form: dict[str, str], reason: str
) -> None:
    client, _ = _acting(make_client, ran)
    refused = client.post("/actions/pause", {"job_id": "nightly", **form})
    assert refused.status == 403
    assert reason in refused.text
    job = ran.get_job("nightly")
    assert job is not None
    assert not job.paused


def test_a_token_is_bound_to_its_cookie_and_its_app(make_client: Maker, ran: Scheduler) -> None:
    client, token = _acting(make_client, ran)
    # Another browser (another cookie) cannot use this one's token...
    other = Client(client.app, asgi=client.asgi)
    other.get("/")
    assert other.cookies != client.cookies
    refused = other.post("/actions/pause", {"job_id": "nightly", "csrf": token})
    assert refused.status == 403
    # ...nor a token and cookie of another app (another secret) work here.
    stranger, stranger_token = _acting(make_client, ran)
    client.cookies = dict(stranger.cookies)
    refused = client.post("/actions/pause", {"job_id": "nightly", "csrf": stranger_token})
    assert refused.status == 403
    job = ran.get_job("nightly")
    assert job is not None
    assert not job.paused


def test_apps_with_one_secret_accept_each_others_tokens(make_client: Maker, ran: Scheduler) -> None:
    # Several worker processes behind one URL share the secret.
    first, token = _acting(make_client, ran, secret="s" * 32)
    second = make_client(ran, allow_actions=True, authorize=allow, secret="s" * 32)
    second.cookies = dict(first.cookies)
    assert second.post("/actions/pause", {"job_id": "nightly", "csrf": token}).status == 303


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"origin": "http://evil.example"}, False),
        ({"origin": "https://dash.test"}, False),  # another scheme is another origin
        ({"origin": "http://dash.test:8080"}, False),
        ({"origin": "null"}, False),  # a sandboxed frame, with no Referer
        ({}, False),  # no Origin, no Referer
        ({"referer": "http://evil.example/dash.test/"}, False),
        ({"referer": f"{ORIGIN}/job?id=nightly"}, True),
        ({"origin": ORIGIN}, True),
        ({"origin": "https://ops.example.com"}, True),  # trusted
    ],
)
def test_only_the_own_or_a_trusted_origin_may_post(
    make_client: Maker, ran: Scheduler, headers: dict[str, str], allowed: bool
) -> None:
    client, token = _acting(make_client, ran, trusted_origins=["https://ops.example.com"])
    answer = client.post(
        "/actions/pause", {"job_id": "nightly", "csrf": token}, origin=None, headers=headers
    )
    job = ran.get_job("nightly")
    assert job is not None
    if allowed:
        assert answer.status == 303, answer.text
        assert job.paused
    else:
        assert answer.status == 403
        assert "Origin" in answer.text or "cross-origin" in answer.text
        assert not job.paused


def test_authorize_sees_the_request_and_can_refuse(make_client: Maker, ran: Scheduler) -> None:
    seen: list[Request] = []

    def only_admins(request: Request) -> bool:
        seen.append(request)
        return request.headers.get("x-role") == "admin"

    client, token = _acting(make_client, ran, authorize=only_admins)
    refused = client.post("/actions/remove", {"job_id": "nightly", "csrf": token})
    assert refused.status == 403
    assert "not authorized" in refused.text
    assert ran.get_job("nightly") is not None
    assert seen
    assert seen[-1].method == "POST"
    assert seen[-1].path == "/actions/remove"
    done = client.post(
        "/actions/remove", {"job_id": "nightly", "csrf": token}, headers={"x-role": "admin"}
    )
    assert done.status == 303
    assert ran.get_job("nightly") is None


def test_an_authorize_hook_that_raises_refuses(make_client: Maker, ran: Scheduler) -> None:
    def broken(request: Request) -> bool:
        raise KeyError("user")

    client, token = _acting(make_client, ran, authorize=broken)
    assert client.post("/actions/pause", {"job_id": "nightly", "csrf": token}).status == 403


def test_local_only_allows_loopback_clients_alone(make_client: Maker, ran: Scheduler) -> None:
    client, token = _acting(make_client, ran, authorize=local_only)
    client.remote = "192.0.2.7"
    assert client.post("/actions/pause", {"job_id": "nightly", "csrf": token}).status == 403
    client.remote = "::1"
    assert client.post("/actions/pause", {"job_id": "nightly", "csrf": token}).status == 303


def test_get_never_acts(make_client: Maker, ran: Scheduler) -> None:
    client, token = _acting(make_client, ran)
    for action in ("pause", "remove", "run"):
        answer = client.get(f"/actions/{action}", f"job_id=nightly&csrf={token}")
        assert answer.status == 405
    job = ran.get_job("nightly")
    assert job is not None
    assert not job.paused
    assert ran.history("nightly") == []
    assert client.request("POST", "/").status == 405
    assert client.request("DELETE", "/job", "id=nightly").status == 405


def test_each_action_does_what_it_says(make_client: Maker, ran: Scheduler) -> None:
    client, token = _acting(make_client, ran)
    form = {"job_id": "nightly", "csrf": token}
    assert client.post("/actions/pause", {**form, "note": "maintenance <window>"}).status == 303
    job = ran.get_job("nightly")
    assert job is not None
    assert job.paused
    assert job.pause_note == "maintenance <window>"
    assert "maintenance &lt;window&gt;" in client.get("/").text
    assert client.post("/actions/resume", form).status == 303
    job = ran.get_job("nightly")
    assert job is not None
    assert not job.paused
    assert client.post("/actions/run", form).status == 303
    assert [run.outcome.value for run in ran.history("nightly")] == ["success"]
    assert client.post("/actions/remove", form).status == 303
    assert ran.get_job("nightly") is None
    missing = client.post("/actions/pause", form)
    assert missing.status == 404
    assert "nightly" in missing.text
    assert client.post("/actions/explode", form).status == 404
    assert client.post("/actions/pause", {"csrf": token}).status == 400


def test_an_oversized_form_is_refused_unread(make_client: Maker, ran: Scheduler) -> None:
    client, token = _acting(make_client, ran)
    form = {"job_id": "nightly", "csrf": token, "pad": "x" * 70_000}
    answer = client.post("/actions/pause", form)
    assert answer.status == 413


def test_every_page_escapes_a_hostile_id_in_text_attributes_and_urls(
    make_client: Maker, ran: Scheduler
) -> None:
    client, _ = _acting(make_client, ran, base="/p")
    ran.pause_job(EVIL, note=EVIL)
    pages = [
        client.get("/"),
        client.get("/job", "id=" + _quoted(EVIL)),
        client.get("/runs"),
        client.get("/runs", "job=" + _quoted(EVIL)),
        client.get("/job", "id=" + _quoted(EVIL + "missing")),  # the 404 names it
    ]
    for page in pages:
        assert "<script>alert(1)" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "disk <full>" not in page.text
    # In URLs, the id is percent-encoded (then escaped for the attribute).
    links = [url for url in urls(pages[0].text) if "id=" in url]
    assert "/p/job?id=" + _quoted(EVIL) in links
    assert f'value="{_escaped(EVIL)}"' in pages[1].text  # a form's hidden job_id
    assert "disk &lt;full&gt; &amp; &quot;bad&quot;" in pages[1].text


def test_a_hostile_id_round_trips_through_a_form(make_client: Maker, ran: Scheduler) -> None:
    client, token = _acting(make_client, ran)
    done = client.post("/actions/pause", {"job_id": EVIL, "csrf": token, "next": "job"})
    assert done.status == 303
    job = ran.get_job(EVIL)
    assert job is not None
    assert job.paused
    location = done.header("location")
    assert location == "/job?id=" + _quoted(EVIL) + "&done=pause"


def test_arguments_are_hidden_unless_shown(make_client: Maker, ran: Scheduler) -> None:
    hidden = make_client(ran).get("/job", "id=with-args")
    assert "s3cr3t-arg" not in hidden.text
    assert "hidden" in hidden.text
    shown = make_client(ran, show_args=True).get("/job", "id=with-args")
    assert "s3cr3t-arg" in shown.text


def test_pages_carry_a_strict_content_security_policy(make_client: Maker, ran: Scheduler) -> None:
    page = make_client(ran).get("/")
    policy = page.header("content-security-policy") or ""
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.header("x-content-type-options") == "nosniff"
    # No inline script or handler: the policy would block it, and a page needs none.
    assert not re.search(r"<script>|\son[a-z]+=", page.text)


def test_the_csrf_cookie_is_httponly_samesite_and_scoped_to_the_prefix(
    make_client: Maker, ran: Scheduler
) -> None:
    client = make_client(ran, base="/ops", allow_actions=True, authorize=allow)
    cookie = client.get("/").header("set-cookie") or ""
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/ops/" in cookie
    # A read-only dashboard sets no cookie at all.
    assert make_client(ran).get("/").header("set-cookie") is None


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _escaped(text: str) -> str:
    from html import escape

    return escape(text, quote=True)


def test_a_malformed_cookie_of_another_app_does_not_hide_the_token(
    make_client: Maker, ran: Scheduler
) -> None:
    client, token = _acting(make_client, ran)
    nonce = client.cookies["tickwork_csrf"]
    client.cookies = {"broken": '"unterminated', "other": "a b\\c", "tickwork_csrf": nonce}
    assert client.post("/actions/pause", {"job_id": "nightly", "csrf": token}).status == 303


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("dash.test", True),
        ("DASH.test:8080", True),
        ("evil.example", False),
        ("dash.test.evil.example", False),
        ("[::1]:8080", True),
        ("", False),
    ],
)
def test_allowed_hosts_refuse_other_host_headers(
    make_client: Maker, ran: Scheduler, host: str, allowed: bool
) -> None:
    client = make_client(ran, allowed_hosts=["dash.test", "::1"])
    answer = client.get("/", headers={"host": host})
    assert answer.status == (200 if allowed else 403)
    if not allowed:
        assert "host" in answer.text

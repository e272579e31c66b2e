"""Any job id survives the trip through the dashboard: shown escaped as text, linked
percent-encoded, and read back as the same id from the link (Hypothesis)."""

from __future__ import annotations

from html import escape, unescape
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock
from tickwork.web import wsgi_app

from .client import Client, urls
from .conftest import START, fine

IDS = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")),  # no surrogates or control characters
    min_size=1,
    max_size=40,
)


@given(job_id=IDS)
def test_any_id_is_escaped_and_its_link_leads_back_to_it(job_id: str) -> None:
    scheduler = Scheduler(
        clock=FakeClock(START), executors={"default": InlineExecutor()}, timezone="UTC"
    )
    scheduler.add_job(fine, "interval", minutes=1, id=job_id)
    client = Client(wsgi_app(scheduler), base="/p")
    jobs = client.get("/")
    assert jobs.status == 200
    assert f'<tr data-job="{escape(job_id)}">' in jobs.text
    links = [url for url in urls(jobs.text) if url.startswith("/p/job?")]
    assert len(links) == 1
    # urls() gives attribute values as a browser reads them (already unescaped).
    query = urlsplit(links[0]).query
    assert parse_qs(query, keep_blank_values=True) == {"id": [job_id]}
    page = client.get("/job", query)
    assert page.status == 200, page.text
    title = page.text.split("<title>")[1].split("</title>")[0]
    assert unescape(title) == f"Job {job_id} · tickwork"

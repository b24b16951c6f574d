"""`/healthz` and `/metrics` over real HTTP: uvicorn on 127.0.0.1 serving a state filled by a
real poll of the seed corpus (the real classifier) and a real send to aiosmtpd, then broken
for real (garbage bytes, a corpus that is not JSON, a clock moved past the deadline)."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from smtpdfix import SMTPDFix

from feeder.app import Feeder, open_feeder
from feeder.config import Config
from feeder.errors import CorpusError
from feeder.model import PollOutcome, SubscriberStatus
from feeder.web.guard import COMMON_HEADERS
from feeder.web.ops import poll_deadline
from feeder.web.server import create_app, listen, serve_in_thread
from tests.conftest import Site

POLLED = datetime(2026, 2, 6, 1, 0, tzinfo=UTC)  # after the seed corpus's last day
WEEK = "2026-W05"
READERS = ("ann@example.org", "bo@example.org")
LEFT = "cy@example.org"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Clock:
    """The clock of every Feeder the test and the server open; tests move it."""

    def __init__(self) -> None:
        self.now = POLLED

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str


@dataclass
class Watched:
    """A polled and mailed installation, served on 127.0.0.1."""

    site: Site
    config: Config
    clock: Clock
    url: str
    sent: int  # what the send reported as sent

    def feeder(self) -> Feeder:
        return open_feeder(self.config, clock=self.clock)

    def get(self, path: str) -> Reply:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read().decode("utf-8"))
        finally:
            conn.close()

    def metrics(self) -> Samples:
        """/metrics parsed by prometheus_client's own parser: every sample by name and labels."""
        reply = self.get("/metrics")
        assert reply.status == 200, reply.text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(reply.text)
            for sample in family.samples
        }


@pytest.fixture
def watched(make_site: Callable[..., Site]) -> Iterator[Watched]:
    with SMTPDFix("127.0.0.1") as mailbox:
        site = make_site(
            extra=f'[smtp]\nhost = "127.0.0.1"\nport = {mailbox.port}\n'
            "max_per_second = 1000\ntimeout = 5\n"
        )
        config, clock = site.config, Clock()
        with open_feeder(config, clock=clock) as feeder:
            feeder.poll()
            for address in (*READERS, LEFT):
                feeder.subscribe(address)
            feeder.unsubscribe(LEFT)
            report = feeder.send(WEEK)
        assert report.sent == len(READERS) == len(mailbox.messages)
        with (
            listen("127.0.0.1", 0) as sock,
            serve_in_thread(create_app(config, clock=clock), sock) as url,
        ):
            yield Watched(site, config, clock, url, report.sent)


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def test_metrics_report_the_state_as_the_facade_reads_it(watched: Watched) -> None:
    reply = watched.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    assert reply.headers["Cache-Control"] == "no-store"
    assert all(reply.headers[name] == value for name, value in COMMON_HEADERS.items())
    assert not any(person in reply.text for person in (*READERS, LEFT))  # counts, never people

    samples = watched.metrics()
    with watched.feeder() as feeder:
        status = feeder.status()
        (issue,) = feeder.issues()
    assert status.articles == 54 and len(status.per_tag) > 1
    assert samples["feeder_articles", labels()] == status.articles
    per_tag = {
        dict(key)["tag"]: value
        for (name, key), value in samples.items()
        if name == "feeder_tag_articles"
    }
    assert per_tag == {tag or "untagged": count for tag, count in status.per_tag.items()}

    assert samples["feeder_last_poll_timestamp_seconds", labels()] == POLLED.timestamp()
    assert samples["feeder_last_poll_duration_seconds", labels()] > 0
    assert {
        o.value: samples["feeder_last_poll_outcome", labels(outcome=o.value)] for o in PollOutcome
    } == {
        "read": 1,
        "unchanged": 0,
        "failed": 0,
    }

    subscribers = {
        s.value: samples["feeder_subscribers", labels(status=s.value)] for s in SubscriberStatus
    }
    assert subscribers == {"pending": 0, "active": 2, "unsubscribed": 1, "bounced": 0}

    assert issue.key == WEEK
    assert samples["feeder_issue_recipients", labels(week=WEEK)] == issue.recipients == 2
    messages = {
        result: samples["feeder_issue_messages", labels(week=WEEK, result=result)]
        for result in ("sent", "failed", "in_doubt")
    }
    assert messages == {"sent": watched.sent, "failed": 0, "in_doubt": 0}
    assert samples["feeder_issue_send_duration_seconds", labels(week=WEEK)] == pytest.approx(
        issue.send_seconds
    )
    assert issue.send_seconds > 0


def test_healthz_is_ok_after_a_fresh_poll_and_fails_when_it_gets_old(watched: Watched) -> None:
    reply = watched.get("/healthz")
    assert reply.status == 200, reply.text
    assert reply.text.startswith("ok\nlast poll: 2026-02-06T01:00:00+00:00, read, ")
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    assert all(reply.headers[name] == value for name, value in COMMON_HEADERS.items())

    deadline = poll_deadline(watched.config)
    assert deadline == timedelta(seconds=3 * 300 + 60)  # the default poll_seconds: 300
    watched.clock.now = POLLED + deadline
    assert watched.get("/healthz").status == 200  # at the deadline, still fine
    watched.clock.now = POLLED + deadline + timedelta(seconds=1)
    reply = watched.get("/healthz")
    assert reply.status == 503
    assert reply.text.startswith(
        "unhealthy: last poll is 961 s old, more than 960 s (3 × schedule.poll_seconds + 60 s)\n"
        "last poll: 2026-02-06T01:00:00+00:00, read, "
    )

    # A poll that finds the corpus unchanged is a poll: healthy again.
    with watched.feeder() as feeder:
        assert feeder.poll().read is False
    assert watched.get("/healthz").status == 200
    samples = watched.metrics()
    assert samples["feeder_last_poll_outcome", labels(outcome="unchanged")] == 1
    assert samples["feeder_last_poll_timestamp_seconds", labels()] == watched.clock.now.timestamp()


def test_a_failed_poll_makes_healthz_fail_with_its_error(watched: Watched) -> None:
    watched.site.corpus.write_bytes(b"<html>not the corpus</html>")
    watched.clock.now = POLLED + timedelta(minutes=5)
    with watched.feeder() as feeder, pytest.raises(CorpusError):
        feeder.poll()

    reply = watched.get("/healthz")
    assert reply.status == 503
    first, second = reply.text.splitlines()
    assert first.startswith(f"unhealthy: last poll failed: {watched.site.corpus}: not a JSON array")
    assert second.startswith("last poll: 2026-02-06T01:05:00+00:00, failed, ")
    samples = watched.metrics()  # the figures are still there, and say it failed
    assert samples["feeder_last_poll_outcome", labels(outcome="failed")] == 1
    assert samples["feeder_last_poll_outcome", labels(outcome="read")] == 0
    assert samples["feeder_articles", labels()] == 54  # the state is as before the poll


def test_an_unreadable_state_makes_both_answer_503_without_a_traceback(watched: Watched) -> None:
    # Garbage, not chmod 000: the tests run as root, whom no file mode stops.
    state = watched.config.state.path
    state.write_bytes(b"\x00garbage, not SQLite\xff" * 512)
    why = f"state unreadable: {state}: cannot open state database: file is not a database\n"
    health, metrics = watched.get("/healthz"), watched.get("/metrics")
    assert (health.status, health.text) == (503, f"unhealthy: {why}")
    assert (metrics.status, metrics.text) == (503, why)
    for reply in (health, metrics):
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert all(reply.headers[name] == value for name, value in COMMON_HEADERS.items())


def test_a_missing_state_is_reported_not_created_and_then_no_poll_yet(watched: Watched) -> None:
    state = watched.config.state.path
    state.unlink()
    for path in ("/healthz", "/metrics"):
        reply = watched.get(path)
        assert reply.status == 503 and "no state file (run `feeder poll` first)" in reply.text
    assert not state.exists()

    with watched.feeder() as feeder:  # an empty state, as `feeder serve` makes at start
        feeder.subscriber_counts()
    reply = watched.get("/healthz")
    assert reply.status == 503
    assert (
        reply.text
        == "unhealthy: no poll recorded yet (run `feeder poll` or start `feeder daemon`)\n"
    )
    samples = watched.metrics()
    assert {
        o.value: samples["feeder_last_poll_outcome", labels(outcome=o.value)] for o in PollOutcome
    } == {
        "read": 0,
        "unchanged": 0,
        "failed": 0,
    }
    names = {name for name, _ in samples}
    assert "feeder_last_poll_timestamp_seconds" not in names  # no sample before the first poll
    assert samples["feeder_articles", labels()] == 0
    assert not any(name.startswith("feeder_issue_") for name in names)

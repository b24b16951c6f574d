"""`/healthz` and `/metrics`: whether this installation keeps polling, and its figures for
Prometheus. Both read the state through a Feeder opened for the request, so what they report
is the state as it is at that moment, whoever wrote it (the daemon, a cron job, a person).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..app import Feeder, open_feeder
from ..config import Config
from ..errors import FeederError
from ..model import PollAttempt, PollOutcome, SubscriberStatus
from ..text import printable

MISSED_POLLS = 3  # the daemon may miss this many of its polls before /healthz fails …
POLL_SLACK = timedelta(seconds=60)  # … plus this, for a poll that waits for the lock or runs long
ISSUES = 10  # the newest issues /metrics reports
NO_STORE = {"Cache-Control": "no-store"}  # both answer for this moment only


def poll_deadline(config: Config) -> timedelta:
    """How old the last poll may be while /healthz still answers 200.

    One late or missed poll is not an outage, so one interval is too strict; three in a row
    are (the daemon stopped, or the corpus is no longer polled).
    """
    return MISSED_POLLS * timedelta(seconds=config.schedule.poll_seconds) + POLL_SLACK


@dataclass(frozen=True, slots=True)
class Health:
    """What /healthz answers: the reason it is unhealthy (None if it is not), and a line of
    detail either way."""

    problem: str | None
    detail: str = ""


def judge(attempt: PollAttempt | None, now: datetime, deadline: timedelta) -> Health:
    """Healthy when the last poll worked and ended within `deadline` of `now`. Pure."""
    if attempt is None:
        return Health("no poll recorded yet (run `feeder poll` or start `feeder daemon`)")
    seen = f"last poll: {attempt.at.isoformat()}, {attempt.outcome.value}, {attempt.seconds:.1f} s"
    if attempt.outcome is PollOutcome.FAILED:
        return Health(f"last poll failed: {printable(attempt.error or 'no error recorded')}", seen)
    age, limit = int((now - attempt.at).total_seconds()), int(deadline.total_seconds())
    if age > limit:
        rule = f"{MISSED_POLLS} × schedule.poll_seconds + {int(POLL_SLACK.total_seconds())} s"
        return Health(f"last poll is {age} s old, more than {limit} s ({rule})", seen)
    return Health(None, seen)


class Ops:
    """The two operator endpoints over one configuration."""

    def __init__(self, config: Config, clock: Callable[[], datetime] | None) -> None:
        self.config = config
        # A missing state is refused, not created empty: that would hide the problem from
        # the very checks meant to report it.
        self._open = partial(open_feeder, config, clock=clock, create=False)
        # Our own registry: the global one would add this process's Python figures, and keep
        # the collector of every application made in the process (the tests make many).
        self.registry = CollectorRegistry()
        self.registry.register(FeederCollector(self.feeder))

    def routes(self) -> list[Route]:
        # Plain functions: Starlette runs them in its thread pool, as SQLite needs.
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    def feeder(self) -> Feeder:
        """A Feeder over the existing state; StateError, when it is used, if there is none."""
        return self._open()

    def healthz(self, request: Request) -> Response:
        """200 "ok" while the state opens and the last poll is recent; 503 and why not."""
        try:
            with self.feeder() as feeder:
                health = judge(feeder.last_poll_attempt(), feeder.now(), poll_deadline(self.config))
        except FeederError as exc:
            health = Health(f"state unreadable: {printable(str(exc))}")
        lines = ["ok" if health.problem is None else f"unhealthy: {health.problem}"]
        lines += [health.detail] if health.detail else []
        status = 200 if health.problem is None else 503
        return PlainTextResponse("\n".join(lines) + "\n", status, headers=NO_STORE)

    def metrics(self, request: Request) -> Response:
        """The Prometheus text format; 503 with the reason when the state cannot be read, so
        that the scrape fails (Prometheus's `up` turns 0) rather than report zeros."""
        try:
            body = generate_latest(self.registry)
        except FeederError as exc:
            text = f"state unreadable: {printable(str(exc))}\n"
            return PlainTextResponse(text, 503, headers=NO_STORE)
        return Response(body, headers={**NO_STORE, "Content-Type": CONTENT_TYPE_LATEST})


class FeederCollector:
    """The figures of the state, read when Prometheus scrapes.

    All are gauges: each is a count or a time read from the state, not an event counted by
    this process, and some go down (an erased subscriber takes their ledger rows along).
    """

    def __init__(self, feeder: Callable[[], Feeder]) -> None:
        self._feeder = feeder

    def describe(self) -> list[Metric]:
        # Registering calls this instead of collect(): no state is read before a scrape.
        return []

    def collect(self) -> Iterator[Metric]:
        with self._feeder() as feeder:
            status = feeder.status()
            attempt = feeder.last_poll_attempt()
            subscribers = feeder.subscriber_counts()
            issues = feeder.issues(ISSUES)

        yield GaugeMetricFamily("feeder_articles", "Articles in the state.", status.articles)
        per_tag = GaugeMetricFamily(
            "feeder_tag_articles",
            "Articles carrying each tag (an article may carry several); untagged ones as tag "
            '"untagged".',
            labels=["tag"],
        )
        for tag, count in status.per_tag.items():
            per_tag.add_metric([tag or "untagged"], count)
        yield per_tag

        yield from _poll_metrics(attempt)

        by_status = GaugeMetricFamily(
            "feeder_subscribers", "Subscriber addresses in each status.", labels=["status"]
        )
        for state in SubscriberStatus:
            by_status.add_metric([state.value], subscribers.get(state, 0))
        yield by_status

        recipients = GaugeMetricFamily(
            "feeder_issue_recipients",
            f"Ledger rows of each of the {ISSUES} newest issues.",
            labels=["week"],
        )
        messages = GaugeMetricFamily(
            "feeder_issue_messages",
            "Messages of each issue by result: sent (accepted by the server), failed (refused"
            " for good) and in_doubt (claimed by a run that died before it settled them).",
            labels=["week", "result"],
        )
        seconds = GaugeMetricFamily(
            "feeder_issue_send_duration_seconds",
            "How long each issue's send runs took, all together.",
            labels=["week"],
        )
        for issue in issues:
            recipients.add_metric([issue.key], issue.recipients)
            messages.add_metric([issue.key, "sent"], issue.sent)
            messages.add_metric([issue.key, "failed"], issue.failed)
            messages.add_metric([issue.key, "in_doubt"], issue.in_doubt)
            seconds.add_metric([issue.key], issue.send_seconds)
        yield from (recipients, messages, seconds)


def _poll_metrics(attempt: PollAttempt | None) -> Iterator[Metric]:
    """The last poll's time, duration and outcome: one gauge per outcome, 1 for the last
    poll's (all 0 before the first), so an alert is `feeder_last_poll_outcome{outcome="failed"}
    == 1`. Time and duration have no sample before the first poll."""
    at = GaugeMetricFamily(
        "feeder_last_poll_timestamp_seconds",
        "When the last poll ended, successful or not (Unix time).",
    )
    took = GaugeMetricFamily(
        "feeder_last_poll_duration_seconds",
        "How long the last poll took, waiting for the job lock included.",
    )
    outcome = GaugeMetricFamily(
        "feeder_last_poll_outcome",
        "1 for how the last poll ended: read (the corpus was read), unchanged (it was known"
        " unchanged) or failed; 0 for the others.",
        labels=["outcome"],
    )
    if attempt is not None:
        at.add_metric([], attempt.at.timestamp())
        took.add_metric([], attempt.seconds)
    for value in PollOutcome:
        current = attempt is not None and attempt.outcome is value
        outcome.add_metric([value.value], 1 if current else 0)
    yield from (at, took, outcome)

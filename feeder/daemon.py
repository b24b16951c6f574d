"""The daemon: poll on an interval, send the weekly issue on a cron line, catch up what was missed.

The only module that imports APScheduler. Whether a week's issue is due is decided from the
delivery ledger by a pure function, never from the scheduler's memory: APScheduler 3.x
forgets runs that fell while the process was down.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from .config import Config
from .errors import ConfigError, FeederError
from .lock import hold_lock

log = logging.getLogger("feeder")

# How far back to look for the latest cron slot, widening until one is found.
_LOOKBACK = (timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367))


def cron_trigger(line: str, tz: ZoneInfo) -> CronTrigger:
    """A crontab line as a trigger in zone `tz`; ConfigError naming the key if it is bad."""
    try:
        return CronTrigger.from_crontab(line, timezone=tz)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"schedule.newsletter_cron: bad crontab line {line!r}: {exc}") from None


def latest_slot(now: datetime, trigger: CronTrigger) -> datetime | None:
    """The newest time at or before `now` that the cron line fires (None if none in a year)."""
    for back in _LOOKBACK:
        slot = None
        moment = trigger.get_next_fire_time(None, now - back)
        while moment is not None and moment <= now:
            slot = moment
            moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        if slot is not None:
            return slot
    return None


def due_week(
    now: datetime, trigger: CronTrigger, tz: ZoneInfo, done: Callable[[str], bool]
) -> str | None:
    """The week whose issue should go out now, if any.

    Only the latest slot counts: a daemon that was off for a month sends one issue, not
    four. The slot's issue is the last full week before it; it is due until the ledger
    says it was sent or skipped.
    """
    from .newsletter import last_full_week

    slot = latest_slot(now, trigger)
    if slot is None:
        return None
    week = last_full_week(slot, tz)
    return None if done(week) else week


def next_newsletter(now: datetime, config: Config) -> datetime | None:
    """The cron line's next slot after `now`, for `feeder status`."""
    trigger = cron_trigger(config.schedule.newsletter_cron, config.tz)
    return trigger.get_next_fire_time(None, now)


class Daemon:
    """The jobs, run one at a time by a single worker thread so they never interleave."""

    def __init__(self, config: Config, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.clock = clock
        self.stopping = threading.Event()
        self.noted: set[str] = set()  # due weeks already logged as having nobody to go to

    def poll(self) -> None:
        from .poll import run_poll

        try:
            result = run_poll(self.config, warn=log.warning)
        except FeederError as exc:
            log.error("poll failed: %s", exc)
        else:
            log.info("poll: %s", result.summary())
        self.catch_up()

    def catch_up(self) -> None:
        """Send the latest slot's issue if the ledger does not hold it yet."""
        from .mailer import send_issue
        from .store import Store

        if self.stopping.is_set():
            return
        config = self.config
        try:
            trigger = cron_trigger(config.schedule.newsletter_cron, config.tz)
            with Store.open(config.state.path, config.tz) as store:
                week = due_week(self.clock(), trigger, config.tz, lambda key: store.issue_done(key))
                if week is None:
                    return
                if not store.subscribers():
                    # Feeds-only installs are normal: say so once, not after every poll.
                    if week not in self.noted:
                        log.info("newsletter %s is due, but nobody is subscribed yet", week)
                        self.noted.add(week)
                    return
                log.info("newsletter %s is due: sending", week)
                report = send_issue(store, config, week, now=self.clock(), stop=self.stopping)
        except FeederError as exc:
            log.error("newsletter failed: %s", exc)
            return
        log.info("newsletter %s: %s", week, report.summary())


def run_daemon(config: Config, clock: Callable[[], datetime] | None = None) -> None:
    """Run in the foreground until SIGTERM or SIGINT; both finish the current job, then return."""
    # Imported here: config validation needs only the cron parser above.
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from .mailer import check_credentials, smtp_password

    clock = clock or (lambda: datetime.now(UTC))
    trigger = cron_trigger(config.schedule.newsletter_cron, config.tz)
    # A login that can never work fails at start-up, not in a log line at the weekly slot.
    check_credentials(config.smtp, smtp_password())
    with hold_lock(config.lock_path, "daemon"):
        daemon = Daemon(config, clock)
        worker = ThreadPoolExecutor(max_workers=1)
        scheduler = BlockingScheduler(
            timezone=config.tz,
            executors={"default": worker},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_job(
            daemon.poll,
            IntervalTrigger(seconds=config.schedule.poll_seconds, timezone=config.tz),
            id="poll",
            next_run_time=datetime.now(config.tz),  # poll and catch up at start-up
        )
        scheduler.add_job(daemon.catch_up, trigger, id="newsletter")

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("%s: finishing the current job, then stopping", signal.Signals(signum).name)
            daemon.stopping.set()
            # From a signal handler: wait=False, or the handler would block the loop it stops;
            # the loop then returns and the worker's current job is joined below.
            scheduler.shutdown(wait=False)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        log.info(
            "daemon started (pid lock %s): poll every %ss, newsletter at %r (%s)",
            config.lock_path,
            config.schedule.poll_seconds,
            config.schedule.newsletter_cron,
            config.schedule.timezone,
        )
        try:
            scheduler.start()
        finally:
            worker.shutdown(wait=True)  # let the current job finish
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("daemon stopped")

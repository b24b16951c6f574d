"""The daemon: poll on an interval, send the weekly issue on a cron line, catch up what was missed.

It schedules two facade calls, `Feeder.poll` and `Feeder.send_due`, and logs what they did;
the only module that runs APScheduler's scheduler. Whether a week's issue is due is decided
from the delivery ledger (`Feeder.send_due`), never from the scheduler's memory: APScheduler
3.x forgets runs that fell while the process was down.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .app import open_feeder
from .config import Config
from .errors import FeederError, LockedError, LoginRefused
from .newsletter.smtp import PASSWORD_ENV
from .schedule import cron_trigger

log = logging.getLogger("feeder")


class Daemon:
    """The jobs, run one at a time by a single worker thread so they never interleave."""

    def __init__(self, config: Config, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.clock = clock
        self.stopping = threading.Event()
        self.noted: set[str] = set()  # due weeks already logged as having nobody to go to
        self.login_refused = False  # the SMTP server refused the login: sends are paused

    def poll(self) -> None:
        try:
            with open_feeder(self.config, clock=self.clock, upgrade=False) as feeder:
                # Never wait: another process polling now (a second daemon sharing the
                # state, or a `feeder poll`) is doing this turn's work.
                result = feeder.poll(warn=log.warning, wait=0)
        except LockedError as exc:
            log.info("poll skipped, another process is at it: %s", exc)
        except FeederError as exc:
            log.error("poll failed: %s", exc)
        else:
            log.info("poll: %s", result.summary())
        self.catch_up()

    def catch_up(self) -> None:
        """Send the latest slot's issue if the ledger does not hold it yet."""
        if self.stopping.is_set() or self.login_refused:
            return
        try:
            with open_feeder(self.config, clock=self.clock, upgrade=False) as feeder:
                due = feeder.send_due(stop=self.stopping)
        except LoginRefused as exc:
            # The same credentials would be refused on every tick, and a run of failed logins
            # is what gets an account locked or an address banned: stop asking. The config
            # and the password are read only at start-up, so only a restart brings new ones.
            self.login_refused = True
            log.error(
                "newsletter failed: %s; sends are paused until the daemon is restarted "
                "(it reads the config and $%s only at start-up); polls go on",
                exc,
                PASSWORD_ENV,
            )
            return
        except FeederError as exc:
            log.error("newsletter failed: %s", exc)
            return
        if due.nobody and due.week is not None:
            # Feeds-only installs are normal: say so once, not after every poll.
            if due.week not in self.noted:
                log.info("newsletter %s is due, but nobody is subscribed yet", due.week)
                self.noted.add(due.week)
        elif due.report is not None:
            log.info("newsletter %s", due.report.summary())  # the summary names the week


def run_daemon(config: Config, clock: Callable[[], datetime] | None = None) -> None:
    """Run in the foreground until SIGTERM or SIGINT; both finish the current job, then return."""
    clock = clock or (lambda: datetime.now(UTC))
    trigger = cron_trigger(config.schedule.newsletter_cron, config.tz)
    # A login that can never work fails at start-up, not in a log line at the weekly slot;
    # so does a state whose schema is out of date (one line: run `feeder state migrate`).
    starter = open_feeder(config, upgrade=False)
    starter.check_mail_settings()
    starter.storage  # noqa: B018  opened here to check the schema
    # One daemon per state file; its jobs take the state lock one at a time, like any
    # command. On a shared state several daemons run, and the database coordinates them.
    with starter.single_instance():
        starter.close()
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
            "daemon started (%s): poll every %ss, newsletter at %r (%s)",
            f"state {config.state.url}"
            if config.state.url
            else f"pid lock {config.daemon_lock_path}",
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

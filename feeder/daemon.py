"""The daemon: poll on an interval and soon after the corpus changes, send the weekly issue on a
cron line, catch up what was missed.

It schedules two facade calls, `Feeder.poll` and `Feeder.send_due`, and logs what they did;
the only module that runs APScheduler's scheduler and the only one that watches files. Whether
a week's issue is due is decided from the delivery ledger (`Feeder.send_due`), never from the
scheduler's memory: APScheduler 3.x forgets runs that fell while the process was down.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from watchfiles import watch

from .app import open_feeder
from .config import Config
from .errors import FeederError, LockedError, LoginRefused
from .newsletter.smtp import PASSWORD_ENV
from .schedule import cron_trigger

log = logging.getLogger("feeder")

# A change starts a poll once the corpus has been left alone this long: a file written in
# chunks for ten seconds is polled once, after its last chunk, not once per chunk.
SETTLE_SECONDS = 0.3
# How often the watch looks at the clock and at its folder when nothing changes (ms).
TICK_MS = 50
# How often a lost watch looks for its folder to come back (s).
REARM_SECONDS = 1.0
# How often the main thread looks whether a stop signal came (s).
SIGNAL_TICK = 0.1


class Daemon:
    """The jobs, run one at a time by a single worker thread so they never interleave."""

    def __init__(self, config: Config, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.clock = clock
        self.stopping = threading.Event()
        self.noted: set[str] = set()  # due weeks already logged as having nobody to go to
        self.login_refused = False  # the SMTP server refused the login: sends are paused
        self.corpus_changed = threading.Event()  # set by the watch, cleared by the next poll

    def poll(self) -> None:
        self.corpus_changed.clear()  # whatever the watch saw so far, this poll reads
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

    def poll_if_changed(self) -> None:
        """The watch's job. Several may be queued behind a long poll; the first one after a
        change polls, and the rest find the change already read."""
        if self.corpus_changed.is_set():
            self.poll()

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


def settled(changed_at: float | None, now: float) -> bool:
    """Whether a change seen at `changed_at` (monotonic seconds; None: none pending) has been
    left alone long enough to poll."""
    return changed_at is not None and now - changed_at >= SETTLE_SECONDS


class CorpusWatch:
    """Calls `on_settled` after the corpus file changes and then stays unchanged for a moment.

    It watches the file's folder, not the file, so that an atomic replace (a new file renamed
    over the old one) is seen like a write in place. If the folder goes away, is replaced, or
    the watcher fails, it says so once, leaves the polling to the interval, and watches again
    (with one poll, for what it missed) when the folder is back.
    """

    def __init__(
        self, corpus: Path, on_settled: Callable[[], None], stopping: threading.Event
    ) -> None:
        self.corpus = corpus
        self.folder = corpus.parent
        self.on_settled = on_settled
        self.stopping = stopping

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._follow()
                why = f"its folder {self.folder} was removed or replaced"
            except (OSError, RuntimeError) as exc:
                why = f"watching {self.folder} failed: {exc}"
            if self.stopping.is_set():
                return
            log.warning("watch lost: %s; polling on the interval only", why)
            while not self.stopping.wait(REARM_SECONDS) and not self.folder.is_dir():
                pass
            if self.stopping.is_set():
                return
            log.info("watching %s again", self.corpus)
            self.on_settled()

    def _follow(self) -> None:
        """Watch until the folder is no longer the one watched, or the daemon stops."""
        folder = _identity(self.folder)
        changed_at: float | None = None
        for changes in watch(
            self.folder,
            stop_event=self.stopping,
            rust_timeout=TICK_MS,
            yield_on_timeout=True,
            recursive=False,
        ):
            # Every yield is a tick, whatever changed: a poll writing its state file in the
            # same folder must not hold back the settle check.
            now = time.monotonic()
            if any(os.path.basename(path) == self.corpus.name for _, path in changes):
                changed_at = now
            elif settled(changed_at, now):
                changed_at = None
                self.on_settled()
            try:
                if _identity(self.folder) != folder:
                    return
            except FileNotFoundError:
                return


def _identity(folder: Path) -> tuple[int, int]:
    stat = folder.stat()
    return stat.st_dev, stat.st_ino


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
        scheduler = BackgroundScheduler(
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

        def corpus_changed() -> None:
            # Run in the scheduler's one worker, so a watch poll never overlaps another job;
            # a job per change (no id), so one queued behind a running poll is not dropped.
            daemon.corpus_changed.set()
            scheduler.add_job(daemon.poll_if_changed)

        if config.schedule.watch:
            corpus_watch = CorpusWatch(config.corpus.path, corpus_changed, daemon.stopping)
            threading.Thread(target=corpus_watch.run, name="corpus-watch", daemon=True).start()

        # The handler only notes the signal. Setting an Event or stopping the scheduler from
        # it takes a lock the interrupted main thread may hold (a Condition's lock is not
        # reentrant): a SIGTERM landing there once hung the daemon for good.
        signals: list[int] = []

        def stop(signum: int, _frame: FrameType | None) -> None:
            signals.append(signum)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        log.info(
            "daemon started (%s): poll every %ss%s, newsletter at %r (%s)",
            f"state {config.state.url}"
            if config.state.url
            else f"pid lock {config.daemon_lock_path}",
            config.schedule.poll_seconds,
            f" and when {config.corpus.path} changes" if config.schedule.watch else "",
            config.schedule.newsletter_cron,
            config.schedule.timezone,
        )
        try:
            scheduler.start()
            while not signals:
                time.sleep(SIGNAL_TICK)
            log.info(
                "%s: finishing the current job, then stopping", signal.Signals(signals[0]).name
            )
            daemon.stopping.set()
            scheduler.shutdown(wait=False)
        finally:
            worker.shutdown(wait=True)  # let the current job finish
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("daemon stopped")

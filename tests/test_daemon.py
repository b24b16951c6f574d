"""The daemon: the due-week decision, and the real process polling, sending, refusing, stopping,
and never blocking the operator while it idles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from smtpdfix import SMTPDFix

from feeder.newsletter.smtp import PASSWORD_ENV
from feeder.schedule import cron_trigger, due_week, latest_slot, week_bounds
from feeder.storage import open_storage
from tests.conftest import Site, record, seed_records
from tests.newsletter.test_mailer import NON_ASCII_PASSWORD, auth_mailbox


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every test here that opens a state runs on SQLite and on PostgreSQL."""
    return both_backends


TZ = ZoneInfo("Asia/Shanghai")
MONDAY_8 = cron_trigger("0 8 * * mon", TZ)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


# -- The decision, driven through `now` ------------------------------------------------------


def test_latest_slot_is_the_newest_fire_time_not_after_now() -> None:
    assert latest_slot(at("2026-02-04 12:00"), MONDAY_8) == at("2026-02-02 08:00")
    assert latest_slot(at("2026-02-02 08:00"), MONDAY_8) == at("2026-02-02 08:00")
    assert latest_slot(at("2026-02-02 07:59"), MONDAY_8) == at("2026-01-26 08:00")


def test_the_slot_sends_the_last_full_week_until_the_ledger_has_it() -> None:
    def nothing_done(key: str) -> bool:
        return False

    assert due_week(at("2026-02-02 08:00"), MONDAY_8, TZ, nothing_done) == "2026-W05"
    assert due_week(at("2026-02-02 07:59"), MONDAY_8, TZ, nothing_done) == "2026-W04"
    assert due_week(at("2026-02-02 09:00"), MONDAY_8, TZ, lambda k: k == "2026-W05") is None


def test_a_month_off_catches_up_only_the_latest_slot() -> None:
    asked: list[str] = []

    def done(key: str) -> bool:
        asked.append(key)
        return False

    assert due_week(at("2026-03-04 10:00"), MONDAY_8, TZ, done) == "2026-W09"
    assert asked == ["2026-W09"]


def test_a_sunday_evening_slot_sends_the_week_before_not_the_one_ending() -> None:
    sunday = cron_trigger("0 20 * * sun", TZ)
    assert due_week(at("2026-02-01 21:00"), sunday, TZ, lambda k: False) == "2026-W04"


# -- The real process --------------------------------------------------------------------------


class Running:
    """A `feeder daemon` subprocess whose stderr is collected."""

    def __init__(self, site: Site) -> None:
        self.log_path = site.root / f"daemon-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "feeder", "--config", str(site.config_path), "daemon"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.log.close()
        return code


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture
def daemon_site(make_site: Callable[..., Site]) -> Iterator[Site]:
    yield make_site(extra="[schedule]\npoll_seconds = 1\n")


@pytest.mark.parametrize("backend", ["sqlite"])  # on PostgreSQL a second daemon is welcome
def test_daemon_polls_refuses_a_second_and_stops_on_sigterm(daemon_site: Site) -> None:
    site = daemon_site
    all_atom = site.out / "feeds" / "all.atom"
    daemon = Running(site)
    try:
        assert wait_for(all_atom.exists), daemon.text()
        assert wait_for(lambda: "poll: 54 new" in daemon.text()), daemon.text()

        second = subprocess.run(
            [sys.executable, "-m", "feeder", "--config", str(site.config_path), "daemon"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert second.stderr == (
            f"Error: another feeder daemon (pid {daemon.proc.pid}) holds "
            f"{site.root / 'data' / 'state.db.lock'}\n"
        )

        status = subprocess.run(
            [sys.executable, "-m", "feeder", "--config", str(site.config_path), "status", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        report = json.loads(status.stdout)
        assert report["daemon_pid"] == daemon.proc.pid
        assert report["next_poll"] is not None and report["next_newsletter"] is not None

        site.write_corpus([*seed_records(), record("fresh-1", title="刚刚到达的文章")])
        assert wait_for(lambda: "刚刚到达的文章" in all_atom.read_text(encoding="utf-8"), 10)
    finally:
        code = daemon.stop()
    log = daemon.text()
    assert code == 0, log
    assert "Traceback" not in log
    assert "daemon stopped" in log
    assert "poll: 1 new, 0 updated, 54 unchanged, 0 skipped" in log


def due_site(make_site: Callable[..., Site], port: int, smtp: str = "") -> Site:
    """A site whose last Monday-08:00 slot has passed with articles in its week, polling
    every second and mailing to the SMTP server on 127.0.0.1:`port` (`smtp`: more keys)."""
    return make_site(
        due_week_records(),
        extra=(
            '[schedule]\npoll_seconds = 1\nnewsletter_cron = "0 8 * * mon"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 5\n' + smtp
        ),
    )


def test_a_missed_slot_is_sent_once_and_not_again_after_a_restart(
    make_site: Callable[..., Site],
) -> None:
    # The last Monday 08:00 has passed; its issue is the week before it. Put articles there.
    with SMTPDFix("127.0.0.1") as smtpd:
        site = due_site(make_site, smtpd.port)
        for email in ("a@example.org", "b@example.org"):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "feeder",
                    "--config",
                    str(site.config_path),
                    "subscribers",
                    "add",
                    email,
                ],
                check=True,
                capture_output=True,
            )
        first = Running(site)
        try:
            assert wait_for(lambda: len(smtpd.messages) >= 2), first.text()
            assert wait_for(lambda: "poll: unchanged" in first.text()), first.text()
        finally:
            assert first.stop() == 0, first.text()
        second = Running(site)
        try:
            assert wait_for(lambda: second.text().count("poll:") >= 3), second.text()
        finally:
            assert second.stop() == 0, second.text()
        recipients = sorted(m["To"] for m in smtpd.messages)
    assert recipients == ["a@example.org", "b@example.org"]
    assert "is due: sending" not in second.text()
    assert "Traceback" not in first.text() + second.text()


def _week_before(slot: datetime) -> str:
    year, week, _ = (slot - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def week_due_now() -> str:
    """The week whose issue a Monday 08:00 cron line has due now."""
    slot = latest_slot(datetime.now(TZ), MONDAY_8)
    assert slot is not None
    return _week_before(slot)


def due_week_records() -> list[dict[str, str]]:
    """Three articles in the week whose issue is due now."""
    week_start, _ = week_bounds(week_due_now(), TZ)
    day = week_start + timedelta(days=2)
    return [
        record(f"w-{i}", title=f"本周文章{i}", time=f"{day.year}/{day.month}/{day.day}")
        for i in range(3)
    ]


def feeder_cli(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeder", "--config", str(site.config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_week_noted_as_nobody_subscribed_is_sent_once_someone_subscribes(
    make_site: Callable[..., Site],
) -> None:
    with SMTPDFix("127.0.0.1") as smtpd:
        site = due_site(make_site, smtpd.port)
        daemon = Running(site)
        try:
            assert wait_for(lambda: "nobody is subscribed yet" in daemon.text()), daemon.text()
            polls = daemon.text().count("poll:")
            assert wait_for(lambda: daemon.text().count("poll:") >= polls + 2), daemon.text()
            added = feeder_cli(site, "subscribers", "add", "late@example.org")
            assert added.returncode == 0, added.stderr
            assert wait_for(lambda: len(smtpd.messages) == 1, 10), daemon.text()
            summary = f"newsletter {week_due_now()}: 1 sent, 0 already sent"
            assert wait_for(lambda: summary in daemon.text(), 5), daemon.text()
        finally:
            code = daemon.stop()
        (message,) = smtpd.messages
    log = daemon.text()
    assert code == 0, log
    assert message["To"] == "late@example.org"
    assert log.count("but nobody is subscribed yet") == 1  # noted once, over several polls
    assert "Traceback" not in log


def test_a_refused_login_pauses_sends_and_polls_go_on(
    make_site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with auth_mailbox(tmp_path, monkeypatch, "starttls", NON_ASCII_PASSWORD) as smtpd:
        site = due_site(make_site, smtpd.port, 'security = "starttls"\nusername = "feeder"\n')
        for email in ("a@example.org", "b@example.org"):
            assert feeder_cli(site, "subscribers", "add", email).returncode == 0
        monkeypatch.setenv(PASSWORD_ENV, "wrong-密码")  # the daemon inherits the environment
        daemon = Running(site)
        try:
            assert wait_for(lambda: "sends are paused" in daemon.text()), daemon.text()
            polls = daemon.text().count("poll:")
            assert wait_for(lambda: daemon.text().count("poll:") >= polls + 3), daemon.text()
        finally:
            code = daemon.stop()
        logins = list(smtpd.logins)
    log = daemon.text()
    assert code == 0, log
    assert logins == [("feeder", "wrong-密码")]  # one AUTH over all those ticks
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert errors[0].endswith(
        f"newsletter failed: 127.0.0.1:{smtpd.port} refused the login of 'feeder': "
        "535 5.7.8 Authentication credentials invalid; sends are paused until the daemon is "
        f"restarted (it reads the config and ${PASSWORD_ENV} only at start-up); polls go on"
    )
    assert "Traceback" not in log
    status = feeder_cli(site, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["in_doubt"] == []
    with open_storage(site.state, TZ) as store:
        rows = store.deliveries(week_due_now())
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0), ("pending", 0)]


def test_a_failing_poll_is_one_error_line_and_the_daemon_carries_on(daemon_site: Site) -> None:
    site = daemon_site
    daemon = Running(site)
    try:
        assert wait_for(lambda: "poll: 54 new" in daemon.text()), daemon.text()
        site.put_corpus('[{"文章标识符aid": "half')  # an export caught mid-write
        assert wait_for(lambda: "ERROR poll failed:" in daemon.text()), daemon.text()
        site.write_corpus([*seed_records(), record("after-the-storm", title="风雨之后")])
        assert wait_for(lambda: "poll: 1 new, 0 updated, 54 unchanged" in daemon.text())
        assert daemon.proc.poll() is None  # still running
    finally:
        code = daemon.stop()
    log = daemon.text()
    assert code == 0, log
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert errors and all("truncated, or still being written" in line for line in errors)
    # No subscribers: the due issue is mentioned once, not after every poll.
    assert log.count("but nobody is subscribed yet") == 1


def test_an_idle_daemon_never_blocks_the_operator(make_site: Callable[..., Site]) -> None:
    # Idle after its first poll: no interval tick, and no watch to poll the write below first.
    site = make_site(extra="[schedule]\npoll_seconds = 3600\nwatch = false\n")
    daemon = Running(site)
    try:
        assert wait_for(lambda: "poll: 54 new" in daemon.text()), daemon.text()
        site.write_corpus([*seed_records(), record("by-hand")])
        for args, says in (
            (["subscribers", "add", "ann@example.org"], "subscribed ann@example.org"),
            (["newsletter", "send", "--dry-run", "--week", "2026-W05"], "would send 1 messages"),
            (["poll"], "1 new, 0 updated, 54 unchanged, 0 skipped"),
        ):
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "feeder", "--config", str(site.config_path), *args],
                capture_output=True,
                text=True,
                timeout=60,
            )
            seconds = time.monotonic() - started
            assert done.returncode == 0, done.stderr
            assert says in done.stdout, (args, done)
            assert seconds < 10, f"{args} took {seconds:.1f} s beside an idle daemon"
        assert daemon.proc.poll() is None  # and the daemon is still running
    finally:
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.text()

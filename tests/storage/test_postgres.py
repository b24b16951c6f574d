"""PostgreSQL as the shared state: its config, explicit migrations, and moving a state there
and back. (The storage, poll, newsletter, page and daemon tests run on it too.)"""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import portpicker
import psycopg
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from feeder.app import open_feeder
from feeder.cli import main
from feeder.config import parse_config
from feeder.daemon import Daemon
from feeder.errors import ConfigError, StateError
from feeder.jobs.people import add_subscriber
from feeder.jobs.state import copy_target
from feeder.model import Classification, Correction, DeliveryStatus, PollRecord
from feeder.newsletter.dispatch import batch_size
from feeder.storage import SCHEMA_VERSION, open_storage
from feeder.storage.engine import pg_ddl, to_psycopg
from feeder.storage.schema import MIGRATIONS
from tests.conftest import NEWS_POLL, ROOT, NewsState, Site, dump_tables, state_toml
from tests.pg import Cluster


@pytest.fixture
def backend() -> str:
    """PostgreSQL here, but where a test says otherwise."""
    return "postgresql"


# A server nobody listens on: a test that must fail before connecting names it.
NOWHERE = "postgresql://feeder@127.0.0.1:1/feeder"


def cli(site: Site, *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(site.config_path), *args])


# -- Configuration ------------------------------------------------------------------------


def test_state_is_a_path_or_a_url_and_never_holds_a_password(tmp_path: Path) -> None:
    config = parse_config('[state]\nurl = "postgresql://feeder@db.example.org:5432/f"\n', tmp_path)
    assert config.state.location == "postgresql://feeder@db.example.org:5432/f"
    assert parse_config("", tmp_path).state.location == tmp_path / "data" / "state.db"
    with pytest.raises(ConfigError, match=r"state\.path .* or state\.url .*, not both"):
        parse_config('[state]\npath = "s.db"\nurl = "postgresql://f@h/f"\n', tmp_path)
    with pytest.raises(ConfigError, match=r"state\.url must not hold a password") as caught:
        parse_config('[state]\nurl = "postgresql://f:hunter2@h/f"\n', tmp_path)
    assert "hunter2" not in str(caught.value) and "PGPASSWORD" in str(caught.value)
    with pytest.raises(ConfigError, match=r"state\.url must be a postgresql://"):
        parse_config('[state]\nurl = "mysql://f@h/f"\n', tmp_path)


def test_a_copy_target_never_holds_a_password_nor_is_the_state_itself(tmp_path: Path) -> None:
    # The rule state.url keeps (location.refuse_password), said of --to.
    with pytest.raises(ConfigError, match=r"--to must not hold a password") as caught:
        copy_target("postgresql://f:hunter2@h/f", tmp_path / "state.db")
    assert "hunter2" not in str(caught.value) and "PGPASSWORD" in str(caught.value)
    with pytest.raises(StateError, match="that is the state being copied"):
        copy_target(str(tmp_path / "state.db"), tmp_path / "state.db")
    assert copy_target("postgresql://f@h/f", tmp_path / "state.db") == "postgresql://f@h/f"


# A process in which PostgreSQL's driver, an extra, is not installed: importing it fails.
WITHOUT_THE_DRIVER = """
import sys
sys.modules["psycopg"] = sys.modules["psycopg_pool"] = None
from feeder.cli import main
main()
"""


@pytest.mark.parametrize(
    ("state", "args"),
    [("url", ["poll"]), ("url", ["status"]), ("path", ["state", "copy", "--to", NOWHERE])],
    ids=["poll", "status", "state copy --to"],
)
def test_without_the_driver_a_postgresql_state_is_one_line_naming_the_extra(
    tmp_path: Path, state: str, args: list[str]
) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text(state_toml(NOWHERE if state == "url" else tmp_path / "s.db"), "utf-8")
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_DRIVER, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    says = "PostgreSQL's driver is not installed: pip install 'feeder[postgresql]'"
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"Error: {NOWHERE}: {says}\n")


def test_placeholders_are_translated_outside_literals() -> None:
    assert to_psycopg("SELECT ? WHERE a = :a AND b LIKE '10%:x?' AND c % 2 = 0") == (
        "SELECT %s WHERE a = %(a)s AND b LIKE '10%%:x?' AND c %% 2 = 0"
    )
    assert to_psycopg("SELECT CAST(:x AS jsonb), y::text") == "SELECT CAST(%(x)s AS jsonb), y::text"


# -- Schema: explicit on PostgreSQL, refused when out of date ------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # starts from a SQLite state
def test_an_empty_database_is_refused_until_state_migrate(
    make_site: Callable[..., Site], pg_url: str
) -> None:
    site = make_site(extra=state_toml(pg_url))
    result = cli(site, "poll")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {pg_url}: state schema version 0, this feeder needs {SCHEMA_VERSION}; "
        "run `feeder state migrate`\n"
    )
    result = cli(site, "state", "migrate")
    assert result.exit_code == 0, result.output
    assert f"schema version 0 → {SCHEMA_VERSION}" in result.output
    assert "up to date" in cli(site, "state", "migrate").output
    result = cli(site, "poll")
    assert result.exit_code == 0, result.output
    with open_storage(pg_url, site.config.tz) as storage:
        assert storage.count_articles() == 54
        assert storage.schema_version() == SCHEMA_VERSION


def test_daemon_and_serve_refuse_an_out_of_date_sqlite_state(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:6]:
        step(db)  # type: ignore[arg-type]
    db.execute("PRAGMA user_version = 6")
    db.close()
    config = parse_config(state_toml(path), tmp_path)
    with (
        pytest.raises(StateError, match=r"version 6, .* run `feeder state migrate`"),
        open_feeder(config, upgrade=False) as feeder,
    ):
        feeder.storage  # noqa: B018
    # The CLI's other commands still upgrade a SQLite file as they open it.
    with open_feeder(config) as feeder:
        assert feeder.storage.schema_version() == SCHEMA_VERSION


# -- Moving a state: there and back loses nothing -----------------------------------------


def full_state(news: NewsState) -> None:
    """The seed articles, subscribers of every status, a frozen issue with its ledger, polls
    and meta: something in every table."""
    for email in ("ann@example.org", "Bo@example.org", "cy@example.org"):
        add_subscriber(news.store, email, "名字", now=NEWS_POLL)
    news.feeder.unsubscribe("cy@example.org")
    with news.store.transaction():
        news.store.spend_nonce("nonce-1", NEWS_POLL, NEWS_POLL)
        news.store.set_meta("k", "v")
        news.store.put_label(Correction("2650224682_1", "policy", ("industry",), NEWS_POLL))
        news.store.record_poll(
            PollRecord(
                NEWS_POLL, "/c.json", 1, 1_770_000_000_123_456_789, 54, 0, 0, 1, 10, 2, "abc", "def"
            )
        )
    news.feeder.secret  # noqa: B018  kept in meta
    news.feeder.build()  # feed members, archive pages (54 > max_entries) and the account
    with news.store.transaction():  # re-tagged since: pending for the next publish
        news.store.set_tags("2650224682_1", Classification(("policy",)))
    key = "2026-W05"
    with news.store.transaction():
        news.store.freeze_issue(
            key,
            NEWS_POLL,
            ("主题", "<p>html</p>", "text"),
            ["2650224682_1"],
            [],
            {"*": ("主题", "<p>html</p>", "text")},
        )
    with news.store.transaction():
        news.store.claim_batch(key, 1, NEWS_POLL)


def without_ledger_seq(tables: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """PostgreSQL numbers the ledger in a column of its own, where SQLite has the rowid."""
    return {
        t: [tuple(c for c in row if (t, c[0]) != ("deliveries", "seq")) for row in rows]
        for t, rows in tables.items()
    }


@pytest.mark.parametrize("backend", ["sqlite"])  # starts from a SQLite state
def test_state_copy_there_and_back_loses_nothing(
    news: NewsState, pg_url: str, tmp_path: Path
) -> None:
    full_state(news)
    config_file = tmp_path / "feeder.toml"
    config_file.write_text(state_toml(news.config.state.location), encoding="utf-8")
    news.feeder.close()
    original = dump_tables(news.config.state.path)
    assert all(original.values()), {t: len(r) for t, r in original.items()}  # every table

    there = CliRunner().invoke(
        main, ["--config", str(config_file), "state", "copy", "--to", pg_url]
    )
    assert there.exit_code == 0, there.output
    assert "deliveries\t2" in there.output and "articles\t54" in there.output
    assert "counts checked" in there.output
    assert without_ledger_seq(dump_tables(pg_url)) == original

    back_file = tmp_path / "back.toml"
    back_file.write_text(state_toml(pg_url), encoding="utf-8")
    back = tmp_path / "back.db"
    result = CliRunner().invoke(
        main, ["--config", str(back_file), "state", "copy", "--to", str(back)]
    )
    assert result.exit_code == 0, result.output
    assert dump_tables(back) == original
    # The ledger keeps its order (a send resumes where it was), rowid for rowid.
    with sqlite3.connect(back) as a, sqlite3.connect(news.config.state.path) as b:
        order = "SELECT rowid, email FROM deliveries ORDER BY rowid"
        assert a.execute(order).fetchall() == b.execute(order).fetchall()

    # Into a state that holds rows: refused, and nothing is written.
    again = CliRunner().invoke(
        main, ["--config", str(config_file), "state", "copy", "--to", pg_url]
    )
    assert again.exit_code == 1
    assert "is not empty; copy into an empty state" in again.stderr
    assert without_ledger_seq(dump_tables(pg_url)) == original


@pytest.mark.parametrize("backend", ["sqlite"])  # starts from a SQLite state
def test_a_copied_state_numbers_new_polls_after_the_copied_ones(
    pg_cluster: Cluster, news: NewsState, tmp_path: Path, make_site: Callable[..., Site]
) -> None:
    site = make_site()
    assert cli(site, "poll").exit_code == 0
    assert cli(site, "poll", "--force").exit_code == 0
    url = pg_cluster.create()
    result = cli(site, "state", "copy", "--to", url)
    assert result.exit_code == 0, result.output
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO polls (finished_at, corpus_path, size, mtime_ns, new, updated, "
            "unchanged, skipped) VALUES ('x', 'y', 0, 0, 0, 0, 0, 0)"
        )
        ids = [row[0] for row in db.execute("SELECT id FROM polls ORDER BY id")]
    assert ids == [1, 2, 3]
    pg_cluster.drop(url)


# -- Several daemons: disjoint claims, and a dead daemon's batch taken over ---------------

W05 = "2026-W05"
LATER = NEWS_POLL + timedelta(days=5)
READERS = [f"r{i}@example.org" for i in range(6)]


def frozen(news: NewsState) -> None:
    news.subscribe(*READERS)
    with news.store.transaction():
        news.store.freeze_issue(W05, NEWS_POLL, ("s", "h", "t"), [], [], {"*": ("s", "h", "t")})


def test_two_runs_claim_disjoint_batches_at_the_same_time(news: NewsState) -> None:
    frozen(news)
    a, b = news.store, news.store.another()
    try:
        with a.transaction():
            mine, _ = a.claim_batch(W05, 2, LATER)
            with b.transaction():  # while a's claim is not yet committed: its rows are locked
                theirs, _ = b.claim_batch(W05, 2, LATER)
        assert [r.email for r in mine] == READERS[:2]
        assert [r.email for r in theirs] == READERS[2:4]
        # Committed leases are skipped too, by a claim from the start of the ledger.
        with b.transaction():
            rest, _ = b.claim_batch(W05, 10, LATER, expired=LATER - timedelta(minutes=10))
        assert [r.email for r in rest] == READERS[4:]
    finally:
        b.close()


def test_a_dead_runs_untried_rows_are_taken_over_once_its_claim_expires(news: NewsState) -> None:
    frozen(news)
    a, b = news.store, news.store.another()
    try:
        with a.transaction():
            claimed, _ = a.claim_batch(W05, 3, LATER)
        assert a.start_delivery(W05, claimed[0].email, LATER)  # then a dies mid-message
        lease = timedelta(minutes=10)
        with b.transaction():  # too soon: a's rows are still a's
            early, _ = b.claim_batch(W05, 10, LATER + timedelta(minutes=5), expired=LATER - lease)
        assert [r.email for r in early] == READERS[3:]
        with b.transaction():
            now = LATER + timedelta(minutes=11)
            late, _ = b.claim_batch(W05, 10, now, expired=now - lease)
        # The row whose message may have left stays in doubt; the two never tried are b's.
        assert [r.email for r in late] == READERS[1:3]
        assert [d.email for d in b.deliveries_in_doubt()] == [READERS[0]]
        # a's lease is gone: a cannot start them any more, nor settle them.
        assert not a.start_delivery(W05, READERS[1], now)
        with a.transaction():
            a.settle_batch(W05, [(READERS[1], DeliveryStatus.PENDING, None)], now, 3)
        assert b.start_delivery(W05, READERS[1], now)
    finally:
        b.close()


def test_two_runs_settle_their_batches_at_the_same_time(news: NewsState) -> None:
    # A run locks only its own batch's rows to settle them. It used to lock every row other
    # runs held, so two runs settling at once each waited for the other: a deadlock, one
    # run in three or four of test_two_senders_share_an_issue_… below.
    frozen(news)
    a, b = news.store, news.store.another()
    try:
        with a.transaction():
            mine, _ = a.claim_batch(W05, 3, LATER)
        with b.transaction():
            theirs, _ = b.claim_batch(W05, 3, LATER)
        assert all(a.start_delivery(W05, r.email, LATER) for r in mine)
        assert all(b.start_delivery(W05, r.email, LATER) for r in theirs)
        settled = threading.Event()

        def settle_mine() -> None:
            with a.transaction():
                a.settle_batch(W05, [(r.email, DeliveryStatus.SENT, None) for r in mine], LATER, 3)
            settled.set()

        with b.transaction():  # b settles its batch and has not committed yet
            b.settle_batch(W05, [(r.email, DeliveryStatus.SENT, None) for r in theirs], LATER, 3)
            other = threading.Thread(target=settle_mine)
            other.start()
            without_waiting = settled.wait(timeout=10)
        other.join(timeout=30)
        assert without_waiting, "settling one batch waited for another run's open settle"
        assert a.delivery_counts(W05) == {DeliveryStatus.SENT: len(READERS)}
    finally:
        b.close()


class Sink:
    """An SMTP server on 127.0.0.1 that counts the copies each recipient gets."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.copies.update(envelope.rcpt_tos)
        return "250 2.0.0 queued"

    def total(self) -> int:
        with self.lock:
            return sum(self.copies.values())


def sender(site: Site, week: str, log: Path) -> subprocess.Popen[bytes]:
    """`feeder newsletter send` in a process of its own, its output in `log`."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feeder",
            "--config",
            str(site.config_path),
            "newsletter",
            "send",
            "--week",
            week,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def sent_by(log: Path) -> int:
    found = re.search(r": (\d+) sent, ", log.read_text(encoding="utf-8"))
    assert found, log.read_text(encoding="utf-8")
    return int(found[1])


@pytest.mark.slow
def test_two_senders_share_an_issue_and_one_finishes_what_a_killed_one_left(
    make_site: Callable[..., Site], tmp_path: Path
) -> None:
    sink = Sink()
    port = portpicker.pick_unused_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        site = make_site(
            extra=f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nmax_per_second = 250\n'
            "connections = 2\nclaim_seconds = 3\n"
        )
        assert cli(site, "poll").exit_code == 0
        people = tmp_path / "people.txt"
        people.write_text("".join(f"reader{i:04}@example.org\n" for i in range(2000)))
        assert cli(site, "subscribers", "import", str(people)).exit_code == 0
        everyone = {f"reader{i:04}@example.org" for i in range(2000)}

        # Two senders at once: each recipient gets exactly one copy, and both sent some.
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = [sender(site, "2026-W05", log) for log in logs]
        codes = [proc.wait(timeout=120) for proc in procs]
        assert codes == [0, 0], [log.read_text() for log in logs]
        assert set(sink.copies) == everyone and set(sink.copies.values()) == {1}
        assert all(sent_by(log) > 0 for log in logs)
        assert sum(sent_by(log) for log in logs) == 2000

        # kill -9 one mid-send: the other takes over its untried rows once its claim
        # expires, and finishes the issue; only the row in flight may be left in doubt.
        sink.copies.clear()
        killed = sender(site, "2026-W06", tmp_path / "killed.log")
        survivor = sender(site, "2026-W06", tmp_path / "survivor.log")
        deadline = time.monotonic() + 60
        while sink.total() < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        assert survivor.wait(timeout=120) == 1  # the issue has rows in doubt: not complete
        with open_storage(site.state, site.config.tz) as storage:
            doubt = {d.email for d in storage.deliveries_in_doubt()}
            counts = storage.delivery_counts("2026-W06")
        # In doubt: what the killed sender had handed to the server (or was handing) but
        # not yet recorded as sent, at most one batch per connection; nothing is pending.
        assert len(doubt) <= 2 * batch_size(250, 2)
        assert counts == {DeliveryStatus.SENT: 2000 - len(doubt), **(
            {DeliveryStatus.SENDING: len(doubt)} if doubt else {})}  # fmt: skip
        assert set(sink.copies.values()) == {1}  # nobody got two
        assert everyone - set(sink.copies) <= doubt  # and only rows in doubt may have none
        assert sent_by(tmp_path / "survivor.log") > 0
    finally:
        controller.stop()


def test_a_daemon_skips_its_poll_while_another_host_polls(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    assert cli(site, "state", "migrate").exit_code == 0
    daemon = Daemon(site.config, lambda: NEWS_POLL)
    with open_storage(site.state, site.config.tz) as other, other.exclusive("jobs"):
        with caplog.at_level(logging.INFO, logger="feeder"):
            daemon.poll()
        assert "poll skipped, another process is at it" in caplog.text
        assert not site.out.exists()  # it published nothing
    daemon.poll()  # the lock is free again: this one polls
    with open_storage(site.state, site.config.tz) as storage:
        assert storage.count_articles() == 54


# -- Several web workers ------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_serve_runs_several_worker_processes_on_either_backend(site: Site) -> None:
    assert cli(site, "state", "migrate").exit_code == 0
    assert cli(site, "poll").exit_code == 0
    port = portpicker.pick_unused_port()
    log = site.root / "serve.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feeder",
            "--config",
            str(site.config_path),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env={**os.environ, "PYTHONUNBUFFERED": "1", "FEEDER_SECRET": "s" * 32},
    )
    try:
        deadline = time.monotonic() + 30
        answers: list[int] = []
        while time.monotonic() < deadline and len(answers) < 20:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/subscribe", timeout=5) as r:
                    answers.append(r.status)
                    assert "订阅" in r.read().decode("utf-8")
            except OSError:
                time.sleep(0.2)
        assert answers == [200] * 20, log.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feeds/all.atom", timeout=5) as r:
            assert b"<feed" in r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.read().startswith(b"ok")  # each worker reads the state
        workers = [pid for pid in children(proc.pid) if pid != proc.pid]
        assert len(workers) >= 2, log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert "in 2 worker processes" in log.read_text()


def test_portable_schema_steps_mean_on_postgresql_what_they_mean_on_sqlite() -> None:
    step = "CREATE TABLE labels (id TEXT PRIMARY KEY, text TEXT, n INTEGER, s REAL);"
    assert pg_ddl(step) == (
        'CREATE TABLE labels (id TEXT COLLATE "C" PRIMARY KEY, text TEXT COLLATE "C", '
        "n BIGINT, s DOUBLE PRECISION);"
    )
    assert pg_ddl("ALTER TABLE t ADD COLUMN c TEXT DEFAULT 'TEXT'") == (
        "ALTER TABLE t ADD COLUMN c TEXT COLLATE \"C\" DEFAULT 'TEXT'"
    )
    assert pg_ddl("email TEXT COLLATE feeder_nocase") == "email TEXT COLLATE feeder_nocase"


@pytest.mark.parametrize("backend", ["sqlite"])  # the site's own state is replaced
def test_a_server_out_of_reach_is_one_error_line_at_once(make_site: Callable[..., Site]) -> None:
    port = portpicker.pick_unused_port()
    site = make_site(extra=f'[state]\nurl = "postgresql://feeder@127.0.0.1:{port}/feeder"\n')
    started = time.monotonic()
    result = cli(site, "poll")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: postgresql://feeder@127.0.0.1:{port}/feeder: cannot connect to the state "
        "database: connection failed: "
    )
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("backend", ["sqlite"])  # the SQLite site, then a copy on PostgreSQL
def test_both_engines_publish_the_same_bytes(make_site: Callable[..., Site], pg_state: str) -> None:
    site = make_site()
    assert cli(site, "poll").exit_code == 0
    text = site.config_path.read_text(encoding="utf-8")
    other = site.root / "pg.toml"
    other.write_text(
        text.replace("[output]\n", '[output]\ndir = "out-pg"\n') + state_toml(pg_state),
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["--config", str(other), "poll"])
    assert result.exit_code == 0, result.output

    def files(out: Path) -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    sqlite_files, pg_files = files(site.out), files(site.root / "out-pg")
    assert len(sqlite_files) > 5 and sqlite_files == pg_files

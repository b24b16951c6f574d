"""Crash safety: a poll killed with SIGKILL anywhere loses, duplicates and corrupts nothing,
and a corpus rewritten while polls read it is never half-ingested.

The kill tests run the real `feeder poll` in a child process and kill it at random moments
and at the named steps of feeder/faults.py. After each kill every output file is byte for
byte its old or its new version (besides at most the hidden temporary file of the write it
was killed in), the SQLite file passes `PRAGMA integrity_check` and holds the old or the new
state, and the next poll ends exactly where an uninterrupted run ends: the same rows, and an
out/ tree with the same files and folders and the same bytes, temporary files gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from click.testing import CliRunner

from feeder.cli import main
from feeder.config import load_config
from feeder.faults import CRASH_ENV
from feeder.jobs.poll import POLL_KEY
from feeder.lock import holder
from tests.conftest import OUTPUT_FILES, ROOT, SEED_CORPUS, TAXONOMY, run_poll, seed_records

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock")

BASE = 2000  # articles already published before the poll that gets killed
TOTAL = 3000  # articles in the corpus that poll reads
EDITED = 20  # of the BASE articles, the oldest ones get new text (so they are "updated")
RANDOM_KILLS = 20  # plus one at each named step: 9 from BASE, 4 from nothing
TEMP_FILE = re.compile(r"\.(?P<name>[^/]+)\.[0-9a-f]{8}\.tmp")  # write_if_changed's
# How old a temporary file had to be before the fix for issue 11 let the next job remove it.
OLD_TEMP_AGE = 600.0


def synthetic(n: int) -> list[dict[str, str]]:
    """benchmarks/make_corpus.py's records 0 … n-1."""
    spec = importlib.util.spec_from_file_location(
        "make_corpus", ROOT / "benchmarks" / "make_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.articles(n))


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env.update(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def feeder(config: Path, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "feeder", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def write_config(root: Path, corpus: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "feeder.toml"
    path.write_text(
        f'[corpus]\npath = "{corpus}"\n'
        f'[taxonomy]\npath = "{TAXONOMY}"\n'
        '[output]\nbase_url = "http://127.0.0.1:8000/"\n',
        encoding="utf-8",
    )
    return path


Tree = dict[str, bytes | None]


ARCHIVE = "feeds/archive/"  # archive pages (RFC 5005): not in OUTPUT_FILES, one per 100
# An edited entry says when the edit was seen, and archive pages hold every article, the
# edited ones too: their times are the one thing a run at another moment writes otherwise.
UPDATED = re.compile(rb"<updated>[^<]*</updated>")


def tree(out: Path) -> Tree:
    """Everything below `out`, hidden entries included: each file's bytes and each folder
    (None), by path relative to `out`, archive pages with their times blanked. Empty if
    `out` does not exist."""
    found: Tree = {}
    for folder, dirs, files in os.walk(out):
        here = Path(folder)
        for name in dirs:
            found[(here / name).relative_to(out).as_posix()] = None
        for name in files:
            path = (here / name).relative_to(out).as_posix()
            data = (here / name).read_bytes()
            found[path] = UPDATED.sub(b"<updated/>", data) if path.startswith(ARCHIVE) else data
    return found


def assert_same_tree(actual: Tree, expected: Tree) -> None:
    assert sorted(actual) == sorted(expected)  # the same files and folders, nothing more
    for path, data in expected.items():
        assert actual[path] == data, f"{path} differs"


def temp_files(found: Tree) -> list[str]:
    return sorted(path for path in found if TEMP_FILE.fullmatch(path.rsplit("/", 1)[-1]))


def state_digest(db_path: Path) -> str:
    """Everything a poll must get right, and nothing that depends on when it ran.

    Articles (all columns but first_seen and the time of changed_at: whether an article
    was ever edited is kept), tags with their ranks and scores, and the meta table.
    A missing file or a file without tables digests like an empty state.
    """
    digest = hashlib.sha256()
    if not db_path.exists():
        return digest.hexdigest()
    db = sqlite3.connect(db_path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        queries = {
            "articles": "SELECT id, title, url, published, account, content, source, author, "
            "editor, digest, changed_at IS NULL FROM articles ORDER BY id",
            "tags": "SELECT article_id, tag, rank, score FROM tags ORDER BY article_id, tag",
            # The note of the last poll attempt says when it ran: not the poll's outcome.
            "meta": f"SELECT key, value FROM meta WHERE key != '{POLL_KEY}' ORDER BY key",
        }
        for table, sql in queries.items():
            if table in tables:
                for row in db.execute(sql):
                    digest.update(f"{table}{row!r}".encode())
    finally:
        db.close()
    return digest.hexdigest()


def integrity(db_path: Path) -> str:
    # Opening the file also rolls back the hot journal a killed writer leaves behind.
    db = sqlite3.connect(db_path)
    try:
        return ";".join(row[0] for row in db.execute("PRAGMA integrity_check"))
    finally:
        db.close()


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def assert_well_formed(out: Path) -> None:
    for name in OUTPUT_FILES:
        path = out / name
        if not path.exists():
            continue
        if name.endswith(".html"):
            page = _Html()
            page.feed(path.read_text(encoding="utf-8"))
            page.close()
            assert page.tags[:1] == ["html"] and "body" in page.tags, name
        elif name.endswith(".json"):
            json.loads(path.read_bytes())  # raises on a partial document
        else:
            ET.fromstring(path.read_bytes())  # raises on a partial document


# -- The reference runs -------------------------------------------------------------------


@dataclass
class Scenario:
    """A starting point (no state, or BASE articles published) and where a poll of the
    full corpus takes it when nothing goes wrong."""

    name: str
    template: Path | None  # the state folder to start from; None: from nothing
    old_tree: Tree  # its out/
    old_state: str
    new_tree: Tree = field(default_factory=dict)  # out/ after an uninterrupted poll
    new_state: str = ""
    summary: str = ""  # what the uninterrupted poll prints
    seconds: float = 0.0  # how long it took, start-up included
    rewritten: int = 0  # output files it rewrote


@dataclass
class Lab:
    root: Path
    corpus: Path  # TOTAL articles, EDITED of them changed since the base poll
    scenarios: dict[str, Scenario]

    def site(self, scenario: Scenario, name: str) -> Path:
        """A fresh copy of the scenario's starting point; returns its config file."""
        root = self.root / name
        if scenario.template is not None:
            shutil.copytree(scenario.template, root)
        return write_config(root, self.corpus)


def _reference(lab_root: Path, corpus: Path, scenario: Scenario) -> None:
    root = lab_root / f"reference-{scenario.name}"
    if scenario.template is not None:
        shutil.copytree(scenario.template, root)
    config = write_config(root, corpus)
    started = time.monotonic()
    proc = feeder(config, "poll", env=child_env())
    out, err = proc.communicate(timeout=120)
    scenario.seconds = time.monotonic() - started
    assert proc.returncode == 0, err.decode()
    scenario.summary = out.decode()
    scenario.new_tree = tree(root / "out")
    scenario.new_state = state_digest(root / "data" / "state.db")
    files = {path: data for path, data in scenario.new_tree.items() if data is not None}
    scenario.rewritten = sum(scenario.old_tree.get(path) != data for path, data in files.items())
    pages = [path for path in files if path.startswith(ARCHIVE)]
    assert pages and sorted(set(files) - set(pages)) == sorted(OUTPUT_FILES)
    folders = {str(PurePosixPath(path).parent) for path in [*OUTPUT_FILES, *pages]} - {"."}
    folders.add(ARCHIVE.rstrip("/"))
    assert set(scenario.new_tree) - set(files) == folders


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root = tmp_path_factory.mktemp("crash")
    records = synthetic(TOTAL)
    base_corpus = root / "base.json"
    base_corpus.write_text(json.dumps(records[:BASE], ensure_ascii=False), encoding="utf-8")
    # Edit the oldest base articles: their feed entries are far down, so the feeds' bytes
    # do not depend on when the edit was seen, and runs at other times can be compared.
    oldest = sorted(range(BASE), key=lambda i: tuple(map(int, records[i]["时间time"].split("/"))))
    for i in oldest[:EDITED]:
        records[i] = {**records[i], "finalContent": records[i]["finalContent"] + "\r\r（更正）"}
    corpus = root / "corpus.json"
    corpus.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")

    template = root / "template"
    result = CliRunner().invoke(
        main, ["--config", str(write_config(template, base_corpus)), "poll"]
    )
    assert result.exit_code == 0, result.output
    (template / "feeder.toml").unlink()
    (template / "data" / "state.db.job.lock").unlink()
    empty = Scenario("empty", None, {}, state_digest(root / "none.db"))
    base = Scenario(
        "base",
        template,
        tree(template / "out"),
        state_digest(template / "data" / "state.db"),
    )
    for scenario in (empty, base):
        _reference(root, corpus, scenario)
    assert (
        base.summary
        == f"{TOTAL - BASE} new, {EDITED} updated, {BASE - EDITED} unchanged, 0 skipped\n"
    )
    # The two scenarios end with different trees: feeds and their archive pages follow the
    # order in which articles arrived, all at once in one and in two polls in the other.
    return Lab(root, corpus, {"empty": empty, "base": base})


# -- One trial --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    status: int  # the first poll's exit status: -9 if it was killed, 0 if it finished first
    temp_files: list[str]  # the temporary files it left in out/ (the recovery removes them)


def kill_and_recover(
    lab: Lab, scenario: Scenario, name: str, *, delay: float | None = None, crash_at: str = ""
) -> Trial:
    """Run `feeder poll`, kill it (after `delay` s, or at step `crash_at`), check what it
    left, poll again and check that it ends where the reference did."""
    config = lab.site(scenario, name)
    root = config.parent
    out, db = root / "out", root / "data" / "state.db"
    env = child_env(**({CRASH_ENV: crash_at} if crash_at else {}))
    proc = feeder(config, "poll", env=env)
    try:
        proc.wait(timeout=delay if delay is not None else 120)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGKILL
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, -9), err.decode()

    # What the killed poll left behind: every file its old or its new version, and at most
    # the temporary copy of the one file it was writing, hidden from readers and `feeder
    # serve`, holding a prefix of that file's new version.
    left = tree(out)
    temps = temp_files(left)
    assert len(temps) <= 1, temps
    for path in temps:
        match = TEMP_FILE.fullmatch(PurePosixPath(path).name)
        assert match is not None
        target = str(PurePosixPath(path).with_name(match["name"]))
        assert target in OUTPUT_FILES or target.startswith(ARCHIVE), path
        data, new = left[path], scenario.new_tree[target]
        assert data is not None and new is not None, path
        # (An archive page's prefix may end inside a time that tree() blanks in the whole.)
        assert new.startswith(data) or target.startswith(ARCHIVE), path
    published = {path: data for path, data in left.items() if path not in temps}
    for path, data in published.items():
        assert path in scenario.new_tree, f"{path} is visible to readers"
        assert data == scenario.new_tree[path] or (
            path in scenario.old_tree and data == scenario.old_tree[path]
        ), f"{path} is neither its old nor its new version"
    assert set(scenario.old_tree) <= set(published)  # nothing published was taken back
    assert_well_formed(out)
    if db.exists():
        assert integrity(db) == "ok"
    state = state_digest(db)
    assert state in (scenario.old_state, scenario.new_state), "a half-committed state"
    if state == scenario.new_state:
        # Committed only after every output was written and renamed.
        assert_same_tree(left, scenario.new_tree)
    assert holder(root / "data" / "state.db.job.lock") is None  # the kernel dropped the lock

    # The next poll finishes the job: the same rows as an uninterrupted run, and the same
    # out/ tree, file for file and byte for byte, with no temporary file left over.
    recovery = feeder(config, "poll", env=child_env())
    stdout, err = recovery.communicate(timeout=120)
    assert recovery.returncode == 0, err.decode()
    expected = "unchanged\n" if state == scenario.new_state else scenario.summary
    assert stdout.decode() == expected
    assert_same_tree(tree(out), scenario.new_tree)
    assert state_digest(db) == scenario.new_state
    assert not run_poll(load_config(config)).read  # and it knows it is done
    shutil.rmtree(root)
    return Trial(proc.returncode, temps)


def run_trials(lab: Lab, trials: list[tuple[Scenario, str, dict[str, Any]]]) -> list[Trial]:
    """Two trials at a time: one child polls while the other trial is being checked."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(kill_and_recover, lab, s, name, **kw) for s, name, kw in trials]
        return [run.result() for run in runs]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["base", "empty"])
def test_kill_at_every_named_step_loses_nothing(lab: Lab, scenario: str) -> None:
    chosen = lab.scenarios[scenario]
    steps = ["poll-ingested", "poll-published", "poll-committed"]
    # Between the temporary file and the rename: before each file the poll rewrites (and
    # only before the first when starting from nothing, where every file is new anyway).
    last = chosen.rewritten if scenario == "base" else 1
    steps += [f"output-renaming:{n}" for n in range(1, last + 1)]
    trials = [(chosen, f"{scenario}-{step}", {"crash_at": step}) for step in steps]
    for step, trial in zip(steps, run_trials(lab, trials), strict=True):
        assert trial.status == -9, f"the poll never reached {step}"
        # Killed before a rename, the poll leaves that file's temporary copy for the
        # recovery poll to remove; killed anywhere else, none.
        assert len(trial.temp_files) == (1 if step.startswith("output-renaming") else 0), step


@pytest.mark.slow
def test_kill_at_random_moments_loses_nothing(lab: Lab) -> None:
    rng = random.Random(8)
    trials = []
    for trial in range(RANDOM_KILLS):
        scenario = lab.scenarios["base" if trial % 4 else "empty"]
        delay = rng.uniform(0.0, scenario.seconds)
        trials.append((scenario, f"random-{trial}", {"delay": delay}))
    results = run_trials(lab, trials)
    killed = sum(result.status == -9 for result in results)
    left = [path for result in results for path in result.temp_files]
    print(f"{killed} of {RANDOM_KILLS} polls killed; temporary files left: {left}")
    assert killed > 0, "every poll finished before its kill: the trials proved nothing"


def test_a_killed_writers_temporary_file_goes_with_the_next_job_that_takes_the_lock(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, SEED_CORPUS)
    out = tmp_path / "out"
    crashed = feeder(config, "poll", env=child_env(**{CRASH_ENV: "output-renaming"}))
    _, err = crashed.communicate(timeout=60)
    assert crashed.returncode == -9, err.decode()
    left = temp_files(tree(out))
    assert len(left) == 1 and left[0].startswith("feeds/"), left
    # Seconds old: the rule before issue 11 would have kept it for ten minutes.
    assert time.time() - (out / left[0]).stat().st_mtime < OLD_TEMP_AGE

    cli = CliRunner()
    result = cli.invoke(main, ["--config", str(config), "poll"])
    assert result.exit_code == 0, result.output
    assert result.output == f"{len(seed_records())} new, 0 updated, 0 unchanged, 0 skipped\n"
    published = [path for path in tree(out) if not path.startswith(ARCHIVE.rstrip("/"))]
    assert sorted(published) == sorted([*OUTPUT_FILES, "feeds", "newsletter"])  # the copy is gone

    # Every other job that takes the lock clears such files too, and only those: an
    # operator's own hidden file stays. The poll finds nothing to read and returns early.
    (out / ".htaccess").write_text("Options -Indexes\n", encoding="utf-8")
    for command in (["build"], ["newsletter", "render", "--latest"], ["poll"]):
        planted = {".index.html.0123abcd.tmp", "feeds/.all.atom.89abcdef.tmp"}
        for path in planted:
            (out / path).write_bytes(b"<?xml version")
        before = tree(out)
        result = cli.invoke(main, ["--config", str(config), *command])
        assert result.exit_code == 0, result.output
        after = tree(out)
        assert set(before) - set(after) == planted, command
        assert temp_files(after) == [], command
    assert result.output == "unchanged\n"


# -- A corpus rewritten while polls read it ------------------------------------------------


def corpus_bytes(records: list[dict[str, str]], fmt: str) -> bytes:
    if fmt == "array":
        return json.dumps(records, ensure_ascii=False).encode("utf-8")
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def parsed_lines(data: bytes) -> int:
    """How many lines of a JSON Lines prefix hold a whole JSON value."""
    count = 0
    for line in data.splitlines():
        try:
            json.loads(line)
        except ValueError:
            continue
        count += 1
    return count


SUMMARY = re.compile(r"(\d+) new, (\d+) updated, (\d+) unchanged, (\d+) skipped\n")


@dataclass
class PollLog:
    """Every poll's outcome, checked as it comes: never a traceback, never half an answer."""

    corpus: Path
    new: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, code: int, stdout: str, stderr: str) -> None:
        assert "Traceback" not in stderr, stderr
        if code == 1:
            lines = stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"Error: {self.corpus}: "), stderr
            assert stdout == ""
            self.failures.append(lines[0])
            return
        assert code == 0, stderr
        assert stderr == "", stderr  # no record was skipped: nothing half-read was taken
        if stdout != "unchanged\n":
            match = SUMMARY.fullmatch(stdout)
            assert match, stdout
            new, updated, _, skipped = map(int, match.groups())
            assert (updated, skipped) == (0, 0), stdout  # no record was read half-written
            self.new += new


def stored_ids(config: Path) -> list[str]:
    db = sqlite3.connect(load_config(config).state.path)
    try:
        return [row[0] for row in db.execute("SELECT id FROM articles ORDER BY id")]
    finally:
        db.close()


@pytest.mark.parametrize("fmt", ["array", "jsonl"])
def test_a_corpus_caught_mid_write_is_refused_or_read_to_its_last_whole_line(
    tmp_path: Path, fmt: str
) -> None:
    records = synthetic(12)
    final = corpus_bytes(records, fmt)
    corpus = tmp_path / "corpus.json"
    config = write_config(tmp_path, corpus)
    log = PollLog(corpus)
    # Cut points: nothing yet, inside a Chinese character, inside a record, just after
    # the sixth record's line, one byte short of the end, and the whole file.
    sixth = len(corpus_bytes(records[:6], fmt)) - (fmt == "array")  # before the "]"
    title = final.index("标题".encode()) + 1
    cuts = [0, title, len(final) // 3, sixth, len(final) - 1, len(final)]
    for cut in cuts:
        corpus.write_bytes(final[:cut])
        result = CliRunner().invoke(main, ["--config", str(config), "poll"])
        assert result.exception is None or isinstance(result.exception, SystemExit)
        log.check(result.exit_code, result.stdout, result.stderr)
        if fmt == "array" or cut == 0:
            expected = len(records) if cut == len(final) else log.new
            assert result.exit_code == (0 if cut == len(final) else 1)
        else:
            expected = parsed_lines(final[:cut])  # whole lines only; the rest waits
            assert result.exit_code == 0
        assert len(stored_ids(config)) == log.new == expected
    assert "truncated" in log.failures[-1] or fmt == "jsonl"
    assert stored_ids(config) == sorted(r["文章标识符aid"] for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["array", "jsonl"])
def test_polls_during_non_atomic_rewrites_lose_and_repeat_nothing(tmp_path: Path, fmt: str) -> None:
    records = synthetic(90)
    corpus = tmp_path / "corpus.json"
    config = write_config(tmp_path, corpus)
    versions = [records[:n] for n in range(10, len(records) + 1, 8)]
    if len(versions[-1]) != len(records):
        versions.append(records)

    def rewrite() -> None:
        # Truncate, then write in small pieces, each flushed: a reader sees every prefix.
        rng = random.Random(fmt)
        for version in versions:
            data = corpus_bytes(version, fmt)
            with corpus.open("wb") as f:
                for start in range(0, len(data), 4096):
                    f.write(data[start : start + 4096])
                    f.flush()
                    time.sleep(rng.uniform(0, 0.004))
            time.sleep(rng.uniform(0, 0.1))

    writer = threading.Thread(target=rewrite)
    writer.start()
    log = PollLog(corpus)
    polls = 0
    while writer.is_alive() or polls == 0:
        proc = feeder(config, "poll", env=child_env())
        stdout, stderr = proc.communicate(timeout=60)
        log.check(proc.returncode, stdout.decode(), stderr.decode())
        polls += 1
    writer.join()
    proc = feeder(config, "poll", env=child_env())  # the file is whole and stays so
    stdout, stderr = proc.communicate(timeout=60)
    log.check(proc.returncode, stdout.decode(), stderr.decode())
    assert proc.returncode == 0
    ids = sorted(r["文章标识符aid"] for r in records)
    assert stored_ids(config) == ids  # nothing lost
    assert log.new == len(ids)  # and nothing counted new twice
    print(f"{fmt}: {polls + 1} polls, {len(log.failures)} refused a half-written file")


# -- A poll killed while its worker processes read a large corpus -----------------------------


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def started_workers(proc: subprocess.Popen[bytes]) -> set[int]:
    """The poll's child processes, once it has started some (its ingest workers)."""
    workers: set[int] = set()
    while not workers and proc.poll() is None:
        workers = children(proc.pid)
        time.sleep(0.01)
    assert workers, "the poll finished without starting workers"
    return workers


def assert_gone(pids: set[int]) -> None:
    """Every one of `pids` exits within a minute (multiprocessing's tracker lags a little)."""
    deadline = time.monotonic() + 60
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(pid) for pid in pids), "a worker outlived its poll"


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the parallel ingest needs two cores")
def test_a_poll_killed_during_its_parallel_ingest_leaves_no_worker_and_loses_nothing(
    tmp_path: Path,
) -> None:
    from feeder.ingest.workers import PARALLEL_MIN_BYTES

    records = synthetic(6000)
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    assert corpus.stat().st_size >= PARALLEL_MIN_BYTES  # else workers are never started
    reference = write_config(tmp_path / "reference", corpus)
    proc = feeder(reference, "poll", env=child_env())
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()

    config = write_config(tmp_path / "killed", corpus)
    proc = feeder(config, "poll", env=child_env())
    workers = started_workers(proc)
    time.sleep(0.2)  # let them read and send some records
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    assert_gone(workers)

    db = config.parent / "data" / "state.db"
    assert integrity(db) == "ok"
    assert state_digest(db) == state_digest(tmp_path / "none.db")  # nothing half-committed
    again = feeder(config, "poll", env=child_env())
    stdout, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert stdout == out
    assert_same_tree(tree(config.parent / "out"), tree(reference.parent / "out"))
    assert state_digest(db) == state_digest(reference.parent / "data" / "state.db")


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the parallel ingest needs two cores")
# At 0 s the workers are still starting (importing feeder); at 0.2 s they are reading.
@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_ctrl_c_during_a_parallel_ingest_is_one_word_and_leaves_no_worker(
    tmp_path: Path, delay: float
) -> None:
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(synthetic(6000), ensure_ascii=False), encoding="utf-8")
    config = write_config(tmp_path / "site", corpus)
    # Ctrl-C signals the terminal's whole process group: the poll and its workers alike.
    proc = feeder(
        config,
        "poll",
        env=child_env(),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    workers = started_workers(proc)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.decode().strip() == "Aborted!"  # click's word for Ctrl-C; no traceback from anyone
    assert_gone(workers)
    db = config.parent / "data" / "state.db"
    assert integrity(db) == "ok"
    assert state_digest(db) == state_digest(tmp_path / "none.db")  # nothing half-committed

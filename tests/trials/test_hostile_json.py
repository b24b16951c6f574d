"""A hostile corpus record costs only itself (issue 12: "Parse with limits", "Dates").

A record holding a number too long, nesting too deep, a string or a whole record too large,
or a date outside 1970–2100 (or the years the config allows) is skipped with a warning
naming its position and id, in any key, even one feeder never reads; every other record is
ingested and the poll exits 0. This holds for a JSON array and JSON Lines, read in this
process or by worker processes.

Where the old reader killed the process (ijson's C backend segfaulted on a long number) or
took gigabytes (deep nesting), the poll runs in a child process: a regression then fails
its test instead of ending the test run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from feeder.app import open_feeder
from feeder.cli import main
from feeder.errors import CorpusError
from feeder.faults import CRASH_ENV
from feeder.ingest import (
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_RECORD,
    MAX_STRING,
    MAX_VALUES,
    Part,
    Record,
    Skipped,
    arrays,
    checksum,
    read_records,
    scan,
    split,
    workers,
)
from feeder.ingest.normalise import ACCOUNT, CONTENT, ID, TIME, TITLE, URL, BadRecord, parse_time
from feeder.ingest.plan import plan_read
from feeder.model import Change, CorpusFormat
from tests.conftest import ROOT, TAXONOMY, Site, record

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 6, 8, 0, tzinfo=UTC)
LINUX = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="peak memory is read from /proc"
)


# -- Building corpora: records as JSON text, since json.dumps cannot write a long number ------


def good(ident: str, **fields: str) -> str:
    return json.dumps({**record(ident), **fields}, ensure_ascii=False)


def hostile(ident: str, key: str, value: str) -> str:
    """A good record but for `key`, which holds `value` (JSON text), among its fields."""
    fields = {k: v for k, v in record(ident).items() if k != key}
    pairs = [
        f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
        for k, v in fields.items()
    ]
    pairs.insert(len(pairs) // 2, f"{json.dumps(key, ensure_ascii=False)}: {value}")
    return "{" + ", ".join(pairs) + "}"


def number(digits: int) -> str:
    return "9" * digits


def many(values: int) -> str:
    """A list of `values` numbers: under a record's key, about as many values in the record."""
    return "[" + "0," * (values - 1) + "0]"


def nested(levels: int) -> str:
    """A value `levels` deep: under a record's key, the record is `levels` + 1 deep."""
    return "[" * levels + "0" + "]" * levels


def text_file(records: list[str], jsonl: bool) -> str:
    if jsonl:
        return "".join(r + "\n" for r in records)
    return "[" + ",\n".join(records) + "]\n"


def write(site: Site, records: list[str], jsonl: bool) -> None:
    site.corpus.write_text(text_file(records, jsonl), encoding="utf-8")


def poll(site: Site) -> Result:
    return CliRunner().invoke(main, ["--config", str(site.config_path), "poll"])


def stored(site: Site) -> set[str]:
    with open_feeder(site.config) as feeder:
        return set(feeder.storage.known_digests())


def skipped_lines(site: Site, stderr: str) -> list[str]:
    prefix = f"Warning: {site.corpus}: record "
    return [line for line in stderr.splitlines() if line.startswith(prefix)]


def skip_line(site: Site, position: int, ident: str | None, reason: str) -> str:
    where = f"record {position}" if ident is None else f"record {position} (id {ident!r})"
    return f"Warning: {site.corpus}: {where} skipped: {reason}"


FORMATS = pytest.mark.parametrize("jsonl", [False, True], ids=["array", "jsonl"])


@dataclass
class Mode:
    """In this process, or by two worker processes (as a corpus over 32 MB is read)."""

    workers: bool
    runs: list[int]  # parts handed to workers, per poll

    def check(self) -> None:
        assert self.runs == ([2] * len(self.runs) if self.workers else [])
        assert not self.workers or self.runs, "the workers never ran"


@pytest.fixture(params=[False, True], ids=["one process", "workers"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Mode:
    chosen = Mode(request.param, [])
    if chosen.workers:
        monkeypatch.setattr(workers, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(workers, "_cores", lambda: 2)
    real = workers._Writer.run_workers

    def spy(self: Any, parts: list[Any], progress: Any) -> Any:
        chosen.runs.append(len(parts))
        return real(self, parts, progress)

    monkeypatch.setattr(workers._Writer, "run_workers", spy)
    return chosen


# Peak memory of this process, in MB. Not getrusage(): a child started by vfork, as
# subprocess starts one, counts its parent's peak (pytest's) as its own.
PEAK_MB = """
def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
"""

# A poll in a child process: `feeder poll`, through workers if asked, reporting its peak
# memory (its own and its workers') and how many parts it handed to workers.
CHILD = (
    PEAK_MB
    + """
import json, resource, sys
from feeder.ingest import workers
config, report, parallel = sys.argv[1], sys.argv[2], sys.argv[3] == "workers"
runs = []
if parallel:
    workers.PARALLEL_MIN_BYTES = 0
    workers._cores = lambda: 2
    real = workers._Writer.run_workers
    def spy(self, parts, progress):
        runs.append(len(parts))
        return real(self, parts, progress)
    workers._Writer.run_workers = spy
from feeder.cli import main
try:
    main(["--config", config, "poll"])
finally:
    workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with open(report, "w") as f:
        json.dump({"runs": runs, "rss_mb": max(peak_mb(), workers_mb)}, f)
"""
)


def poll_in_child(site: Site, workers_too: bool) -> tuple[subprocess.CompletedProcess[str], Any]:
    report = site.root / "report.json"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(site.config_path),
            str(report),
            "workers" if workers_too else "one",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, f"poll ended with {done.returncode}: {done.stderr[-2000:]}"
    found = json.loads(report.read_text())
    assert found["runs"] == ([2] if workers_too else [])
    return done, found


# -- The reproductions of issue 12 ---------------------------------------------------------


@FORMATS
@pytest.mark.parametrize("workers_too", [False, True], ids=["one process", "workers"])
def test_a_number_that_crashed_the_parser_costs_only_its_record(
    make_site: Callable[..., Site], jsonl: bool, workers_too: bool
) -> None:
    # 5,000 digits in a key feeder never reads: exit 139 (SIGSEGV) from ijson's C backend.
    site = make_site([])
    records = [
        hostile("deep-big", "extra", f'{{"list": [1, {number(20_000)}]}}'),
        good("a"),
        hostile("big", "阅读数", number(5_000)),
        good("b"),
    ]
    write(site, records, jsonl)
    done, _ = poll_in_child(site, workers_too)
    assert done.stdout == "2 new, 0 updated, 0 unchanged, 2 skipped\n"
    assert skipped_lines(site, done.stderr) == [
        skip_line(site, 1, "deep-big", "a number of 20,000 digits in 'extra' (at most 1,000)"),
        skip_line(site, 3, "big", "a number of 5,000 digits in '阅读数' (at most 1,000)"),
    ]
    assert done.stderr.count("\n") == 2
    assert stored(site) == {"a", "b"}


@FORMATS
def test_a_title_nested_a_thousand_deep_costs_only_its_record(
    make_site: Callable[..., Site], jsonl: bool, mode: Mode
) -> None:
    # 2 KB that gave digest() a RecursionError on every poll.
    site = make_site([])
    write(site, [good("a"), hostile("deep", TITLE, nested(1_000)), good("b")], jsonl)
    result = poll(site)
    assert result.exit_code == 0, result.output
    assert skipped_lines(site, result.stderr) == [
        skip_line(site, 2, "deep", f"nested more than 64 levels deep in {TITLE!r}")
    ]
    assert stored(site) == {"a", "b"}
    mode.check()


@LINUX
@FORMATS
@pytest.mark.parametrize("workers_too", [False, True], ids=["one process", "workers"])
def test_nesting_twenty_thousand_deep_in_an_unread_key_takes_little_memory(
    make_site: Callable[..., Site], jsonl: bool, workers_too: bool
) -> None:
    # 40 KB that took 1 GB here: ijson kept the path of every level as a string.
    site = make_site([])
    deep = '{"k": ' * 10_000 + "[" * 10_000 + "]" * 10_000 + "}" * 10_000
    write(site, [good("a"), hostile("deep", "unused", deep), good("b")], jsonl)
    done, report = poll_in_child(site, workers_too)
    assert report["rss_mb"] < 200, report
    assert skipped_lines(site, done.stderr) == [
        skip_line(site, 2, "deep", "nested more than 64 levels deep in 'unused'")
    ]
    assert stored(site) == {"a", "b"}


@FORMATS
def test_dates_outside_the_supported_years_are_skipped_and_named(
    make_site: Callable[..., Site], jsonl: bool, mode: Mode
) -> None:
    # Each stopped every poll (OverflowError), or was stored and broke `newsletter render`.
    site = make_site([])
    dates = ["0001/1/1", "9999/12/31", "9999-12-31T23:59:59-10:00", "1969/12/31", "2101/1/1"]
    records = [good("a")] + [good(f"d{i}", **{TIME: d}) for i, d in enumerate(dates)]
    write(site, [*records, good("b", **{TIME: "2100-12-31T23:59:59"})], jsonl)
    result = poll(site)
    assert result.exit_code == 0, result.output
    years = [1, 9999, 9999, 1969, 2101]
    assert skipped_lines(site, result.stderr) == [
        skip_line(site, i + 2, f"d{i}", f"{TIME}={d!r}: year {y} is outside 1970–2100")
        for i, (d, y) in enumerate(zip(dates, years, strict=True))
    ]
    assert stored(site) == {"a", "b"}
    mode.check()
    render = CliRunner().invoke(
        main, ["--config", str(site.config_path), "newsletter", "render", "--latest"]
    )
    assert render.exit_code == 0, render.output


def test_the_years_are_a_parameter_carried_by_the_job(tmp_path: Path) -> None:
    assert parse_time("1999/12/31", TZ, (1990, 2000)).year == 1999
    with pytest.raises(BadRecord, match="year 2001 is outside 1990–2000"):
        parse_time("2001/1/1", TZ, (1990, 2000))
    # Judged in the configured zone: the instant is 2000-01-01 07:00 in Shanghai.
    with pytest.raises(BadRecord, match="year 2000 is outside 1990–1999"):
        parse_time("1999-12-31T23:00:00Z", TZ, (1990, 1999))
    path = tmp_path / "c.json"
    path.write_text(text_file([good("old", **{TIME: "1980/1/1"}), good("new")], False))
    job = workers.Job(path, "Asia/Shanghai", TAXONOMY, {}, False)
    assert job.years == (1970, 2100)
    narrow = workers.Job(path, "Asia/Shanghai", TAXONOMY, {}, False, years=(2000, 2100))
    for each, kept in ((job, ["old", "new"]), (narrow, ["new"])):
        items = list(workers.read_part(each, Part(), None))
        assert [i.row.id for i in items if isinstance(i, workers.Changed)] == kept


def test_the_years_an_article_may_carry_come_from_the_config(
    make_site: Callable[..., Site],
) -> None:
    corpus = [record("now"), record("early", time="1999/12/31"), record("far", time="0001/1/1")]
    site = make_site(corpus)
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(
        text.replace('path = "data/corpus.json"', 'path = "data/corpus.json"\nmin_year = 2000'),
        encoding="utf-8",
    )
    result = poll(site)
    assert (result.exit_code, result.stdout) == (0, "1 new, 0 updated, 0 unchanged, 2 skipped\n")
    err = result.stderr
    assert "year 1999 is outside 2000–2100" in err and "year 1 is outside 2000–2100" in err
    result = CliRunner().invoke(main, ["--config", str(site.config_path), "classify"])
    out = result.stdout
    assert result.exit_code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["now"]


@pytest.mark.parametrize(
    "content",
    [
        b"root:$6$Salt1234$HashHashHash:19000:0:99999:7:::\nalice:$6$x$y:19000::::::\n",
        b"\x7fELF\x02\x01\x01secret-bytes",
        b"  \n\t PRIVATE KEY-----",
    ],
    ids=["shadow", "binary", "after white space"],
)
def test_a_corpus_that_is_not_json_is_named_but_never_shown(
    make_site: Callable[..., Site], content: bytes
) -> None:
    site = make_site([])
    site.corpus.write_bytes(content)
    result = poll(site)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {site.corpus}: not a JSON array or JSON Lines of articles")
    assert "is not [ or {" in line
    assert "(line " in line
    shown = line.replace(str(site.corpus), "")
    for secret in ("root", "$6$", "Salt", "ELF", "secret", "PRIVATE", "KEY"):
        assert secret not in shown


@FORMATS
def test_a_worker_killed_mid_part_is_named_and_the_file_read_again(
    make_site: Callable[..., Site], monkeypatch: pytest.MonkeyPatch, jsonl: bool
) -> None:
    monkeypatch.setattr(workers, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(workers, "_cores", lambda: 2)
    # Each worker SIGKILLs itself after sending its first batch (see feeder/faults.py).
    monkeypatch.setenv(CRASH_ENV, "ingest-batch-sent")
    site = make_site([])
    count = workers.BATCH * 4
    write(site, [good(f"r{i}", finalContent="正文" * 50) for i in range(count)], jsonl)
    config = site.config
    parts = split(config.corpus.path, workers.WORKERS)
    ranges = [f"{p.start}–{p.end}" if p.end else f"{p.start} to the end" for p in parts]
    warnings: list[str] = []
    with open_feeder(config) as feeder:
        storage = feeder.storage
        job = workers.Job(config.corpus.path, config.schedule.timezone, TAXONOMY, {}, False)
        with storage.transaction():
            result = workers.ingest(storage, job, NOW, warn=warnings.append)
    assert result.count(Change.NEW) == count and result.skipped == []
    (line,) = warnings
    match = re.fullmatch(
        f"{re.escape(str(site.corpus))}: reading bytes (.+) failed: worker ended with signal 9 "
        r"\(SIGKILL\); reading the whole file again in this process",
        line,
    )
    assert match and match[1] in ranges, line

    # And a whole poll, which says so too: every record stored, exit 0.
    outcome = poll(site)
    assert outcome.exit_code == 0, outcome.output
    assert "failed: worker ended with signal 9 (SIGKILL); reading the whole" in outcome.stderr
    assert len(stored(site)) == count


def test_a_corpus_gone_mid_poll_is_a_corpus_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone.json"
    calls: list[Callable[[], object]] = [
        lambda: checksum(gone, 100),
        lambda: checksum(gone, 100, since="crc32:10:00000000"),
        lambda: split(gone, 2),
        lambda: list(read_records(gone)),
        lambda: plan_read(gone, CorpusFormat.ARRAY, 100, None, resumable=True),
    ]
    for call in calls:
        with pytest.raises(CorpusError, match=re.escape(str(gone))):
            call()
    job = workers.Job(gone, "Asia/Shanghai", TAXONOMY, {}, False)
    with pytest.raises(CorpusError, match=re.escape(str(gone))):
        workers.ingest(mock.Mock(), job, NOW)


# -- Each limit, at its edge -----------------------------------------------------------------


def read(text: str | bytes, tmp_path: Path) -> list[Record | Skipped]:
    path = tmp_path / "c.json"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return list(read_records(path))


def outcome(items: list[Record | Skipped]) -> list[tuple[int, str | None, str | None]]:
    """(position, id, reason) of each item; reason None for a record that was read."""
    return [
        (i.position, i.id, i.reason) if isinstance(i, Skipped) else (i.position, i.id, None)
        for i in items
    ]


@FORMATS
def test_each_limit_is_kept_up_to_its_edge_and_refused_past_it(tmp_path: Path, jsonl: bool) -> None:
    at_edge = [
        hostile("digits-ok", "n", number(MAX_DIGITS)),
        hostile("negative-ok", "n", "-" + number(MAX_DIGITS - 1)),
        hostile("depth-ok", "n", nested(MAX_DEPTH - 1)),
        hostile("values-ok", "n", many(MAX_VALUES - 100)),
    ]
    past = [
        hostile("digits", "n", number(MAX_DIGITS + 1)),
        hostile("fraction", "n", "0." + number(MAX_DIGITS)),
        hostile("depth", "n", nested(MAX_DEPTH)),
        hostile("values", "n", many(MAX_VALUES + 1)),
    ]
    got = outcome(read(text_file(at_edge + past, jsonl), tmp_path))
    assert got[:4] == [
        (1, "digits-ok", None),
        (2, "negative-ok", None),
        (3, "depth-ok", None),
        (4, "values-ok", None),
    ]
    assert got[4:] == [
        (5, "digits", "a number of 1,001 digits in 'n' (at most 1,000)"),
        (6, "fraction", "a number of 1,002 digits in 'n' (at most 1,000)"),
        (7, "depth", "nested more than 64 levels deep in 'n'"),
        (8, "values", "more than 100,000 values in 'n'"),
    ]


@FORMATS
def test_a_string_over_ten_megabytes_and_a_record_over_sixteen_are_skipped(
    tmp_path: Path, jsonl: bool
) -> None:
    at_edge = "a" * MAX_STRING
    key = "字" * (MAX_STRING // 3 + 1)
    records = [
        good("edge", finalContent=at_edge),
        good("string", finalContent=at_edge + "b"),
        hostile("key", key, "1"),
        # Each string within its limit, the whole over its own.
        good("record", finalContent="字" * (MAX_STRING // 3), 标题title="x" * (7 << 20)),
        good("after"),
    ]
    got = outcome(read(text_file(records, jsonl), tmp_path))
    record_size = len(records[3].encode())
    assert record_size > MAX_RECORD
    assert got == [
        (1, "edge", None),
        (2, "string", f"a string of {MAX_STRING + 1:,} bytes in 'finalContent' (at most 10 MB)"),
        (3, "key", f"a key of {len(key.encode()):,} bytes (at most 10 MB)"),
        (4, "record", f"the record takes {record_size:,} bytes (at most 16 MB)"),
        (5, "after", None),
    ]


# 80 MB in one string; 6 MB of empty objects (350 MB, were they decoded), which the reader
# follows token by token: slowly (about 1 MB/s), but in little memory.
HUGE = {
    "string": (b'"', b'\\"[{' * (1 << 18), 80, b'"'),
    "values": (b"[", b"{}," * ((1 << 20) // 3), 6, b"{}]"),
}


@LINUX
@FORMATS
@pytest.mark.parametrize("shape", sorted(HUGE))
def test_a_huge_record_is_followed_without_being_held(
    tmp_path: Path, jsonl: bool, shape: str
) -> None:
    opening, megabyte, megabytes, closing = HUGE[shape]
    path = tmp_path / "c.json"
    with path.open("wb") as f:
        f.write(b"" if jsonl else b"[")
        f.write(good("a").encode() + (b"\n" if jsonl else b","))
        f.write(f'{{"{ID}": "huge", "x": '.encode() + opening)
        for _ in range(megabytes):
            f.write(megabyte)
        f.write(closing + b"}" + (b"\n" if jsonl else b","))
        f.write(good("b").encode() + (b"\n" if jsonl else b"]"))
    code = PEAK_MB + (
        "import sys\n"
        "from pathlib import Path\n"
        "from feeder.ingest import read_records, Skipped\n"
        "items = list(read_records(Path(sys.argv[1])))\n"
        "print([(i.position, i.id, isinstance(i, Skipped)) for i in items])\n"
        "print(int(peak_mb()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    items, rss_mb = done.stdout.splitlines()
    assert items == "[(1, 'a', False), (2, 'huge', True), (3, 'b', False)]"
    assert int(rss_mb) < 200


def test_bytes_that_are_not_utf8_cost_only_their_record(tmp_path: Path) -> None:
    bad = good("bad", finalContent="正文").encode().replace("正文".encode(), b"\xff\xfe")
    data = b"[" + good("a").encode() + b"," + bad + b"," + good("b").encode() + b"]"
    assert outcome(read(data, tmp_path)) == [
        (1, "a", None),
        (2, "bad", "not UTF-8"),
        (3, "b", None),
    ]


def test_a_skipped_record_names_an_id_written_as_a_number_or_with_escapes(
    tmp_path: Path,
) -> None:
    deep = nested(2_000)
    records = [
        "{" + f'"{ID}": 12345, "x": {deep}' + "}",
        '{"x": ' + deep + ', "\\u6587\\u7ae0\\u6807\\u8bc6\\u7b26aid": "esc\\"aped"}',
        '{"x": ' + deep + f', "y": {{"{ID}": "nested, not the record\'s"}}' + "}",
        "{" + f'"{ID}": "{"i" * 300}", "x": {deep}' + "}",
    ]
    got = outcome(read(text_file(records, False), tmp_path))
    assert [(position, ident) for position, ident, _ in got] == [
        (1, "12345"),
        (2, 'esc"aped'),
        (3, None),
        (4, None),  # too long to name
    ]


def test_a_truncated_array_is_still_a_corpus_error_at_its_end(tmp_path: Path) -> None:
    text = text_file([good("a"), hostile("deep", "x", nested(5_000))], False)
    for cut in (len(text) // 2, len(text) - 2, len(text) - 50):
        with pytest.raises(CorpusError, match=r"truncated.*\(line 2, column \d+\)"):
            read(text[:cut], tmp_path)


# -- Hostile records in random keys, mixed with good ones ---------------------------------------

KEYS = st.sampled_from([ID, TITLE, URL, TIME, ACCOUNT, CONTENT, "阅读数", "extra", ""]) | st.text(
    alphabet='ab字\\"[]{}:,', max_size=6
)
# Text that looks like structure inside strings: brackets, quotes and backslashes.
TEXT = st.text(alphabet='ab字[]{}"\\:, ', min_size=1, max_size=12).filter(str.strip)
BAD_DATES = st.sampled_from(
    ["0001/1/1", "9999/12/31", "9999-12-31T23:59:59-10:00", "1969/12/31", "2101/1/1", "0000/1/1"]
) | st.integers(2101, 9999).map(lambda year: f"{year}-01-01")


@dataclass(frozen=True)
class Bad:
    """A hostile record: its JSON text, its id if readable, what its warning must say."""

    what: str  # in a few words, for hypothesis to show (the text may take 10 MB)
    text: str = field(repr=False)
    id: str | None
    says: str


@st.composite
def bad_record(draw: st.DrawFn, ident: str, huge: bool) -> Bad:
    kinds = ["number", "depth", "date", "values"] + (["string"] if huge else [])
    kind = draw(st.sampled_from(kinds))
    event(kind)
    if kind == "date":
        when = draw(BAD_DATES)
        return Bad(f"date {when}", good(ident, **{TIME: when}), ident, "is outside 1970–2100")
    key = draw(KEYS)
    if kind == "number":
        digits = draw(st.sampled_from([MAX_DIGITS + 1, 4_301, 5_000, 50_000]))
        sign, tail = draw(st.sampled_from(["", "-"])), draw(st.sampled_from(["", ".5", "e7"]))
        value, says, what = sign + number(digits) + tail, "digits", f"{digits} digits"
    elif kind == "depth":
        levels = draw(st.sampled_from([MAX_DEPTH, 300, 2_000, 20_000]))
        units = draw(st.lists(st.sampled_from(["[", '{"k":']), min_size=1, max_size=3))
        openers = (units * levels)[:levels]
        closers = ["]" if u == "[" else "}" for u in reversed(openers)]
        inner = draw(TEXT.map(json.dumps))
        value, says = "".join(openers) + inner + "".join(closers), "nested"
        what = f"{levels} levels of {''.join(units)}"
    elif kind == "values":
        count = draw(st.sampled_from([MAX_VALUES + 1, 3 * MAX_VALUES]))
        value, says, what = many(count), "values", f"{count} values"
    else:  # 10 MB in the file either way (json.dumps would write 字 as 6 bytes, \u5b57)
        letter = draw(st.sampled_from(["a", "字"]))
        value = f'"{letter * (MAX_STRING // len(letter.encode()) + 1)}"'
        says, what = "bytes", f"10 MB of {letter}"
    if draw(st.booleans()):  # one level down: a key feeder never reads
        value, what = f'{{"inner": [1, {value}]}}', f"{what}, one level down"
    return Bad(f"{what} in {key!r}", hostile(ident, key, value), None if key == ID else ident, says)


@st.composite
def corpora(draw: st.DrawFn, huge: bool = False) -> tuple[list[str | Bad], bool]:
    """Good records (as text) and Bad ones, in random order; and whether it is JSON Lines."""
    count = draw(st.integers(1, 8))
    items: list[str | Bad] = []
    for i in range(count):
        if draw(st.integers(0, 2)) == 0:
            items.append(draw(bad_record(f"bad-{i}", huge)))
        else:
            day = draw(st.dates(date(1971, 1, 1), date(2099, 12, 31)))
            title = draw(TEXT)
            items.append(
                good(f"good-{i}", **{TIME: f"{day.year}/{day.month}/{day.day}"}, 标题title=title)
            )
    return items, draw(st.booleans())


def expected(items: list[str | Bad]) -> tuple[set[str], list[tuple[int, Bad]]]:
    goods = {json.loads(i)[ID] for i in items if isinstance(i, str)}
    bads = [(n, i) for n, i in enumerate(items, 1) if isinstance(i, Bad)]
    return goods, bads


SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(SETTINGS, max_examples=100)
@given(corpora(), st.sampled_from([5, 64, arrays.CHUNK]))
def test_the_reader_keeps_every_good_record_and_names_every_bad_one(
    case: tuple[list[str | Bad], bool], chunk: int
) -> None:
    # Small chunks put the end of what was read so far everywhere: inside strings, escapes,
    # numbers and the nesting of a record being followed.
    items, jsonl = case
    goods, bads = expected(items)
    texts = [i.text if isinstance(i, Bad) else i for i in items]
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(arrays, "CHUNK", chunk):
        path = Path(folder) / "c.json"
        path.write_text(text_file(texts, jsonl), encoding="utf-8")
        got = list(scan(path, TZ))
    assert {a.id for a in got if not isinstance(a, Skipped)} == goods
    skipped = [s for s in got if isinstance(s, Skipped)]
    assert [(s.position, s.id) for s in skipped] == [(n, bad.id) for n, bad in bads]
    for s, (_, bad) in zip(skipped, bads, strict=True):
        assert bad.says in s.reason


def new_site(root: Path) -> Site:
    """A site as conftest's make_site builds it (a fixture cannot serve each example)."""
    (root / "data").mkdir()
    (root / "data" / "taxonomy.toml").write_bytes(TAXONOMY.read_bytes())
    config = root / "feeder.toml"
    config.write_text(
        '[corpus]\npath = "data/corpus.json"\n[taxonomy]\npath = "data/taxonomy.toml"\n'
        f'[newsletter]\ntemplates = "{ROOT / "feeder" / "templates"}"\n'
        '[output]\nbase_url = "http://127.0.0.1:8000/"\n',
        encoding="utf-8",
    )
    return Site(root, config, root / "data" / "corpus.json")


@contextlib.contextmanager
def through_workers(on: bool) -> Iterator[list[int]]:
    """Send the poll through two worker processes if `on`; yields the parts of each run."""
    runs: list[int] = []
    real = workers._Writer.run_workers

    def spy(self: Any, parts: list[Any], progress: Any) -> Any:
        runs.append(len(parts))
        return real(self, parts, progress)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(workers._Writer, "run_workers", spy))
        # Off, even a corpus over 32 MB (a few 10 MB strings) is read in this process.
        stack.enter_context(mock.patch.object(workers, "PARALLEL_MIN_BYTES", 0 if on else 1 << 62))
        stack.enter_context(mock.patch.object(workers, "_cores", lambda: 2))
        yield runs


def check_poll(case: tuple[list[str | Bad], bool], workers_too: bool) -> None:
    items, jsonl = case
    if workers_too:  # records on both sides, so that the file can be cut in two parts
        items = [good("first"), *items, good("last")]
    goods, bads = expected(items)
    with tempfile.TemporaryDirectory() as folder, through_workers(workers_too) as runs:
        site = new_site(Path(folder))
        write(site, [i.text if isinstance(i, Bad) else i for i in items], jsonl)
        parts = len(split(site.corpus, workers.WORKERS))
        result = poll(site)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{len(goods)} new, 0 updated, 0 unchanged, {len(bads)} skipped\n"
        lines = skipped_lines(site, result.stderr)
        assert len(lines) == len(bads), result.stderr
        for line, (position, bad) in zip(lines, bads, strict=True):
            assert line.startswith(skip_line(site, position, bad.id, "")), (line, bad.id)
            assert bad.says in line
        assert stored(site) == goods
        # Rarely no cut is found near the middle (inside a huge record): one process reads.
        assert runs == ([parts] if workers_too and parts > 1 else [])


@settings(SETTINGS, max_examples=20)
@given(corpora(huge=True))
def test_every_poll_exits_0_ingests_every_good_record_and_names_every_bad_one(
    case: tuple[list[str | Bad], bool],
) -> None:
    check_poll(case, workers_too=False)


@settings(SETTINGS, max_examples=10)
@given(corpora(huge=True))
def test_the_same_holds_when_worker_processes_read_the_corpus(
    case: tuple[list[str | Bad], bool],
) -> None:
    check_poll(case, workers_too=True)

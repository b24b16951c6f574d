"""Benchmark feeder on a synthetic corpus and print a table of figures beside their targets.

    python benchmarks/run.py                 # N = 100,000 (what `make bench` runs)
    python benchmarks/run.py --n 1000 --runs 1
    python benchmarks/run.py --state postgresql://postgres@127.0.0.1:5432/bench
                                             # cold poll and send, SQLite beside PostgreSQL

Every figure is the median of --runs runs, measured in the same run as the baseline (a
bare streaming parse of the same file), so a slow or busy machine moves both together.
Work files go to benchmarks/work/ (git-ignored); the corpus is made once per N.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from make_corpus import articles, write  # noqa: E402
from send import empty_database, rss_figure, send_figures  # noqa: E402
from stages import stage_times  # noqa: E402
from watch import latencies, p95  # noqa: E402


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None

    def row(self) -> str:
        verdict = "" if self.ok is None else ("ok" if self.ok else "MISSED")
        return f"| {self.name} | {self.value:,.2f} {self.unit} | {self.target} | {verdict} |"


def median(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def bare_parse(path: Path) -> float:
    import ijson

    start = time.perf_counter()
    with path.open("rb") as f:
        for _ in ijson.items(f, "item"):
            pass
    return time.perf_counter() - start


def parse_with_limits(path: Path) -> float:
    """feeder's reader: each record cut out, decoded within the limits, its id and digest."""
    from feeder.ingest import read_records

    start = time.perf_counter()
    for _ in read_records(path):
        pass
    return time.perf_counter() - start


def parse_without_limits(path: Path, jsonl: bool) -> float:
    """The same work with no limits, as feeder read before issue 12: ijson (whose C backend
    a 5,000-digit number crashes) for an array, json.loads per line for JSON Lines."""
    import ijson

    from feeder.ingest.records import identify

    start = time.perf_counter()
    with path.open("rb") as f:
        records = (json.loads(line) for line in f) if jsonl else ijson.items(f, "item")
        for position, raw in enumerate(records, 1):
            identify(raw, position)  # the id and the digest, as the reader gives them
    return time.perf_counter() - start


def feeder(site: Path, *args: str) -> tuple[float, int, str]:
    """Run the real command in a child process: wall time, peak RSS (KiB) of the command and
    its worker processes together, stdout."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "feeder", "--config", str(site / "feeder.toml"), *args],
            stdout=out,
            stderr=err,
            text=True,
        )
        together = 0
        while child.poll() is None:
            together = max(together, _tree_rss(child.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"feeder {' '.join(args)} failed:\n{err.read()}")
        # A command too short to be sampled still has its own peak.
        return wall, max(together, _children_maxrss()), out.read().strip()


def _tree_rss(pid: int) -> int:
    """The resident KiB of a process and all its descendants now (0 where /proc is not)."""
    total, pids = 0, [pid]
    while pids:
        here = pids.pop()
        try:
            status = Path(f"/proc/{here}/status").read_text()
            total += next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")),
                0,
            )
            for task in os.listdir(f"/proc/{here}/task"):
                pids += map(int, Path(f"/proc/{here}/task/{task}/children").read_text().split())
        except (OSError, ValueError):
            continue  # it ended meanwhile
    return total


def _children_maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def make_site(work: Path, name: str, corpus: Path, state: str = "") -> Path:
    """A site over `corpus`; its state is data/state.db, or the database `state` names
    (emptied first: give one that holds nothing else)."""
    site = work / name
    if site.exists():
        shutil.rmtree(site)
    (site / "data").mkdir(parents=True)
    shutil.copy(ROOT / "feeder" / "taxonomy.toml", site / "data" / "taxonomy.toml")
    (site / "feeder.toml").write_text(
        f'[corpus]\npath = "{corpus}"\n'
        + (f'[state]\nurl = "{state}"\n' if state else '[state]\npath = "data/state.db"\n')
        + f'[newsletter]\ntemplates = "{ROOT / "feeder" / "templates"}"\n',
        encoding="utf-8",
    )
    if state:
        empty_database(state)
        feeder(site, "state", "migrate")
    return site


def cold_poll(work: Path, corpus: Path, runs: int, state: str = "") -> tuple[float, int]:
    walls, rss = [], 0
    for k in range(runs):
        site = make_site(work, f"cold-{k}", corpus, state)
        wall, peak, out = feeder(site, "poll")
        assert out.endswith("skipped"), out
        walls.append(wall)
        rss = max(rss, peak)
    return statistics.median(walls), rss


def appended(work: Path, base: Path, n: int, jsonl: bool, runs: int) -> float:
    """Poll, append 100 articles, poll again: the second poll's wall time."""
    walls = []
    for k in range(runs):
        corpus = work / f"append-{k}{'.jsonl' if jsonl else '.json'}"
        shutil.copy(base, corpus)
        site = make_site(work, f"append-{'jsonl' if jsonl else 'array'}-{k}", corpus)
        feeder(site, "poll")
        _append(corpus, n, jsonl)
        wall, _, out = feeder(site, "poll")
        assert out.startswith("100 new"), out
        walls.append(wall)
    return statistics.median(walls)


def _append(corpus: Path, n: int, jsonl: bool) -> None:
    extra = list(articles(100, start=n))
    if jsonl:
        with corpus.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in extra)
        return
    with corpus.open("r+b") as f:
        f.seek(-1, os.SEEK_END)  # over the closing "]"
        tail = "".join("," + json.dumps(r, ensure_ascii=False) for r in extra) + "]"
        f.write(tail.encode("utf-8"))


def classify_throughput(corpus: Path, runs: int) -> float:
    from zoneinfo import ZoneInfo

    from feeder.classify import Classifier, load_taxonomy
    from feeder.ingest import read_articles

    taxonomy = load_taxonomy(ROOT / "feeder" / "taxonomy.toml")
    classifier = Classifier(taxonomy)
    sample = []
    for article in read_articles(corpus, ZoneInfo("Asia/Shanghai")):
        sample.append((article.title, article.content))
        if len(sample) >= 5000:
            break
    # What the classifier reads: the title and at most body_chars of the body (0 = all).
    # Counting every character of the body overstated the speed by a fifth.
    read = taxonomy.scoring.body_chars or None
    chars = sum(len(t) + len(c[:read]) for t, c in sample)

    def once() -> float:
        start = time.perf_counter()
        for title, content in sample:
            classifier.classify(title, content)
        return chars / (time.perf_counter() - start) / 1e6

    return median(runs, once)


def newsletter_render(work: Path, runs: int) -> float:
    """Render one week of 500 articles (the HTML, the text and the size check)."""
    from zoneinfo import ZoneInfo

    from feeder.classify import Classifier, load_taxonomy
    from feeder.config import load_config
    from feeder.ingest import Record, digest, to_article
    from feeder.model import WriteMode
    from feeder.newsletter.preview import current_issue
    from feeder.newsletter.render import render_issue
    from feeder.schedule import week_key
    from feeder.storage import article_row, open_storage

    site = make_site(work, "newsletter", ROOT / "data" / "corpus.json")
    config = load_config(site / "feeder.toml")
    tz = ZoneInfo("Asia/Shanghai")
    taxonomy = load_taxonomy(config.taxonomy.path)
    classifier = Classifier(taxonomy)
    monday = datetime(2026, 3, 2, tzinfo=tz)
    rows = []
    for i, raw in enumerate(articles(500, start=10_000_000)):
        day = monday + timedelta(days=i % 7)
        raw["时间time"] = f"{day.year}/{day.month}/{day.day}"
        record = Record(i + 1, raw["文章标识符aid"], digest(raw), raw)
        article = to_article(record, tz)
        rows.append(article_row(article, record.digest, classifier.classify_article(article)))
    with open_storage(config.state.path, tz) as store:
        with store.transaction():
            store.put_articles(rows, datetime.now(UTC), [WriteMode.INSERT] * len(rows))
        key = week_key(monday, tz)
        issue = current_issue(store, key, tz)
        assert len(issue.entries) == 500

        def once() -> float:
            start = time.perf_counter()
            render_issue(issue, taxonomy.tags, config)
            return time.perf_counter() - start

        return median(runs, once)


def compare_states(work: Path, corpus: Path, url: str, runs: int, subscribers: int) -> None:
    """The cold poll and the send throughput on SQLite and on PostgreSQL, side by side."""
    cold = {name: cold_poll(work, corpus, runs, state)[0] for name, state in
            (("SQLite", ""), ("PostgreSQL", url))}  # fmt: skip
    send = {name: send_figures(work, subscribers, state)["feeder_per_s"] for name, state in
            (("SQLite", ""), ("PostgreSQL", url))}  # fmt: skip
    print("| figure | SQLite | PostgreSQL |")
    print("|---|---|---|")
    print(f"| cold poll of {corpus.name}: wall time | {cold['SQLite']:,.2f} s "
          f"| {cold['PostgreSQL']:,.2f} s |")  # fmt: skip
    print(f"| send at {subscribers:,} subscribers | {send['SQLite']:,.0f} /s "
          f"| {send['PostgreSQL']:,.0f} /s |")  # fmt: skip


def archive_builds(work: Path, cold: Path, n: int) -> tuple[float, float]:
    """The first build with archives (RFC 5005) of every feed, whole process, and then an
    in-process publish after 100 articles are stored: wall times.

    The first build starts from the cold poll's state with no feed members, as a state
    upgraded to schema v9 does: every article is pending, no page is written.
    """
    import sqlite3
    from zoneinfo import ZoneInfo

    from feeder.classify import Classifier, load_taxonomy
    from feeder.config import load_config
    from feeder.ingest import Record, digest, to_article
    from feeder.model import WriteMode
    from feeder.publish import publish
    from feeder.storage import article_row, open_storage

    site = make_site(work, "archives", cold.parent / "unused.json")
    shutil.copy(cold / "data" / "state.db", site / "data" / "state.db")
    db = sqlite3.connect(site / "data" / "state.db")
    with db:
        db.execute("DELETE FROM feed_members")
        db.execute("DELETE FROM archive_pages")
        db.execute("INSERT INTO feed_pending (article_id) SELECT id FROM articles")
    db.close()
    first, _, _ = feeder(site, "build")

    config = load_config(site / "feeder.toml")
    tz = ZoneInfo("Asia/Shanghai")
    taxonomy = load_taxonomy(config.taxonomy.path)
    classifier = Classifier(taxonomy)
    rows = []
    for i, raw in enumerate(articles(100, start=n + 1_000_000)):
        record = Record(i + 1, raw["文章标识符aid"], digest(raw), raw)
        article = to_article(record, tz)
        rows.append(article_row(article, record.digest, classifier.classify_article(article)))
    with open_storage(config.state.path, tz) as store, store.transaction():
        store.put_articles(rows, datetime.now(UTC), [WriteMode.INSERT] * len(rows))
        start = time.perf_counter()
        publish(store, taxonomy.tags, config)
        after = time.perf_counter() - start
    return first, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="articles in the corpus")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    parser.add_argument(
        "--subscribers", type=int, default=10_000, help="subscribers for the send throughput"
    )
    parser.add_argument(
        "--rss-subscribers", type=int, default=100_000, help="subscribers for the send's RSS"
    )
    parser.add_argument(
        "--state",
        default="",
        help="a PostgreSQL URL: print only the cold poll and the send, SQLite beside it "
        "(the database is emptied: give one for benchmarks only)",
    )
    args = parser.parse_args()
    n, runs, work = args.n, args.runs, args.work
    work.mkdir(parents=True, exist_ok=True)
    array, lines = work / f"corpus-{n}.json", work / f"corpus-{n}.jsonl"
    for path, jsonl in ((array, False), (lines, True)):
        if not path.exists():
            print(f"making {path} …", file=sys.stderr)
            write(n, path, jsonl)
    size_mb = array.stat().st_size / 1e6

    print(f"benchmarking on {n:,} articles ({size_mb:,.0f} MB), median of {runs}", file=sys.stderr)
    if args.state:
        compare_states(work, array, args.state, runs, args.subscribers)
        return
    parse = median(runs, lambda: bare_parse(array))
    limited, unlimited = {}, {}
    for path, jsonl in ((array, False), (lines, True)):
        limited[jsonl] = median(runs, partial(parse_with_limits, path))
        unlimited[jsonl] = median(runs, partial(parse_without_limits, path, jsonl))
    cold, rss = cold_poll(work, array, runs)
    spent = stage_times(array)
    site = work / "cold-0"
    unchanged = median(max(runs, 5), lambda: feeder(site, "poll")[0])
    archives_first, archives_after = archive_builds(work, site, n)
    append_array = appended(work, array, n, jsonl=False, runs=runs)
    append_lines = appended(work, lines, n, jsonl=True, runs=runs)
    throughput = classify_throughput(array, runs)
    render = newsletter_render(work, runs)
    send = send_figures(work, args.subscribers)
    send_rss, _ = rss_figure(work, args.rss_subscribers)
    follow = p95(latencies(work))

    cost = {jsonl: limited[jsonl] / unlimited[jsonl] for jsonl in (False, True)}
    figures = [
        Figure("bare streaming parse (ijson), the baseline", parse, "s"),
        Figure("parse with limits, JSON array (records and digests)", limited[False], "s"),
        Figure(
            "what the limits cost, JSON array (÷ the same without them)",
            cost[False],
            "×",
            "≤ 1.3×",
            cost[False] <= 1.3,
        ),
        Figure("parse with limits, JSON Lines (records and digests)", limited[True], "s"),
        Figure(
            "what the limits cost, JSON Lines (÷ the same without them)",
            cost[True],
            "×",
            "≤ 1.3×",
            cost[True] <= 1.3,
        ),
        Figure("cold poll: wall time", cold, "s"),
        Figure("cold poll ÷ baseline", cold / parse, "×", "≤ 3×", cold / parse <= 3),
        Figure(
            "cold poll: peak RSS (all its processes together)",
            rss / 1024,
            "MB",
            "≤ 200 MB",
            rss <= 200 * 1024,
        ),
        *(Figure(f"cold poll CPU time: {name}", seconds, "s") for name, seconds in spent.items()),
        Figure("cold poll CPU time: all stages", sum(spent.values()), "s"),
        Figure("unchanged re-poll, whole process", unchanged, "s", "≤ 0.5 s", unchanged <= 0.5),
        Figure("re-poll after appending 100, JSON array", append_array, "s"),
        Figure(
            "re-poll after appending 100, JSON Lines", append_lines, "s", "≤ 1 s", append_lines <= 1
        ),
        Figure(f"build with archives: first ({n:,} articles)", archives_first, "s"),
        Figure(
            "build with archives: after 100 appended (publish)",
            archives_after,
            "s",
            "< 1 s",
            archives_after < 1,
        ),
        Figure(
            "classification throughput (characters read)",
            throughput,
            "M chars/s",
            "≥ 20",
            throughput >= 20,
        ),
        Figure("render one newsletter week of 500 articles", render, "s"),
        Figure(
            "corpus write → all.atom, p95 of 20 appends (daemon, poll_seconds 300)",
            follow,
            "s",
            "≤ 1 s",
            follow <= 1,
        ),
        Figure(
            f"send to {args.subscribers:,}: plain smtplib loop, one connection (the floor)",
            send["floor_per_s"],
            "msg/s",
        ),
        Figure(
            f"send to {args.subscribers:,}: `feeder newsletter send` ÷ the floor",
            send["ratio"],
            "×",
            "≥ 0.9×",
            send["ratio"] >= 0.9,
        ),
        Figure(f"send to {args.subscribers:,} with DKIM", send["dkim_per_s"], "msg/s"),
        Figure(
            f"send to {args.rss_subscribers:,}: peak RSS",
            send_rss,
            "MB",
            "≤ 200 MB",
            send_rss <= 200,
        ),
    ]
    print(
        f"\nfeeder benchmark — {n:,} articles, {size_mb:,.0f} MB, {os.cpu_count()} cores, "
        f"median of {runs} runs\n"
    )
    print("| figure | measured | target | |")
    print("| --- | --- | --- | --- |")
    for figure in figures:
        print(figure.row())


if __name__ == "__main__":
    main()

"""How soon a corpus write reaches the feeds: the daemon at its default poll_seconds (300), so
only its watch of the corpus can explain an update within seconds.

    python benchmarks/watch.py            # prints the latencies and their p95
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "corpus.json"


def _site(work: Path) -> Path:
    site = work / "watch"
    (site / "data").mkdir(parents=True, exist_ok=True)
    for name in ("state.db", "corpus.json"):
        (site / "data" / name).unlink(missing_ok=True)
    (site / "data" / "corpus.json").write_bytes(SEED.read_bytes())
    (site / "feeder.toml").write_text(
        '[corpus]\npath = "data/corpus.json"\n[state]\npath = "data/state.db"\n'
        f'[taxonomy]\npath = "{ROOT / "feeder" / "taxonomy.toml"}"\n'
        f'[newsletter]\ntemplates = "{ROOT / "feeder" / "templates"}"\n',
        encoding="utf-8",
    )
    return site


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def _holds(path: Path, text: str) -> bool:
    return text in path.read_text("utf-8")


def _append(corpus: Path, title: str, ident: str) -> None:
    """One article, newer than the seed's, appended to the array in place."""
    record = {
        "文章标识符aid": ident,
        "标题title": title,
        "链接url": f"https://mp.weixin.qq.com/s/{ident}",
        "时间time": "2026/3/1",
        "公众号名称": "基准测试",
        "finalContent": f"{title}。人工智能与芯片的一段正文。",
    }
    with corpus.open("r+b") as f:
        f.seek(-1, os.SEEK_END)  # over the closing "]"
        f.write(("," + json.dumps(record, ensure_ascii=False) + "]").encode("utf-8"))


def latencies(work: Path, appends: int = 20) -> list[float]:
    """Seconds from each append's close to an `all.atom` that holds it."""
    site = _site(work)
    corpus, atom = site / "data" / "corpus.json", site / "out" / "feeds" / "all.atom"
    log = (site / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "feeder", "--config", str(site / "feeder.toml"), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    seen: list[float] = []
    try:
        if not _wait(lambda: "poll: 54 new" in (site / "daemon.log").read_text("utf-8"), 60):
            raise SystemExit("the daemon did not poll at start-up")
        for i in range(appends):
            title = f"基准文章第{i}篇"
            _append(corpus, title, f"bench-watch-{i}")
            start = time.monotonic()
            if not _wait(partial(_holds, atom, title), 30):
                raise SystemExit(f"append {i} never reached all.atom")
            seen.append(time.monotonic() - start)
            time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        log.close()
    return seen


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


if __name__ == "__main__":
    work = ROOT / "benchmarks" / "work"
    values = latencies(work)
    print(" ".join(f"{v:.2f}" for v in values))
    print(f"p95 {p95(values):.2f} s, median {statistics.median(values):.2f} s")

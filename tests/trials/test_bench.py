"""The benchmark keeps working: run it end to end on 1,000 articles (no timings asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--n",
            "1000",
            "--runs",
            "1",
            "--subscribers",
            "300",
            "--rss-subscribers",
            "300",
            "--work",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [
        line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line
    ]
    names = [row.split(" | ")[0].lstrip("| ") for row in rows[1:]]
    assert names == [
        "bare streaming parse (ijson), the baseline",
        "parse with limits, JSON array (records and digests)",
        "what the limits cost, JSON array (÷ the same without them)",
        "parse with limits, JSON Lines (records and digests)",
        "what the limits cost, JSON Lines (÷ the same without them)",
        "cold poll: wall time",
        "cold poll ÷ baseline",
        "cold poll: peak RSS (all its processes together)",
        *(
            f"cold poll CPU time: {stage}"
            for stage in (
                "parse",
                "digest",
                "normalise",
                "classify",
                "row",
                "IPC",
                "SQLite",
                "publish",
                "all stages",
            )
        ),
        "unchanged re-poll, whole process",
        "re-poll after appending 100, JSON array",
        "re-poll after appending 100, JSON Lines",
        "build with archives: first (1,000 articles)",
        "build with archives: after 100 appended (publish)",
        "classification throughput (characters read)",
        "render one newsletter week of 500 articles",
        "corpus write → all.atom, p95 of 20 appends (daemon, poll_seconds 300)",
        "send to 300: plain smtplib loop, one connection (the floor)",
        "send to 300: `feeder newsletter send` ÷ the floor",
        "send to 300 with DKIM",
        "send to 300: peak RSS",
    ]
    # The synthetic corpus is deterministic: the same N gives the same bytes.
    first = (tmp_path / "corpus-1000.json").read_bytes()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_corpus import write

    write(1000, tmp_path / "again.json", jsonl=False)
    assert (tmp_path / "again.json").read_bytes() == first

"""The daemon follows the corpus: a real `feeder daemon` polls soon after the file changes.

Every daemon here runs with the default `poll_seconds = 300` unless the test needs the
interval, so only the watch can explain a poll after the one at start-up. Waits are bounded
and generous: the latency target (≤ 1 s) belongs to the benchmark, not to a loaded machine.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from feeder.config import parse_config
from feeder.errors import ConfigError
from tests.conftest import Site, record, seed_records
from tests.test_daemon import Running, wait_for

FRESH = "刚写进语料的文章"


def polls(daemon: Running) -> list[str]:
    """The daemon's poll lines, successful or not, in order."""
    return [
        line for line in daemon.text().splitlines() if "poll: " in line or "poll failed: " in line
    ]


def started(site: Site) -> Running:
    """A daemon that has done its poll at start-up."""
    daemon = Running(site)
    assert wait_for(lambda: "poll: 54 new" in daemon.text()), daemon.text()
    return daemon


def stopped(daemon: Running) -> str:
    code = daemon.stop()
    log = daemon.text()
    assert code == 0, log
    assert "Traceback" not in log
    return log


def fresh_feed(site: Site) -> bool:
    return FRESH in (site.out / "feeds" / "all.atom").read_text(encoding="utf-8")


def test_an_append_is_polled(make_site: Callable[..., Site]) -> None:
    site = make_site()
    site.write_jsonl(seed_records())
    daemon = started(site)
    try:
        with site.corpus.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record("fresh-1", title=FRESH), ensure_ascii=False) + "\n")
        assert wait_for(lambda: len(polls(daemon)) == 2, 15), daemon.text()
        assert fresh_feed(site)
    finally:
        log = stopped(daemon)
    assert polls(daemon)[1].endswith("poll: 1 new, 0 updated, 54 unchanged, 0 skipped"), log
    assert "and when " in log  # the start-up line says the corpus is watched


def test_a_rename_over_the_corpus_is_polled(make_site: Callable[..., Site]) -> None:
    site = make_site()
    daemon = started(site)
    try:
        replacement = site.corpus.with_name("corpus.json.tmp")
        replacement.write_text(
            json.dumps([*seed_records(), record("fresh-1", title=FRESH)], ensure_ascii=False),
            encoding="utf-8",
        )
        os.replace(replacement, site.corpus)
        assert wait_for(lambda: len(polls(daemon)) == 2, 15), daemon.text()
        assert fresh_feed(site)
    finally:
        log = stopped(daemon)
    assert polls(daemon)[1].endswith("poll: 1 new, 0 updated, 54 unchanged, 0 skipped"), log


def test_a_slow_write_is_polled_once_after_it_settles(make_site: Callable[..., Site]) -> None:
    site = make_site()
    daemon = started(site)
    body = json.dumps([*seed_records(), record("fresh-1", title=FRESH)], ensure_ascii=False)
    data = body.encode("utf-8")
    chunks = 30  # one every 0.1 s: three seconds of a half-written array
    size = len(data) // chunks + 1
    try:
        with site.corpus.open("wb") as f:
            for i in range(0, len(data), size):
                f.write(data[i : i + size])
                f.flush()
                time.sleep(0.1)
        assert wait_for(lambda: len(polls(daemon)) >= 2, 15), daemon.text()
        time.sleep(2)  # room for a second poll, which must not come
    finally:
        log = stopped(daemon)
    lines = polls(daemon)
    assert len(lines) == 2, log  # start-up, then one for the whole write
    assert lines[1].endswith("poll: 1 new, 0 updated, 54 unchanged, 0 skipped"), log


def test_a_lost_watch_falls_back_to_the_interval(make_site: Callable[..., Site]) -> None:
    site = make_site(extra="[schedule]\npoll_seconds = 1\n")
    # The corpus in a folder of its own, so that removing it leaves the state alone.
    folder = site.root / "in"
    folder.mkdir()
    site.config_path.write_text(
        site.config_path.read_text(encoding="utf-8").replace("data/corpus.json", "in/corpus.json"),
        encoding="utf-8",
    )
    site.corpus = folder / "corpus.json"
    site.write_corpus(seed_records())
    daemon = started(site)
    try:
        shutil.rmtree(folder)
        assert wait_for(lambda: "watch lost" in daemon.text(), 15), daemon.text()
        lost_at = len(polls(daemon))
        # The interval goes on polling (and failing, with no corpus), and the loss is told once.
        assert wait_for(lambda: len(polls(daemon)) >= lost_at + 3, 20), daemon.text()
        assert daemon.text().count("watch lost") == 1
        folder.mkdir()
        site.write_corpus([*seed_records(), record("fresh-1", title=FRESH)])
        assert wait_for(lambda: "watching " in daemon.text(), 15), daemon.text()
        assert wait_for(lambda: fresh_feed(site), 15), daemon.text()
    finally:
        log = stopped(daemon)
    assert log.count("watch lost") == 1
    assert f"watch lost: its folder {folder} was removed or replaced" in log
    assert "poll failed: " in log


def test_watch_false_leaves_it_to_the_interval(make_site: Callable[..., Site]) -> None:
    site = make_site(extra="[schedule]\nwatch = false\n")
    daemon = started(site)
    try:
        site.write_corpus([*seed_records(), record("fresh-1", title=FRESH)])
        time.sleep(2)
    finally:
        log = stopped(daemon)
    assert len(polls(daemon)) == 1, log
    assert "and when " not in log


def test_watch_must_be_true_or_false(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schedule\.watch must be true or false"):
        parse_config('[schedule]\nwatch = "yes"\n', tmp_path)
    assert parse_config("", tmp_path).schedule.watch is True

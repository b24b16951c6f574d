"""Ingest paths that a small corpus would not take: worker processes, resumed JSON Lines."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeder.ingest import checksum, split
from feeder.ingest import workers as ingest
from tests.conftest import Site, record, run_poll, seed_records

NOW = datetime(2026, 2, 6, 8, 0, tzinfo=UTC)


def rows(site: Site) -> list[tuple[object, ...]]:
    db = sqlite3.connect(site.state)
    found = db.execute(
        "SELECT a.id, a.title, a.content, a.digest, a.changed_at, "
        "(SELECT group_concat(tag || ':' || rank, ',') FROM tags t WHERE t.article_id = a.id) "
        "FROM articles a ORDER BY a.id"
    ).fetchall()
    db.close()
    return found


def outputs(site: Site) -> dict[str, bytes]:
    return {
        str(p.relative_to(site.out)): p.read_bytes() for p in site.out.rglob("*") if p.is_file()
    }


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send even a small corpus through the worker processes."""
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "_cores", lambda: 2)


@pytest.mark.parametrize("jsonl", [False, True])
def test_workers_reach_the_same_state_and_outputs_as_one_process(
    make_site: Callable[..., Site],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    jsonl: bool,
) -> None:
    records = seed_records()
    one = make_site()
    if jsonl:
        one.write_jsonl(records)
    alone = run_poll(one.config, now=NOW)
    expected_rows, expected_files = rows(one), outputs(one)

    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "_cores", lambda: 2)
    spy = []
    real = ingest._Writer.run_workers
    monkeypatch.setattr(
        ingest._Writer,
        "run_workers",
        lambda self, parts, p: spy.append(parts) or real(self, parts, p),
    )
    for path in (one.state, *one.out.rglob("*.*")):
        path.unlink()
    together = run_poll(one.config, now=NOW)
    assert spy and len(spy[0]) == 2  # two workers did it
    assert (together.new, together.unchanged, together.skipped) == (alone.new, 0, 0) == (54, 0, 0)
    assert rows(one) == expected_rows
    assert outputs(one) == expected_files


def test_bad_records_keep_file_wide_positions_across_parts(
    make_site: Callable[..., Site], parallel: None
) -> None:
    records: list[object] = [record(f"r{i}", content="正文" * 200) for i in range(40)]
    records[3] = {"标题title": "no id"}
    records[35] = record("late-bad", time="never")
    site = make_site(records)
    warnings: list[str] = []
    result = run_poll(site.config, now=NOW, warn=warnings.append)
    assert (result.new, result.skipped) == (38, 2)
    assert any("record 4 skipped" in w for w in warnings), warnings
    assert any("record 36 (id 'late-bad') skipped" in w for w in warnings), warnings


def test_a_duplicate_across_parts_is_won_by_the_last_record(
    make_site: Callable[..., Site], parallel: None
) -> None:
    records = [record(f"r{i}", content="正文" * 200) for i in range(40)]
    records[2] = record("twice", title="第一版", content="正文" * 200)
    records[37] = record("twice", title="最终版", content="正文" * 200)
    site = make_site(records)
    warnings: list[str] = []
    result = run_poll(site.config, now=NOW, warn=warnings.append)
    assert result.new == 39
    assert [r[1] for r in rows(site) if r[0] == "twice"] == ["最终版"]
    assert any("'twice' appears more than once" in w for w in warnings)


def test_a_cut_inside_a_nested_object_falls_back_to_one_reader(
    make_site: Callable[..., Site], parallel: None
) -> None:
    # Every record carries a list of objects, so a cut may land inside one.
    records = [
        {**record(f"r{i}", content="正文" * 50), "extra": [{"k": n} for n in range(30)]}
        for i in range(30)
    ]
    site = make_site(records)
    second = split(site.corpus, 2)[1]
    with site.corpus.open("rb") as f:
        f.seek(second.start)
        assert f.read(4) == b'{"k"'  # the cut is inside a record: that part cannot parse
    result = run_poll(site.config, now=NOW)
    assert (result.new, result.skipped) == (30, 0)
    assert len(rows(site)) == 30


def test_appended_json_lines_are_read_from_where_the_last_poll_stopped(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    records = seed_records()
    site.write_jsonl(records)
    run_poll(site.config, now=NOW)
    with site.corpus.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record("appended"), ensure_ascii=False) + "\n")
    result = run_poll(site.config, now=NOW)
    assert result.resumed
    assert (result.new, result.updated, result.unchanged) == (1, 0, 54)


def test_an_edit_before_the_resume_point_forces_a_full_read(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    records = seed_records()
    site.write_jsonl(records)
    run_poll(site.config, now=NOW)
    records[0]["标题title"] += "（更正）"
    site.write_jsonl([*records, record("appended")])
    result = run_poll(site.config, now=NOW)
    assert not result.resumed
    assert (result.new, result.updated, result.unchanged) == (1, 1, 53)


def test_a_half_written_last_line_is_picked_up_by_the_next_poll(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    site.write_jsonl(seed_records())
    run_poll(site.config, now=NOW)
    line = json.dumps(record("slow-writer"), ensure_ascii=False) + "\n"
    with site.corpus.open("a", encoding="utf-8") as f:
        f.write(line[:40])
    first = run_poll(site.config, now=NOW)
    assert (first.new, first.skipped) == (0, 0)
    with site.corpus.open("a", encoding="utf-8") as f:
        f.write(line[40:])
    second = run_poll(site.config, now=NOW)
    assert second.resumed and second.new == 1
    assert [r[0] for r in rows(site)].count("slow-writer") == 1


def test_an_extended_prefix_check_equals_one_computed_from_scratch(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(bytes(range(256)) * 5000)
    short = checksum(path, 300_000)
    assert checksum(path, 1_000_000, since=short) == checksum(path, 1_000_000)
    assert checksum(path, 300_000) != checksum(path, 300_001)

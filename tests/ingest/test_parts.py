"""feeder/ingest/parts.py: where a corpus file is cut for the workers, and that its parts,
each read on its own, give the records of the whole file."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from feeder.ingest import Part, Record, parts, read_records, split
from feeder.ingest.normalise import ID
from feeder.ingest.records import WHOLE
from tests.conftest import record


def ids(path: Path, part: Part = WHOLE) -> list[str]:
    return [r.id for r in read_records(path, part) if isinstance(r, Record)]


@pytest.mark.parametrize("indent", [None, 1], ids=["compact", "indented"])
@pytest.mark.parametrize("count", [2, 3, 4])
def test_an_array_is_cut_before_a_record_and_after_its_comma(
    tmp_path: Path, indent: int | None, count: int
) -> None:
    path = tmp_path / "c.json"
    records = [record(f"r{i}", content="正文" * 100) for i in range(40)]
    path.write_text(json.dumps(records, ensure_ascii=False, indent=indent), encoding="utf-8")
    data = path.read_bytes()
    found = split(path, count)
    assert len(found) == count
    assert found[0].start == 0 and found[-1].end is None
    for before, after in pairwise(found):
        assert before.end is not None
        assert data[before.end : before.end + 1] == b","  # the comma is left out
        assert data[before.end + 1 : after.start].strip() == b""
        assert data[after.start : after.start + 1] == b"{"
    assert all(p.wrap for p in found)
    # Each part, read as "[" + part + "]", gives its own records; together, the file's.
    assert [i for p in found for i in ids(path, p)] == ids(path) == [f"r{i}" for i in range(40)]


@pytest.mark.parametrize("count", [2, 3, 5])
def test_json_lines_are_cut_after_a_newline(tmp_path: Path, count: int) -> None:
    path = tmp_path / "c.jsonl"
    records = [record(f"r{i}", content="正文" * (i % 7 * 30)) for i in range(30)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    data = path.read_bytes()
    found = split(path, count)
    assert len(found) == count
    assert found[0].start == 0 and found[-1].end is None
    for before, after in pairwise(found):
        assert before.end == after.start and data[after.start - 1 : after.start] == b"\n"
    assert not any(p.wrap for p in found)
    # Line numbers restart in each part (the ingest adds the lines of the parts before).
    positions = [[r.position for r in read_records(path, p)] for p in found]
    assert all(p[0] == 1 for p in positions)
    assert [i for p in found for i in ids(path, p)] == [f"r{i}" for i in range(30)]


def test_one_part_is_the_whole_file_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([record("a"), record("b")]), encoding="utf-8")
    assert split(path, 1) == [Part(0, None, wrap=False)]


def test_where_no_cut_is_found_there_is_one_part_fewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.json"
    # One long record around the middle: no `, {"` within a window after it.
    records = [record("a"), record("long", content="字" * 2000), record("b")]
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(parts, "WINDOW", 64)
    assert split(path, 2) == [Part(0, None, wrap=False)]
    monkeypatch.setattr(parts, "WINDOW", 1 << 20)
    assert len(split(path, 2)) == 2


def test_a_cut_found_from_two_points_is_made_once(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(record(i)) + "\n" for i in "abc"), encoding="utf-8")
    found = split(path, 12)
    assert len(found) < 12
    assert len({p.start for p in found}) == len(found)
    assert [ids(path, p) for p in found][:3] == [["a"], ["b"], ["c"]]
    assert [i for p in found for i in ids(path, p)] == ["a", "b", "c"]


def test_a_brace_inside_a_string_is_never_a_cut(tmp_path: Path) -> None:
    # `, {"` inside a string is written `, {\"`: no cut there.
    path = tmp_path / "c.json"
    records = [{ID: "a", "x": ', {"' * 400}, {ID: "b"}, {ID: "c"}]
    path.write_text(json.dumps(records), encoding="utf-8")
    found = split(path, 2)
    assert [ids(path, p) for p in found] == [["a"], ["b", "c"]]

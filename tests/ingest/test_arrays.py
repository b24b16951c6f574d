"""feeder/ingest/arrays.py: the array reader on a whole file and on a slice of one, what it
returns, and where in the file it places each error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feeder.errors import CorpusError
from feeder.ingest import Part, Record, Skipped
from feeder.ingest.arrays import ArrayReader
from feeder.ingest.records import WHOLE
from tests.conftest import record


def read(path: Path, part: Part = WHOLE) -> tuple[list[Record | Skipped], int, list[int]]:
    """The items of `part`, the count the reader returns, and the sizes it read."""
    sizes: list[int] = []
    with path.open("rb") as f:
        f.seek(part.start)
        records = ArrayReader(path, f, part, sizes.append).records()
        items = []
        while True:
            try:
                items.append(next(records))
            except StopIteration as stop:
                return items, stop.value, sizes


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "c.json"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_a_whole_array_gives_its_records_and_their_count(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps([record("a"), record("b"), record("c")]))
    items, count, sizes = read(path)
    assert [(i.position, i.id) for i in items] == [(1, "a"), (2, "b"), (3, "c")]
    assert count == 3
    assert sum(sizes) == path.stat().st_size


@pytest.mark.parametrize("text", ["[]", " [ ]\n", "\ufeff[]", "[\r\n]\r\n"])
def test_an_empty_array_has_no_records(tmp_path: Path, text: str) -> None:
    assert read(write(tmp_path, text))[:2] == ([], 0)


def test_a_slice_from_the_middle_is_read_as_an_array_of_its_own(tmp_path: Path) -> None:
    text = json.dumps([record("a"), record("b"), record("c"), record("d")], indent=1)
    assert text.isascii()  # so that its characters' indices are the file's bytes
    path = write(tmp_path, text)
    start = text.rindex("{", 0, text.index('"b"'))  # the object holding b
    end = text.rindex(",", 0, text.index('"d"'))  # the comma before d's object
    assert text[start:end].startswith("{") and text[start:end].endswith("}")
    items, count, sizes = read(path, Part(start, end, wrap=True))
    assert [(i.position, i.id) for i in items] == [(1, "b"), (2, "c")]  # numbered in the part
    assert count == 2 and sum(sizes) == end - start
    # The first and the last slice keep the array's own brackets.
    before, after = text.rindex(",", 0, start), text.index("{", end)
    assert [i.id for i in read(path, Part(0, before, wrap=True))[0]] == ["a"]
    assert [i.id for i in read(path, Part(after, None, wrap=True))[0]] == ["d"]


@pytest.mark.parametrize(
    ("text", "message", "place"),
    [
        (
            '[{"a": 1}\n {"b": 2}]',
            "invalid JSON: expected , or ] after a record",
            "(line 2, column 2)",
        ),
        (
            '[{"a": 1}]\n\n x',
            "invalid JSON: more data after the end of the array",
            "(line 3, column 2)",
        ),
        ('[{"a": 1},\n {"b": }]', "invalid JSON: Expecting value", "(line 2, column 8)"),
        (
            '[{"a": 1},\n {"b": 2}',
            "the JSON array ends before it is closed (truncated, or still being written)",
            "(line 2, column 10)",
        ),
        ('{"a": 1}', "not a JSON array of articles", "(line 1, column 1)"),
    ],
    ids=["no comma", "after the end", "syntax", "truncated", "not an array"],
)
def test_an_error_names_its_place_in_the_file(
    tmp_path: Path, text: str, message: str, place: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CorpusError) as raised:
        read(path)
    assert str(raised.value) == f"{path}: {message} {place}"


def test_an_error_in_a_slice_names_its_place_in_the_whole_file(tmp_path: Path) -> None:
    text = '[{"a": 1},\n {"b": 2},\n {"c": 字, "d": 4}]'
    path = write(tmp_path, text)
    start = len(text[: text.index('{"b"')].encode())
    with pytest.raises(CorpusError, match=r"Expecting value \(line 3, column 8\)$"):
        read(path, Part(start, None, wrap=True))


def test_a_byte_that_is_not_utf8_costs_only_its_record(tmp_path: Path) -> None:
    good = [json.dumps(record(i), ensure_ascii=False).encode() for i in "abc"]
    bad = good[1].replace("正文".encode(), b"\xe6\xad")  # a character cut short
    path = write(tmp_path, b"[" + b",".join([good[0], bad, good[2]]) + b"]")
    items, count, _ = read(path)
    assert [(i.position, i.id, getattr(i, "reason", None)) for i in items] == [
        (1, "a", None),
        (2, "b", "not UTF-8"),
        (3, "c", None),
    ]
    assert count == 3

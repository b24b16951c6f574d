"""feeder/ingest/lines.py: JSON Lines read line by line within a part, line numbers kept
true, a line still being written left for the next read, and a record at its size limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feeder.errors import CorpusError
from feeder.ingest import MAX_RECORD, Part, Skipped, Tail
from feeder.ingest.lines import read_lines
from feeder.ingest.normalise import ID
from feeder.ingest.records import WHOLE
from tests.conftest import record


def read(path: Path, part: Part = WHOLE) -> tuple[list[tuple[int, str | None, str | None]], Tail]:
    """(line number, id, reason or None) of each item of `part`, and the Tail."""
    with path.open("rb") as f:
        f.seek(part.start)
        lines = read_lines(path, f, part, None)
        found = []
        while True:
            try:
                item = next(lines)
            except StopIteration as stop:
                return found, stop.value
            found.append(
                (item.position, item.id, item.reason if isinstance(item, Skipped) else None)
            )


def line(ident: str, **fields: object) -> str:
    return json.dumps({**record(ident), **fields}, ensure_ascii=False)


def write(tmp_path: Path, data: str | bytes) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_blank_lines_count_in_the_numbering(tmp_path: Path) -> None:
    text = line("a") + "\n\n  \r\n" + line("b") + "\r\n\n"
    items, tail = read(write(tmp_path, text))
    assert items == [(1, "a", None), (4, "b", None)]
    assert tail == Tail(offset=len(text.encode()), lines=5, incomplete=False)


def test_a_part_is_read_up_to_its_end_numbered_from_its_first_line(tmp_path: Path) -> None:
    lines = [line(i) + "\n" for i in "abcd"]
    path = write(tmp_path, "".join(lines))
    start = len("".join(lines[:1]).encode())
    end = len("".join(lines[:3]).encode())
    items, tail = read(path, Part(start, end, first_number=1))
    assert items == [(2, "b", None), (3, "c", None)]
    assert tail == Tail(offset=end, lines=3, incomplete=False)


def test_a_last_line_without_its_newline_is_left_for_the_next_read(tmp_path: Path) -> None:
    done = line("a") + "\n"
    for cut in (1, 20, len(line("b")) - 1):
        path = write(tmp_path, done + line("b")[:cut])
        items, tail = read(path)
        assert items == [(1, "a", None)]
        assert tail == Tail(offset=len(done.encode()), lines=1, incomplete=True)
    # Complete, though the newline never comes: the record is read.
    items, tail = read(write(tmp_path, done + line("b")))
    assert items == [(1, "a", None), (2, "b", None)] and not tail.incomplete


def test_a_broken_line_is_skipped_and_the_next_read(tmp_path: Path) -> None:
    broken = '{"' + ID + '": "b", "x": tru}'
    items, _ = read(write(tmp_path, line("a") + "\n" + broken + "\n" + line("c") + "\n"))
    column = broken.index("tru") + 1  # in characters
    assert items == [
        (1, "a", None),
        (2, "b", f"invalid JSON at column {column}: Expecting value"),
        (3, "c", None),
    ]


def test_a_line_that_is_not_utf8_is_skipped(tmp_path: Path) -> None:
    bad = line("b").encode().replace("正文".encode(), b"\xff")
    data = line("a").encode() + b"\n" + bad + b"\n" + line("c").encode() + b"\n"
    assert read(write(tmp_path, data))[0] == [(1, "a", None), (2, "b", "not UTF-8"), (3, "c", None)]


def test_a_byte_order_mark_before_the_first_record_is_passed_over(tmp_path: Path) -> None:
    assert read(write(tmp_path, "\ufeff" + line("a") + "\n"))[0] == [(1, "a", None)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_a_record_may_take_max_record_bytes_without_its_line_break(
    tmp_path: Path, newline: str
) -> None:
    # Two halves, each within the string limit, padded to MAX_RECORD bytes in all.
    short = line("edge", a="", b="")
    pad = MAX_RECORD - len(short.encode())
    edge = line("edge", a="x" * (pad // 2), b="x" * (pad - pad // 2))
    over = line("over", a="x" * (pad // 2), b="x" * (pad - pad // 2 + 1))
    assert len(edge.encode()) == MAX_RECORD
    text = newline.join([edge, over, line("after")]) + newline
    items, _ = read(write(tmp_path, text))
    assert items == [
        (1, "edge", None),
        (2, "over", f"the record takes {MAX_RECORD + 1:,} bytes (at most 16 MB)"),
        (3, "after", None),
    ]


def test_a_record_too_large_still_being_written_is_left_for_the_next_read(
    tmp_path: Path,
) -> None:
    done = line("a") + "\n"
    path = write(tmp_path, done + line("huge", a="x" * (MAX_RECORD + 10))[: MAX_RECORD + 5])
    items, tail = read(path)
    assert items == [(1, "a", None)]
    assert tail == Tail(offset=len(done.encode()), lines=1, incomplete=True)


@pytest.mark.parametrize("text", ['{\n "a": 1\n}\n', '{\n "a": [1,\n 2]}'])
def test_a_pretty_printed_object_is_refused_as_a_whole(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CorpusError, match="not a list of articles: the file holds a single object"):
        read(path)


def test_a_broken_first_line_of_json_lines_is_only_skipped(tmp_path: Path) -> None:
    # Not one JSON document either: the line is skipped and the rest are read.
    items, _ = read(write(tmp_path, "{broken\n" + line("b") + "\n"))
    assert items == [
        (1, None, "invalid JSON at column 2: Expecting property name enclosed in double quotes"),
        (2, "b", None),
    ]

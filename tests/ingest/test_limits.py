"""feeder/ingest/limits.py: the bounded decoder, the checks it leaves to over_limits, the
count that spares the common record a values count, and each problem message."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from feeder.ingest import limits
from feeder.ingest.limits import (
    DECODER,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_RECORD,
    MAX_STRING,
    MAX_VALUES,
    TooLong,
    depth_problem,
    may_hold_too_many_values,
    number_problem,
    over_limits,
    record_problem,
    refusal,
    string_problem,
    unreadable,
    values_problem,
    where,
)


def nested(levels: int) -> object:
    """A list `levels` deep: under a record's key, the record is `levels` + 1 deep."""
    value: object = 0
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("9" * (MAX_DIGITS + 1), MAX_DIGITS + 1),
        ("-" + "9" * MAX_DIGITS, MAX_DIGITS + 1),  # the sign counts
        ("0." + "9" * MAX_DIGITS, MAX_DIGITS + 2),
        ("1e" + "9" * MAX_DIGITS, MAX_DIGITS + 2),
    ],
    ids=["integer", "negative", "fraction", "exponent"],
)
def test_the_decoder_refuses_a_long_number_before_converting_it(text: str, length: int) -> None:
    with pytest.raises(TooLong) as raised:
        DECODER.decode(f'{{"n": [1, {text}]}}')
    assert raised.value.length == length


def test_the_decoder_keeps_a_number_at_the_limit() -> None:
    assert DECODER.decode("9" * MAX_DIGITS) == int("9" * MAX_DIGITS)
    assert DECODER.decode("-" + "9" * (MAX_DIGITS - 1)) == -int("9" * (MAX_DIGITS - 1))
    assert DECODER.decode("0." + "5" * (MAX_DIGITS - 2)) == pytest.approx(5 / 9)


def test_the_decoder_stops_deep_nesting_with_a_recursion_error() -> None:
    # What the readers catch; MAX_DEPTH itself is far below, checked by over_limits.
    with pytest.raises(RecursionError):
        DECODER.decode("[" * 100_000 + "]" * 100_000)
    assert DECODER.decode(json.dumps(nested(MAX_DEPTH * 2))) == nested(MAX_DEPTH * 2)


def test_a_record_within_every_limit_passes() -> None:
    record = {
        "id": "a",
        "text": "字" * (MAX_STRING // 3),
        "deep": nested(MAX_DEPTH - 1),
        "o": {"k": ["v", {"x": "y" * 100}]},
    }
    assert over_limits(record) is None


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"deep": nested(MAX_DEPTH)}, "nested more than 64 levels deep in 'deep'"),
        (
            {"o": {"k": [{"deeper": nested(MAX_DEPTH - 3)}]}},
            "nested more than 64 levels deep in 'o'",
        ),
        # Bytes count, as UTF-8: 字 takes three.
        (
            {"text": "字" * (MAX_STRING // 3 + 1)},
            f"a string of {MAX_STRING + 2:,} bytes in 'text' (at most 10 MB)",
        ),
        (
            {"list": ["a", ["b" * (MAX_STRING + 1)]]},
            f"a string of {MAX_STRING + 1:,} bytes in 'list' (at most 10 MB)",
        ),
        ({"k" * (MAX_STRING + 1): 1}, f"a key of {MAX_STRING + 1:,} bytes (at most 10 MB)"),
        (
            {"o": [{"k" * (MAX_STRING + 1): 1}]},
            f"a key of {MAX_STRING + 1:,} bytes in 'o' (at most 10 MB)",
        ),
    ],
    ids=["depth", "depth below", "string", "string below", "key", "key below"],
)
def test_over_limits_names_the_top_level_key_where_a_limit_is_broken(
    record: dict[str, object], problem: str
) -> None:
    assert over_limits(record) == problem


def test_a_short_text_is_never_counted_for_values() -> None:
    # Each value takes two characters at least: 2 * MAX_VALUES characters cannot hold more.
    crowded = "," * (2 * MAX_VALUES)
    assert not may_hold_too_many_values(crowded)
    assert may_hold_too_many_values(crowded + ",")
    assert may_hold_too_many_values((crowded + ",").encode())


def test_values_are_counted_from_the_start_given() -> None:
    marks = "[{," * (MAX_VALUES // 3 + 1)  # just over MAX_VALUES marks
    text = "x" * (2 * MAX_VALUES) + marks
    assert may_hold_too_many_values(text)
    assert not may_hold_too_many_values(text, start=len(text) - len(marks) + 6)
    # Plain text, however long, holds no more values than its marks allow.
    assert not may_hold_too_many_values("x" * (10 * MAX_VALUES))


def test_each_problem_message() -> None:
    long_key = "键" * 60
    assert depth_problem(None) == "nested more than 64 levels deep"
    assert depth_problem("k") == "nested more than 64 levels deep in 'k'"
    assert depth_problem(long_key) == f"nested more than 64 levels deep in '{'键' * 39}…'"
    assert number_problem(5_000, "阅读数") == "a number of 5,000 digits in '阅读数' (at most 1,000)"
    assert string_problem("ab字", None) == "a string of 5 bytes (at most 10 MB)"
    assert string_problem("k", "o", "a key") == "a key of 1 bytes in 'o' (at most 10 MB)"
    assert record_problem(MAX_RECORD + 1) == "the record takes 16,777,217 bytes (at most 16 MB)"
    assert values_problem(None) == "more than 100,000 values"
    assert values_problem("list") == "more than 100,000 values in 'list'"
    assert refusal(TooLong(1_234)) == "a number of 1,234 digits (at most 1,000)"
    assert refusal(RecursionError()) == "nested more than 64 levels deep"


def test_an_unreadable_file_is_named_with_the_system_s_reason(tmp_path: Path) -> None:
    error = unreadable(tmp_path / "c.json", OSError(errno.EACCES, "Permission denied"))
    assert str(error) == f"{tmp_path / 'c.json'}: cannot read corpus: Permission denied"


@pytest.mark.parametrize(
    ("text", "offset", "place"),
    [
        ("[1, 2]", 0, " (line 1, column 1)"),
        ("[1, 2]", 4, " (line 1, column 5)"),
        ("[\n1,\n 2]", 6, " (line 3, column 2)"),
        ("[\r\n 2]", 4, " (line 2, column 2)"),
        ('["字字", x]', len('["字字", '.encode()), " (line 1, column 8)"),  # characters
        ("[1]", 100, " (line 1, column 4)"),  # past the end: the end
    ],
)
def test_where_names_line_and_column_in_characters(
    tmp_path: Path, text: str, offset: int, place: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(text, encoding="utf-8")
    assert where(path, offset) == place


def test_where_counts_a_character_cut_between_two_reads_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.json"
    text = "x\n" + "字" * 10 + "y"
    path.write_text(text, encoding="utf-8")
    for chunk in (1, 2, 4, 7):
        monkeypatch.setattr(limits, "CHUNK", chunk)
        assert where(path, len(text.encode()) - 1) == " (line 2, column 11)", chunk


def test_where_says_nothing_of_a_file_it_cannot_read(tmp_path: Path) -> None:
    assert where(tmp_path / "gone.json", 10) == ""

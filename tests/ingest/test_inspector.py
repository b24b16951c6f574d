"""feeder/ingest/inspector.py: following a record token by token, in pieces of any size,
to find where it ends, its id, and which limit it breaks under which key."""

from __future__ import annotations

import json

import pytest

from feeder.ingest.inspector import Inspector, inspect_whole
from feeder.ingest.limits import MAX_DEPTH, MAX_DIGITS, MAX_RECORD, MAX_VALUES
from feeder.ingest.normalise import ID

DEEP = "[" * MAX_DEPTH + "]" * MAX_DEPTH  # under a key: one level too deep
LONG = "9" * (MAX_DIGITS + 1)
MANY = "[" + "0," * MAX_VALUES + "0]"  # under a key: one value too many


def obj(*pairs: tuple[str, str]) -> str:
    """A JSON object from its keys and the JSON text of their values."""
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {v}" for k, v in pairs) + "}"


# Brackets, quotes and escapes inside strings, a nested id that is not the record's, the
# record's own id last, and a number of 50 digits under "n".
RECORD = obj(
    ("t", json.dumps('[{"不是": 1}]', ensure_ascii=False)),
    ("o", '{"k": [1, ' + obj((ID, '"inner"')) + "]}"),
    ("n", "[1, " + "9" * 50 + "]"),
    (ID, '"outer\\u0021"'),
)


def fed_in_pieces(text: str, size: int) -> tuple[Inspector, int]:
    """Feed `text` as a reader would: what is held grows by `size` characters at a time."""
    inspector, at = Inspector(), 0
    for held in range(size, len(text) + size, size):
        done, at = inspector.feed(text[:held], at)
        if done:
            return inspector, at
    raise AssertionError("the record never ended")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(RECORD)])
def test_a_record_fed_in_pieces_is_followed_as_if_whole(size: int) -> None:
    inspector, end = fed_in_pieces(RECORD + ", {}", size)
    assert end == len(RECORD)
    assert inspector.ident == "outer!"
    assert inspector.deepest == (4, "o")
    assert inspector.longest == (50, "n")
    assert inspector.values == 9


def test_an_id_is_found_as_a_number_or_written_with_escapes() -> None:
    assert inspect_whole(obj((ID, "12345"), ("x", "[[]]"))).ident == "12345"
    escaped = "".join(f"\\u{ord(c):04x}" for c in ID[:5]) + ID[5:]
    assert inspect_whole('{"x": 1, "' + escaped + '": "a\\"b"}').ident == 'a"b'
    assert inspect_whole(obj((ID, '"' + "i" * 300 + '"'))).ident is None  # too long to name
    assert inspect_whole(obj(("x", obj((ID, '"nested"'))))).ident is None


def test_a_value_that_is_not_an_object_ends_at_the_next_comma_or_bracket() -> None:
    assert Inspector().feed("1234567, {}", 0) == (True, 7)
    assert Inspector().feed('"a string", {}', 0) == (True, 10)


def reason(text: str, cause: str = "the cause") -> str:
    return inspect_whole(text).reason(cause)


def test_the_reason_names_the_limit_broken_and_its_key() -> None:
    assert reason(obj(("ok", "[[1]]"))) == "the cause"
    assert reason(obj(("k", DEEP))) == "nested more than 64 levels deep in 'k'"
    assert reason(obj(("k", DEEP[1:-1]))) == "the cause"  # at the limit
    assert reason(obj(("a", "1"), ("b", "-" + LONG[1:]))) == (
        "a number of 1,001 digits in 'b' (at most 1,000)"
    )
    assert reason(obj(("a", LONG))) == "a number of 1,001 digits in 'a' (at most 1,000)"
    assert reason(obj(("a", "1"), ("list", MANY))) == "more than 100,000 values in 'list'"


def test_size_comes_first_then_depth_then_numbers_then_values() -> None:
    inspector = inspect_whole(obj(("v", MANY), ("n", LONG), ("d", DEEP)))
    assert inspector.reason("x") == "nested more than 64 levels deep in 'd'"
    inspector.size = MAX_RECORD + 1
    assert inspector.reason("x") == "the record takes 16,777,217 bytes (at most 16 MB)"
    assert reason(obj(("v", MANY), ("n", LONG))).startswith("a number of 1,001 digits in 'n'")

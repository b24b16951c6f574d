"""feeder/ingest/records.py: what one decoded record becomes, a Record with its id and
digest or a Skipped saying why, and how a Skipped is told to the operator."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeder.ingest import Record, Skipped, digest
from feeder.ingest.limits import ID_CHARS, MAX_DEPTH
from feeder.ingest.normalise import ID
from feeder.ingest.records import checked, identify, shown_id
from tests.conftest import record


def test_a_record_carries_its_position_cleaned_id_digest_and_itself() -> None:
    raw = {**record("x"), ID: "  a&amp;b \n"}
    found = identify(raw, 7)
    assert found == Record(7, "a&b", digest(raw), raw)
    assert found.raw is raw


def test_an_id_written_as_a_number_is_its_digits() -> None:
    found = identify({**record("x"), ID: 2650224682}, 1)
    assert isinstance(found, Record) and found.id == "2650224682"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["a", "list"], "not an object but a list"),
        ("text", "not an object but a string"),
        (12.5, "not an object but a number"),
        (None, "not an object but null"),
        ({"标题title": "t"}, f"no id ({ID} missing, empty or not a string)"),
        ({ID: " \t"}, f"no id ({ID} missing, empty or not a string)"),
        ({ID: True}, f"no id ({ID} missing, empty or not a string)"),
        ({ID: ["a"]}, f"no id ({ID} missing, empty or not a string)"),
    ],
)
def test_a_value_without_an_id_is_skipped_saying_why(value: object, reason: str) -> None:
    assert identify(value, 3) == Skipped(3, None, reason)


def test_a_record_past_a_limit_is_skipped_naming_its_id() -> None:
    deep: object = 0
    for _ in range(MAX_DEPTH):
        deep = [deep]
    found = checked({**record("deep"), "x": deep}, 2)
    assert found == Skipped(2, "deep", "nested more than 64 levels deep in 'x'")
    assert checked({**record("ok"), "x": [[0]]}, 2) == identify({**record("ok"), "x": [[0]]}, 2)


def test_an_id_too_long_to_name_is_not_shown() -> None:
    assert shown_id({ID: "i" * ID_CHARS}) == "i" * ID_CHARS
    assert shown_id({ID: "i" * (ID_CHARS + 1)}) is None
    assert shown_id({ID: 12345}) == "12345"
    assert shown_id({ID: ""}) is None
    assert shown_id(["not", "a", "record"]) is None


def test_a_skipped_record_is_described_by_file_position_and_id(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    assert Skipped(4, "bad", "no title").describe(path) == (
        f"{path}: record 4 (id 'bad') skipped: no title"
    )
    assert Skipped(5, None, "not UTF-8").describe(path) == f"{path}: record 5 skipped: not UTF-8"

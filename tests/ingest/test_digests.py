"""feeder/ingest/digests.py: a record's digest covers exactly the fields feeder reads, and
stays the same across releases; a file's checksum can be extended instead of recomputed."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from feeder.errors import CorpusError
from feeder.ingest import checksum, digest
from feeder.ingest.normalise import FIELDS, ID, TITLE, URL
from tests.conftest import record


def test_a_digest_is_the_same_in_every_release() -> None:
    # Stored in every state: were it to change, the next poll would find every article
    # updated and rewrite them all.
    assert digest(record("a")) == (
        "e82d11e9de85f80756b6dec027782cb00bc9bc6b5dc1cd6c394a02027fc3a2a5"
    )


def test_only_the_fields_feeder_reads_count() -> None:
    base = record("a")
    assert digest({**base, "阅读数": 12, "extra": {"k": [1, 2]}}) == digest(base)
    assert digest(dict(reversed(base.items()))) == digest(base)  # their order in the file
    for field in FIELDS:
        assert digest({**base, field: base[field] + "x"}) != digest(base), field


def test_text_moved_from_one_field_to_the_next_changes_the_digest() -> None:
    base = record("a")
    moved = {**base, TITLE: base[TITLE] + base[URL][:4], URL: base[URL][4:]}
    assert digest(moved) != digest(base)


def test_a_value_that_is_not_text_is_digested_as_read() -> None:
    base = record("a")
    assert digest({**base, TITLE: ["标题"]}) != digest(base)
    assert digest({**base, TITLE: None}) == digest({k: v for k, v in base.items() if k != TITLE})
    assert digest({**base, ID: "\ud83d"}) != digest(base)  # a lone surrogate: no error


def test_a_checksum_is_the_crc32_of_the_prefix_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    data = bytes(range(256)) * 9000  # over two of the reads it takes
    path.write_bytes(data)
    for length in (0, 1, 1 << 20, len(data)):
        assert checksum(path, length) == f"crc32:{length}:{zlib.crc32(data[:length]):08x}"


@pytest.mark.parametrize("known", [0, 1, 300_000, 1 << 20])
def test_an_extended_checksum_equals_one_taken_from_the_start(tmp_path: Path, known: int) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(bytes(range(256)) * 9000)
    since = checksum(path, known)
    assert checksum(path, 2_000_000, since=since) == checksum(path, 2_000_000)
    assert checksum(path, known, since=since) == since


def test_a_file_that_cannot_be_read_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"c\.jsonl: cannot read corpus: "):
        checksum(tmp_path / "c.jsonl", 10)

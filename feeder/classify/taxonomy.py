"""The taxonomy file: tags, their weighted phrases and patterns, and the scoring knobs.

Categories are data: the file (format in docs/taxonomy.md) is validated here, with errors
that name the file, the tag and the key at fault.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model import Tag
from ..site import ALL
from ..text import TAG_ID

_Fail = Callable[[str], ConfigError]  # builds the error for one problem, naming the file


@dataclass(frozen=True, slots=True)
class Signal:
    """One weighted piece of evidence for a tag."""

    tag: str  # the tag it votes for
    name: str  # the phrase as written in the file, or the pattern's name
    weight: float  # points for a single hit in the body
    regex: str | None = None  # None for a literal phrase


@dataclass(frozen=True, slots=True)
class Voice:
    """Who speaks and what kind of text it is: a tag's claim to be the primary.

    When the heading (the title and the body's first `lead_chars` characters) names one of
    the `issuers` and one of the `kinds`, the tag gets `weight` points and is placed first
    if it then reaches min_score, whatever the topic words say.
    """

    tag: str  # the tag it places first
    issuers: tuple[str, ...]  # who speaks: 国务院, 证监会, 科技厅, ministry of …
    kinds: tuple[str, ...]  # what kind of text: 通知, 措施, 名单, 公报, action plan, …
    weight: float  # points added to the tag when both are found
    lead_chars: int  # how much of the body's opening counts as the heading


@dataclass(frozen=True, slots=True)
class Scoring:
    """How hits become scores and scores become tags (the file's [scoring] table)."""

    title_weight: float  # a title hit is worth this many body hits
    saturation: float  # k: n hits of one signal are worth (1 - e^(-n/k)) / (1 - e^(-1/k))
    reference_length: int  # bodies longer than this many characters are scaled down …
    length_exponent: float  # … by (length / reference_length) ** length_exponent
    min_score: float  # a tag needs at least this score to be given at all
    secondary_ratio: float  # a further tag needs this share of the primary tag's score
    max_tags: int  # at most this many tags per article
    body_chars: int = 0  # only the body's first this many characters are read; 0 = all


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy file."""

    tags: tuple[Tag, ...]  # in file order, which also breaks ties between equal scores
    signals: tuple[Signal, ...]  # every phrase and pattern of every tag
    neutral: tuple[str, ...]  # phrases of no tag that keep shorter signals inside them silent
    scoring: Scoring
    fingerprint: str  # sha256 of the file's bytes: a changed taxonomy means re-classifying
    source: str = "<taxonomy>"  # the file it came from, for messages
    voices: tuple[Voice, ...] = ()  # tags that who-speaks-and-what-kind places first


_PLURAL = "(s)"


def phrase_forms(phrase: str) -> tuple[str, ...]:
    """The texts a listed phrase matches, lower-cased: "measure(s)" is "measure", "measures"."""
    low = phrase.lower()
    if low.endswith(_PLURAL) and len(low) > len(_PLURAL):
        stem = low[: -len(_PLURAL)]
        return (stem, stem + "s")
    return (low,)


_SCORING_KEYS: dict[str, type] = {
    "title_weight": float,
    "saturation": float,
    "reference_length": int,
    "length_exponent": float,
    "min_score": float,
    "secondary_ratio": float,
    "max_tags": int,
    "body_chars": int,
}
# Keys a taxonomy file may leave out, with the value it then gets.
_SCORING_DEFAULTS: dict[str, Any] = {"body_chars": 0}


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate a taxonomy file; ConfigError names the file, tag and key at fault."""
    return parse_taxonomy(_read(Path(path)), str(path))


def taxonomy_fingerprint(path: Path) -> str:
    """The file's Taxonomy.fingerprint, without validating it: has the taxonomy changed?"""
    return _fingerprint(_read(Path(path)))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: taxonomy file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read taxonomy file: {exc.strerror}") from None


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_taxonomy(data: bytes | str, source: str = "<taxonomy>") -> Taxonomy:
    """Validate taxonomy text (for tests and tools); `source` names it in error messages."""
    raw_bytes = data.encode("utf-8") if isinstance(data, str) else data
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: taxonomy file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return _build(raw, source, _fingerprint(raw_bytes))


def _build(raw: dict[str, Any], source: str, fingerprint: str) -> Taxonomy:
    def fail(message: str) -> ConfigError:
        return ConfigError(f"{source}: {message}")

    _only_keys(raw, {"scoring", "neutral", "tags"}, "the top level", fail)
    scoring = _scoring(_table(raw, "scoring", "[scoring]", fail), fail)
    neutral_table = raw.get("neutral", {})
    if not isinstance(neutral_table, dict):
        raise fail("[neutral] must be a table")
    _only_keys(neutral_table, {"phrases"}, "[neutral]", fail)
    neutral = tuple(_strings(neutral_table.get("phrases", []), "[neutral] phrases", fail))
    tags_table = _table(raw, "tags", "[tags]", fail)
    if not tags_table:
        raise fail("no tags: add at least one [tags.<id>] table")
    tags: list[Tag] = []
    signals: list[Signal] = []
    voices: list[Voice] = []
    for tag_id, table in tags_table.items():
        tag, tag_signals = _tag(tag_id, table, fail)
        tags.append(tag)
        signals.extend(tag_signals)
        if "voice" in table:
            voices.append(_voice(tag_id, table["voice"], fail))
    return Taxonomy(
        tuple(tags), tuple(signals), neutral, scoring, fingerprint, source, tuple(voices)
    )


def _scoring(table: dict[str, Any], fail: _Fail) -> Scoring:
    _only_keys(table, set(_SCORING_KEYS), "[scoring]", fail)
    values: dict[str, Any] = {}
    for key, kind in _SCORING_KEYS.items():
        if key not in table and key not in _SCORING_DEFAULTS:
            raise fail(f"[scoring] is missing {key}")
        value = table.get(key, _SCORING_DEFAULTS.get(key))
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int and not (isinstance(value, int) and is_number):
            raise fail(f"[scoring] {key} must be a whole number, not {value!r}")
        if not is_number:
            raise fail(f"[scoring] {key} must be a number, not {value!r}")
        values[key] = kind(value)
    checks = [
        ("title_weight", values["title_weight"] >= 0, "at least 0"),
        ("saturation", values["saturation"] > 0, "more than 0"),
        ("reference_length", values["reference_length"] >= 1, "at least 1"),
        ("length_exponent", 0 <= values["length_exponent"] <= 1, "between 0 and 1"),
        ("min_score", values["min_score"] > 0, "more than 0"),
        ("secondary_ratio", 0 < values["secondary_ratio"] <= 1, "more than 0 and at most 1"),
        ("max_tags", values["max_tags"] >= 1, "at least 1"),
        ("body_chars", values["body_chars"] >= 0, "at least 0 (0 reads the whole body)"),
    ]
    for key, ok, rule in checks:
        if not ok:
            raise fail(f"[scoring] {key} must be {rule}, not {values[key]!r}")
    return Scoring(**values)


def _tag(tag_id: str, table: Any, fail: _Fail) -> tuple[Tag, list[Signal]]:
    where = f"tag {tag_id!r}"
    if not TAG_ID.fullmatch(tag_id):
        raise fail(f"{where}: a tag id must be lower-case letters, digits, '-' or '_'")
    if tag_id == ALL:  # the feed of every article already has that name
        raise fail(f"{where}: {ALL!r} is reserved for the feed of every article")
    if not isinstance(table, dict):
        raise fail(f"{where}: [tags.{tag_id}] must be a table")
    _only_keys(table, {"label", "description", "words", "patterns", "voice"}, where, fail)
    label = _text(table, "label", where, fail)
    description = _text(table, "description", where, fail)
    signals: list[Signal] = []
    seen: set[str] = set()
    for n, group in enumerate(_groups(table, "words", where, fail), 1):
        at = f"{where}: words #{n}"
        _only_keys(group, {"weight", "terms"}, at, fail)
        weight = _weight(group, at, fail)
        if "terms" not in group:
            raise fail(f"{at}: missing terms (a list of phrases)")
        for term in _strings(group["terms"], f"{at}: terms", fail):
            forms = phrase_forms(term)
            if not seen.isdisjoint(forms):
                raise fail(f"{at}: {term!r} is listed twice for this tag")
            seen.update(forms)
            signals.append(Signal(tag_id, term, weight))
    for n, group in enumerate(_groups(table, "patterns", where, fail), 1):
        at = f"{where}: patterns #{n}"
        _only_keys(group, {"name", "weight", "regex"}, at, fail)
        name = _text(group, "name", at, fail)
        at = f"{where}: pattern {name!r}"
        if name.lower() in seen:
            raise fail(f"{at}: the name is already used by another signal of this tag")
        seen.add(name.lower())
        weight = _weight(group, at, fail)
        regex = _text(group, "regex", at, fail)
        _check_regex(regex, at, fail)
        signals.append(Signal(tag_id, name, weight, regex))
    if not signals:
        raise fail(f"{where}: no words or patterns, so it could never be given")
    return Tag(tag_id, label, description), signals


def _voice(tag_id: str, table: Any, fail: _Fail) -> Voice:
    where = f"tag {tag_id!r}: voice"
    if not isinstance(table, dict):
        raise fail(f"{where}: [tags.{tag_id}.voice] must be a table")
    _only_keys(table, {"weight", "lead_chars", "issuers", "kinds"}, where, fail)
    weight = _weight(table, where, fail)
    lead = table.get("lead_chars", 0)
    if not isinstance(lead, int) or isinstance(lead, bool) or lead < 0:
        raise fail(f"{where}: lead_chars must be a whole number of at least 0, not {lead!r}")
    lists = {}
    for key in ("issuers", "kinds"):
        if key not in table:
            raise fail(f"{where}: missing {key} (a list of phrases)")
        lists[key] = tuple(_strings(table[key], f"{where}: {key}", fail))
        if not lists[key]:
            raise fail(f"{where}: {key} is empty, so the voice could never be heard")
    return Voice(tag_id, lists["issuers"], lists["kinds"], weight, lead)


def _check_regex(regex: str, at: str, fail: _Fail) -> None:
    try:
        compiled = re.compile(regex, re.IGNORECASE)
    except re.error as exc:
        raise fail(f"{at}: bad regex {regex!r}: {exc}") from None
    if compiled.match(""):
        raise fail(f"{at}: regex {regex!r} matches the empty string")


def _only_keys(table: dict[str, Any], known: set[str], where: str, fail: _Fail) -> None:
    for key in table:
        if key not in known:
            raise fail(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")


def _table(raw: dict[str, Any], key: str, where: str, fail: _Fail) -> dict[str, Any]:
    if key not in raw:
        raise fail(f"missing {where} table")
    value = raw[key]
    if not isinstance(value, dict):
        raise fail(f"{where} must be a table")
    return value


def _groups(table: dict[str, Any], key: str, where: str, fail: _Fail) -> list[dict[str, Any]]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(g, dict) for g in value):
        raise fail(f"{where}: {key} must be written as [[tags.<id>.{key}]] tables")
    return value


def _text(table: dict[str, Any], key: str, where: str, fail: _Fail) -> str:
    if key not in table:
        raise fail(f"{where}: missing {key}")
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value


def _strings(value: Any, where: str, fail: _Fail) -> list[str]:
    if not isinstance(value, list):
        raise fail(f"{where} must be a list of strings, not {value!r}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise fail(f"{where}: every entry must be a non-empty string, not {item!r}")
    return value


def _weight(table: dict[str, Any], where: str, fail: _Fail) -> float:
    if "weight" not in table:
        raise fail(f"{where}: missing weight")
    value = table["weight"]
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise fail(f"{where}: weight must be a positive number, not {value!r}")
    return float(value)

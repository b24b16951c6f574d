"""Categorising articles: reading the taxonomy file and scoring an article against it.

The taxonomy (data/taxonomy.toml, format in docs/taxonomy.md) is data: tags, their weighted
phrases and regex patterns, and the scoring knobs. `Classifier` compiles it once into one
Aho–Corasick automaton (every phrase found in a single pass over a text) and its regexes,
then `classify()` is a pure function of the title and the body.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from ahocorasick_rs import BytesAhoCorasick, Implementation

from .errors import ConfigError
from .model import Article, Classification, Hit, Tag

_Fail = Callable[[str], ConfigError]  # builds the error for one problem, naming the file
_TAG_ID = re.compile(r"[a-z][a-z0-9_-]*\Z")
# A phrase that starts or ends with one of these matches whole words only ("cell" ≠ "cellular").
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_ALNUM_BYTES = frozenset(map(ord, _ALNUM))  # never part of a multi-byte UTF-8 character
_KEY = itemgetter(0)  # of a match (key index, start, end)
_POINTS = attrgetter("points")


@dataclass(frozen=True, slots=True)
class Signal:
    """One weighted piece of evidence for a tag."""

    tag: str  # the tag it votes for
    name: str  # the phrase as written in the file, or the pattern's name
    weight: float  # points for a single hit in the body
    regex: str | None = None  # None for a literal phrase


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
    for tag_id, table in tags_table.items():
        tag, tag_signals = _tag(tag_id, table, fail)
        tags.append(tag)
        signals.extend(tag_signals)
    return Taxonomy(tuple(tags), tuple(signals), neutral, scoring, fingerprint, source)


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
    if not _TAG_ID.match(tag_id):
        raise fail(f"{where}: a tag id must be lower-case letters, digits, '-' or '_'")
    if tag_id == "all":  # the feed of every article already has that name
        raise fail(f"{where}: 'all' is reserved for the feed of every article")
    if not isinstance(table, dict):
        raise fail(f"{where}: [tags.{tag_id}] must be a table")
    _only_keys(table, {"label", "description", "words", "patterns"}, where, fail)
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
            if term.lower() in seen:
                raise fail(f"{at}: {term!r} is listed twice for this tag")
            seen.add(term.lower())
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


# -- Scoring ---------------------------------------------------------------------------


class Classifier:
    """Scores articles against one taxonomy; build once, call `classify` many times."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._scoring = scoring = taxonomy.scoring
        self._tag_ids = tuple(tag.id for tag in taxonomy.tags)
        self._order = {tag: n for n, tag in enumerate(self._tag_ids)}
        # Phrases are matched lower-cased; one key may vote for several tags, or none.
        votes: dict[str, list[int]] = {phrase.lower(): [] for phrase in taxonomy.neutral}
        self._patterns: list[tuple[re.Pattern[str], int]] = []
        for i, signal in enumerate(taxonomy.signals):
            if signal.regex is None:
                votes.setdefault(signal.name.lower(), []).append(i)
            else:
                # Run one by one rather than as an alternation: each keeps re's fast scan
                # for its first character, which an alternation loses.
                self._patterns.append((re.compile(signal.regex, re.IGNORECASE), i))
        keys = list(votes)
        self._votes = [tuple(votes[key]) for key in keys]
        self._length = [len(key) for key in keys]
        # Every occurrence of every key, overlapping ones too: the nesting rule below needs
        # the inner ones, and phrases that merely overlap ("指导意见" and "意见》" in
        # "指导意见》") both count. A DFA scans Chinese text about 1.5x as fast as the
        # default NFA; for a few hundred phrases it takes milliseconds to build. It reads
        # UTF-8 bytes: for a str it would encode anyway and then also turn byte offsets
        # into character offsets; UTF-8 is self-synchronising, so every byte match is a
        # match of whole characters.
        self._automaton = BytesAhoCorasick(
            [key.encode("utf-8", "surrogatepass") for key in keys],
            implementation=Implementation.DFA,
        )
        # The automaton also finds "cell" inside "cellular": a key edged with a Latin letter
        # or digit counts only where no letter or digit touches that edge in the text.
        self._edges = [(key[0] in _ALNUM, key[-1] in _ALNUM) for key in keys]
        self._bounded = frozenset(k for k, key in enumerate(keys) if _latin_edged(key))
        # A match inside a longer listed phrase counts only for the longer one, so that
        # "science and technology" is not the journal Science.
        self._inner = {
            k: inner for k, key in enumerate(keys) if (inner := _inner_keys(k, key, keys))
        }
        self._containers = frozenset(self._inner)
        full = 1 / (1 - math.exp(-1 / scoring.saturation))
        self._saturated = [(1 - math.exp(-n / scoring.saturation)) * full for n in range(256)]
        self._full = full
        self._signals = [(signal.tag, signal.name, signal.weight) for signal in taxonomy.signals]

    def classify(self, title: str, content: str, *, explain: bool = True) -> Classification:
        """Tag one article from its title and plain-text body (pure, no I/O).

        `explain=False` leaves out the hits: a bulk ingest stores only tags and scores, and
        building the hits was 40% of the time.
        """
        scoring = self._scoring
        if scoring.body_chars:
            content = content[: scoring.body_chars]
        # Scaled by the length read, not the whole body's: the hits come from that part
        # only, so a long article's opening is judged like an article of that length.
        body_scale = max(1.0, len(content) / scoring.reference_length) ** -scoring.length_exponent
        scores = dict.fromkeys(self._tag_ids, 0.0)
        hits: list[Hit] = []
        signals, saturated, full = self._signals, self._saturated, self._full
        for where, text, scale in (
            ("title", title, scoring.title_weight),
            ("body", content, body_scale),
        ):
            if not text or scale == 0:
                continue
            for i, count in self._count(text).items():
                tag, name, weight = signals[i]
                points = weight * (saturated[count] if count < 256 else full) * scale
                scores[tag] += points
                if explain:
                    hits.append(Hit(tag, name, where, count, points))
        order = self._order
        ranked = sorted(self._tag_ids, key=lambda tag: (-scores[tag], order[tag]))
        given: list[str] = []
        for tag in ranked[: scoring.max_tags]:
            score = scores[tag]
            if score < scoring.min_score:
                break
            if given and score < scoring.secondary_ratio * scores[given[0]]:
                break
            given.append(tag)
        # Each tag's hits in file order, strongest first. A stable sort keyed in C, then
        # one filter per tag: cheaper than sorting on a (tag order, points) key.
        hits.sort(key=_POINTS, reverse=True)
        by_tag = tuple(hit for tag in self._tag_ids for hit in hits if hit.tag == tag)
        return Classification(tags=tuple(given), scores=scores, hits=by_tag)

    def classify_article(self, article: Article) -> Classification:
        return self.classify(article.title, article.content)

    def _count(self, text: str) -> dict[int, int]:
        """How often each signal occurs in `text`: one automaton pass, then each pattern."""
        low = text.lower().encode("utf-8", "surrogatepass")
        matches = self._automaton.find_matches_as_indexes(low, overlapping=True)
        found = Counter(map(_KEY, matches))
        bounded = self._bounded
        if not bounded.isdisjoint(found):
            # compress() hands Python only the matches of Latin-edged keys, which are few
            # in Chinese text. Offsets count bytes of `low`; an ASCII byte is a character.
            edges, size = self._edges, len(low)
            for k, start, end in compress(matches, map(bounded.__contains__, map(_KEY, matches))):
                first, last = edges[k]
                if (first and start and low[start - 1] in _ALNUM_BYTES) or (
                    last and end < size and low[end] in _ALNUM_BYTES
                ):
                    found[k] -= 1
        containers = self._containers.intersection(found)
        if containers:
            length = self._length
            for k in sorted(containers, key=length.__getitem__, reverse=True):
                n = found[k]
                if n > 0:
                    for j, times in self._inner[k]:
                        if j in found:
                            found[j] -= n * times
        counts: dict[int, int] = {}
        votes = self._votes
        for k, n in found.items():
            if n > 0:
                for i in votes[k]:
                    counts[i] = counts.get(i, 0) + n
        for pattern, i in self._patterns:
            n = len(pattern.findall(text))
            if n:
                counts[i] = n
        return counts


def _latin_edged(key: str) -> bool:
    return key[0] in _ALNUM or key[-1] in _ALNUM


def _count_words(text: str, key: str) -> int:
    """How often `key` occurs in `text` with no Latin letter or digit glued to its Latin edges."""
    check_start, check_end = key[0] in _ALNUM, key[-1] in _ALNUM
    count, at, size = 0, text.find(key), len(key)
    while at >= 0:
        end = at + size
        if not (check_start and at and text[at - 1] in _ALNUM) and not (
            check_end and end < len(text) and text[end] in _ALNUM
        ):
            count += 1
        at = text.find(key, at + 1)
    return count


def _inner_keys(k: int, key: str, keys: list[str]) -> tuple[tuple[int, int], ...]:
    """The shorter keys inside `key`, each with how many times it occurs there as a word."""
    inner = []
    for j, other in enumerate(keys):
        if j == k or len(other) >= len(key) or other not in key:
            continue
        if times := _count_words(key, other) if _latin_edged(other) else key.count(other):
            inner.append((j, times))
    return tuple(inner)


# -- Presenting a verdict ----------------------------------------------------------------


def as_record(article: Article, verdict: Classification, hits: bool = False) -> dict[str, Any]:
    """The JSON shape of one verdict: {"id", "title", "tags" (primary first), "scores"}."""
    record: dict[str, Any] = {
        "id": article.id,
        "title": article.title,
        "tags": list(verdict.tags),
        "scores": {tag: round(score, 3) for tag, score in verdict.scores.items()},
    }
    if hits:
        record["hits"] = [
            {
                "tag": hit.tag,
                "signal": hit.signal,
                "where": hit.where,
                "count": hit.count,
                "points": round(hit.points, 3),
            }
            for hit in verdict.hits
        ]
    return record


def explain(article: Article, verdict: Classification, taxonomy: Taxonomy, top: int = 6) -> str:
    """Why an article got its tags, for a person: scores, then each tag's strongest signals."""
    labels = {tag.id: tag.label for tag in taxonomy.tags}
    scoring = taxonomy.scoring
    given = ", ".join(
        f"{tag} {labels[tag]}" + (" (primary)" if n == 0 else "")
        for n, tag in enumerate(verdict.tags)
    )
    lines = [
        f"{article.id}  {article.title}",
        f"  tags: {given or '(none: no tag reached ' + format(scoring.min_score, 'g') + ')'}",
    ]
    for tag in sorted(verdict.scores, key=lambda t: -verdict.scores[t]):
        score = verdict.scores[tag]
        mark = "+" if tag in verdict.tags else " "
        hits = sorted((h for h in verdict.hits if h.tag == tag), key=lambda h: -h.points)
        shown = [
            f"{h.signal}{'' if h.where == 'body' else ' [title]'}"
            f"{'' if h.count == 1 else f' ×{h.count}'} {h.points:.1f}"
            for h in hits[:top]
        ]
        if len(hits) > top:
            rest = sum(h.points for h in hits[top:])
            shown.append(f"{len(hits) - top} more {rest:.1f}")
        lines.append(f"  {mark} {tag:<10} {score:6.1f}  " + (" · ".join(shown) or "-"))
    first = max(verdict.scores.values(), default=0.0)
    lines.append(
        f"    (a tag needs {scoring.min_score:g}; a further tag also needs "
        f"{scoring.secondary_ratio:g} × {first:.1f} = {scoring.secondary_ratio * first:.1f})"
    )
    return "\n".join(lines)

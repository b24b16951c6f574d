"""Proposing taxonomy edits from people's verdicts: `feeder taxonomy suggest`.

Pure: the taxonomy's text, the labelled articles and the other stored articles in; edits
and a unified diff out. Every proposal is checked by rescoring every labelled article, so
a proposal fixes verdicts the taxonomy gets wrong and breaks none it gets right. The file
itself is never written: a person reads the diff and applies it.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..model import Article, Correction
from .correct import agrees
from .scorer import Classifier
from .taxonomy import Signal, Taxonomy, parse_taxonomy, phrase_forms

_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_WORD = re.compile(r"[a-z][a-z-]{3,}")
_HAN_SIZES = (2, 3, 4)
_NEW_WEIGHTS = (2.0, 3.0, 4.0)  # the weights a new phrase is tried with, lightest first
_CANDIDATES = 15  # phrases per tag worth simulating
_ROUNDS = 5  # edits proposed at most


@dataclass(frozen=True, slots=True)
class Edit:
    """One proposed change to the taxonomy file."""

    tag: str
    phrase: str | None  # a phrase to add to the tag, or None for a weight change
    group: int | None  # for a weight change: which [[tags.<tag>.words]] group (0-based)
    weight: float  # the new phrase's weight, or the group's new weight
    fixes: tuple[str, ...]  # article ids whose verdict this edit makes right

    def describe(self) -> str:
        fixed = ", ".join(self.fixes)
        if self.phrase is not None:
            return f"add {self.phrase!r} to {self.tag} with weight {self.weight:g} (fixes {fixed})"
        return (
            f"set the weight of {self.tag} words #{(self.group or 0) + 1} "
            f"to {self.weight:g} (fixes {fixed})"
        )


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What `feeder taxonomy suggest` found."""

    wrong: tuple[str, ...]  # labelled articles the taxonomy gets wrong now
    edits: tuple[Edit, ...]  # in the order they were chosen
    still_wrong: tuple[str, ...]  # wrong even after the edits
    diff: str  # unified diff of the taxonomy file; "" when there is no edit


def suggest(
    text: str,
    path: str,
    labelled: Sequence[tuple[Article, Correction]],
    others: Iterable[Article],
) -> Suggestion:
    """Edits to the taxonomy `text` (the file at `path`) that fix the most verdicts."""
    raw = tomllib.loads(text)
    taxonomy = parse_taxonomy(text, path)
    right = _right(taxonomy, labelled)
    wrong = tuple(a.id for a, _ in labelled if not right[a.id])
    rare = _document_counts(others, {a.id for a, _ in labelled})
    edits: list[Edit] = []
    current = taxonomy
    for _ in range(_ROUNDS):
        if all(right.values()):
            break
        best = _best_edit(current, raw, labelled, right, rare)
        if best is None:
            break
        edit, current, right = best
        edits.append(edit)
    new_text = _apply(text, edits)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True), new_text.splitlines(keepends=True), path, path
        )
    )
    still = tuple(a.id for a, _ in labelled if not right[a.id])
    return Suggestion(wrong, tuple(edits), still, diff)


def _right(taxonomy: Taxonomy, labelled: Sequence[tuple[Article, Correction]]) -> dict[str, bool]:
    classifier = Classifier(taxonomy)
    return {
        article.id: agrees(
            classifier.classify(article.title, article.content, explain=False), correction
        )
        for article, correction in labelled
    }


def _best_edit(
    taxonomy: Taxonomy,
    raw: Mapping[str, object],
    labelled: Sequence[tuple[Article, Correction]],
    right: dict[str, bool],
    rare: Counter[str],
) -> tuple[Edit, Taxonomy, dict[str, bool]] | None:
    """The edit that fixes the most wrong verdicts and breaks no right one, or None."""
    best: tuple[Edit, Taxonomy, dict[str, bool]] | None = None
    tried = set()
    for candidate in _candidates(taxonomy, raw, labelled, right, rare):
        if candidate in tried:
            continue
        tried.add(candidate)
        tag, phrase, group, weight = candidate
        trial = _edited(taxonomy, raw, tag, phrase, group, weight)
        after = _right(trial, labelled)
        if any(right[i] and not after[i] for i in right):
            continue  # breaks a verdict the taxonomy got right
        fixes = tuple(i for i in right if after[i] and not right[i])
        if fixes and (best is None or len(fixes) > len(best[0].fixes)):
            best = (Edit(tag, phrase, group, weight, fixes), trial, after)
    return best


def _candidates(
    taxonomy: Taxonomy,
    raw: Mapping[str, object],
    labelled: Sequence[tuple[Article, Correction]],
    right: dict[str, bool],
    rare: Counter[str],
) -> Iterable[tuple[str, str | None, int | None, float]]:
    """(tag, phrase, group, weight) to try: phrases of the wrongly labelled articles first,
    then a step up for the right tag's word groups and a step down for the wrong tag's."""
    wrong = [(a, c) for a, c in labelled if not right[a.id]]
    listed = {(s.tag, form) for s in taxonomy.signals for form in phrase_forms(s.name)}
    for tag in sorted({c.primary for _, c in wrong if c.primary}):
        counts: Counter[str] = Counter()
        for article, correction in wrong:
            if correction.primary == tag:
                counts.update(_grams(article))
        ranked = sorted(
            (g for g in counts if (tag, g) not in listed),
            key=lambda g: (-counts[g] / (1 + rare[g]), -len(g), g),
        )
        for gram in ranked[:_CANDIDATES]:
            for weight in _NEW_WEIGHTS:
                yield tag, gram, None, weight
    classifier = Classifier(taxonomy)
    for article, correction in wrong:
        verdict = classifier.classify(article.title, article.content)
        for hit in verdict.hits:
            group = _group_of(raw, hit.tag, hit.signal)
            if group is None:
                continue
            weight = _group_weight(raw, hit.tag, group)
            if hit.tag in correction.tags:
                yield hit.tag, None, group, weight + 1
            elif weight > 1:
                yield hit.tag, None, group, weight - 1


def _grams(article: Article) -> set[str]:
    """The phrases an article could be known by: runs of 2–4 Chinese characters, English
    words of four letters or more, and pairs of them."""
    text = f"{article.title}\n{article.content[:3000]}".lower()
    grams: set[str] = set()
    for run in _HAN_RUN.findall(text):
        for size in _HAN_SIZES:
            grams.update(run[i : i + size] for i in range(len(run) - size + 1))
    words = _WORD.findall(text)
    grams.update(words)
    grams.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return grams


def _document_counts(articles: Iterable[Article], skip: set[str]) -> Counter[str]:
    """In how many of `articles` (but those in `skip`) each phrase occurs."""
    counts: Counter[str] = Counter()
    for article in articles:
        if article.id not in skip:
            counts.update(_grams(article))
    return counts


def _words(raw: Mapping[str, object], tag: str) -> list[dict[str, object]]:
    tags = raw["tags"]
    assert isinstance(tags, dict)
    groups = tags[tag].get("words", [])
    assert isinstance(groups, list)
    return groups


def _terms(raw: Mapping[str, object], tag: str, group: int) -> set[str]:
    terms = _words(raw, tag)[group].get("terms", [])
    return {t for t in terms if isinstance(t, str)} if isinstance(terms, list) else set()


def _group_of(raw: Mapping[str, object], tag: str, name: str) -> int | None:
    for n in range(len(_words(raw, tag))):
        if name in _terms(raw, tag, n):
            return n
    return None


def _group_weight(raw: Mapping[str, object], tag: str, group: int) -> float:
    weight = _words(raw, tag)[group]["weight"]
    assert isinstance(weight, int | float)
    return float(weight)


def _edited(
    taxonomy: Taxonomy,
    raw: Mapping[str, object],
    tag: str,
    phrase: str | None,
    group: int | None,
    weight: float,
) -> Taxonomy:
    """The taxonomy with one edit made, as the edited file would parse."""
    if phrase is not None:
        return dataclasses.replace(
            taxonomy, signals=(*taxonomy.signals, Signal(tag, phrase, weight))
        )
    assert group is not None
    terms = _terms(raw, tag, group)
    signals = tuple(
        dataclasses.replace(s, weight=weight)
        if s.tag == tag and s.regex is None and s.name in terms
        else s
        for s in taxonomy.signals
    )
    return dataclasses.replace(taxonomy, signals=signals)


def _apply(text: str, edits: Sequence[Edit]) -> str:
    """The file's text with the edits made: weights changed in place, phrases appended as
    new groups of their tag (TOML lets an array of tables grow anywhere in the file)."""
    lines = text.splitlines(keepends=True)
    for edit in edits:
        if edit.group is not None and edit.phrase is None:
            _set_group_weight(lines, edit.tag, edit.group, edit.weight)
    added = [e for e in edits if e.phrase is not None]
    if added:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append("\n# Proposed by `feeder taxonomy suggest` from recorded verdicts.\n")
        for edit in added:
            lines += [
                f"[[tags.{edit.tag}.words]]   # fixes {', '.join(edit.fixes)}\n",
                f"weight = {edit.weight:g}\n",
                f"terms = [{_quoted(edit.phrase or '')}]\n",
            ]
    return "".join(lines)


def _set_group_weight(lines: list[str], tag: str, group: int, weight: float) -> None:
    header = re.compile(rf"^\s*\[\[\s*tags\.{re.escape(tag)}\.words\s*\]\]")
    seen = -1
    inside = False
    for n, line in enumerate(lines):
        if header.match(line):
            seen += 1
            inside = seen == group
        elif inside and re.match(r"^\s*weight\s*=", line):
            lines[n] = re.sub(r"(=\s*)[0-9.]+", lambda m: f"{m.group(1)}{weight:g}", line, count=1)
            return


def _quoted(phrase: str) -> str:
    return '"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"'

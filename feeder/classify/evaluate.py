"""Scoring a categoriser against a label file, as labels/GUIDE.md defines it.

For each article, P is the predicted tag set, G = {primary} ∪ also and A = allowed:
primary recall is the share of articles with a primary whose primary is in P; primary
first the share whose best-scoring predicted tag is that primary (it decides the newsletter
section); micro F1 counts (article, tag) pairs, a tag in A being neither rewarded nor punished.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import FeederError
from ..model import Article, Classification, Hit
from .explain import outvoting


@dataclass(frozen=True, slots=True)
class Label:
    """What a person decided one article should be tagged."""

    primary: str | None  # the tag that must be predicted; None when none is required
    also: tuple[str, ...] = ()  # further tags that are true and should be predicted
    allowed: tuple[str, ...] = ()  # tags defensible either way: neither rewarded nor punished
    title: str = ""  # for people reading the label file and the report

    @property
    def expected(self) -> frozenset[str]:
        return frozenset(self.also) | ({self.primary} if self.primary else set())


@dataclass(frozen=True, slots=True)
class TagScore:
    """How one tag fared over all scored articles."""

    tag: str
    true_positives: int
    false_positives: int  # predicted, neither expected nor allowed
    false_negatives: int  # expected, not predicted

    @property
    def precision(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)


@dataclass(frozen=True, slots=True)
class Mistake:
    """An article whose predicted tags miss an expected one or add a wrong one."""

    id: str
    title: str
    predicted: tuple[str, ...]  # primary first
    label: Label
    missing: tuple[str, ...]  # expected but not predicted
    extra: tuple[str, ...]  # predicted but neither expected nor allowed


@dataclass(frozen=True, slots=True)
class Misplaced:
    """An article whose best-scoring tag is not its labelled primary: the wrong section."""

    id: str
    title: str
    predicted: tuple[str, ...]  # primary first; empty when no tag was given
    label: Label
    scores: dict[str, float]  # every tag's score, when the verdict was at hand
    outvoted_by: tuple[Hit, ...]  # the winning tag's strongest signals, strongest first


@dataclass(frozen=True, slots=True)
class Report:
    """The score of one run; ratios with nothing to count are 1.0 (nothing was missed)."""

    articles: int  # articles both labelled and predicted
    with_primary: int  # of those, how many have a non-null primary
    primary_found: int  # of those, how many had their primary predicted
    primary_first: int  # of those, how many had it predicted as the primary (first) tag
    tags: tuple[TagScore, ...]
    mistakes: tuple[Mistake, ...]
    misplaced: tuple[Misplaced, ...] = ()  # articles with a primary that was not first
    unlabelled: tuple[str, ...] = ()  # predicted articles that the label file lacks
    unpredicted: tuple[str, ...] = ()  # labelled articles that were not predicted

    @property
    def primary_recall(self) -> float:
        return _ratio(self.primary_found, self.with_primary)

    @property
    def primary_first_rate(self) -> float:
        return _ratio(self.primary_first, self.with_primary)

    @property
    def micro_precision(self) -> float:
        tp = sum(t.true_positives for t in self.tags)
        return _ratio(tp, tp + sum(t.false_positives for t in self.tags))

    @property
    def micro_recall(self) -> float:
        tp = sum(t.true_positives for t in self.tags)
        return _ratio(tp, tp + sum(t.false_negatives for t in self.tags))

    @property
    def micro_f1(self) -> float:
        tp = sum(t.true_positives for t in self.tags)
        fp = sum(t.false_positives for t in self.tags)
        fn = sum(t.false_negatives for t in self.tags)
        return _ratio(2 * tp, 2 * tp + fp + fn)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def score(
    predicted: Mapping[str, Sequence[str]],
    labels: Mapping[str, Label],
    *,
    titles: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
    verdicts: Mapping[str, Classification] | None = None,
) -> Report:
    """Score predicted tags (id → tags, primary first) against labels (pure).

    Only articles present in both are scored. `tags` fixes the order of the per-tag
    rows; tags met only in the labels or predictions follow in the order first seen.
    `verdicts` (id → Classification), where given, say which signals put the wrong tag
    first in each misplaced article.
    """
    titles = titles or {}
    order = list(tags)
    counts: dict[str, list[int]] = {tag: [0, 0, 0] for tag in order}
    with_primary = primary_found = primary_first = scored = 0
    verdicts = verdicts or {}
    mistakes, misplaced = [], []
    for article_id, tags_given in predicted.items():
        label = labels.get(article_id)
        if label is None:
            continue
        scored += 1
        p, g, a = set(tags_given), label.expected, set(label.allowed)
        if label.primary is not None:
            with_primary += 1
            primary_found += label.primary in p
            if tags_given and tags_given[0] == label.primary:
                primary_first += 1
            else:
                verdict = verdicts.get(article_id)
                misplaced.append(
                    Misplaced(
                        article_id,
                        titles.get(article_id) or label.title,
                        tuple(tags_given),
                        label,
                        dict(verdict.scores) if verdict else {},
                        outvoting(verdict, label.primary) if verdict else (),
                    )
                )
        for tag in sorted(p | g, key=lambda t: (t not in counts, t)):
            row = counts.setdefault(tag, [0, 0, 0])
            if tag in p and tag in g:
                row[0] += 1
            elif tag in p and tag not in a:
                row[1] += 1
            elif tag in g:
                row[2] += 1
        missing = tuple(t for t in _label_order(label) if t not in p)
        extra = tuple(t for t in tags_given if t not in g and t not in a)
        if missing or extra:
            title = titles.get(article_id) or label.title
            mistakes.append(Mistake(article_id, title, tuple(tags_given), label, missing, extra))
    return Report(
        articles=scored,
        with_primary=with_primary,
        primary_found=primary_found,
        primary_first=primary_first,
        tags=tuple(TagScore(tag, *row) for tag, row in counts.items()),
        mistakes=tuple(mistakes),
        misplaced=tuple(misplaced),
        unlabelled=tuple(i for i in predicted if i not in labels),
        unpredicted=tuple(i for i in labels if i not in predicted),
    )


def _label_order(label: Label) -> tuple[str, ...]:
    return ((label.primary,) if label.primary else ()) + tuple(label.also)


def evaluate(
    classify: Callable[[Article], Classification],
    articles: Iterable[Article],
    labels: Mapping[str, Label],
    tags: Sequence[str] = (),
) -> Report:
    """Classify `articles` with `classify(article) -> Classification` and score the result."""
    verdicts: dict[str, Classification] = {}
    titles: dict[str, str] = {}
    for article in articles:
        verdicts[article.id] = classify(article)
        titles[article.id] = article.title
    predicted = {article_id: verdict.tags for article_id, verdict in verdicts.items()}
    return score(predicted, labels, titles=titles, tags=tags, verdicts=verdicts)


def load_labels(path: Path) -> dict[str, Label]:
    """Read a label file: {id: {"primary": tag|null, "also": [...], "allowed": [...]}}."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FeederError(f"{path}: label file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeederError(f"{path}: cannot read label file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise FeederError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise FeederError(f"{path}: a label file is a JSON object of article id → label")
    labels = {}
    for article_id, entry in raw.items():
        where = f"{path}: article {article_id!r}"
        if not isinstance(entry, dict):
            raise FeederError(f"{where}: a label must be an object")
        primary = entry.get("primary")
        if primary is not None and not isinstance(primary, str):
            raise FeederError(f"{where}: primary must be a tag or null, not {primary!r}")
        lists = {}
        for key in ("also", "allowed"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise FeederError(f"{where}: {key} must be a list of tags, not {value!r}")
            lists[key] = tuple(value)
        title = entry.get("title", "")
        labels[article_id] = Label(primary, lists["also"], lists["allowed"], str(title))
    return labels


def format_report(report: Report) -> str:
    """The report as people read it: the headline numbers, per-tag rows, then each mistake."""
    lines = [
        f"articles scored: {report.articles}",
        f"primary recall:  {report.primary_recall:.3f}"
        f"  ({report.primary_found}/{report.with_primary})",
        f"primary first:   {report.primary_first_rate:.3f}"
        f"  ({report.primary_first}/{report.with_primary})",
        f"micro F1:        {report.micro_f1:.3f}"
        f"  (precision {report.micro_precision:.3f}, recall {report.micro_recall:.3f})",
        "",
        f"{'tag':<12} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}",
    ]
    for t in report.tags:
        lines.append(
            f"{t.tag:<12} {t.precision:>9.3f} {t.recall:>7.3f} "
            f"{t.true_positives:>4} {t.false_positives:>4} {t.false_negatives:>4}"
        )
    if report.mistakes:
        lines += ["", f"wrong ({len(report.mistakes)}):"]
    for m in report.mistakes:
        expected = ", ".join(_label_order(m.label)) or "(none)"
        allowed = f"; allowed {', '.join(m.label.allowed)}" if m.label.allowed else ""
        lines.append(f"  {m.id}  {m.title}")
        lines.append(
            f"      predicted {', '.join(m.predicted) or '(none)'}"
            f"  expected {expected}{allowed}"
            + (f"  — missing {', '.join(m.missing)}" if m.missing else "")
            + (f"  — wrong {', '.join(m.extra)}" if m.extra else "")
        )
    if report.misplaced:
        lines += ["", f"primary not first ({len(report.misplaced)}):"]
    for wrong in report.misplaced:
        lines += _misplaced_lines(wrong)
    if report.unlabelled:
        lines += [
            "",
            f"not in the label file ({len(report.unlabelled)}): " + ", ".join(report.unlabelled),
        ]
    if report.unpredicted:
        lines += [
            "",
            f"labelled but not in the corpus ({len(report.unpredicted)}): "
            + ", ".join(report.unpredicted),
        ]
    return "\n".join(lines)


def _misplaced_lines(wrong: Misplaced) -> list[str]:
    primary = wrong.label.primary or "(none)"
    first = wrong.predicted[0] if wrong.predicted else "(none)"
    if wrong.scores:
        first_score = wrong.scores.get(first, 0.0)
        ranking = f"{first} {first_score:.1f} > {primary} {wrong.scores.get(primary, 0.0):.1f}"
    else:
        ranking = f"{first} before {primary}"
    lines = [f"  {wrong.id}  {wrong.title}", f"      {ranking}"]
    if wrong.outvoted_by:
        lines.append(
            "      outvoted by: "
            + " · ".join(
                f"{hit.signal}{' [title]' if hit.where == 'title' else ''} {hit.points:.1f}"
                for hit in wrong.outvoted_by
            )
        )
    return lines


def check_labels(labels: Mapping[str, Label], tags: Sequence[str]) -> list[str]:
    """Warnings for labels naming tags the taxonomy lacks (they could never be predicted)."""
    known = set(tags)
    problems = []
    for article_id, label in labels.items():
        unknown = sorted((label.expected | set(label.allowed)) - known)
        if unknown:
            problems.append(f"article {article_id!r}: unknown tags {', '.join(unknown)}")
    return problems

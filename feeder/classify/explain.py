"""Showing a verdict to a person or a script: the signals behind each score."""

from __future__ import annotations

from typing import Any

from ..model import Article, Classification, Hit
from .taxonomy import Taxonomy
from .voice import VOICE


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
    heard = [
        h.signal for h in verdict.hits if h.tag == verdict.primary and h.signal.startswith(VOICE)
    ]
    if heard and verdict.scores.get(verdict.primary or "", 0.0) < first:
        lines.append(f"    ({verdict.primary} first although it scored less: {heard[0]})")
    lines.append(
        f"    (a tag needs {scoring.min_score:g}; a further tag also needs "
        f"{scoring.secondary_ratio:g} × {first:.1f} = {scoring.secondary_ratio * first:.1f})"
    )
    return "\n".join(lines)


def outvoting(verdict: Classification, wanted: str, top: int = 5) -> tuple[Hit, ...]:
    """The signals that put another tag before `wanted`: that tag's strongest hits.

    When no tag was given, `wanted` fell short of the minimum score, and its own (too weak)
    hits are shown instead.
    """
    winner = verdict.primary or wanted
    return tuple(sorted((h for h in verdict.hits if h.tag == winner), key=lambda h: -h.points))[
        :top
    ]

"""A person's verdict over the categoriser's: the one rule every place that writes tags obeys."""

from __future__ import annotations

from ..model import Classification, Correction


def corrected(verdict: Classification, correction: Correction | None) -> Classification:
    """The tags an article is stored with (pure): a recorded verdict, where there is one,
    replaces the categoriser's tags; the scores and hits stay, to explain what it thought."""
    if correction is None:
        return verdict
    return Classification(tags=correction.tags, scores=verdict.scores, hits=verdict.hits)


def agrees(verdict: Classification, correction: Correction) -> bool:
    """Whether the categoriser alone gives the verdict's tags, primary first (pure)."""
    tags = correction.tags
    return verdict.tags[:1] == tags[:1] and set(verdict.tags) == set(tags)

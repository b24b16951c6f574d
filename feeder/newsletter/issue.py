"""Which articles one week's issue holds: a pure decision over the state's entries."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ..model import Entry
from ..schedule import week_bounds, week_key
from ..text import newest_first


@dataclass(frozen=True, slots=True)
class Issue:
    """One week's newsletter content, decided before rendering."""

    key: str  # ISO week, "2026-W05"
    start: datetime  # Monday 00:00 in the configured zone
    end: datetime  # the next Monday 00:00: the week is [start, end)
    entries: tuple[Entry, ...]  # articles published this week, newest first
    late: tuple[Entry, ...] = ()  # earlier weeks' articles that missed their own issue

    @property
    def empty(self) -> bool:
        return not self.entries and not self.late


def select_issue(
    key: str,
    tz: ZoneInfo,
    candidates: Iterable[Entry],
    *,
    frozen: Collection[str],
    issued: Collection[str],
) -> Issue:
    """What week `key`'s issue would hold if it were frozen now.

    `candidates` are entries published up to the end of the week; `frozen` the weeks whose
    issue is already fixed (sent, being sent or skipped); `issued` the ids some issue already
    carries. The issue takes each of the week's articles no issue carries yet, and each
    earlier article whose own week's issue was fixed before it arrived. An article of a week
    that has no issue of its own waits for that issue: weeks before the first issue ever sent
    are not back-filled, and an article never goes into two issues.
    """
    start, end = week_bounds(key, tz)
    own: list[Entry] = []
    late: list[Entry] = []
    for entry in candidates:
        if entry.article.id in issued or entry.article.published >= end:
            continue
        if entry.article.published >= start:
            own.append(entry)
        elif week_key(entry.article.published, tz) in frozen:
            late.append(entry)
    return Issue(key, start, end, tuple(newest_first(own)), tuple(newest_first(late)))

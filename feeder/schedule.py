"""When things happen: ISO weeks in the configured zone, the newsletter's cron line, and the
pure decision whether a week's issue is due. No I/O, no clock: `now` is an argument.

APScheduler's CronTrigger is used here only as a parser of crontab lines, so that the
config check and the daemon can never disagree about a line; the scheduler itself lives in
the daemon.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from .errors import ConfigError

# The years feeder computes weeks in: wide enough for any corpus, narrow enough that no week
# arithmetic (the next Monday, the week before) can leave the calendar datetime supports.
CALENDAR_YEARS = (1900, 2999)
# The years an article may be dated in by default (corpus.min_year, corpus.max_year): outside
# them a date is a placeholder ("0001/1/1") or a mistake.
ARTICLE_YEARS = (1970, 2100)
_WEEK_KEY = re.compile(r"(\d{4})-W(\d{2})\Z")
# How far back to look for the latest cron slot, widening until one is found.
_LOOKBACK = (timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367))

# -- Weeks ---------------------------------------------------------------------------------


def parse_week_key(key: str) -> tuple[int, int]:
    """(ISO year, ISO week) of a key like "2026-W05"; ValueError saying why not."""
    match = _WEEK_KEY.match(key)
    if match is None:
        raise ValueError(f"{key!r} is not an ISO week like 2026-W05")
    year, week = int(match[1]), int(match[2])
    first, last = CALENDAR_YEARS
    if not first <= year <= last:
        raise ValueError(f"{key!r}: feeder handles the years {first}–{last}")
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{key!r}: ISO year {year} has no week {week}") from None
    return year, week


def week_key(moment: datetime, tz: ZoneInfo) -> str:
    """The key of the week, in zone `tz`, that `moment` falls in."""
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end): Monday 00:00 of the week and of the next one, in zone `tz`."""
    year, week = parse_week_key(key)
    monday = date.fromisocalendar(year, week, 1)
    return (
        datetime.combine(monday, time(), tz),
        datetime.combine(monday + timedelta(days=7), time(), tz),
    )


def shift_week(key: str, weeks: int) -> str:
    """The key `weeks` weeks after (or, negative, before) `key`."""
    year, week = parse_week_key(key)
    monday = date.fromisocalendar(year, week, 1) + timedelta(weeks=weeks)
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def last_full_week(now: datetime, tz: ZoneInfo) -> str:
    """The newest week that has ended by `now`: the one before the week `now` is in."""
    return shift_week(week_key(now, tz), -1)


# -- The newsletter's cron line --------------------------------------------------------------


def cron_trigger(line: str, tz: ZoneInfo) -> CronTrigger:
    """A crontab line as a trigger in zone `tz`; ConfigError naming the key if it is bad."""
    try:
        return CronTrigger.from_crontab(line, timezone=tz)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"schedule.newsletter_cron: bad crontab line {line!r}: {exc}") from None


def latest_slot(now: datetime, trigger: CronTrigger) -> datetime | None:
    """The newest time at or before `now` that the cron line fires (None if none in a year)."""
    for back in _LOOKBACK:
        slot = None
        moment: datetime | None = trigger.get_next_fire_time(None, now - back)
        while moment is not None and moment <= now:
            slot = moment
            moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        if slot is not None:
            return slot
    return None


def next_slot(now: datetime, trigger: CronTrigger) -> datetime | None:
    """The cron line's next time after `now`."""
    moment: datetime | None = trigger.get_next_fire_time(None, now)
    return moment


def due_week(
    now: datetime, trigger: CronTrigger, tz: ZoneInfo, done: Callable[[str], bool]
) -> str | None:
    """The week whose issue should go out now, if any.

    Only the latest slot counts: a daemon that was off for a month sends one issue, not
    four. The slot's issue is the last full week before it; it is due until the ledger
    says it was sent or skipped.
    """
    slot = latest_slot(now, trigger)
    if slot is None:
        return None
    week = last_full_week(slot, tz)
    return None if done(week) else week

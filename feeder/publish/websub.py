"""WebSub (W3C Recommendation, 2018): telling the configured hub which feeds just changed,
so that it fetches them and pushes them to its subscribers at once instead of when it next
polls. Feeds name the hub with `<link rel="hub">` (publish/feeds.py).

A ping is a courtesy, never a condition of the poll: the files are already written and the
state committed when it runs, so a hub that is down or slow costs a warning and at most
PING_SECONDS, and the hub's own polling picks the change up later.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from .. import __version__

log = logging.getLogger("feeder")

PING_SECONDS = 5.0  # for all the pings of one poll together
FEED_SUFFIXES = (".atom", ".rss", ".json")  # the formats a feed is written in
FEEDS_DIR = "feeds"
# Archive documents (RFC 5005) never change once full, and readers subscribe to the feed,
# not to them: announcing them would only make the hub fetch them.
ARCHIVE_DIR = "archive"


def changed_feeds(written: Iterable[Path], out: Path, base_url: str) -> list[str]:
    """The URLs of the subscription feeds among the files a poll rewrote, in their order."""
    urls = []
    for path in written:
        try:
            parts = path.relative_to(out).parts
        except ValueError:  # not in the output folder
            continue
        if (
            len(parts) >= 2
            and parts[0] == FEEDS_DIR
            and parts[1] != ARCHIVE_DIR
            and parts[-1].endswith(FEED_SUFFIXES)
        ):
            urls.append(base_url + "/".join(parts))
    return urls


def ping_hub(hub: str, topics: Sequence[str], *, budget: float | None = None) -> list[str]:
    """POST `hub.mode=publish` for each topic URL, one request each, all within `budget`
    seconds (default PING_SECONDS); return a warning for each that failed (none raises)."""
    budget = PING_SECONDS if budget is None else budget
    deadline = time.monotonic() + budget
    warnings = []
    for i, topic in enumerate(topics):
        left = deadline - time.monotonic()
        if left <= 0:
            skipped = len(topics) - i
            warnings.append(
                f"websub: {hub} took over {budget:g} s; {skipped} changed feed(s) not announced"
            )
            break
        problem = _ping(hub, topic, left)
        if problem is None:
            log.debug("websub: announced %s to %s", topic, hub)
        else:
            warnings.append(f"websub: {hub} was not told that {topic} changed: {problem}")
    return warnings


def _ping(hub: str, topic: str, timeout: float) -> str | None:
    """One publish request; None when the hub accepted it (any 2xx), else what went wrong."""
    body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode("ascii")
    request = Request(
        hub,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": f"feeder/{__version__}",
        },
    )
    try:
        # `timeout` bounds each socket operation, so a hub that trickles its answer could
        # stretch one request; the next one then finds the budget spent and is skipped.
        with urlopen(request, timeout=timeout) as response:
            status = response.status
    except HTTPError as exc:  # a 4xx or 5xx answer
        return f"HTTP {exc.code}"
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # URLError wraps what stopped the connection (refused, no such host, timed out).
        reason = exc.reason if isinstance(exc, URLError) else exc
        if isinstance(reason, TimeoutError):
            return f"no answer within {timeout:.1f} s"
        return str(reason) or type(reason).__name__
    return None if 200 <= status < 300 else f"HTTP {status}"

"""Every config key, declared once: each section of feeder.toml is a dataclass, and each of
its fields a key, with its type, its default, its rules and a one-line doc (see keys.py).
A section's docstring introduces it in the written file and in docs/configuration.md."""

# ruff: noqa: RUF009  `setting()` returns a dataclasses.field, whose default is never shared

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import get_type_hints
from zoneinfo import ZoneInfo

from ..schedule import ARTICLE_YEARS, CALENDAR_YEARS
from .keys import NAME, PATTERN, TAGS, TEXT, crontab, no_default, setting, timezone

# The defaults shipped inside the package, used where the config names no file of its own;
# `feeder init` copies them out for an operator to customise.
PACKAGED = Path(str(files("feeder")))
DEFAULT_TAXONOMY = PACKAGED / "taxonomy.toml"
DEFAULT_TEMPLATES = PACKAGED / "templates"

WEEK = 7 * 86_400  # seconds


@dataclass(frozen=True)
class CorpusSection:
    """The corpus: the articles feeder reads."""

    path: Path = setting(
        Path("data/corpus.json"), "the corpus file: a JSON array or JSON Lines of articles"
    )
    min_year: int = setting(
        ARTICLE_YEARS[0],
        "a record dated before this year is skipped as bad; not after `max_year`",
        between=CALENDAR_YEARS,
    )
    max_year: int = setting(
        ARTICLE_YEARS[1], "a record dated after this year is skipped as bad", between=CALENDAR_YEARS
    )

    @property
    def years(self) -> tuple[int, int]:
        """The years an article may be dated in, both included."""
        return (self.min_year, self.max_year)


@dataclass(frozen=True)
class StateSection:
    """The state (articles, tags, subscribers, the delivery ledger): a SQLite file, or a
    PostgreSQL database several hosts share. Give `path` or `url`, not both."""

    path: Path = setting(Path("data/state.db"), "the SQLite state file")
    url: str = setting(
        "",
        "instead of `path` (remove it): a PostgreSQL database such as "
        "`postgresql://feeder@db.example.org:5432/feeder`; its password comes from "
        "`$PGPASSWORD` or `~/.pgpass`, never from this file (a password in the URL is an error)",
    )

    @property
    def location(self) -> Path | str:
        """Where the state is: the database URL if one is given, else the SQLite file."""
        return self.url or self.path


@dataclass(frozen=True)
class OutputSection:
    """What a poll writes (the feeds, the index page, the newsletter previews) and where it
    is served."""

    dir: Path = setting(
        Path("out"), "where the feeds, `index.html`, `feeds.opml` and newsletter previews go"
    )
    base_url: str = setting(
        "http://localhost:8000/",
        "where `dir` is served: it makes the links in feeds and mail absolute",
        schemes=("http", "https"),
    )
    max_entries: int = setting(
        50,
        "entries in each feed's subscription document; older ones are in its archive pages",
        between=(1, 10_000),
    )
    archive_size: int = setting(
        100,
        "entries per archive page (RFC 5005) of the older entries, `feeds/archive/<feed>/<n>.atom`",
        between=(1, 10_000),
    )
    websub_hub: str = setting(
        "",
        "a WebSub hub: every feed links it and each poll pings it; empty: none",
        schemes=("http", "https"),
    )


@dataclass(frozen=True)
class TaxonomySection:
    """The tags and the signals that decide them (docs/taxonomy.md)."""

    path: Path = setting(
        DEFAULT_TAXONOMY,
        "the taxonomy file",
        shown="the one built into feeder",
        init="taxonomy.toml",
    )


@dataclass(frozen=True)
class ScheduleSection:
    """When `feeder daemon` polls and sends, and the time zone of dates and weeks."""

    timezone: str = setting(
        "Asia/Shanghai",
        "an IANA time zone: bare dates, week boundaries and the cron line use it",
        check=timezone,
    )
    poll_seconds: int = setting(
        300, "how often `feeder daemon` polls the corpus, in seconds", between=(1, WEEK)
    )
    watch: bool = setting(
        True,
        "the daemon also polls within a second after the corpus file changes "
        "(false: the interval only)",
    )
    newsletter_cron: str = setting(
        "0 8 * * mon", "a crontab line: when `feeder daemon` sends the weekly issue", check=crontab
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class NewsletterSection:
    """The weekly newsletter: its name, its sender, and its templates."""

    title: str = setting("上海科技周报", "the newsletter's name, first in every subject")
    from_: str = setting("上海科技周报 <newsletter@example.org>", "the sender")
    unsubscribe: str = setting(
        "mailto:newsletter@example.org?subject=unsubscribe",
        "a second `List-Unsubscribe` target after the reader's own page, for mail clients that "
        "prefer mail; remove such senders with `feeder subscribers remove`",
        schemes=("https", "http", "mailto"),
    )
    templates: Path = setting(
        DEFAULT_TEMPLATES,
        "the folder of Jinja2 templates of the mail and the index page",
        shown="the ones built into feeder",
        init="templates",
    )


@dataclass(frozen=True)
class SmtpSection:
    """The mail server the newsletter goes out through. Its password comes only from
    `$FEEDER_SMTP_PASSWORD`, never from this file."""

    host: str = setting("localhost", "the SMTP server")
    port: int = setting(25, "its port", between=(1, 65_535))
    security: str = setting(
        "none",
        "how the session is encrypted: `ssl` is TLS from the first byte, `starttls` upgrades "
        "a plain connection",
        choices=("none", "starttls", "ssl"),
    )
    username: str = setting(
        "", "the login, if the server wants one; its password: `$FEEDER_SMTP_PASSWORD`"
    )
    timeout: float = setting(
        30.0, "seconds to wait for the server before a try fails", between=(0.1, 3_600)
    )
    max_per_second: float = setting(5.0, "messages per second at most", between=(0.01, 100_000))
    connections: int = setting(
        4,
        "SMTP sessions a send runs in parallel, each reused for many messages; a send opens a "
        "second one only when there is more than a batch to send",
        between=(1, 64),
    )
    claim_seconds: int = setting(
        600,
        "on a PostgreSQL state: how long a batch a daemon claimed stays its own; after that "
        "(its daemon died, say) another daemon takes over the rows it never started",
        between=(1, WEEK),
    )


@dataclass(frozen=True)
class DkimSection:
    """DKIM: sign every message. Set all three keys, or leave all three empty to send unsigned
    mail. `feeder newsletter dns` then prints the DNS records to publish (DKIM, SPF, DMARC)."""

    domain: str = setting(
        "",
        "the signing domain (`d=`): the From address's domain or a parent of it, so that "
        "DMARC aligns; an ASCII DNS name such as `example.org`",
    )
    selector: str = setting(
        "", "names the key in DNS, `<selector>._domainkey.<domain>`: a label such as `mail2026`"
    )
    private_key: Path | None = setting(
        None,
        "the RSA private key's PEM file, 2048 bits: `openssl genrsa -out dkim.pem 2048`; "
        "empty: no signing",
    )

    @property
    def enabled(self) -> bool:
        return self.private_key is not None


@dataclass(frozen=True)
class FeedDef:
    """A custom feed, `feeds/<name>.atom`, of the newest articles that match all of its
    filters; each `[[feeds]]` table adds one, and only `name` is needed. The patterns are
    Python regular expressions, searched in the title and the first 10,000 characters of
    the text; avoid nested repeats such as `(a+)+` (they can take exponential time), and use
    `(?i)` to ignore case. Its tags are checked against the taxonomy when it is read."""

    name: str = no_default(
        "the feed's file name, `feeds/<name>.atom`: unique, and not `all` (every article's)",
        kind=NAME,
        required=True,
        example="ai",
    )
    title: str = no_default(
        "its label on the index page and in the feed's title",
        kind=TEXT,
        shown="the name",
        example="人工智能",
    )
    tags: tuple[str, ...] = setting(
        (), "any of these tags; empty: every article", kind=TAGS, example=["research", "industry"]
    )
    include: re.Pattern[str] | None = setting(
        None,
        "only articles where this is found; empty: no filter",
        kind=PATTERN,
        example=r"人工智能|大模型|\bAI\b",
    )
    exclude: re.Pattern[str] | None = setting(
        None, "no article where this is found; empty: no filter", kind=PATTERN, example="招聘"
    )


@dataclass(frozen=True)
class Config:
    """The whole configuration; paths are absolute, resolved against the file's folder."""

    file: Path | None = None  # the file it was read from; None for built-in defaults
    corpus: CorpusSection = field(default_factory=CorpusSection)
    state: StateSection = field(default_factory=StateSection)
    output: OutputSection = field(default_factory=OutputSection)
    taxonomy: TaxonomySection = field(default_factory=TaxonomySection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    newsletter: NewsletterSection = field(default_factory=NewsletterSection)
    smtp: SmtpSection = field(default_factory=SmtpSection)
    dkim: DkimSection = field(default_factory=DkimSection)
    feeds: tuple[FeedDef, ...] = ()  # the custom feeds, in the file's order

    @property
    def tz(self) -> ZoneInfo:
        return self.schedule.tz

    @property
    def daemon_lock_path(self) -> Path:
        """Held by a running daemon for its whole life: one daemon per state."""
        return self.state.path.with_name(self.state.path.name + ".lock")

    @property
    def lock_path(self) -> Path:
        """Held by whichever job writes the state or the outputs: one at a time."""
        return self.state.path.with_name(self.state.path.name + ".job.lock")


FEEDS = "feeds"  # the `[[feeds]]` tables
# The sections by their names in the file, in the order the file and the reference show
# them: every field of Config but `file` and the [[feeds]] tables.
SECTIONS: dict[str, type] = {
    name: cls for name, cls in get_type_hints(Config).items() if name not in ("file", FEEDS)
}

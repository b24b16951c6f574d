"""The TOML configuration: where it is found, what every key means, and its defaults."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .location import refuse_password
from .schedule import ARTICLE_YEARS, CALENDAR_YEARS, cron_trigger
from .site import ALL
from .text import TAG_ID

ENV_VAR = "FEEDER_CONFIG"
DEFAULT_NAME = "feeder.toml"
# The defaults shipped inside the package, used where the config names no file of its own;
# `feeder init` copies them out for an operator to customise.
PACKAGED = Path(str(files("feeder")))
DEFAULT_TAXONOMY = PACKAGED / "taxonomy.toml"
DEFAULT_TEMPLATES = PACKAGED / "templates"


@dataclass(frozen=True)
class CorpusSection:
    path: Path = Path("data/corpus.json")  # the corpus file, a JSON array or JSON Lines
    min_year: int = ARTICLE_YEARS[0]  # a record dated before this year is skipped as bad …
    max_year: int = ARTICLE_YEARS[1]  # … and so is one dated after this year

    @property
    def years(self) -> tuple[int, int]:
        """The years an article may be dated in, both included."""
        return (self.min_year, self.max_year)


@dataclass(frozen=True)
class StateSection:
    path: Path = Path("data/state.db")  # the SQLite state file
    # Instead of `path`: a PostgreSQL database several hosts share, postgresql://user@host/db;
    # its password comes from $PGPASSWORD or ~/.pgpass, never from this file.
    url: str = ""

    @property
    def location(self) -> Path | str:
        """Where the state is: the database URL if one is given, else the SQLite file."""
        return self.url or self.path


@dataclass(frozen=True)
class OutputSection:
    dir: Path = Path("out")  # where feeds, the index page and newsletter previews go
    base_url: str = "http://localhost:8000/"  # where `dir` is served; makes links absolute
    max_entries: int = 50  # entries per feed's subscription document
    archive_size: int = 100  # entries per archive page (RFC 5005) of the older entries
    websub_hub: str = ""  # a WebSub hub to link from every feed and ping after a poll; "" = none


@dataclass(frozen=True)
class TaxonomySection:
    path: Path = DEFAULT_TAXONOMY  # the tags and their signals


@dataclass(frozen=True)
class ScheduleSection:
    timezone: str = "Asia/Shanghai"  # for bare dates, week boundaries and the cron line
    poll_seconds: int = 300  # how often the daemon polls the corpus
    watch: bool = True  # the daemon also polls within a second after the corpus file changes
    newsletter_cron: str = "0 8 * * mon"  # crontab line: when the weekly issue goes out

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class NewsletterSection:
    title: str = "上海科技周报"
    from_: str = "上海科技周报 <newsletter@example.org>"  # the `from` key
    unsubscribe: str = "mailto:newsletter@example.org?subject=unsubscribe"
    templates: Path = DEFAULT_TEMPLATES  # the Jinja2 templates of the mail and the index page


@dataclass(frozen=True)
class SmtpSection:
    host: str = "localhost"
    port: int = 25
    security: str = "none"  # "starttls" | "ssl" | "none"
    username: str = ""  # the password comes only from FEEDER_SMTP_PASSWORD
    timeout: float = 30.0  # a float default, so that a fraction such as 0.5 is accepted
    max_per_second: float = 5.0
    connections: int = 4  # SMTP sessions a send runs in parallel
    # How long a claimed batch stays its run's: after that (its daemon died, say) another
    # daemon sharing the state may take over the rows it never started.
    claim_seconds: int = 600


@dataclass(frozen=True)
class DkimSection:
    domain: str = ""  # d=: the From address's domain (or its parent), so that DMARC aligns
    selector: str = ""  # names the key in DNS: <selector>._domainkey.<domain>
    private_key: Path | None = None  # the RSA key's PEM file; None (the key empty): no signing

    @property
    def enabled(self) -> bool:
        return self.private_key is not None


@dataclass(frozen=True)
class FeedDef:
    """One `[[feeds]]` table: a custom feed of the articles that match all of its filters."""

    name: str  # the file's name: feeds/<name>.atom; a plain name like a tag id
    title: str  # its label on the index page and in the feed's title; default: the name
    tags: tuple[str, ...] = ()  # any of these tags; empty means every article
    include: re.Pattern[str] | None = None  # must match the title or the text's start
    exclude: re.Pattern[str] | None = None  # must not match them


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


_SECTIONS: dict[str, type] = {
    "corpus": CorpusSection,
    "state": StateSection,
    "output": OutputSection,
    "taxonomy": TaxonomySection,
    "schedule": ScheduleSection,
    "newsletter": NewsletterSection,
    "smtp": SmtpSection,
    "dkim": DkimSection,
}
# Paths that may be left empty to turn a feature off; given, they resolve like any path.
OPTIONAL_PATHS = {("dkim", "private_key")}


def find_config(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config, else $FEEDER_CONFIG, else ./feeder.toml if it exists, else None (defaults)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    local = Path(DEFAULT_NAME)
    return local if local.exists() else None


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Read and validate a config file; None gives the defaults relative to the current folder."""
    if path is None:
        return _build({}, None, Path.cwd())
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _build(raw, path.resolve(), path.resolve().parent)


def parse_config(text: str, base_dir: Path) -> Config:
    """Validate config text (for tests and tools); relative paths resolve against base_dir."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from None
    return _build(raw, None, base_dir)


def _build(raw: dict[str, Any], file: Path | None, base_dir: Path) -> Config:
    where = f"{file}: " if file else ""
    sections: dict[str, Any] = {}
    for name, table in raw.items():
        if name == FEEDS:  # an array of tables, not a section
            continue
        if name not in _SECTIONS:
            raise ConfigError(f"{where}unknown section [{name}] (known: {', '.join(_SECTIONS)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}[{name}] must be a table")
        sections[name] = _section(_SECTIONS[name], name, table, base_dir, where)
    for name, cls in _SECTIONS.items():
        if name not in sections:
            sections[name] = _section(cls, name, {}, base_dir, where)
    output = sections["output"]
    if not output.base_url.endswith("/"):  # links are joined onto it as onto a folder
        sections["output"] = replace(output, base_url=output.base_url + "/")
    config = Config(file=file, feeds=_feeds(raw.get(FEEDS, []), where), **sections)
    _check_values(config, where)
    _check_state(raw.get("state", {}), config.state, where)
    return config


def _check_state(table: dict[str, Any], state: StateSection, where: str) -> None:
    """Exactly one of state.path and state.url; a URL is PostgreSQL's, without a password."""
    if not state.url:
        return
    if "path" in table:
        raise ConfigError(f"{where}give state.path (SQLite) or state.url (PostgreSQL), not both")
    try:
        parts = urlsplit(state.url)
        parts.port  # noqa: B018  a bad port raises here
    except ValueError:
        raise ConfigError(f"{where}state.url is not a valid URL") from None
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ConfigError(f"{where}state.url must be a postgresql://user@host:5432/dbname URL")
    refuse_password(state.url, f"{where}state.url")


def _section(cls: type, name: str, table: dict[str, Any], base_dir: Path, where: str) -> Any:
    known = {f.name.rstrip("_"): f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(
                f"{where}unknown key {name}.{key} (known in [{name}]: {', '.join(known)})"
            )
        f = known[key]
        default = f.default
        if isinstance(default, Path):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}{name}.{key} must be a path (a non-empty string)")
            values[f.name] = value
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}{name}.{key} must be true or false")
            values[f.name] = value
        elif isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{where}{name}.{key} must be a whole number, not {value!r}")
            values[f.name] = value
        elif isinstance(default, float):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"{where}{name}.{key} must be a number, not {value!r}")
            values[f.name] = float(value)
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{where}{name}.{key} must be a string, not {value!r}")
            if (name, key) in OPTIONAL_PATHS:
                values[f.name] = Path(os.path.normpath(base_dir / value)) if value else None
            else:
                values[f.name] = value
    # Every path, given or default, resolves against the config file's folder. Symbolic
    # links are kept, not followed: a corpus link re-pointed later is followed at each poll.
    for f in fields(cls):
        if isinstance(f.default, Path):
            values[f.name] = Path(os.path.normpath(base_dir / values.get(f.name, f.default)))
    return cls(**values)


# Every number's range, (least, most), both included: a value outside is a mistake, and a
# huge one would otherwise overflow deep inside a library.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("corpus", "min_year"): CALENDAR_YEARS,
    ("corpus", "max_year"): CALENDAR_YEARS,
    ("output", "max_entries"): (1, 10_000),
    ("output", "archive_size"): (1, 10_000),
    ("schedule", "poll_seconds"): (1, 7 * 86_400),
    ("smtp", "port"): (1, 65_535),
    ("smtp", "timeout"): (0.1, 3_600),
    ("smtp", "max_per_second"): (0.01, 100_000),
    ("smtp", "connections"): (1, 64),
    ("smtp", "claim_seconds"): (1, 7 * 86_400),
}
# Keys holding a URL, and the schemes each may use.
URL_SCHEMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("output", "base_url"): ("http", "https"),
    ("newsletter", "unsubscribe"): ("https", "http", "mailto"),
}


def _check_values(config: Config, where: str) -> None:
    try:
        ZoneInfo(config.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}schedule.timezone: unknown timezone {config.schedule.timezone!r} "
            "(use an IANA name such as Asia/Shanghai)"
        ) from None
    for (section, key), (least, most) in RANGES.items():
        value = getattr(getattr(config, section), key)
        if not least <= value <= most:  # NaN fails too
            raise ConfigError(
                f"{where}{section}.{key} must be between {least:g} and {most:g}, not {value!r}"
            )
    if config.corpus.min_year > config.corpus.max_year:
        raise ConfigError(f"{where}corpus.min_year must not be after corpus.max_year")
    for (section, key), schemes in URL_SCHEMES.items():
        url = getattr(getattr(config, section), key)
        if not _has_scheme(url, schemes):
            raise ConfigError(
                f"{where}{section}.{key} must be a {' or '.join(schemes)} URL, not {url!r}"
            )
    hub = config.output.websub_hub
    if hub and not _has_scheme(hub, ("https", "http")):
        raise ConfigError(f"{where}output.websub_hub must be an https or http URL, not {hub!r}")
    if config.smtp.security not in ("none", "starttls", "ssl"):
        raise ConfigError(f"{where}smtp.security must be one of none, starttls, ssl")
    _check_cron(config.schedule.newsletter_cron, where)
    _check_dkim(config.dkim, where)


def _has_scheme(url: str, schemes: tuple[str, ...]) -> bool:
    """An absolute URL of one of `schemes`, with a host (or an address, for mailto)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    return bool(parts.netloc) if parts.scheme.lower() != "mailto" else "@" in parts.path


# A DNS name in ASCII (an international one in its xn-- form): dot-separated labels of
# letters, digits and inner hyphens. DKIM's selector and domain must both be one.
_DNS_NAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def _check_dkim(dkim: DkimSection, where: str) -> None:
    # Half a [dkim] section would send unsigned mail while the operator believes it signed.
    given = {"domain": dkim.domain, "selector": dkim.selector, "private_key": dkim.private_key}
    missing = [f"dkim.{key}" for key, value in given.items() if not value]
    if not missing:
        # A selector is usually one label ("mail2026"); a domain has at least two.
        for key, example in (("selector", "mail2026"), ("domain", "example.org")):
            value = getattr(dkim, key)
            dotted = key == "selector" or "." in value
            if not (_DNS_NAME.fullmatch(value) and len(value) <= 253 and dotted):
                raise ConfigError(
                    f"{where}dkim.{key} must be an ASCII DNS name such as {example} "
                    f"(an international name in its xn-- form), not {value!r}"
                )
    elif len(missing) < len(given):
        raise ConfigError(
            f"{where}[dkim] needs domain, selector and private_key together; missing: "
            f"{', '.join(missing)} (or leave all three empty to send unsigned mail)"
        )


def _check_cron(line: str, where: str) -> None:
    # Parsed by the daemon's own parser, so the daemon can never meet a line it rejects.
    try:
        cron_trigger(line, ZoneInfo("UTC"))
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None


FEEDS = "feeds"  # the `[[feeds]]` tables
FEED_KEYS = ("name", "title", "tags", "include", "exclude")
FEED_NAME_CHARS = 64


def _feeds(raw: object, where: str) -> tuple[FeedDef, ...]:
    """The `[[feeds]]` tables, checked as far as the config alone allows: their tags are
    checked against the taxonomy when it is read (publish.custom.check_custom_feeds)."""
    if not isinstance(raw, list) or not all(isinstance(table, dict) for table in raw):
        raise ConfigError(f"{where}feeds must be [[feeds]] tables")
    feeds: list[FeedDef] = []
    for i, table in enumerate(raw):
        key = f"{where}feeds[{i}]"
        unknown = [k for k in table if k not in FEED_KEYS]
        if unknown:
            raise ConfigError(
                f"{where}unknown key feeds[{i}].{unknown[0]} "
                f"(known in [[feeds]]: {', '.join(FEED_KEYS)})"
            )
        name = table.get("name")
        if not isinstance(name, str) or not TAG_ID.fullmatch(name) or len(name) > FEED_NAME_CHARS:
            raise ConfigError(
                f"{key}.name must be a plain name: lower-case letters, digits, '-' and '_', "
                f"starting with a letter, at most {FEED_NAME_CHARS} characters; not {name!r}"
            )
        if name == ALL:
            raise ConfigError(f"{key}.name: {ALL!r} is the feed of every article; choose another")
        for j, earlier in enumerate(feeds):
            if earlier.name == name:
                raise ConfigError(f"{key}.name: {name!r} is already feeds[{j}].name")
        title = table.get("title", name)
        if not isinstance(title, str) or not title.strip():
            raise ConfigError(f"{key}.title must be a non-empty string, not {title!r}")
        tags = table.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ConfigError(f'{key}.tags must be a list of tag ids, such as ["research"]')
        feeds.append(
            FeedDef(
                name=name,
                title=title,
                tags=tuple(dict.fromkeys(tags)),
                include=_pattern(table, "include", key),
                exclude=_pattern(table, "exclude", key),
            )
        )
    return tuple(feeds)


def _pattern(table: dict[str, Any], name: str, key: str) -> re.Pattern[str] | None:
    # Compiled once, here. An empty pattern would match everything, so that an empty
    # `exclude` would empty the feed: "" means no filter, as an absent key does.
    text = table.get(name, "")
    if not isinstance(text, str):
        raise ConfigError(f"{key}.{name} must be a regular expression (a string), not {text!r}")
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{key}.{name}: bad regular expression {text!r}: {exc}") from None

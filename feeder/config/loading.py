"""Reading the TOML configuration: where it is found, and every value checked against its
key's declaration (sections.py) before a Config is made of them."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..environment import CONFIG
from ..errors import ConfigError
from ..location import refuse_password
from ..site import ALL
from .keys import Key, keys_of
from .sections import FEEDS, SECTIONS, Config, DkimSection, FeedDef, StateSection

DEFAULT_NAME = "feeder.toml"


def find_config(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config, else $FEEDER_CONFIG, else ./feeder.toml if it exists, else None (defaults)."""
    if explicit:
        return Path(explicit)
    given = CONFIG.read()
    if given:
        return Path(given)
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
    except ValueError as exc:  # TOMLDecodeError, or a number of more than 4,300 digits
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    file = path.resolve()
    try:
        return _build(raw, file, file.parent)
    except ConfigError as exc:  # every mistake in it names the file first
        raise ConfigError(f"{file}: {exc}") from None


def parse_config(text: str, base_dir: Path) -> Config:
    """Validate config text (for tests and tools); relative paths resolve against base_dir."""
    try:
        raw = tomllib.loads(text)
    except ValueError as exc:  # as in load_config
        raise ConfigError(f"invalid TOML: {exc}") from None
    return _build(raw, None, base_dir)


def _build(raw: dict[str, Any], file: Path | None, base_dir: Path) -> Config:
    unknown = [name for name in raw if name not in SECTIONS and name != FEEDS]
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}] (known: {', '.join(SECTIONS)})")
    sections = {
        name: _section(name, cls, raw.get(name, {}), base_dir) for name, cls in SECTIONS.items()
    }
    output = sections["output"]
    if not output.base_url.endswith("/"):  # links are joined onto it as onto a folder
        sections["output"] = replace(output, base_url=output.base_url + "/")
    config = Config(file=file, feeds=_feeds(raw.get(FEEDS, [])), **sections)
    _check_years(config)
    _check_dkim(config.dkim)
    _check_state(raw.get("state", {}), config.state)
    return config


def _section(name: str, cls: type, table: object, base_dir: Path) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    keys = keys_of(name, cls)
    values = _values(keys, table, name, f"[{name}]")
    # Every path, given or default, resolves against the config file's folder. Symbolic
    # links are kept, not followed: a corpus link re-pointed later is followed at each poll.
    for key in keys:
        value = values.get(key.attr, key.default)
        if isinstance(value, Path):
            values[key.attr] = Path(os.path.normpath(base_dir / value))
    return cls(**values)


def _values(
    keys: tuple[Key, ...], table: dict[str, Any], prefix: str, title: str
) -> dict[str, Any]:
    """The fields' values of the keys `table` gives, each of its key's kind; every value,
    given or default, checked against its key's rules."""
    known = {key.name: key for key in keys}
    for name in table:
        if name not in known:
            raise ConfigError(f"unknown key {prefix}.{name} (known in {title}: {', '.join(known)})")
    values = {}
    for key in keys:
        name = f"{prefix}.{key.name}"
        if key.name in table:
            values[key.attr] = key.kind.parse(name, table[key.name])
        elif key.setting.required:  # what is missing is no value: the error says what to give
            key.kind.parse(name, None)
        if key.attr in values or key.has_default:
            _check(key, name, values.get(key.attr, key.default))
    return values


def _check(key: Key, name: str, value: Any) -> None:
    """ConfigError naming the key if `value` breaks one of its rules."""
    rules = key.setting
    if rules.between is not None:
        least, most = rules.between
        if not least <= value <= most:  # NaN fails too
            raise ConfigError(f"{name} must be between {least:g} and {most:g}, not {value!r}")
    if rules.choices and value not in rules.choices:
        raise ConfigError(f"{name} must be one of {', '.join(rules.choices)}, not {value!r}")
    if rules.schemes and (value or key.default) and not _has_scheme(value, rules.schemes):
        raise ConfigError(f"{name} must be a {' or '.join(rules.schemes)} URL, not {value!r}")
    if rules.check is not None:
        rules.check(name, value)


def _has_scheme(url: str, schemes: tuple[str, ...]) -> bool:
    """An absolute URL of one of `schemes`, with a host (or an address, for mailto)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    return bool(parts.netloc) if parts.scheme.lower() != "mailto" else "@" in parts.path


def _check_years(config: Config) -> None:
    if config.corpus.min_year > config.corpus.max_year:
        raise ConfigError("corpus.min_year must not be after corpus.max_year")


def _check_state(table: dict[str, Any], state: StateSection) -> None:
    """Exactly one of state.path and state.url; a URL is PostgreSQL's, without a password."""
    if not state.url:
        return
    if "path" in table:
        raise ConfigError("give state.path (SQLite) or state.url (PostgreSQL), not both")
    try:
        parts = urlsplit(state.url)
        parts.port  # noqa: B018  a bad port raises here
    except ValueError:
        raise ConfigError("state.url is not a valid URL") from None
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ConfigError("state.url must be a postgresql://user@host:5432/dbname URL")
    refuse_password(state.url, "state.url")


# A DNS name in ASCII (an international one in its xn-- form): dot-separated labels of
# letters, digits and inner hyphens. DKIM's selector and domain must both be one.
_DNS_NAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def _check_dkim(dkim: DkimSection) -> None:
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
                    f"dkim.{key} must be an ASCII DNS name such as {example} "
                    f"(an international name in its xn-- form), not {value!r}"
                )
    elif len(missing) < len(given):
        raise ConfigError(
            f"[dkim] needs domain, selector and private_key together; missing: "
            f"{', '.join(missing)} (or leave all three empty to send unsigned mail)"
        )


def _feeds(raw: object) -> tuple[FeedDef, ...]:
    """The `[[feeds]]` tables, checked as far as the config alone allows: their tags are
    checked against the taxonomy when it is read (publish.custom.check_custom_feeds)."""
    if not isinstance(raw, list) or not all(isinstance(table, dict) for table in raw):
        raise ConfigError("feeds must be [[feeds]] tables")
    feeds: list[FeedDef] = []
    for i, table in enumerate(raw):
        values = _values(keys_of(FEEDS, FeedDef), table, f"feeds[{i}]", "[[feeds]]")
        feed = FeedDef(**{"title": values["name"], **values})
        if feed.name == ALL:
            raise ConfigError(
                f"feeds[{i}].name: {ALL!r} is the feed of every article; choose another"
            )
        for j, earlier in enumerate(feeds):
            if earlier.name == feed.name:
                raise ConfigError(f"feeds[{i}].name: {feed.name!r} is already feeds[{j}].name")
        feeds.append(feed)
    return tuple(feeds)

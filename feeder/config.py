"""The TOML configuration: where it is found, what every key means, and its defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .schedule import cron_trigger

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


@dataclass(frozen=True)
class StateSection:
    path: Path = Path("data/state.db")  # the SQLite state file


@dataclass(frozen=True)
class OutputSection:
    dir: Path = Path("out")  # where feeds, the index page and newsletter previews go
    base_url: str = "http://localhost:8000/"  # where `dir` is served; makes links absolute
    max_entries: int = 50  # entries per feed


@dataclass(frozen=True)
class TaxonomySection:
    path: Path = DEFAULT_TAXONOMY  # the tags and their signals


@dataclass(frozen=True)
class ScheduleSection:
    timezone: str = "Asia/Shanghai"  # for bare dates, week boundaries and the cron line
    poll_seconds: int = 300  # how often the daemon polls the corpus
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
}


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
    config = Config(file=file, **sections)
    _check_values(config, where)
    return config


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
            values[f.name] = value
    # Every path, given or default, resolves against the config file's folder.
    for f in fields(cls):
        if isinstance(f.default, Path):
            values[f.name] = (base_dir / values.get(f.name, f.default)).resolve()
    return cls(**values)


def _check_values(config: Config, where: str) -> None:
    try:
        ZoneInfo(config.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}schedule.timezone: unknown timezone {config.schedule.timezone!r} "
            "(use an IANA name such as Asia/Shanghai)"
        ) from None
    if config.schedule.poll_seconds < 1:
        raise ConfigError(f"{where}schedule.poll_seconds must be at least 1")
    if config.output.max_entries < 1:
        raise ConfigError(f"{where}output.max_entries must be at least 1")
    if not config.output.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}output.base_url must start with http:// or https://")
    if config.smtp.security not in ("none", "starttls", "ssl"):
        raise ConfigError(f"{where}smtp.security must be one of none, starttls, ssl")
    if not 0 < config.smtp.port < 65536:
        raise ConfigError(f"{where}smtp.port must be between 1 and 65535")
    if config.smtp.timeout <= 0 or config.smtp.max_per_second <= 0:
        raise ConfigError(f"{where}smtp.timeout and smtp.max_per_second must be positive")
    _check_cron(config.schedule.newsletter_cron, where)


def _check_cron(line: str, where: str) -> None:
    # Parsed by the daemon's own parser, so the daemon can never meet a line it rejects.
    try:
        cron_trigger(line, ZoneInfo("UTC"))
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None

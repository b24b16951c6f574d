"""How a config key is declared, once: a dataclass field whose metadata is its `Setting`
(a one-line doc, and the range, choices or URL schemes it allows) and whose type annotation
picks the `Kind` of TOML value it takes. The loader, the file `feeder init` writes and
docs/configuration.md are all read off these declarations."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from ..schedule import cron_trigger
from ..text import TAG_ID

T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """A type of TOML value: its name in the reference, which values it accepts (else the
    error says the key `must be …`), and how an accepted one becomes the field's value."""

    name: str
    must: str
    accepts: Callable[[object], bool]
    convert: Callable[[Any], Any] = lambda value: value  # ValueError: the text of the error

    def parse(self, name: str, value: object) -> Any:
        """The field's value for the TOML `value` of key `name`; ConfigError naming it."""
        if not self.accepts(value):
            raise ConfigError(f"{name} must be {self.must}, not {value!r}")
        try:
            return self.convert(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float(value: int | float) -> float:
    # A whole number too big for a float is out of every range: say so, as for inf.
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _pattern(text: str) -> re.Pattern[str] | None:
    # Compiled once, here. An empty pattern would match everything, so that an empty
    # `exclude` would empty the feed: "" means no filter, as an absent key does.
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"bad regular expression {text!r}: {exc}") from None


FEED_NAME_CHARS = 64

PATH = Kind("path", "a path (a non-empty string)", lambda v: isinstance(v, str) and v != "", Path)
OPTIONAL_PATH = Kind(
    "path or empty",
    "a path, or empty for none",
    lambda v: isinstance(v, str),
    lambda v: Path(v) if v else None,
)
BOOL = Kind("true or false", "true or false", lambda v: isinstance(v, bool))
INT = Kind("whole number", "a whole number", lambda v: _number(v) and isinstance(v, int))
FLOAT = Kind("number", "a number", _number, _float)
STR = Kind("string", "a string", lambda v: isinstance(v, str))
# The kind each type annotation asks for.
KINDS: dict[object, Kind] = {
    Path: PATH,
    Path | None: OPTIONAL_PATH,
    bool: BOOL,
    int: INT,
    float: FLOAT,
    str: STR,
}
# The [[feeds]] tables' own kinds.
NAME = Kind(
    "plain name",
    "a plain name (lower-case letters, digits, '-' and '_', starting with a letter, "
    f"at most {FEED_NAME_CHARS} characters)",
    lambda v: isinstance(v, str) and bool(TAG_ID.fullmatch(v)) and len(v) <= FEED_NAME_CHARS,
)
TEXT = Kind("string", "a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")
TAGS = Kind(
    "list of tag ids",
    'a list of tag ids, such as ["research"]',
    lambda v: isinstance(v, list) and all(isinstance(tag, str) for tag in v),
    lambda v: tuple(dict.fromkeys(v)),
)
PATTERN = Kind(
    "regular expression",
    "a regular expression (a string)",
    lambda v: isinstance(v, str),
    _pattern,
)


def timezone(name: str, value: str) -> None:
    """An IANA time zone that this machine knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{name}: unknown timezone {value!r} (use an IANA name such as Asia/Shanghai)"
        ) from None


def crontab(name: str, value: str) -> None:
    """A crontab line, parsed by the daemon's own parser, so that the daemon can never meet a
    line the config accepted and it rejects. (Its message names the key itself.)"""
    cron_trigger(value, ZoneInfo("UTC"))


@dataclass(frozen=True)
class Setting:
    """What a key is for and what it allows, beyond the type and the default of its field."""

    doc: str  # one line: the reference's meaning column, the written file's comment
    between: tuple[float, float] | None = None  # the least and the most, both included
    choices: tuple[str, ...] = ()  # the only values allowed
    schemes: tuple[str, ...] = ()  # a URL of one of these schemes, or empty if the default is
    check: Callable[[str, Any], None] | None = None  # a check of its own: ConfigError if bad
    kind: Kind | None = None  # else the kind its field's type annotation asks for
    required: bool = False  # a table without it is an error
    shown: str = ""  # the default in words, where its value would say nothing to a reader
    init: str = ""  # for a file built into feeder: where `feeder init` writes its copy
    example: object = None  # a TOML value for the commented-out [[feeds]] example


SETTING = "setting"  # the key of a field's metadata that holds its Setting


def setting(default: T, doc: str, **rules: Any) -> T:
    """The field of one config key: its default, its doc, and its rules (Setting's fields)."""
    return field(default=default, metadata={SETTING: Setting(doc, **rules)})


def no_default(doc: str, **rules: Any) -> Any:
    """The field of a key whose value the loader always gives (a [[feeds]] table's name)."""
    return field(metadata={SETTING: Setting(doc, **rules)})


@dataclass(frozen=True)
class Key:
    """One key of a section, read off its field."""

    section: str  # the table's name: "smtp", or "feeds" for the [[feeds]] tables
    name: str  # as the TOML file spells it: `from` for the field `from_`
    attr: str  # the field's name
    kind: Kind
    default: Any  # dataclasses.MISSING where the field has none
    setting: Setting

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING


@cache
def keys_of(section: str, cls: type) -> tuple[Key, ...]:
    """The keys of the section `section`, declared by the fields of dataclass `cls`."""
    hints = get_type_hints(cls)
    keys = []
    for f in fields(cls):
        rules: Setting = f.metadata[SETTING]
        kind = rules.kind or KINDS[hints[f.name]]
        keys.append(Key(section, f.name.rstrip("_"), f.name, kind, f.default, rules))
    return tuple(keys)

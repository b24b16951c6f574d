"""The config written out from its declarations: the commented file `feeder init` writes,
the repository's feeder.toml, and docs/configuration.md. Regenerate the last two with
`make docs`, that is:

    python -m feeder.config.reference markdown > docs/configuration.md
    python -m feeder.config.reference toml > feeder.toml
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator

from ..environment import VARIABLES
from .keys import Key, keys_of
from .sections import FEEDS, SECTIONS, FeedDef

WIDTH = 92  # of a comment's text in the written file

INIT_HEADER = """\
feeder's configuration, written by `feeder init`. Every key is optional and the values
below are the defaults, except {copies}: they name the copies beside this file, to edit
(delete them to use the ones built into feeder). Relative paths resolve against this
file's folder; feeder's docs/configuration.md explains every key."""

REPOSITORY_HEADER = """\
feeder's configuration. Every key is optional; the values below are the defaults.
Relative paths resolve against this file's folder; docs/configuration.md explains every
key. This file is written by `make docs` from feeder/config/sections.py and a test checks
it: change the declarations there, or try other values in a copy (make run CONFIG=mine.toml)."""

# Paragraphs of one line each: a renderer wraps them.
MARKDOWN_INTRO = """\
# Configuration

<!-- Written by `make docs` from feeder/config/sections.py and feeder/environment.py; \
tests/config/test_config.py fails when this page is not what they say. Edit those, not this. -->

feeder reads one TOML file: the one `--config PATH` names, else `$FEEDER_CONFIG`, else \
`./feeder.toml` in the current folder; without one, every key has its default. Every key is \
optional, and relative paths resolve against the file's folder. An unknown section or key, \
or a value its key does not allow, stops every command with one line naming the file, the \
key and what it allows.

`feeder init` writes a commented file with every key at its default, except {copies}, which \
name the copies of the built-in files it writes beside it. The repository's `feeder.toml` is \
the same file with those left to the built-in files.
"""


def tables() -> Iterator[tuple[str, type, tuple[Key, ...]]]:
    """Every table with its keys, in the file's order: the sections, then [[feeds]]."""
    for name, cls in (*SECTIONS.items(), (FEEDS, FeedDef)):
        yield name, cls, keys_of(name, cls)


def copied_keys() -> list[Key]:
    """The keys whose default is a file built into feeder, which `feeder init` copies."""
    return [key for _, _, keys in tables() for key in keys if key.setting.init]


def init_file() -> str:
    """What `feeder init` writes: the defaults, with the built-in files' copies named."""
    copies = " and ".join(key.dotted for key in copied_keys())
    return _toml(INIT_HEADER.format(copies=copies), copies=True)


def repository_file() -> str:
    """The repository's feeder.toml: the defaults, the built-in files left as they are."""
    return _toml(REPOSITORY_HEADER, copies=False)


def _toml(header: str, copies: bool) -> str:
    lines = _wrapped(" ".join(header.split()))
    for name, cls, keys in tables():
        if name == FEEDS:
            lines += ["", *_feeds_example(cls, keys)]
            continue
        lines += ["", f"[{name}]", *_wrapped(_doc(cls))]
        for key in keys:
            lines += ["", *_wrapped(_with_note(key))]
            if key.setting.init:
                literal = _literal(key.setting.init)
                lines.append(f"{key.name} = {literal}" if copies else f"# {key.name} = {literal}")
            else:
                lines.append(f"{key.name} = {_literal(key.default)}")
    return "\n".join(lines) + "\n"


def _feeds_example(cls: type, keys: tuple[Key, ...]) -> list[str]:
    """The [[feeds]] tables: none by default, so their doc and an example, commented out."""
    lines = [*_wrapped(f"[[feeds]]: {_doc(cls)}"), "#"]
    for key in keys:
        lines += _wrapped(f"{key.name}: {_with_note(key)}", "#   ", "#     ")
    lines += ["#", "# [[feeds]]"]
    lines += [f"# {key.name} = {_literal(key.setting.example)}" for key in keys]
    return lines


def markdown() -> str:
    """docs/configuration.md."""
    copies = " and ".join(f"`{key.dotted}`" for key in copied_keys())
    out = [MARKDOWN_INTRO.format(copies=copies)]
    for name, cls, keys in tables():
        title = f"[[{name}]]" if name == FEEDS else f"[{name}]"
        out += [f"## `{title}`", "", _doc(cls), ""]
        out += ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
        for key in keys:
            default = _default_words(key) or f"`{_literal(key.default)}`"
            shown = key.name if name == FEEDS else key.dotted  # a [[feeds]] table has no one name
            cells = (f"`{shown}`", default, _allowed(key), key.setting.doc)
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        out.append("")
        if name == FEEDS:
            example = [f"{key.name} = {_literal(key.setting.example)}" for key in keys]
            out += ["For example:", "", "```toml", "[[feeds]]", *example, "```", ""]
    out += ["## Environment variables", "", "| variable | meaning |", "| --- | --- |"]
    out += [f"| `{variable.name}` | {variable.doc} |" for variable in VARIABLES]
    return "\n".join(out) + "\n"


def _doc(cls: type) -> str:
    """A section's docstring as one paragraph."""
    return " ".join((cls.__doc__ or "").split())


def _default_words(key: Key) -> str:
    """The default in words, where its value would say nothing (or there is none)."""
    if key.setting.required:
        return "required"
    if key.setting.init:
        return f"{key.setting.shown} (`feeder init` writes a copy: `{key.setting.init}`)"
    return key.setting.shown


def _rules(key: Key) -> str:
    """What the key allows beyond its type, in words: a range, choices or URL schemes."""
    rules = key.setting
    if rules.between is not None:
        least, most = rules.between
        return f"{least:g} to {most:g}"
    if rules.choices:
        return f"one of {', '.join(rules.choices)}"
    if rules.schemes:
        return f"a URL: {' or '.join(rules.schemes)}" + ("" if key.default else ", or empty")
    return ""


def _allowed(key: Key) -> str:
    """The reference's column: the kind of value and its rules."""
    rules = _rules(key)
    if not rules:
        return key.kind.name
    return f"{key.kind.name}, {rules}" if key.setting.between else rules


def _note(key: Key) -> str:
    """What the written file says after a key's doc: its default in words, or its rules."""
    if key.setting.required:
        return "required"
    return f"default: {key.setting.shown}" if key.setting.shown else _rules(key)


def _with_note(key: Key) -> str:
    note = _note(key)
    return f"{key.setting.doc} ({note})" if note else key.setting.doc


def _literal(value: object) -> str:
    """`value` as TOML writes it: a default (a path, None for empty, a pattern) or a value."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"  # 30, not 30.0: the file says what a person would write
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, re.Pattern):
        value = value.pattern
    text = str(value)  # a str or a Path
    if "\\" in text and "'" not in text and text.isprintable():
        return f"'{text}'"  # a literal string: a regular expression's backslashes as typed
    return json.dumps(text, ensure_ascii=False)  # every escape JSON writes, TOML reads


def _wrapped(text: str, indent: str = "# ", more: str = "# ") -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=more,
        break_long_words=False,
        break_on_hyphens=False,
    )


GENERATED = {"markdown": markdown, "toml": repository_file}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in GENERATED:
        print(
            f"usage: python -m feeder.config.reference {{{','.join(GENERATED)}}}", file=sys.stderr
        )
        return 2
    sys.stdout.buffer.write(GENERATED[argv[0]]().encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

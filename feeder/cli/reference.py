"""docs/cli.md: every command's `--help`, as `feeder … --help` prints it in a terminal of 80
columns or more.

`python -m feeder.cli.reference docs/cli.md` (`make docs`) writes the page; tests/test_docs.py
fails when the committed page is not what this writes, so it cannot drift from the code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from . import main

# Click wraps help to the terminal's width less 2, at most 80 - 2: fixed here, so that the
# page does not depend on the terminal it is made in.
WIDTH = 78

PREAMBLE = """\
# Command-line reference

Every command takes the global `--config PATH` (else `$FEEDER_CONFIG`, else `./feeder.toml`,
else the built-in defaults) and has `--help` with an example. Errors are one line,
`Error: …`, with exit status 1 (2 for bad command-line usage); never a traceback.

This page is every command's `--help`, written by `python -m feeder.cli.reference docs/cli.md`
(`make docs`): edit the help texts in `feeder/cli/`, not this page.
"""


def contexts(
    command: click.Command, name: str, parent: click.Context | None
) -> Iterator[click.Context]:
    """A context for `command`, then for each command below it in the order --help lists them."""
    ctx = click.Context(
        command, info_name=name, parent=parent, terminal_width=WIDTH, **command.context_settings
    )
    yield ctx
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            found = command.get_command(ctx, sub)
            if found is not None and not found.hidden:
                yield from contexts(found, sub, ctx)


def render() -> str:
    pages = [(ctx.command_path, ctx.get_help()) for ctx in contexts(main, "feeder", None)]
    index = "\n".join(f"- [{path}](#{path.replace(' ', '-')})" for path, _ in pages)
    sections = "\n\n".join(f"## {path}\n\n```text\n{text}\n```" for path, text in pages)
    return f"{PREAMBLE}\n{index}\n\n{sections}\n"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())

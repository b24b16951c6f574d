"""What every command module shares: the Context the global options make, the decorator that
turns a FeederError into one `Error: …` line, the group class, and the output helpers."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from ..app import Feeder, open_feeder
from ..config import Config, find_config, load_config
from ..errors import FeederError
from ..text import printable

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What the global options decide, handed to every command."""

    def __init__(self, config_path: str | None) -> None:
        self._config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_config(self._config_path))
        return self._config

    @contextmanager
    def feeder(self) -> Iterator[Feeder]:
        """The application over the chosen config, closed when the command ends."""
        with open_feeder(self.config) as feeder:
            yield feeder


pass_ctx = click.make_pass_decorator(Context)


class Section(click.Group):
    """A group of commands whose list shows each command's first sentence whole, wrapped,
    where click would cut it at the terminal's width with `...`."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, command.get_short_help_str(limit=sys.maxsize))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def reports_errors(func: F) -> F:
    """Turn a FeederError into one `Error: …` line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FeederError as exc:
            click.echo(f"Error: {printable(str(exc))}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def warn(message: str) -> None:
    click.echo(f"Warning: {printable(message)}", err=True)

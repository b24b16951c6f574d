"""The command line: parse options, call one library function per command, print the result."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import __version__
from .config import Config, find_config, load_config
from .errors import FeederError

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


pass_ctx = click.make_pass_decorator(Context)


def reports_errors(func: F) -> F:
    """Turn a FeederError into one `Error: …` line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FeederError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feeder")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="FEEDER_CONFIG",
    help="Config file.  [default: $FEEDER_CONFIG, else ./feeder.toml, else built-in defaults]",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Turn WeChat articles into per-category Atom feeds and a weekly newsletter.

    \b
    Example:
      feeder --config feeder.toml poll
    """
    ctx.obj = Context(config_path)

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

# How long a command run by hand waits for a daemon's poll or send to finish.
LOCK_WAIT = 30.0


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


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


@main.command()
@click.option(
    "--force", is_flag=True, help="Re-read and re-classify everything, even if unchanged."
)
@pass_ctx
@reports_errors
def poll(ctx: Context, force: bool) -> None:
    """Ingest the corpus, classify new and edited articles, refresh the feeds.

    Prints `unchanged` when the corpus file is what the last poll saw, else one line:
    `N new, M updated, K unchanged, S skipped`.

    \b
    Example:
      feeder poll
      feeder --config /etc/feeder.toml poll --force
    """
    from .lock import hold_lock
    from .poll import run_poll

    config = ctx.config
    with hold_lock(config.lock_path, "poll", wait=LOCK_WAIT):
        if sys.stdout.isatty() and config.corpus.path.is_file():
            with click.progressbar(
                length=config.corpus.path.stat().st_size, label="Reading corpus", file=sys.stderr
            ) as bar:
                result = run_poll(config, force=force, warn=warn, progress=bar.update)
        else:
            result = run_poll(config, force=force, warn=warn)
    click.echo(result.summary())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_ctx
@reports_errors
def status(ctx: Context, as_json: bool) -> None:
    """Show the corpus, articles per tag and the last poll.

    \b
    Example:
      feeder status
      feeder status --json
    """
    from .status import collect_status

    report = collect_status(ctx.config)
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(report.as_text())


@main.command()
@pass_ctx
@reports_errors
def build(ctx: Context) -> None:
    """Rebuild the feeds, OPML and index page from the state.

    Does not poll the corpus. Prints each file rewritten; a file whose bytes would
    not change is left untouched (same mtime, so HTTP caches stay valid).

    \b
    Example:
      feeder build
    """
    from .feeds import rebuild
    from .lock import hold_lock

    config = ctx.config
    with hold_lock(config.lock_path, "build", wait=LOCK_WAIT):
        written = rebuild(config)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one.",
)
@pass_ctx
@reports_errors
def serve(ctx: Context, host: str, port: int) -> None:
    """Serve the feeds, OPML and index page over HTTP.

    Serves the output folder until Ctrl-C. Sends ETag and Last-Modified, and answers
    304 Not Modified to readers that already have the current version. Logs one line
    per request to stderr.

    \b
    Example:
      feeder serve
      feeder serve --host 0.0.0.0 --port 8080
    """
    from .serve import serve as serve_folder

    serve_folder(ctx.config.output.dir, host, port)

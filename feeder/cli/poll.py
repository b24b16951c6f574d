"""From a corpus to the outputs: `feeder init`, `poll`, `build` and `status`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..app import init_folder
from ..config import CorpusSection
from .base import Context, echo_json, pass_ctx, reports_errors, warn


@click.command()
@click.argument(
    "folder", metavar="[DIR]", default=".", type=click.Path(file_okay=False, path_type=Path)
)
@reports_errors
def init(folder: Path) -> None:
    """Write a starter feeder.toml, taxonomy and templates to edit.

    Writes into DIR (default: the current folder; made if missing) a feeder.toml with
    every key and its default, and copies of the built-in taxonomy.toml and templates/
    for you to edit. Never overwrites: if any of these files exists, writes nothing.
    Needs no config file; --config is ignored.

    \b
    Example:
      feeder init mysite
      cd mysite && mkdir data && cp ~/articles.json data/corpus.json
      feeder poll
    """
    # No ctx.config here: there is no config yet, and a broken one in the current folder
    # must not stop the command that writes a fresh one.
    for path in init_folder(folder):
        click.echo(f"wrote {path}")
    where = "" if folder == Path() else f" in {folder}"
    click.echo(
        f"next: put your corpus at {folder / CorpusSection().path} (the default corpus.path;"
        f" set it in feeder.toml to read one elsewhere), then run `feeder poll`{where}"
    )


@click.command()
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
    corpus = ctx.config.corpus.path
    with ctx.feeder() as feeder:
        if sys.stdout.isatty() and corpus.is_file():
            with click.progressbar(
                length=corpus.stat().st_size, label="Reading corpus", file=sys.stderr
            ) as bar:
                result = feeder.poll(force=force, warn=warn, progress=bar.update)
        else:
            result = feeder.poll(force=force, warn=warn)
    click.echo(result.summary())


@click.command()
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
    with ctx.feeder() as feeder:
        report = feeder.status()
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(report.as_text())


@click.command()
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
    with ctx.feeder() as feeder:
        written = feeder.build()
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("up to date")

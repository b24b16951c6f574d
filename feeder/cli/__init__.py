"""The command line: parse options, call one library function per command, print the result.

`main` is the `feeder` command. Each module here holds one group of its subcommands and
imports only `base` from this package, never this module: so `main` could load a module
when its command is first named (click's LazyGroup) instead of importing them all here.
"""

from __future__ import annotations

import click

from .. import __version__
from . import bounces, categories, newsletter, poll, run, state, subscribers
from .base import Context, Section


@click.group(cls=Section, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feeder")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
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


for command in (
    poll.init,
    poll.poll,
    poll.status,
    poll.build,
    state.state,
    run.serve,
    run.daemon,
    newsletter.newsletter,
    subscribers.subscribers,
    bounces.bounces,
    categories.classify_command,
    categories.eval_command,
    categories.label_command,
    categories.labels_group,
    categories.taxonomy_group,
):
    main.add_command(command)

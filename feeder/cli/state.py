"""The state itself: `feeder state migrate` upgrades its schema, `state copy` moves it to
another engine."""

from __future__ import annotations

import click

from .base import Context, Section, pass_ctx, reports_errors


@click.group(cls=Section)
def state() -> None:
    """Upgrade the state's schema, or move the state to another engine.

    \b
    Examples:
      feeder state migrate
      feeder state copy --to postgresql://feeder@db.example.org:5432/feeder
    """


@state.command("migrate")
@pass_ctx
@reports_errors
def state_migrate(ctx: Context) -> None:
    """Upgrade the state's schema to this feeder's version.

    A PostgreSQL state is only ever upgraded this way (a new, empty database gets the whole
    schema); the daemon and `serve` refuse an out-of-date state on either engine. Other
    commands still upgrade a SQLite file in place as they open it.

    \b
    Example:
      feeder state migrate
    """
    with ctx.feeder() as feeder:
        before, after = feeder.migrate()
    where = ctx.config.state.location
    if before == after:
        click.echo(f"{where}: schema version {after}, up to date")
    else:
        click.echo(f"{where}: schema version {before} → {after}")


@state.command("copy")
@click.option(
    "--to",
    "target",
    required=True,
    help="An empty state: a postgresql://user@host:5432/db URL, or a SQLite file (new or empty).",
)
@pass_ctx
@reports_errors
def state_copy(ctx: Context, target: str) -> None:
    """Copy every table of the state into an empty state on either engine.

    Articles, tags, polls, meta, subscribers and the whole newsletter ledger, in one
    transaction; prints each table's row count and checks it against the source. The
    password of a PostgreSQL target comes from $PGPASSWORD or ~/.pgpass.

    \b
    Examples:
      feeder state copy --to postgresql://feeder@db.example.org:5432/feeder
      feeder state copy --to data/back.db
    """
    with ctx.feeder() as feeder:
        copied = feeder.copy_state(target)
    for table in copied:
        click.echo(f"{table.table}\t{table.target}")
    click.echo(f"copied {sum(t.target for t in copied)} rows into {target}; counts checked")

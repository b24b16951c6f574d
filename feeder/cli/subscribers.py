"""The newsletter's readers as the operator sees them: `feeder subscribers add`, `remove`,
`forget`, `reactivate`, `list` and `import`."""

from __future__ import annotations

from pathlib import Path

import click

from ..model import SubscriberStatus
from ..text import split_words
from .base import Context, Section, echo_json, pass_ctx, reports_errors, warn


@click.group(cls=Section)
def subscribers() -> None:
    """Add, remove, list, import and erase newsletter subscribers (kept in the state file).

    Readers also sign up, choose their sections and leave on their own through the pages
    of `feeder serve`; what the operator adds here is active at once.

    \b
    Example:
      feeder subscribers add reader@example.org --name 张三 --tags policy,research
      feeder subscribers import subscribers.csv
    """


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", show_default=True, help="Display name in the To header.")
@click.option(
    "--tags",
    default=None,
    help="The sections it gets, tag ids separated by commas (default: every section).",
)
@pass_ctx
@reports_errors
def subscribers_add(ctx: Context, email: str, name: str, tags: str | None) -> None:
    """Subscribe EMAIL (checked and normalised), active at once; again after a removal is fine.

    Without --tags a new address gets every section and a known one keeps its choice.

    \b
    Example:
      feeder subscribers add reader@example.org --name 张三
      feeder subscribers add reader@example.org --tags policy
    """
    with ctx.feeder() as feeder:
        chosen = None if tags is None else split_words(tags)
        address, added = feeder.subscribe(email, name, chosen)
    if added:
        click.echo(f"subscribed {address}")
    else:
        click.echo(f"{address} was already subscribed" + ("; sections changed" if tags else ""))


@subscribers.command("remove")
@click.argument("email")
@pass_ctx
@reports_errors
def subscribers_remove(ctx: Context, email: str) -> None:
    """Unsubscribe EMAIL; issues already being sent skip it from now on.

    The address and its delivery history stay in the state; `forget` erases them.

    \b
    Example:
      feeder subscribers remove reader@example.org
    """
    with ctx.feeder() as feeder:
        address, removed = feeder.unsubscribe(email)
    click.echo(f"unsubscribed {address}" if removed else f"{address} was not subscribed")


@subscribers.command("forget")
@click.argument("email")
@pass_ctx
@reports_errors
def subscribers_forget(ctx: Context, email: str) -> None:
    """Erase EMAIL and its delivery history from the state (an erasure request).

    Its links stop working at once. The newsletters already sent stay in the archive:
    they name no recipient.

    \b
    Example:
      feeder subscribers forget reader@example.org
    """
    with ctx.feeder() as feeder:
        address, erased = feeder.forget(email)
    click.echo(f"erased {address}" if erased else f"{address} was not in the state")


@subscribers.command("reactivate")
@click.argument("email")
@pass_ctx
@reports_errors
def subscribers_reactivate(ctx: Context, email: str) -> None:
    """Make a bounced EMAIL active again; it gets the next issue.

    For an address that works again (a full mailbox emptied, a server fixed): its bounce
    and its count of soft failures are cleared. Only a bounced address changes.

    \b
    Example:
      feeder subscribers list --status bounced
      feeder subscribers reactivate reader@example.org
    """
    with ctx.feeder() as feeder:
        address, reactivated = feeder.reactivate(email)
    click.echo(f"reactivated {address}" if reactivated else f"{address} was not bounced")


@subscribers.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in SubscriberStatus]),
    default=None,
    help="Only addresses of this status (default: all).",
)
@click.option("--json", "as_json", is_flag=True, show_default=True, help="Print JSON.")
@pass_ctx
@reports_errors
def subscribers_list(ctx: Context, status: str | None, as_json: bool) -> None:
    """List subscribers: address, status, sections and name, one a line.

    --json prints a list of {"email", "status", "tags", "since"}; "tags" lists the tag ids
    of the sections it gets (every tag for a subscriber of everything).

    \b
    Example:
      feeder subscribers list --status active
      feeder subscribers list --json
    """
    with ctx.feeder() as feeder:
        people = feeder.subscribers(None if status is None else SubscriberStatus(status))
        everything = [tag.id for tag in feeder.tags]
    if as_json:
        echo_json(
            [
                {
                    "email": p.email,
                    "status": p.status.value,
                    "tags": everything if p.tags is None else list(p.tags),
                    "since": p.since.isoformat(),
                }
                for p in people
            ]
        )
        return
    for p in people:
        sections = "all" if p.tags is None else ",".join(p.tags)
        click.echo("\t".join(filter(None, (p.email, p.status.value, sections, p.name))))


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_ctx
@reports_errors
def subscribers_import(ctx: Context, file: str) -> None:
    """Subscribe every address in FILE, active at once.

    A CSV file whose first row names its columns, `email` and optionally `name` and
    `tags` (tag ids in one field, e.g. "policy,research"), gives each address its
    sections. Any other file holds `addr` or `Name <addr>`, several a line with commas,
    and each gets every section. Blank lines and lines starting with # are skipped. A bad
    line is reported with its number and the others are still imported.

    \b
    Example:
      feeder subscribers import subscribers.csv
    """
    with ctx.feeder() as feeder:
        report = feeder.import_subscribers(Path(file))
    for number, problem in report.bad:
        warn(f"{file}:{number}: {problem}")
    click.echo(
        f"{report.added} subscribed, {report.already} already subscribed, "
        f"{len(report.bad)} bad lines"
    )

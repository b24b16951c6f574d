"""Mail that comes back: `feeder bounces import`."""

from __future__ import annotations

from pathlib import Path

import click

from ..text import printable
from .base import Context, Section, pass_ctx, reports_errors, warn


@click.group(cls=Section)
def bounces() -> None:
    """Read bounce reports and mark the addresses that refuse mail.

    A send marks an address bounced by itself when the server refuses it for good (5xx),
    or after soft failures in 3 issues in a row. Refusals from servers further on come back
    later, by mail, to the From address: `bounces import` reads them.

    \b
    Example:
      feeder bounces import ~/Maildir/.Bounces
    """


@bounces.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@pass_ctx
@reports_errors
def bounces_import(ctx: Context, path: Path) -> None:
    """Mark the subscribers that bounce reports in PATH show are gone.

    PATH is an mbox file or a Maildir folder of delivery status notifications (RFC 3464),
    as they arrive at the From address. A 5.x.x failure marks an active subscriber
    bounced; a delay or a 4.x.x failure is only shown. Prints one line per recipient
    reported: what was done (marked; inactive: not active, left as it was; soft;
    unmatched: not a subscriber), the address, the status, the message and what the
    server said. A message that is no such report (an auto-reply, a free-text bounce) is
    warned about and skipped. Importing the same mail again changes nothing; `subscribers
    reactivate` undoes a mark.

    \b
    Example:
      feeder bounces import /var/mail/newsletter
      feeder bounces import ~/Maildir/.Bounces
    """
    with ctx.feeder() as feeder:
        report = feeder.import_bounces(path)
    for problem in report.unreadable:
        warn(f"{path}: {problem.source}: {problem.reason}")
    for match in report.matched:
        bounce = match.bounce
        address = match.address or bounce.recipient or "-"
        fields = (match.outcome, address, bounce.status or "-", bounce.source, bounce.diagnostic)
        # Escaped field by field: the tabs between them stay, a tab inside one cannot.
        click.echo("\t".join(printable(field) for field in fields if field))
    click.echo(report.summary())

"""The weekly newsletter: `feeder newsletter render`, `send` and `dns`."""

from __future__ import annotations

import click

from ..errors import MailError
from ..newsletter.dkim import zone_line
from ..schedule import parse_week_key
from ..text import printable
from .base import Context, F, Section, pass_ctx, reports_errors


def _check_week(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_week_key(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def week_option(func: F) -> F:
    return click.option(
        "--week",
        metavar="YYYY-Www",
        callback=_check_week,
        show_default="the last full week",
        help="The issue's ISO week, in schedule.timezone, e.g. 2026-W05.",
    )(func)


@click.group(cls=Section)
def newsletter() -> None:
    """Render and send the weekly newsletter.

    \b
    Example:
      feeder newsletter render --week 2026-W05
      feeder newsletter send
      feeder newsletter dns
    """


@newsletter.command()
@week_option
@click.option(
    "--latest",
    is_flag=True,
    help="Render the newest week that has articles instead (what `make run` previews).",
)
@pass_ctx
@reports_errors
def render(ctx: Context, week: str | None, latest: bool) -> None:
    """Write one issue's HTML, text and .eml into OUTPUT/newsletter/ to review.

    An issue that was already sent is written as it was sent; any other week as it would
    be sent now. Prints each file rewritten.

    \b
    Example:
      feeder newsletter render
      feeder newsletter render --week 2026-W05
      feeder newsletter render --latest
    """
    if latest and week:
        raise click.UsageError("--latest and --week exclude each other")
    with ctx.feeder() as feeder:
        key, written = feeder.preview(week, latest=latest)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo(f"{key}: up to date")


@newsletter.command()
@week_option
@click.option(
    "--dry-run",
    is_flag=True,
    show_default=True,
    help="Say what would be sent; send and record nothing.",
)
@click.option(
    "--retry-unknown",
    is_flag=True,
    show_default=True,
    help="Also resend to recipients an interrupted run left in doubt (they may get two).",
)
@pass_ctx
@reports_errors
def send(ctx: Context, week: str | None, dry_run: bool, retry_unknown: bool) -> None:
    """Send one issue to every subscriber who does not have it yet.

    Safe to rerun: nobody gets an issue twice, and a week already sent sends nothing. A
    recipient whose message was in flight when a run died is left in doubt (see `feeder
    status`) until --retry-unknown. Exits 1 unless every recipient has the issue.

    \b
    Example:
      feeder newsletter send --dry-run
      FEEDER_SMTP_PASSWORD=… feeder newsletter send --week 2026-W05
    """
    with ctx.feeder() as feeder:
        report = feeder.send(week, dry_run=dry_run, retry_unknown=retry_unknown)
    click.echo(report.summary())
    if not report.complete:
        raise MailError(report.error())


@newsletter.command("dns")
@pass_ctx
@reports_errors
def newsletter_dns(ctx: Context) -> None:
    """Print the DNS records to publish for DKIM, SPF and DMARC.

    One zone-file line per TXT record. With [dkim] set, the DKIM key record: the public
    half of dkim.private_key. Then a suggested SPF and DMARC record for the From address's
    domain, to adapt: SPF must name the hosts that really send (merge it into any SPF
    record the domain has), and DMARC starts at p=none, where receivers only send
    reports; tighten it once those show that every message passes.

    \b
    Example:
      feeder newsletter dns
      feeder --config /etc/feeder/feeder.toml newsletter dns >> records.zone
    """
    with ctx.feeder() as feeder:
        records = feeder.dns_records()
    if not ctx.config.dkim.enabled:
        click.echo("; DKIM is not configured: set [dkim] domain, selector and private_key")
    for name, value in records:
        click.echo(printable(zone_line(name, value)))

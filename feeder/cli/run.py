"""The commands that run until stopped: `feeder serve` (the web pages) and `feeder daemon`
(the scheduler)."""

from __future__ import annotations

import logging
import sys

import click

from ..daemon import run_daemon
from ..text import printable
from ..web.server import serve as serve_pages
from .base import Context, pass_ctx, reports_errors


def log_to_stderr(level: str) -> None:
    """Log lines at `level` and above to stderr, escaped (see PrintableFormatter)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])


class PrintableFormatter(logging.Formatter):
    """Log lines with every control character escaped: what a corpus or a mail server says
    cannot forge or split a line of the operator's log."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port; each opens its own connections to the state.",
)
@pass_ctx
@reports_errors
def serve(ctx: Context, host: str, port: int, workers: int) -> None:
    """Serve the feeds, the archive and the subscriber pages over HTTP.

    Serves the output folder (ETag, Last-Modified, 304 Not Modified) and the pages where
    readers sign up, confirm, choose their sections and unsubscribe (/subscribe,
    /confirm/…, /preferences/…, /unsubscribe/…), until Ctrl-C. Logs one line per request
    to stderr. Links in mail point at output.base_url: set it to where this is reached.

    \b
    Example:
      feeder serve
      feeder serve --host 0.0.0.0 --port 8080 --workers 4
    """
    config = ctx.config
    log_to_stderr("info")
    serve_pages(config, host, port, workers)


@click.command()
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Least severe event to log to stderr.",
)
@pass_ctx
@reports_errors
def daemon(ctx: Context, log_level: str) -> None:
    """Run in the foreground: poll on an interval, send the newsletter on schedule.

    Polls every schedule.poll_seconds and sends the last full week's issue at
    schedule.newsletter_cron; at start-up and after every poll it sends the latest
    missed issue, once. SIGTERM or SIGINT finish the current job, then exit 0.

    \b
    Example:
      feeder --config /etc/feeder/feeder.toml daemon --log-level info
    """
    config = ctx.config  # a bad config fails here, before anything is logged
    log_to_stderr(log_level)
    # APScheduler logs every job start and end at INFO: noise next to our one line per event.
    logging.getLogger("apscheduler").setLevel(
        max(logging.WARNING, logging.getLevelName(log_level.upper()))
    )
    run_daemon(config)

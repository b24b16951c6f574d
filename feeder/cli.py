"""The command line: parse options, call one library function per command, print the result."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .app import Feeder, init_folder, open_feeder
from .classify import as_record
from .classify import explain as explain_verdict
from .classify.evaluate import format_report
from .config import Config, CorpusSection, find_config, load_config
from .daemon import run_daemon
from .errors import FeederError, MailError
from .model import SubscriberStatus
from .newsletter.dkim import zone_line
from .schedule import parse_week_key
from .text import printable, split_words
from .web.server import serve as serve_pages

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
    click.echo(f"Warning: {printable(message)}", err=True)


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


@main.command()
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
    with ctx.feeder() as feeder:
        report = feeder.status()
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
    with ctx.feeder() as feeder:
        written = feeder.build()
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("up to date")


@main.group()
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


@main.command()
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


@main.command()
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


# -- Newsletter and subscribers ------------------------------------------------------------


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


@main.group()
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


@main.group()
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


# -- Bounces -------------------------------------------------------------------------------


@main.group()
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


# -- Categories ----------------------------------------------------------------------------


def corpus_and_taxonomy_options(func: F) -> F:
    """--corpus and --taxonomy, each defaulting to the config's, for trying other files."""
    func = click.option(
        "--taxonomy",
        "taxonomy_path",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        show_default="taxonomy.path in the config",
        help="Taxonomy to use instead, e.g. a copy being retuned.",
    )(func)
    return click.option(
        "--corpus",
        "corpus_path",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        show_default="corpus.path in the config",
        help="Corpus file to read instead (JSON array or JSON Lines).",
    )(func)


@main.command("classify")
@corpus_and_taxonomy_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print a JSON array of {"id", "title", "tags", "scores"}.',
)
@click.option(
    "--explain", is_flag=True, help="Show each article's scores and the signals behind them."
)
@pass_ctx
@reports_errors
def classify_command(
    ctx: Context, corpus_path: str | None, taxonomy_path: str | None, as_json: bool, explain: bool
) -> None:
    """Tag the articles of a corpus file; reads and writes no state.

    Prints one line per article: id, tags (primary first, "-" for none) and title.
    With --json and --explain, each object also lists its "hits".

    \b
    Example:
      feeder classify --explain | less
      feeder classify --corpus new.json --json > tags.json
    """
    records = []
    with ctx.feeder() as feeder:
        run = feeder.classify(_path(corpus_path), _path(taxonomy_path), warn=warn)
        for article, verdict in run.verdicts:
            if as_json:
                records.append(as_record(article, verdict, hits=explain))
            elif explain:
                click.echo(explain_verdict(article, verdict, run.taxonomy) + "\n")
            else:
                click.echo(f"{article.id}\t{','.join(verdict.tags) or '-'}\t{article.title}")
    if as_json:
        echo_json(records)


@main.command("eval")
@click.option(
    "--labels",
    "labels_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Labels to score against: {id: {primary, also, allowed}}, see labels/GUIDE.md.",
)
@click.option(
    "--state",
    "from_state",
    is_flag=True,
    help="Score against every verdict recorded with `feeder label`, on the stored articles.",
)
@corpus_and_taxonomy_options
@pass_ctx
@reports_errors
def eval_command(
    ctx: Context,
    labels_path: str | None,
    from_state: bool,
    corpus_path: str | None,
    taxonomy_path: str | None,
) -> None:
    """Score the categoriser against hand-made labels or recorded verdicts.

    Prints primary recall, primary first (the first tag is the labelled primary: the
    newsletter section), micro F1, per-tag precision and recall, every article with a
    missing or wrong tag, and every article whose primary was not first with the signals
    that outvoted it. Only labelled articles count. Give --labels FILE or --state.

    \b
    Example:
      feeder eval --labels tests/data/seed-labels.json
      feeder eval --labels mine.json --corpus mine.json --taxonomy retuned.toml
      feeder eval --state --taxonomy retuned.toml
    """
    if from_state == (labels_path is not None):
        raise click.UsageError("give either --labels FILE or --state")
    if from_state and corpus_path is not None:
        raise click.UsageError("--state scores the stored articles: it takes no --corpus")
    with ctx.feeder() as feeder:
        if labels_path is None:
            report = feeder.evaluate_state(_path(taxonomy_path))
        else:
            report = feeder.evaluate(
                Path(labels_path), _path(corpus_path), _path(taxonomy_path), warn=warn
            )
    click.echo(format_report(report))


@main.command("label")
@click.argument("article_id", metavar="ID")
@click.option("--primary", metavar="TAG", help="The tag the article must have first.")
@click.option(
    "--also", metavar="TAG", multiple=True, help="A further tag it must have (repeatable)."
)
@click.option("--none", "no_tag", is_flag=True, help="The article gets no tag at all.")
@pass_ctx
@reports_errors
def label_command(
    ctx: Context, article_id: str, primary: str | None, also: tuple[str, ...], no_tag: bool
) -> None:
    """Record your verdict on a stored article's tags; it overrides the categoriser.

    The tags are stored and the feeds rebuilt at once; every later poll, a retuned
    taxonomy and an edit of the article keep them. Label it again to change them.

    \b
    Example:
      feeder label 2650224681_1 --primary policy --also research
      feeder label 2650224645_1 --none
    """
    if no_tag == (primary is not None):
        raise click.UsageError("give either --primary TAG or --none")
    with ctx.feeder() as feeder:
        article, correction = feeder.label(article_id, primary, also)
    tags = ", ".join(correction.tags) or "no tag"
    click.echo(f"{article.id}\t{tags}\t{printable(article.title)}")


@main.group("labels")
def labels_group() -> None:
    """List and export the verdicts recorded with `feeder label`.

    \b
    Example:
      feeder labels export my-labels.json
    """


@labels_group.command("list")
@pass_ctx
@reports_errors
def labels_list(ctx: Context) -> None:
    """One line per recorded verdict: id, tags (primary first, "-" for none), when, title.

    \b
    Example:
      feeder labels list
    """
    with ctx.feeder() as feeder:
        for article, correction in feeder.labels():
            when = correction.labelled_at.strftime("%Y-%m-%d %H:%M")
            title = printable(article.title) if article else "(no longer stored)"
            tags = ",".join(correction.tags) or "-"
            click.echo(f"{correction.article_id}\t{tags}\t{when}\t{title}")


@labels_group.command("export")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
@reports_errors
def labels_export(ctx: Context, path: Path) -> None:
    """Write the recorded verdicts as a label file that `feeder eval --labels` reads.

    \b
    Example:
      feeder labels export my-labels.json
      feeder eval --labels my-labels.json
    """
    with ctx.feeder() as feeder:
        count = feeder.export_labels(path)
    click.echo(f"{count} verdicts written to {path}", err=True)


@main.group("taxonomy")
def taxonomy_group() -> None:
    """Improve the taxonomy from the recorded verdicts.

    \b
    Example:
      feeder taxonomy suggest > fix.diff && patch -p0 < fix.diff
    """


@taxonomy_group.command("suggest")
@pass_ctx
@reports_errors
def taxonomy_suggest(ctx: Context) -> None:
    """Print a diff to the taxonomy file that fixes recorded verdicts it gets wrong.

    Proposes phrases frequent in the wrongly tagged articles and rare elsewhere, and
    weight changes; keeps only edits that break no verdict the taxonomy gets right
    (every labelled article is rescored). Never edits the file: read the diff, apply it
    with `patch`, then check with `feeder eval --state`.

    \b
    Example:
      feeder taxonomy suggest > fix.diff && patch -p0 < fix.diff
    """
    with ctx.feeder() as feeder:
        found = feeder.suggest_taxonomy()
    click.echo(f"{len(found.wrong)} recorded verdicts the taxonomy gets wrong", err=True)
    for edit in found.edits:
        click.echo(f"  {printable(edit.describe())}", err=True)
    if found.still_wrong:
        click.echo(f"still wrong after these: {', '.join(found.still_wrong)}", err=True)
    click.echo(found.diff, nl=False)


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)

"""The categories: `feeder classify` and `eval` try the taxonomy, `label` and `labels` record
a person's verdicts, `taxonomy suggest` learns from them."""

from __future__ import annotations

from pathlib import Path

import click

from ..classify import as_record
from ..classify import explain as explain_verdict
from ..classify.evaluate import format_report
from ..text import printable
from .base import Context, F, Section, echo_json, pass_ctx, reports_errors, warn


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


@click.command("classify")
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


@click.command("eval")
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


@click.command("label")
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


@click.group("labels", cls=Section)
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


@click.group("taxonomy", cls=Section)
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

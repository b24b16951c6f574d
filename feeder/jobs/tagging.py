"""The categoriser's jobs: tag a corpus file, score it against hand-made labels; and the
correction loop: a person's verdict on an article's tags (`feeder label`), stored at once
and obeyed by every later build, listed, exported as a label file, scored (`eval --state`)
and turned into taxonomy edits (`taxonomy suggest`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..classify import Classifier, Taxonomy, load_taxonomy
from ..classify.correct import corrected
from ..classify.evaluate import Label, Report, check_labels, evaluate, load_labels
from ..classify.suggest import Suggestion, suggest
from ..config import Config
from ..errors import ConfigError, FeederError, InputError
from ..ingest.corpus import read_articles
from ..model import Article, Classification, Correction, Tag
from ..publish import publish
from ..publish.build import PublishStore
from ..publish.custom import check_custom_feeds
from ..storage.stores import ArticleStore, LabelStore

Warn = Callable[[str], None]


class Labelled(ArticleStore, LabelStore, Protocol):
    """The recorded verdicts and the articles they are about."""


class Labelling(Labelled, PublishStore, Protocol):
    """What recording a verdict writes: the verdict, the article's tags, the feeds."""


@dataclass(frozen=True, slots=True)
class Classified:
    """The verdicts on a corpus file, and the taxonomy that gave them (to explain them)."""

    taxonomy: Taxonomy
    verdicts: Iterator[tuple[Article, Classification]]  # streamed, in file order


def configured_taxonomy(config: Config) -> Taxonomy:
    """The configured taxonomy, read and checked, with the custom feeds' tags checked
    against it (they can be checked only now; a poll fails before it reads)."""
    taxonomy = load_taxonomy(config.taxonomy.path)
    check_custom_feeds(config.feeds, taxonomy.tags)
    return taxonomy


# -- The categoriser over a corpus file ------------------------------------------------------


def classify(config: Config, taxonomy: Taxonomy, corpus: Path | None, warn: Warn) -> Classified:
    """Tag the articles of a corpus file (default: the configured one); no state is read."""
    classifier = Classifier(taxonomy)
    articles = read_articles(corpus or config.corpus.path, config.tz, warn, config.corpus.years)
    verdicts = ((article, classifier.classify_article(article)) for article in articles)
    return Classified(taxonomy, verdicts)


def evaluate_corpus(
    config: Config, taxonomy: Taxonomy, labels: Path, corpus: Path | None, warn: Warn
) -> Report:
    """Score the categoriser against hand-made labels (see labels/GUIDE.md)."""
    tags = [tag.id for tag in taxonomy.tags]
    wanted = load_labels(labels)
    for problem in check_labels(wanted, tags):
        warn(f"{labels}: {problem}")
    articles = read_articles(corpus or config.corpus.path, config.tz, warn, config.corpus.years)
    return evaluate(Classifier(taxonomy).classify_article, articles, wanted, tags)


# -- People's verdicts -------------------------------------------------------------------------


def correction(
    article_id: str, primary: str | None, also: Sequence[str], tags: Sequence[Tag], now: datetime
) -> Correction:
    """A person's verdict as recorded: InputError for a tag the taxonomy lacks, or for
    extra tags on an article given none. Pure."""
    known = [tag.id for tag in tags]
    for tag in ([primary] if primary else []) + list(also):
        if tag not in known:
            raise InputError(f"unknown tag {tag!r} (tags: {', '.join(known)})")
    if primary is None and also:
        raise InputError("--none gives an article no tag: it takes no --also")
    extra = tuple(dict.fromkeys(t for t in also if t != primary))
    return Correction(article_id, primary, extra, now)


def label(
    store: Labelling, taxonomy: Taxonomy, config: Config, verdict: Correction
) -> tuple[Article, Correction]:
    """Record a verdict for a stored article, give it those tags and rebuild the feeds, in
    one transaction. Every later build keeps them."""
    with store.transaction():
        article = store.article(verdict.article_id)
        if article is None:
            raise InputError(
                f"no article {verdict.article_id!r} in the state (check the id with `feeder "
                "labels list` or the feeds; a new article needs a `feeder poll` first)"
            )
        store.put_label(verdict)
        found = Classifier(taxonomy).classify_article(article)
        store.set_tags(article.id, corrected(found, verdict))
        publish(store, taxonomy.tags, config)
    return article, verdict


def labels(store: Labelled) -> list[tuple[Article | None, Correction]]:
    """Every recorded verdict with its article (None if it is no longer stored)."""
    return [(store.article(c.article_id), c) for c in store.labels()]


def export_labels(store: Labelled, path: Path) -> int:
    """Write the recorded verdicts as a label file (labels/GUIDE.md); how many."""
    records = {
        verdict.article_id: {
            "title": article.title if article else "",
            "primary": verdict.primary,
            "also": list(verdict.also),
            "allowed": [],
        }
        for article, verdict in labels(store)
    }
    text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FeederError(f"{path}: cannot write the label file: {exc.strerror}") from None
    return len(records)


def evaluate_state(store: Labelled, taxonomy: Taxonomy) -> Report:
    """Score a taxonomy against every recorded verdict, on the stored articles: what a
    retune would do to the people's verdicts."""
    wanted: dict[str, Label] = {}
    articles = []
    for article, verdict in labels(store):
        if article is not None:
            wanted[article.id] = Label(verdict.primary, verdict.also, (), article.title)
            articles.append(article)
    tags = [tag.id for tag in taxonomy.tags]
    return evaluate(Classifier(taxonomy).classify_article, articles, wanted, tags)


def suggest_taxonomy(store: Labelled, path: Path) -> Suggestion:
    """Edits to the taxonomy file at `path` that fix recorded verdicts it gets wrong,
    breaking none it gets right: a unified diff for a person to apply."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read taxonomy file: {exc.strerror}") from None
    pairs = [(a, c) for a, c in labels(store) if a is not None]
    # Named as `patch -p0` run here finds it: relative to the working folder if inside.
    shown = os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    return suggest(text, shown, pairs, store.articles())

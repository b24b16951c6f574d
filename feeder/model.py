"""The typed values that cross module boundaries: articles, tags, classifications."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Article:
    """One article as read from the corpus, normalised."""

    id: str  # the corpus id (文章标识符aid), unique within a corpus
    title: str  # plain text, one line
    url: str | None  # the original article; None unless http or https
    published: datetime  # timezone-aware; a bare date means 00:00 in the configured zone
    account: str  # the official account's name (公众号名称), may be empty
    content: str  # plain text: lines joined by "\n", paragraphs by "\n\n"
    source: str | None = None  # "来源：…" named in the text
    author: str | None = None  # "作者：…" named in the text
    editor: str | None = None  # "编辑：…" named in the text

    @property
    def content_hash(self) -> str:
        """A digest of everything a reader sees; a change means the article was edited."""
        h = hashlib.sha256()
        for part in (
            self.title,
            self.url or "",
            self.published.isoformat(),
            self.account,
            self.content,
            self.source or "",
            self.author or "",
            self.editor or "",
        ):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Tag:
    """A category that articles are sorted into."""

    id: str  # stable machine name: "policy", "research", "industry"
    label: str  # what readers see: 政策, 科研, 产业
    description: str  # one line saying what belongs here


@dataclass(frozen=True, slots=True)
class Hit:
    """One signal found in an article, kept so a decision can be explained."""

    tag: str  # the tag the signal votes for
    signal: str  # the phrase or pattern name that matched
    where: str  # "title" or "body"
    count: int  # how many times it matched there
    points: float  # what it added to the tag's score after weighting and saturation


@dataclass(frozen=True, slots=True)
class Classification:
    """The categoriser's verdict on one article."""

    tags: tuple[str, ...]  # the tags given, primary first; empty when nothing matched
    scores: dict[str, float] = field(default_factory=dict)  # every tag's score, given or not
    hits: tuple[Hit, ...] = ()  # the signals behind the scores

    @property
    def primary(self) -> str | None:
        return self.tags[0] if self.tags else None


@dataclass(frozen=True, slots=True)
class Entry:
    """An article as published: what the feeds, the index page and the newsletter are built from."""

    article: Article
    tags: tuple[str, ...]  # primary first
    updated: datetime  # = article.published, until an edit is seen; then when it was seen
    first_seen: datetime  # when a poll first stored the article (UTC)

    @property
    def primary(self) -> str | None:
        return self.tags[0] if self.tags else None

"""What `feeder status` reports: the corpus, the state, the last poll."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .config import Config
from .store import Store


@dataclass(frozen=True)
class Status:
    """A snapshot of one feeder installation, for people and for scripts."""

    config_file: str | None  # the config in use; None for built-in defaults
    corpus: str  # the corpus file
    state: str  # the state database
    articles: int  # stored articles
    per_tag: dict[str, int] = field(default_factory=dict)  # articles per tag; "" = untagged
    last_poll: dict[str, Any] | None = None  # when, and what it counted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        lines = [
            f"config:     {self.config_file or '(built-in defaults)'}",
            f"corpus:     {self.corpus}",
            f"state:      {self.state}",
            f"articles:   {self.articles}",
        ]
        for tag, count in self.per_tag.items():
            lines.append(f"  {tag or '(untagged)':<10}{count}")
        if self.last_poll is None:
            lines.append("last poll:  never")
        else:
            p = self.last_poll
            lines.append(
                f"last poll:  {p['finished_at']}: {p['new']} new, {p['updated']} updated, "
                f"{p['unchanged']} unchanged, {p['skipped']} skipped"
            )
        return "\n".join(lines)


def collect_status(config: Config) -> Status:
    with Store.open(config.state.path, config.tz) as store:
        last = store.last_poll()
        return Status(
            config_file=str(config.file) if config.file else None,
            corpus=str(config.corpus.path),
            state=str(config.state.path),
            articles=store.count_articles(),
            per_tag=store.tag_counts(),
            last_poll=None
            if last is None
            else {
                "finished_at": last.finished_at.isoformat(),
                "new": last.new,
                "updated": last.updated,
                "unchanged": last.unchanged,
                "skipped": last.skipped,
            },
        )

"""The state: articles, feeds, polls, labels, subscribers and the newsletter ledger.

Everything above this package talks to the state through small store protocols
(storage/stores.py, storage/mail_stores.py), each module naming only the stores it uses;
`Storage`, here, is all of them at once. `open_storage` picks the engine from where the
state is: a SQLite file (one machine, embedded: the default) or a PostgreSQL URL (a server
several hosts share). Both implement every protocol over the same schema, and nothing
above this package knows which one runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from ..errors import StateError
from ..location import is_url
from .articles import article_row
from .copy import Copied, copy_state
from .mail_stores import DeliveryStore, IssueStore, NonceStore, SubscriberStore
from .postgres import PostgresStorage
from .schema import SCHEMA_VERSION
from .sqlite import SqliteStorage
from .stores import ArticleStore, FeedStore, LabelStore, MetaStore, PollStore, Store, TableStore

__all__ = [
    "SCHEMA_VERSION",
    "ArticleStore",
    "Copied",
    "DeliveryStore",
    "FeedStore",
    "IssueStore",
    "LabelStore",
    "MetaStore",
    "NonceStore",
    "PollStore",
    "Storage",
    "Store",
    "SubscriberStore",
    "TableStore",
    "article_row",
    "copy_state",
    "migrate_storage",
    "open_storage",
    "state_exists",
]


class Storage(
    ArticleStore,
    FeedStore,
    LabelStore,
    PollStore,
    MetaStore,
    SubscriberStore,
    NonceStore,
    IssueStore,
    DeliveryStore,
    TableStore,
    Protocol,
):
    """The whole state: every store at once. The facade holds it, and hands each job the
    stores it names."""


def state_exists(location: Path | str) -> bool:
    """Whether there is a state at `location` to read. A PostgreSQL database always counts:
    it is made by `feeder state migrate`, and opening it refuses one at the wrong schema."""
    return is_url(location) or Path(location).exists()


def open_storage(
    location: Path | str, tz: ZoneInfo, *, upgrade: bool | None = True, create: bool = True
) -> Storage:
    """Open the state at `location`: a SQLite file or a PostgreSQL URL.

    A SQLite file is created if missing, unless `create` is False: then StateError, since
    what only reads or rebuilds from the state would get an empty one and hide the problem.
    It is upgraded in place, unless `upgrade` is False (an out-of-date one is refused) or
    None (opened as it is, for `migrate` and as a copy's target). A PostgreSQL state is
    never upgraded on open, only by `feeder state migrate`; its schema is checked unless
    `upgrade` is None.
    """
    if not create and not state_exists(location):
        raise StateError(f"{location}: no state file (run `feeder poll` first)")
    if is_url(location):
        return PostgresStorage.open(str(location), tz, check=upgrade is not None)
    return SqliteStorage.open(Path(location), tz, upgrade=upgrade)


def migrate_storage(location: Path | str, tz: ZoneInfo) -> tuple[int, int]:
    """Bring the state's schema to this feeder's version: (the version before, after)."""
    with open_storage(location, tz, upgrade=None) as storage:
        return storage.migrate()

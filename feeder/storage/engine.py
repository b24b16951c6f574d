"""The two database engines behind one small connection surface, and the few SQL fragments
that differ between them.

The table modules write SQLite's SQL with `?` and `:name` placeholders. On PostgreSQL,
`PgConnection` translates those to psycopg's `%s` / `%(name)s` (escaping a literal `%`), so
one statement serves both engines; the handful that cannot be written once take their
differing part from the connection's `Dialect`.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import StateError

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

# The driver is imported only by a process that opens a PostgreSQL state: on SQLite it would
# cost every process (the CLI, each poll worker) about 10 MB and a tenth of a second. It is
# an extra (feeder[postgresql]), so a SQLite installation may not have it at all.
DRIVER_MISSING = "PostgreSQL's driver is not installed: pip install 'feeder[postgresql]'"


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL that is not the same on both engines."""

    name: str  # "sqlite" or "postgresql", for messages
    seq: str  # the deliveries column that orders the ledger (SQLite's rowid, a sequence on PG)
    begin: str  # opens a writing transaction
    tags_of: str  # one article's tags in rank order, comma-joined; `a` is the article
    errors: tuple[type[Exception], ...]  # what the driver raises

    def in_json(self, param: str) -> str:
        """`IN (…)` the text values of a JSON array given as parameter `:param`."""
        if self.name == "sqlite":
            return f"IN (SELECT value FROM json_each(:{param}))"
        return f"IN (SELECT jsonb_array_elements_text(CAST(:{param} AS jsonb)))"


SQLITE = Dialect(
    name="sqlite",
    seq="rowid",
    # IMMEDIATE: the write lock is taken now, so a transaction never fails half-way on it.
    begin="BEGIN IMMEDIATE",
    tags_of=(
        "(SELECT group_concat(tag, ',') FROM "
        "(SELECT tag FROM tags t WHERE t.article_id = a.id ORDER BY rank))"
    ),
    errors=(sqlite3.Error,),
)


@cache
def postgres() -> Dialect:
    """PostgreSQL's dialect (its errors are the driver's, so it loads the driver): the
    first thing a PostgreSQL state asks for, and a StateError naming the extra to install
    when the driver is missing."""
    try:
        import psycopg  # lazily: see the note on the driver above
        import psycopg_pool  # lazily: see the note on the driver above
    except ImportError:
        raise StateError(DRIVER_MISSING) from None

    return Dialect(
        name="postgresql",
        seq="seq",
        begin="BEGIN",
        tags_of=(
            "(SELECT string_agg(t.tag, ',' ORDER BY t.rank) FROM tags t WHERE t.article_id = a.id)"
        ),
        errors=(psycopg.Error, psycopg_pool.PoolTimeout),
    )


NO_LIMIT = 2**62  # a LIMIT that limits nothing, on both engines (SQLite's -1 is not PG's)


class SqliteConnection(sqlite3.Connection):
    """sqlite3's own connection, plus `stream` (a SQLite cursor already streams)."""

    def stream(self, sql: str, parameters: Any = ()) -> Iterator[Any]:
        return iter(self.execute(sql, parameters))


# A quoted literal (kept as it is), a `?`, a `:name` (not a `::` cast), or a bare `%`.
_TOKENS = re.compile(r"('(?:[^']|'')*')|(\?)|(?<![:\w]):([A-Za-z_]\w*)|(%)")


@lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """SQLite's placeholders as psycopg's: `?` → `%s`, `:name` → `%(name)s`, `%` → `%%`."""

    def replace(match: re.Match[str]) -> str:
        literal, question, name, percent = match.groups()
        if literal is not None:
            return literal.replace("%", "%%")
        if question is not None:
            return "%s"
        if name is not None:
            return f"%({name})s"
        assert percent is not None
        return "%%"

    return _TOKENS.sub(replace, sql)


# A portable schema step's column types, as PostgreSQL must read them to mean what SQLite
# does: TEXT sorted by code point (not by the database's locale), INTEGER 64-bit, REAL
# double. Upper-case type names only, so a column named `text` is left alone.
_DDL_TYPES = re.compile(r"('(?:[^']|'')*')|\bTEXT\b(?!\s+COLLATE)|\bINTEGER\b|\bREAL\b")
_PG_TYPES = {"TEXT": 'TEXT COLLATE "C"', "INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION"}


def pg_ddl(sql: str) -> str:
    """A schema step written for both engines, with PostgreSQL's equivalent column types."""
    return _DDL_TYPES.sub(lambda m: m[1] or _PG_TYPES[m[0]], sql)


def _plain(value: Any) -> Any:
    """A parameter as the database stores it: an enum by its value, as sqlite3 does."""
    return value.value if isinstance(value, Enum) else value


def _params(parameters: Any) -> Any:
    if isinstance(parameters, Mapping):
        return {key: _plain(value) for key, value in parameters.items()}
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        return [_plain(value) for value in parameters]
    return parameters


STREAM_ROWS = 500  # rows a streamed PostgreSQL query fetches at a time


class PgConnection:
    """A psycopg connection from a pool, speaking SQLite's placeholders. Autocommit: a
    transaction is an explicit BEGIN … COMMIT, as on SQLite."""

    def __init__(self, pool: psycopg_pool.ConnectionPool, timeout: float) -> None:
        import psycopg  # lazily: see the note on the driver above
        import psycopg_pool  # lazily: see the note on the driver above

        self._pool = pool
        try:
            self.raw: psycopg.Connection[Any] = pool.getconn(timeout=timeout)
        except psycopg_pool.PoolTimeout:
            # The pool only says it waited; one direct attempt says why (refused, no such
            # database, a password missing from $PGPASSWORD and ~/.pgpass, ...).
            try:
                psycopg.connect(str(pool.conninfo), connect_timeout=10).close()
            except psycopg.Error as exc:
                raise psycopg.OperationalError(str(exc).strip().splitlines()[0]) from None
            raise
        self._pool_closed = psycopg_pool.PoolClosed  # what close() meets after close_pools
        self._streams = 0
        self.portable_ddl = False  # while migrating: SQLite's column types as PG's (pg_ddl)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus  # lazily: see the note on the driver above

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Any = None, /) -> Any:  # a psycopg Cursor
        if parameters is None:  # psycopg reads no placeholders then
            return self.raw.execute(pg_ddl(sql) if self.portable_ddl else sql)
        return self.raw.execute(to_psycopg(sql), _params(parameters))

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> None:
        rows = [_params(row) for row in parameters]
        if rows:
            with self.raw.cursor() as cursor:
                cursor.executemany(to_psycopg(sql), rows)

    def stream(self, sql: str, parameters: Any = ()) -> Iterator[Any]:
        """Through a server-side cursor inside a transaction (one is opened for the read if
        none is), so a table of 100,000 articles is never held in memory at once."""
        self._streams += 1
        name = f"feeder_stream_{self._streams}"
        own = not self.in_transaction
        if own:
            self.raw.execute("BEGIN")
        try:
            with self.raw.cursor(name=name) as cursor:
                cursor.itersize = STREAM_ROWS
                cursor.execute(to_psycopg(sql), _params(parameters))
                yield from cursor
        finally:
            if own and self.in_transaction:
                self.raw.execute("COMMIT")

    def close(self) -> None:
        """Back to the pool; a transaction left open is rolled back there. A pool closed
        meanwhile (`close_pools`) no longer takes it: then the connection is closed."""
        try:
            self._pool.putconn(self.raw)
        except (ValueError, self._pool_closed):
            self.raw.close()


# The connection the table modules use: both speak execute / executemany / stream with
# SQLite's placeholders, and tell whether a transaction is open.
Connection = SqliteConnection | PgConnection

# The pool's own retries would print a warning each to stderr; the error that matters
# reaches the operator as one StateError line.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

_POOLS: dict[str, psycopg_pool.ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()
# Connections one process opens to one database at most: a send uses one per SMTP
# connection (smtp.connections, up to 64) and one more; idle ones close after 10 minutes.
POOL_SIZE = 72


def pool_for(url: str, timeout: float) -> psycopg_pool.ConnectionPool:
    """One pool per database per process: the web pages' requests and a send's connections
    borrow from it instead of logging in each time."""
    postgres()  # the driver, or the StateError that names its extra
    import psycopg  # lazily: see the note on the driver above
    import psycopg_pool  # lazily: see the note on the driver above

    with _POOLS_LOCK:
        pool = _POOLS.get(url)
        if pool is None:
            # One direct connection first: a server that is down or refuses us is one
            # error at once, not a pool retrying in the background until its timeout.
            psycopg.connect(url, connect_timeout=10).close()
            pool = psycopg_pool.ConnectionPool(
                url,
                min_size=0,
                max_size=POOL_SIZE,
                kwargs={"autocommit": True, "connect_timeout": 10},
                timeout=timeout,
                open=False,
                name="feeder",
            )
            pool.open(wait=False)
            _POOLS[url] = pool
        return pool


def close_pools() -> None:
    """Close every pool this process opened (a test between databases, or at exit)."""
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.close()
        _POOLS.clear()

"""Mailing a frozen issue's pending copies over several SMTP connections at once.

Each connection is a thread with its own SMTP session, its own connection to the state and
its own renderer. It logs in, claims a batch of pending rows (pending → sending, one
transaction), mails them one by one over the same session, and settles the batch (one
transaction). So a crash leaves at most one batch per connection in 'sending': in doubt,
listed by `feeder status`, never resent on its own. A batch is about a second of mail at
smtp.max_per_second, which keeps that number small at any rate, and the claims and
settlements few at a high one.

Just before each message the connection asks the state whether its recipient is still
active: an unsubscribe counts from the next message on, not from the next batch.

On a shared state (PostgreSQL, several daemons) a claim is a lease instead, and each row
moves to 'sending' just before its message (storage/postgres.py): a dead daemon's rows not
yet tried are claimed again by another once the lease expires.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ..config import Config
from ..model import Delivery, DeliveryStatus, IssueRecord
from ..storage import DeliveryStore, IssueStore, SubscriberStore
from ..storage.ledger import GONE
from .copies import Copies, Signer
from .message import sender
from .smtp import (
    Failure,
    FailureKind,
    Pacer,
    Session,
    SmtpFactory,
    deliver,
    open_session,
)

MAX_BATCH = 50  # rows a connection claims at once, at the highest rates
SOFT_LIMIT = 3  # consecutive issues with soft failures that make an address bounced
LEASE_POLL = 1.0  # seconds between looks at another daemon's claimed rows

Outcome = tuple[str, DeliveryStatus, str | None]  # (address, where its row goes, why)


class DispatchStore(DeliveryStore, SubscriberStore, IssueStore, Protocol):
    """What each of a send's connections uses: the ledger's claims and settlements, whether
    a recipient is still subscribed, and the frozen editions."""


def batch_size(per_second: float, connections: int) -> int:
    """Rows per claim: about one second of each connection's share of the rate."""
    return max(1, min(MAX_BATCH, int(per_second / connections)))


def settled_status(failure: Failure | None) -> DeliveryStatus:
    """Where a claimed row goes after one delivery attempt, retries included."""
    if failure is None:
        return DeliveryStatus.SENT
    if failure.kind is FailureKind.PERMANENT:
        return DeliveryStatus.FAILED
    if failure.kind is FailureKind.UNKNOWN:  # left in doubt, exactly as a crash here would be
        return DeliveryStatus.SENDING
    return DeliveryStatus.PENDING  # transient to the end, or fatal: the server never took it


@dataclass
class Result:
    """What the connections of one run did together."""

    sent: int = 0  # messages the server accepted
    unreachable: str | None = None  # why the server could not be reached, if that ended it
    fatal: Failure | None = None  # what refused the whole run (login, TLS, settings)
    error: BaseException | None = None  # anything else that ended a connection
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Dispatch:
    """One send run over a frozen issue: `connections` threads until no row is pending, the
    server is unreachable, a failure ends the run, or `stop` is set."""

    def __init__(
        self,
        connect_state: Callable[[], DispatchStore],
        config: Config,
        record: IssueRecord,
        secret: bytes,
        factory: SmtpFactory,
        *,
        signer: Signer | None,
        sleep: Callable[[float], None],
        stop: threading.Event | None,
    ) -> None:
        self._connect_state = connect_state
        self._config = config
        self._record = record
        self._secret = secret
        self._factory = factory
        self._signer = signer
        self._sleep = sleep
        self._stop = stop or threading.Event()
        self._halt = threading.Event()  # set when one connection's failure ends the run
        smtp = config.smtp
        self._pacer = Pacer(smtp.max_per_second, sleep)
        self._batch = batch_size(smtp.max_per_second, smtp.connections)
        # On a shared state, another daemon may take over a batch claimed this long ago.
        self._lease = timedelta(seconds=smtp.claim_seconds)
        self._from = sender(config).addr_spec
        self.result = Result()
        self._cursor = 0  # the seq of the last row this run looked at
        self._claiming = threading.Lock()  # one claim at a time moves the cursor
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()

    def run(self) -> Result:
        """Start one connection; each that claims a full batch starts another, up to
        smtp.connections. So a small list, a dead server or a refused login costs one login
        and one round of retries, not one per connection."""
        self._start()
        joined = 0
        while True:
            with self._threads_lock:
                if joined == len(self._threads):
                    return self.result
                thread = self._threads[joined]
            thread.join()
            joined += 1

    def _start(self) -> None:
        with self._threads_lock:
            if len(self._threads) < self._config.smtp.connections and not self._ended():
                thread = threading.Thread(
                    target=self._connection, name=f"feeder-smtp-{len(self._threads)}"
                )
                self._threads.append(thread)
                thread.start()

    def _ended(self) -> bool:
        return self._halt.is_set() or self._stop.is_set()

    def _connection(self) -> None:
        try:
            storage = self._connect_state()
        except BaseException as exc:
            self._end(error=exc)
            return
        session = Session(self._factory)
        try:
            copies = Copies(storage, self._config, self._record, self._secret, self._signer)
            while not self._ended():
                # Logged in before anything is claimed: a refused login or a server out of
                # reach leaves every row pending, none in doubt.
                failure = open_session(session, self._config.smtp, self._sleep)
                if failure is not None:
                    self._failed(failure)
                    return
                with self._claiming, storage.transaction():
                    # Forwards from where the last claim of this run stopped: a row put back
                    # to pending after a transient failure waits for the next run.
                    before = self._cursor
                    now = _utcnow()
                    batch, self._cursor = storage.claim_batch(
                        self._record.key, self._batch, now, after=before, expired=now - self._lease
                    )
                if not batch:
                    if self._cursor != before:
                        continue  # every row looked at was cancelled: claim the next ones
                    if not storage.leased_elsewhere(self._record.key):
                        return  # nothing pending is left for this run
                    # Another daemon sharing the state holds rows it has not tried yet:
                    # wait, and claim from the start again, so that if it died its rows
                    # are taken over once its claim expires and the issue still ends here.
                    if self._stop.wait(LEASE_POLL):
                        return
                    with self._claiming:
                        self._cursor = 0
                if len(batch) == self._batch:
                    self._start()  # there may be more: another connection can share it
                self._mail(batch, storage, copies, session)
        except BaseException as exc:
            self._end(error=exc)
        finally:
            session.close()
            storage.close()

    def _mail(
        self, batch: list[Delivery], storage: DispatchStore, copies: Copies, session: Session
    ) -> None:
        """Mail a claimed batch and settle it, whatever happens. Rows never tried go back to
        pending; only a row whose message may have left stays in doubt."""
        key, smtp = self._record.key, self._config.smtp
        outcomes: list[Outcome] = []
        in_flight: Delivery | None = None
        try:
            for row in batch:
                if self._ended():
                    break
                if not storage.is_subscribed(row.email):  # left since the batch was claimed
                    outcomes.append((row.email, DeliveryStatus.CANCELLED, GONE))
                    continue
                data = copies.message_bytes(row)
                if not storage.start_delivery(key, row.email, _utcnow()):
                    continue  # another run took it over when this run's claim expired
                in_flight = row
                failure = deliver(
                    session, self._pacer, self._from, row.email, data, smtp, self._sleep
                )
                in_flight = None
                outcomes.append(
                    (
                        row.email,
                        settled_status(failure),
                        None if failure is None else failure.detail,
                    )
                )
                if failure is None:
                    with self.result.lock:
                        self.result.sent += 1
                elif failure.kind is FailureKind.FATAL or failure.connection:
                    self._failed(failure)
                    break
        finally:
            settled = {email for email, _, _ in outcomes}
            untried: list[Outcome] = [
                (row.email, DeliveryStatus.PENDING, None)
                for row in batch
                if row.email not in settled and row is not in_flight
            ]
            with storage.transaction():
                storage.settle_batch(key, outcomes + untried, _utcnow(), SOFT_LIMIT)

    def _failed(self, failure: Failure) -> None:
        if failure.kind is FailureKind.FATAL:
            self._end(fatal=failure)
        else:
            self._end(unreachable=failure.detail)

    def _end(
        self,
        *,
        fatal: Failure | None = None,
        unreachable: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Record why this connection ended the run (the first reason of each kind wins) and
        stop the others after their message in flight."""
        with self.result.lock:
            result = self.result
            result.fatal = result.fatal or fatal
            result.unreachable = result.unreachable or unreachable
            result.error = result.error or error
        self._halt.set()


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)

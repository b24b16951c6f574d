"""The newsletter's store protocols: subscribers, the web forms' nonces, issues and the
deliveries of the ledger. storage/stores.py says how the store protocols are used."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from ..model import Delivery, DeliveryStatus, IssueRecord, IssueStatus, Subscriber, SubscriberStatus
from .stores import Store


class SubscriberStore(Store, Protocol):
    """The newsletter's subscribers: addresses, statuses and chosen sections."""

    def subscriber(self, email: str) -> Subscriber | None:
        """The subscriber with this address, or None."""
        ...

    def subscriber_by_ref(self, ref: str) -> Subscriber | None:
        """The subscriber whose signed links carry `ref`, or None."""
        ...

    def add_subscriber(
        self, email: str, name: str, status: SubscriberStatus, ref: str, now: datetime
    ) -> Subscriber:
        """A new row for `email`, choosing every section; the address must not be stored."""
        ...

    def set_status(self, email: str, status: SubscriberStatus, now: datetime) -> bool:
        """Move `email` to `status` (its `since` becomes now); False if it was there already."""
        ...

    def set_subscriber_name(self, email: str, name: str) -> None:
        """Give `email` this name."""
        ...

    def set_subscriber_tags(self, email: str, tags: tuple[str, ...] | None) -> None:
        """Choose the sections `email` gets: tag ids, or None for everything."""
        ...

    def mailed_at(self, email: str) -> datetime | None:
        """When `email` was last sent a confirmation or preferences mail."""
        ...

    def set_mailed_at(self, email: str, moment: datetime | None) -> None:
        """Note when `email` was last sent a confirmation or preferences mail (None: never)."""
        ...

    def forget_subscriber(self, email: str) -> bool:
        """Erase `email`: its row and its delivery history. False if nothing was stored."""
        ...

    def purge_pending(self, before: datetime) -> int:
        """Erase sign-ups whose last confirmation mail went before `before` and was never
        answered (nobody agreed to be kept on the list); how many."""
        ...

    def is_subscribed(self, email: str) -> bool:
        """Whether `email` gets mail now."""
        ...

    def subscriber_choices(self) -> dict[tuple[str, ...] | None, int]:
        """How many active subscribers chose each set of sections (None: everything)."""
        ...

    def subscriber_counts(self) -> dict[SubscriberStatus, int]:
        """How many addresses are in each status (every status named, 0 included)."""
        ...

    def mark_bounced(self, email: str, detail: str, now: datetime) -> bool:
        """An active address refused mail for good (a bounce report says so); False if it
        was not active."""
        ...

    def bounce_of(self, email: str) -> str | None:
        """Why `email` was marked bounced; None if it is not."""
        ...

    def reactivate(self, email: str, now: datetime) -> bool:
        """The operator's way back for a bounced address: active, its bounce and its count
        of soft failures cleared. False if it was not bounced."""
        ...

    def subscribers(
        self, status: SubscriberStatus | None = SubscriberStatus.ACTIVE
    ) -> list[Subscriber]:
        """Subscribers by address, of one status (default: the active ones) or of any."""
        ...


class NonceStore(Store, Protocol):
    """The web forms' spent nonces: each form is taken once."""

    def spend_nonce(self, nonce: str, now: datetime, forget_before: datetime) -> bool:
        """Record a form's nonce as used: False if it was used already (a replay). Nonces
        used before `forget_before` are dropped: their forms have expired anyway."""
        ...


class IssueStore(Store, Protocol):
    """The newsletter's issues: each week's frozen issue, its articles and its editions."""

    def issue_status(self, key: str) -> IssueStatus | None:
        """The issue's status; None if the week's issue was never frozen.

        SENT and SKIPPED are done; SENDING (a run in progress, or one that crashed) and
        PARTIAL (some recipients failed, deferred or in doubt) are not.
        """
        ...

    def issue_done(self, key: str) -> bool:
        """Nothing is left that a send run would do on its own: the issue was sent or skipped,
        or it is frozen and no recipient is pending (those left failed for good or in doubt
        wait for the operator: `feeder status`, `newsletter send --retry-unknown`)."""
        ...

    def issue_record(self, key: str) -> IssueRecord | None:
        """One issue with its frozen message and its ledger counts."""
        ...

    def recent_issues(self, limit: int = 10) -> list[IssueRecord]:
        """The newest issues first (by week)."""
        ...

    def sent_issues(self) -> list[IssueRecord]:
        """Every issue that went out, to everyone or to some (sent or partial), newest first."""
        ...

    def frozen_weeks(self) -> set[str]:
        """Every week whose issue content is fixed: sent, being sent, partial or skipped."""
        ...

    def issued_article_ids(self) -> set[str]:
        """Every article that some issue already carries."""
        ...

    def skip_issue(self, key: str, now: datetime) -> None:
        """Record that week `key` had nothing to send."""
        ...

    def freeze_issue(
        self,
        key: str,
        now: datetime,
        message: tuple[str, str, str],
        week_ids: Sequence[str],
        late_ids: Sequence[str],
        editions: Mapping[str, tuple[str, str, str]],
    ) -> None:
        """Fix an issue: its web version `message` (subject, html, text), its articles, the
        rendering of each edition, and its recipients: every active subscriber, with the
        edition of their sections (their tags, or '*' for everything), in one statement.

        Recipients are pending, except those whose edition is not in `editions` (none of
        their sections had an article): they are recorded as empty and never mailed. When
        another run froze the week first, nothing changes.
        """
        ...

    def edition(self, key: str, edition: str) -> tuple[str, str, str] | None:
        """One edition's frozen message (subject, html, text); None for an issue frozen
        before editions existed, whose recipients all get the issue's own message."""
        ...

    def issue_article_ids(self, key: str) -> list[str]:
        """The articles an issue carries, in the order it shows them."""
        ...

    def set_issue_status(self, key: str, status: IssueStatus, now: datetime) -> None:
        """Give the issue `status`, finished now."""
        ...

    def add_send_seconds(self, key: str, seconds: float) -> None:
        """Add one run's duration to the issue's total send time."""
        ...


class DeliveryStore(Store, Protocol):
    """The newsletter ledger's deliveries: one row per (issue, recipient), which moves
    pending → sending → sent or failed, each transition committed on its own, so that a
    crash leaves every row in the state it really reached."""

    def deliveries(self, key: str, status: DeliveryStatus | None = None) -> list[Delivery]:
        """An issue's ledger rows in the order they were created, optionally of one status."""
        ...

    def deliveries_in_doubt(self) -> list[Delivery]:
        """Rows left in SENDING: a run ended during their SMTP transaction, so whether the
        server took the message is unknown. Only `newsletter send --retry-unknown` resends
        them."""
        ...

    def claim_batch(
        self, key: str, limit: int, now: datetime, after: int = 0, expired: datetime | None = None
    ) -> tuple[list[Delivery], int]:
        """Claim up to `limit` pending rows after row `after` (a Delivery's seq), in ledger
        order, in the caller's transaction. Returns the claimed rows and the seq of the last
        row looked at (`after` if none), where the next claim starts.

        A row whose recipient is no longer active is cancelled instead, and not returned:
        whoever left before their batch was claimed is never mailed. A run claims forwards,
        so a row it put back to pending (a transient failure) waits for the next run.

        On one machine a claim moves its rows pending → sending. On a shared state it is a
        lease: the rows stay pending (each moves on its own in `start_delivery`), rows
        another run holds are skipped (two daemons claim disjoint batches at once), and a
        row leased before `expired` may be claimed again: its run died before trying it.
        """
        ...

    def leased_elsewhere(self, key: str) -> bool:
        """Whether another run (another daemon on a shared state) holds claimed rows of the
        issue that it has not tried yet; on one machine runs never overlap."""
        ...

    def start_delivery(self, key: str, email: str, now: datetime) -> bool:
        """Just before a claimed row's SMTP transaction. On a shared state the row moves to
        SENDING, committed at once (in doubt from now on); False if this run's lease expired
        and another run has taken the row over. On one machine the claim moved it already."""
        ...

    def settle_batch(
        self,
        key: str,
        outcomes: Sequence[tuple[str, DeliveryStatus, str | None]],
        now: datetime,
        soft_limit: int,
    ) -> None:
        """Settle claimed rows, each (address, status, detail), and what they say of each
        address: a permanent refusal (failed) marks it bounced; a row left pending with a
        detail (a transient failure to the end) counts one soft failure for this issue, and
        `soft_limit` consecutive issues of them mark it bounced; a sent one clears the count.
        Unsubscribed and erased addresses are left as they are. On a shared state, rows that
        another run took over after this run's lease expired are that run's to settle."""
        ...

    def delivery_counts(self, key: str) -> dict[DeliveryStatus, int]:
        """How many of an issue's ledger rows are in each status."""
        ...

    def problem_deliveries(self, key: str, limit: int) -> list[Delivery]:
        """The first `limit` rows that did not reach their recipient and say why: failed,
        in doubt, or pending after a failure."""
        ...

    def settle_delivery(
        self, key: str, email: str, status: DeliveryStatus, detail: str | None, now: datetime
    ) -> None:
        """Move a claimed row out of SENDING, to where its attempt left it."""
        ...

    def retry_in_doubt(self, key: str, now: datetime) -> int:
        """Put an issue's in-doubt rows back to pending, on the operator's word; how many."""
        ...

"""The subscribers table (addresses, statuses, chosen sections) and the web forms' spent
nonces. Addresses come in already normalised; tags as tuples of ids, None for everything."""

from __future__ import annotations

from datetime import datetime

from ..model import Subscriber, SubscriberStatus
from .base import Database, from_db_time, to_db_time

_COLUMNS = "email, name, status, tags, since, ref"


class Subscribers(Database):
    """The subscribers and form_nonces tables."""

    def subscriber(self, email: str) -> Subscriber | None:
        return self._one("email = :key", email)

    def subscriber_by_ref(self, ref: str) -> Subscriber | None:
        return self._one("ref = :key", ref)

    def _one(self, condition: str, key: str) -> Subscriber | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE {condition}", {"key": key}
        ).fetchone()
        return None if row is None else self._subscriber(row)

    def add_subscriber(
        self, email: str, name: str, status: SubscriberStatus, ref: str, now: datetime
    ) -> Subscriber:
        self.db.execute(
            """
            INSERT INTO subscribers (email, name, status, tags, since, ref)
            VALUES (:email, :name, :status, NULL, :now, :ref)
            """,
            {"email": email, "name": name, "status": status, "ref": ref, "now": to_db_time(now)},
        )
        subscriber = self.subscriber(email)
        assert subscriber is not None
        return subscriber

    def set_status(self, email: str, status: SubscriberStatus, now: datetime) -> bool:
        cursor = self.db.execute(
            """
            UPDATE subscribers SET status = :status, since = :now
            WHERE email = :email AND status != :status
            """,
            {"email": email, "status": status, "now": to_db_time(now)},
        )
        return cursor.rowcount > 0

    def set_subscriber_name(self, email: str, name: str) -> None:
        self.db.execute(
            "UPDATE subscribers SET name = :name WHERE email = :email",
            {"email": email, "name": name},
        )

    def set_subscriber_tags(self, email: str, tags: tuple[str, ...] | None) -> None:
        self.db.execute(
            "UPDATE subscribers SET tags = :tags WHERE email = :email",
            {"email": email, "tags": None if tags is None else " ".join(tags)},
        )

    def mailed_at(self, email: str) -> datetime | None:
        row = self.db.execute(
            "SELECT mailed_at FROM subscribers WHERE email = :email", {"email": email}
        ).fetchone()
        return None if row is None or row[0] is None else from_db_time(row[0], self.tz)

    def set_mailed_at(self, email: str, moment: datetime | None) -> None:
        self.db.execute(
            "UPDATE subscribers SET mailed_at = :moment WHERE email = :email",
            {"email": email, "moment": None if moment is None else to_db_time(moment)},
        )

    def forget_subscriber(self, email: str) -> bool:
        deliveries = self.db.execute(
            "DELETE FROM deliveries WHERE email = :email", {"email": email}
        )
        row = self.db.execute("DELETE FROM subscribers WHERE email = :email", {"email": email})
        return row.rowcount + deliveries.rowcount > 0

    def purge_pending(self, before: datetime) -> int:
        cursor = self.db.execute(
            """
            DELETE FROM subscribers
            WHERE status = 'pending' AND coalesce(mailed_at, since) < :before
            """,
            {"before": to_db_time(before)},
        )
        return cursor.rowcount

    def subscriber_choices(self) -> dict[tuple[str, ...] | None, int]:
        rows = self.db.execute(
            "SELECT tags, count(*) FROM subscribers WHERE status = 'active' GROUP BY tags"
        )
        return {_tags(tags): count for tags, count in rows}

    def subscriber_counts(self) -> dict[SubscriberStatus, int]:
        rows = dict(self.db.execute("SELECT status, count(*) FROM subscribers GROUP BY status"))
        return {status: rows.get(status.value, 0) for status in SubscriberStatus}

    def mark_bounced(self, email: str, detail: str, now: datetime) -> bool:
        cursor = self.db.execute(
            """
            UPDATE subscribers SET status = 'bounced', since = :now, bounce = :detail
            WHERE email = :email AND status = 'active'
            """,
            {"email": email, "detail": detail, "now": to_db_time(now)},
        )
        return cursor.rowcount > 0

    def bounce_of(self, email: str) -> str | None:
        row = self.db.execute(
            "SELECT bounce FROM subscribers WHERE email = :email AND status = 'bounced'",
            {"email": email},
        ).fetchone()
        return None if row is None else str(row[0] or "")

    def reactivate(self, email: str, now: datetime) -> bool:
        cursor = self.db.execute(
            """
            UPDATE subscribers SET status = 'active', since = :now, bounce = NULL,
                soft_failures = 0, soft_issue = NULL
            WHERE email = :email AND status = 'bounced'
            """,
            {"email": email, "now": to_db_time(now)},
        )
        return cursor.rowcount > 0

    def is_subscribed(self, email: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM subscribers WHERE email = :email AND status = 'active'",
            {"email": email},
        ).fetchone()
        return row is not None

    def subscribers(
        self, status: SubscriberStatus | None = SubscriberStatus.ACTIVE
    ) -> list[Subscriber]:
        rows = self.db.execute(
            f"""
            SELECT {_COLUMNS} FROM subscribers
            WHERE CAST(:status AS TEXT) IS NULL OR status = :status ORDER BY email
            """,
            {"status": status},
        )
        return [self._subscriber(row) for row in rows]

    def _subscriber(self, row: tuple[str, str, str, str | None, str, str]) -> Subscriber:
        email, name, status, tags, since, ref = row
        return Subscriber(
            email=email,
            name=name,
            status=SubscriberStatus(status),
            tags=_tags(tags),
            since=from_db_time(since, self.tz),
            ref=ref,
        )

    def spend_nonce(self, nonce: str, now: datetime, forget_before: datetime) -> bool:
        self.db.execute(
            "DELETE FROM form_nonces WHERE used_at < :before",
            {"before": to_db_time(forget_before)},
        )
        cursor = self.db.execute(
            "INSERT INTO form_nonces (nonce, used_at) VALUES (:nonce, :now) ON CONFLICT DO NOTHING",
            {"nonce": nonce, "now": to_db_time(now)},
        )
        return cursor.rowcount == 1


def _tags(stored: str | None) -> tuple[str, ...] | None:
    """A choice of sections as the table stores it (space-separated ids, NULL for all)."""
    return None if stored is None else tuple(stored.split())

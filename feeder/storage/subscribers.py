"""Newsletter subscribers: who receives the issues."""

from __future__ import annotations

from datetime import datetime

from ..model import Subscriber
from .base import Database, from_db_time, to_db_time


class Subscribers(Database):
    """The subscribers table. Addresses come in already normalised."""

    def add_subscriber(self, email: str, name: str, now: datetime) -> bool:
        """Subscribe `email` (already normalised); False if it was subscribed already.

        A non-empty `name` replaces the stored one; an unsubscribed address comes back.
        """
        row = self.db.execute(
            "SELECT removed_at FROM subscribers WHERE email = :email", {"email": email}
        ).fetchone()
        self.db.execute(
            """
            INSERT INTO subscribers (email, name, added_at, removed_at)
            VALUES (:email, :name, :now, NULL)
            ON CONFLICT (email) DO UPDATE SET
                name = CASE WHEN :name != '' THEN :name ELSE name END,
                added_at = CASE WHEN removed_at IS NULL THEN added_at ELSE :now END,
                removed_at = NULL
            """,
            {"email": email, "name": name, "now": to_db_time(now)},
        )
        return row is None or row[0] is not None

    def remove_subscriber(self, email: str, now: datetime) -> bool:
        """Unsubscribe `email`; False if it was not subscribed. The row stays for the ledger."""
        cursor = self.db.execute(
            "UPDATE subscribers SET removed_at = :now WHERE email = :email AND removed_at IS NULL",
            {"email": email, "now": to_db_time(now)},
        )
        return cursor.rowcount > 0

    def is_subscribed(self, email: str) -> bool:
        """Whether `email` (already normalised) is subscribed now."""
        row = self.db.execute(
            "SELECT 1 FROM subscribers WHERE email = :email AND removed_at IS NULL",
            {"email": email},
        ).fetchone()
        return row is not None

    def subscribers(self, include_removed: bool = False) -> list[Subscriber]:
        """Subscribers by address; the unsubscribed ones too if asked."""
        rows = self.db.execute(
            """
            SELECT email, name, added_at, removed_at FROM subscribers
            WHERE :everyone OR removed_at IS NULL ORDER BY email
            """,
            {"everyone": include_removed},
        )
        return [
            Subscriber(
                email=email,
                name=name,
                added_at=from_db_time(added_at, self.tz),
                removed_at=None if removed_at is None else from_db_time(removed_at, self.tz),
            )
            for email, name, added_at, removed_at in rows
        ]

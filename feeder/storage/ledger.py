"""The newsletter ledger: each week's frozen issue, the articles it carries, and one delivery
row per recipient that moves pending → sending → sent or failed.

Callers hold the transaction; each delivery transition is meant to be committed on its
own, so a crash leaves every row in the state it really reached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from ..model import Delivery, DeliveryStatus, IssueRecord, IssueStatus
from .base import Database, from_db_time, to_db_time
from .engine import NO_LIMIT

GONE = "no longer subscribed when its turn came"  # a cancelled row: unsubscribed or bounced


class Ledger(Database):
    """The issues, issue_articles, issue_editions and deliveries tables."""

    def issue_status(self, key: str) -> IssueStatus | None:
        row = self.db.execute("SELECT status FROM issues WHERE key = :key", {"key": key}).fetchone()
        return None if row is None else IssueStatus(row[0])

    def issue_done(self, key: str) -> bool:
        row = self.db.execute(
            """
            SELECT status IN ('sent', 'skipped') OR NOT EXISTS (
                SELECT 1 FROM deliveries d WHERE d.issue = i.key AND d.status = 'pending')
            FROM issues i WHERE key = :key
            """,
            {"key": key},
        ).fetchone()
        return row is not None and bool(row[0])

    def issue_record(self, key: str) -> IssueRecord | None:
        records = self._issue_records("WHERE key = :key", {"key": key, "limit": 1})
        return records[0] if records else None

    def recent_issues(self, limit: int = 10) -> list[IssueRecord]:
        return self._issue_records("", {"limit": limit})

    def sent_issues(self) -> list[IssueRecord]:
        return self._issue_records("WHERE status IN ('sent', 'partial')", {"limit": NO_LIMIT})

    def _issue_records(self, where: str, params: dict[str, object]) -> list[IssueRecord]:
        sql = f"""
            SELECT key, status, frozen_at, finished_at, articles, late, subject, html, text,
                   (SELECT count(*) FROM deliveries d WHERE d.issue = i.key),
                   (SELECT count(*) FROM deliveries d WHERE d.issue = i.key
                    AND d.status = 'sent'),
                   (SELECT count(*) FROM deliveries d WHERE d.issue = i.key
                    AND d.status = 'failed'),
                   (SELECT count(*) FROM deliveries d WHERE d.issue = i.key
                    AND d.status = 'sending'),
                   send_seconds
            FROM issues i {where} ORDER BY key DESC LIMIT :limit
        """
        return [
            IssueRecord(
                key=row[0],
                status=IssueStatus(row[1]),
                frozen_at=from_db_time(row[2], self.tz),
                finished_at=None if row[3] is None else from_db_time(row[3], self.tz),
                articles=row[4],
                late=row[5],
                subject=row[6] or "",
                html=row[7] or "",
                text=row[8] or "",
                recipients=row[9],
                sent=row[10],
                failed=row[11],
                in_doubt=row[12],
                send_seconds=row[13],
            )
            for row in self.db.execute(sql, params)
        ]

    def frozen_weeks(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT key FROM issues")}

    def issued_article_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT article_id FROM issue_articles")}

    def skip_issue(self, key: str, now: datetime) -> None:
        self.db.execute(
            """
            INSERT INTO issues (key, status, frozen_at, finished_at, articles, late)
            VALUES (:key, 'skipped', :now, :now, 0, 0) ON CONFLICT (key) DO NOTHING
            """,
            {"key": key, "now": to_db_time(now)},
        )

    def freeze_issue(
        self,
        key: str,
        now: datetime,
        message: tuple[str, str, str],
        week_ids: Sequence[str],
        late_ids: Sequence[str],
        editions: Mapping[str, tuple[str, str, str]],
    ) -> None:
        subject, html, text = message
        stamp = to_db_time(now)
        # Two daemons sharing a state may freeze the same week at once: the first wins, and
        # the other's insert waits for it, then does nothing (and neither does the rest).
        frozen = self.db.execute(
            """
            INSERT INTO issues (key, status, frozen_at, finished_at, articles, late,
                                subject, html, text)
            VALUES (:key, 'sending', :now, NULL, :articles, :late, :subject, :html, :text)
            ON CONFLICT (key) DO NOTHING
            """,
            {
                "key": key,
                "now": stamp,
                "articles": len(week_ids),
                "late": len(late_ids),
                "subject": subject,
                "html": html,
                "text": text,
            },
        )
        if frozen.rowcount == 0:
            return
        self.db.executemany(
            """
            INSERT INTO issue_articles (issue, article_id, late, position)
            VALUES (:key, :id, :late, :position)
            """,
            [
                {"key": key, "id": ident, "late": int(late), "position": position}
                for position, (ident, late) in enumerate(
                    [(i, False) for i in week_ids] + [(i, True) for i in late_ids]
                )
            ],
        )
        self.db.executemany(
            """
            INSERT INTO issue_editions (issue, edition, subject, html, text)
            VALUES (:key, :edition, :subject, :html, :text)
            """,
            [
                {"key": key, "edition": edition, "subject": s, "html": h, "text": t}
                for edition, (s, h, t) in editions.items()
            ],
        )
        self.db.execute(
            f"""
            INSERT INTO deliveries (issue, email, status, attempts, updated_at, detail, edition)
            SELECT :key, email, CASE WHEN mailed THEN 'pending' ELSE 'empty' END, 0, :now,
                   CASE WHEN mailed THEN NULL ELSE 'nothing in their sections' END, edition
            FROM (SELECT email, coalesce(tags, '*') AS edition,
                         coalesce(tags, '*') {self.dialect.in_json("editions")} AS mailed
                  FROM subscribers WHERE status = 'active' ORDER BY email) AS recipients
            """,
            {"key": key, "now": stamp, "editions": json.dumps(list(editions))},
        )

    def edition(self, key: str, edition: str) -> tuple[str, str, str] | None:
        row = self.db.execute(
            """
            SELECT subject, html, text FROM issue_editions
            WHERE issue = :key AND edition = :edition
            """,
            {"key": key, "edition": edition},
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def issue_article_ids(self, key: str) -> list[str]:
        rows = self.db.execute(
            "SELECT article_id FROM issue_articles WHERE issue = :key ORDER BY position",
            {"key": key},
        )
        return [row[0] for row in rows]

    def set_issue_status(self, key: str, status: IssueStatus, now: datetime) -> None:
        self.db.execute(
            "UPDATE issues SET status = :status, finished_at = :now WHERE key = :key",
            {"key": key, "status": status, "now": to_db_time(now)},
        )

    def deliveries(self, key: str, status: DeliveryStatus | None = None) -> list[Delivery]:
        return self._deliveries(
            "d.issue = :key AND (CAST(:status AS TEXT) IS NULL OR d.status = :status)",
            {"key": key, "status": status},
        )

    def deliveries_in_doubt(self) -> list[Delivery]:
        return self._deliveries("d.status = 'sending'", {})

    def _deliveries(
        self, condition: str, params: dict[str, object], limit: int = NO_LIMIT
    ) -> list[Delivery]:
        seq = f"d.{self.dialect.seq}"
        sql = f"""
            SELECT d.issue, d.email, coalesce(s.name, ''),
                   CASE WHEN s.status = 'active' THEN 1 ELSE 0 END,
                   d.status, d.attempts, d.updated_at, d.detail, d.edition, coalesce(s.ref, ''),
                   {seq}
            FROM deliveries d LEFT JOIN subscribers s ON s.email = d.email
            WHERE {condition.replace("d.seq", seq)} ORDER BY d.issue, {seq} LIMIT {int(limit)}
        """
        return [
            Delivery(
                issue=row[0],
                email=row[1],
                name=row[2],
                subscribed=bool(row[3]),
                status=DeliveryStatus(row[4]),
                attempts=row[5],
                updated_at=from_db_time(row[6], self.tz),
                detail=row[7],
                edition=row[8],
                ref=row[9],
                seq=row[10],
            )
            for row in self.db.execute(sql, params)
        ]

    def claim_batch(
        self, key: str, limit: int, now: datetime, after: int = 0, expired: datetime | None = None
    ) -> tuple[list[Delivery], int]:
        rows = self._deliveries(
            "d.issue = :key AND d.status = 'pending' AND d.seq > :after",
            {"key": key, "after": after},
            limit=limit,
        )
        stamp = to_db_time(now)
        self.db.executemany(
            """
            UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = :now
            WHERE issue = :key AND email = :email AND status = 'pending'
            """,
            [{"key": key, "email": r.email, "now": stamp} for r in rows if r.subscribed],
        )
        self._cancel_departed(key, rows, stamp)
        return [r for r in rows if r.subscribed], (rows[-1].seq if rows else after)

    def _cancel_departed(self, key: str, rows: Sequence[Delivery], stamp: str) -> None:
        """Cancel the claimed rows whose recipient is no longer active: never mailed."""
        self.db.executemany(
            """
            UPDATE deliveries SET status = 'cancelled', detail = :detail, updated_at = :now
            WHERE issue = :key AND email = :email AND status = 'pending'
            """,
            [
                {"key": key, "email": r.email, "now": stamp, "detail": GONE}
                for r in rows
                if not r.subscribed
            ],
        )

    def leased_elsewhere(self, key: str) -> bool:
        return False

    def start_delivery(self, key: str, email: str, now: datetime) -> bool:
        return True

    def settle_delivery(
        self, key: str, email: str, status: DeliveryStatus, detail: str | None, now: datetime
    ) -> None:
        self.db.execute(
            """
            UPDATE deliveries SET status = :status, detail = :detail, updated_at = :now
            WHERE issue = :key AND email = :email
            """,
            {
                "key": key,
                "email": email,
                "status": status,
                "detail": detail,
                "now": to_db_time(now),
            },
        )

    def settle_batch(
        self,
        key: str,
        outcomes: Sequence[tuple[str, DeliveryStatus, str | None]],
        now: datetime,
        soft_limit: int,
    ) -> None:
        stamp = to_db_time(now)
        rows = [
            {"key": key, "email": email, "status": status, "detail": detail, "now": stamp}
            for email, status, detail in outcomes
        ]
        self.db.executemany(
            """
            UPDATE deliveries SET status = :status, detail = :detail, updated_at = :now,
                claimed_at = NULL, claimed_by = NULL
            WHERE issue = :key AND email = :email
            """,
            rows,
        )
        sent = [r for r in rows if r["status"] == DeliveryStatus.SENT]
        failed = [r for r in rows if r["status"] == DeliveryStatus.FAILED]
        soft = [r for r in rows if r["status"] == DeliveryStatus.PENDING and r["detail"]]
        self.db.executemany(
            """
            UPDATE subscribers SET soft_failures = 0, soft_issue = NULL
            WHERE email = :email AND soft_failures > 0
            """,
            sent,
        )
        self.db.executemany(
            """
            UPDATE subscribers SET soft_failures = soft_failures + 1, soft_issue = :key
            WHERE email = :email AND coalesce(soft_issue, '') != :key
            """,
            soft,
        )
        self.db.executemany(
            """
            UPDATE subscribers SET status = 'bounced', since = :now, bounce = :detail
            WHERE email = :email AND status = 'active'
            """,
            failed,
        )
        self.db.executemany(
            """
            UPDATE subscribers SET status = 'bounced', since = :now,
                bounce = 'soft failures in ' || soft_failures || ' issues in a row: ' || :detail
            WHERE email = :email AND status = 'active' AND soft_failures >= :limit
            """,
            [{**r, "limit": soft_limit} for r in soft],
        )

    def delivery_counts(self, key: str) -> dict[DeliveryStatus, int]:
        rows = self.db.execute(
            "SELECT status, count(*) FROM deliveries WHERE issue = :key GROUP BY status",
            {"key": key},
        )
        return {DeliveryStatus(status): count for status, count in rows}

    def problem_deliveries(self, key: str, limit: int) -> list[Delivery]:
        return self._deliveries(
            """
            d.issue = :key AND (d.status IN ('failed', 'sending')
                                OR (d.status = 'pending' AND d.detail IS NOT NULL))
            """,
            {"key": key},
            limit=limit,
        )

    def add_send_seconds(self, key: str, seconds: float) -> None:
        self.db.execute(
            "UPDATE issues SET send_seconds = send_seconds + :seconds WHERE key = :key",
            {"key": key, "seconds": seconds},
        )

    def retry_in_doubt(self, key: str, now: datetime) -> int:
        cursor = self.db.execute(
            """
            UPDATE deliveries SET status = 'pending', updated_at = :now,
                claimed_at = NULL, claimed_by = NULL
            WHERE issue = :key AND status = 'sending'
            """,
            {"key": key, "now": to_db_time(now)},
        )
        return cursor.rowcount

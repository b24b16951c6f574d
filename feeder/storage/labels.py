"""People's verdicts on articles' tags: what `feeder label` records and every build obeys."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import Correction
from .base import Database, from_db_time, to_db_time

_COLUMNS = "article_id, primary_tag, also, labelled_at"


class Labels(Database):
    """The labels table."""

    def put_label(self, correction: Correction) -> None:
        self.db.execute(
            f"INSERT INTO labels ({_COLUMNS}) VALUES (:id, :primary, :also, :at) "
            "ON CONFLICT (article_id) DO UPDATE SET primary_tag = excluded.primary_tag, "
            "also = excluded.also, labelled_at = excluded.labelled_at",
            {
                "id": correction.article_id,
                "primary": correction.primary,
                "also": " ".join(correction.also),
                "at": to_db_time(correction.labelled_at),
            },
        )

    def labels(self) -> list[Correction]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM labels ORDER BY article_id")
        return [self._correction(row) for row in rows]

    def _correction(self, row: Sequence[object]) -> Correction:
        article_id, primary, also, labelled_at = row
        return Correction(
            article_id=str(article_id),
            primary=None if primary is None else str(primary),
            also=tuple(str(also).split()),
            labelled_at=from_db_time(str(labelled_at), self.tz),
        )

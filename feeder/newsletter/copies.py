"""Each recipient's copy of a frozen issue: their edition, rendered once per run and
personalised per message with their signed links, dated when the issue was frozen (so a
copy sent again is the same bytes), and signed if DKIM is configured."""

from __future__ import annotations

from typing import Protocol

from ..config import Config
from ..model import Delivery, IssueRecord
from ..site import page_url
from ..storage import IssueStore
from ..tokens import Purpose, mint
from .message import Recipient, Skeleton
from .render import Rendered


class Signer(Protocol):
    """What signs a message's bytes (newsletter/dkim.py): the same bytes with a signature."""

    def sign(self, data: bytes) -> bytes: ...


class Copies:
    """The copies of one frozen issue, for one connection to the state."""

    def __init__(
        self,
        storage: IssueStore,
        config: Config,
        record: IssueRecord,
        secret: bytes,
        signer: Signer | None = None,
    ) -> None:
        self._storage = storage
        self._config = config
        self._record = record
        self._secret = secret
        self._signer = signer
        self._editions: dict[str, tuple[Rendered, Skeleton]] = {}

    def message_bytes(self, row: Delivery) -> bytes:
        """The copy for a ledger row, as mailed: CRLF, ASCII, signed if configured."""
        config = self._config
        preferences = mint(self._secret, Purpose.PREFERENCES, row.ref)
        unsubscribe = mint(self._secret, Purpose.UNSUBSCRIBE, row.ref)
        rendered, skeleton = self._edition(row.edition)
        data = skeleton.copy(
            rendered.personalise(preferences, unsubscribe),
            Recipient(row.email, row.name),
            page_url(config.output.base_url, Purpose.UNSUBSCRIBE, unsubscribe),
        )
        return data if self._signer is None else self._signer.sign(data)

    def _edition(self, edition: str) -> tuple[Rendered, Skeleton]:
        if edition not in self._editions:
            # An issue frozen before editions existed mails its one message to everyone.
            record = self._record
            frozen = self._storage.edition(record.key, edition)
            rendered = Rendered(*(frozen or (record.subject, record.html, record.text)))
            skeleton = Skeleton(rendered, record.key, self._config, record.frozen_at)
            self._editions[edition] = (rendered, skeleton)
        return self._editions[edition]

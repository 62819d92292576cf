"""What a reader yields for each input record: a ``Document`` or a ``Quarantine``.

The two are told apart by type, so no consumer has to guess from a dict's keys. A document
stays a plain dict with the keys of ``schemas.DOCUMENT_SCHEMA``: that is the Beam element
format downstream (``(chunk_key, [doc, ...])``), and a wrapper object per document would
cost time and change what the coders write.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict

from pipelines.stage.accounting import quarantine_record


class Document(TypedDict):
    """One document, as every stage passes it on (``schemas.DOCUMENT_SCHEMA``)."""

    id: str
    text: str
    source: str
    url: str | None
    lang: str | None
    lang_score: float | None
    meta: dict[str, Any]


class Quarantined(Exception):
    """Raised while turning a record into a document: it cannot become one, and why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Quarantine(NamedTuple):
    """A record refused by a reader: enough to find the bad bytes again and to see why."""

    stage: str
    path: str
    offset: int | None
    reason: str
    error: str
    sample: str | None

    @classmethod
    def of(
        cls, stage: str, path: str, offset: int | None, exc: Quarantined, sample: Any = None
    ) -> Quarantine:
        """Built by ``quarantine_record``, so its fields are cut and made text-safe like every stage's."""
        return cls(**quarantine_record(stage, path, offset, exc.reason, str(exc), sample))

    def as_record(self) -> dict[str, Any]:
        """The quarantine record as written to ``quarantine/`` (same keys, same order)."""
        return self._asdict()


Record = Document | Quarantine

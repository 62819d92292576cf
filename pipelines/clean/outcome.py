"""``Outcome``: what cleaning did to one document's bytes, and the measures its rules read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass
class Outcome:
    """Byte accounting for one document: every byte a step takes from a kept document is
    counted against the step's rule, so ``bytes_in == bytes_out + sum(removed)``."""

    bytes_in: int = 0  # the document as read (raw HTML for pages)
    basis: int = 0  # its text: after HTML extraction, before any rule
    bytes_out: int = 0
    lang: str | None = None  # as identified (dropped documents keep theirs in the record)
    removed: Counter = field(default_factory=Counter)  # rule -> UTF-8 bytes removed
    changes: Counter = field(default_factory=Counter)  # conversion -> characters changed
    scores: dict[str, Any] = field(default_factory=dict)

    def remove(self, rule: str, n: int) -> None:
        if n > 0:
            self.removed[rule] += n

    def changed(self, rule: str, before: str, after: str) -> str:
        """``after``; the bytes a rewrite took away are counted against ``rule``."""
        if after is not before:
            self.remove(rule, utf8_len(before) - utf8_len(after))
        return after

    def lost_fraction(self) -> float:
        """Share of the document's text (after extraction) that rules removed."""
        lost = sum(n for rule, n in self.removed.items() if rule != "html_markup")
        return lost / self.basis if self.basis else 0.0

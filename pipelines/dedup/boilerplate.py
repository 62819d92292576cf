"""C4-style boilerplate lines: lines that recur in many documents are kept only once.

A line (stripped, at least ``min_chars`` long) that appears in at least ``min_docs``
documents is boilerplate: navigation, cookie notices, licence headers. It stays in the
document with the smallest id (so the text survives once, deterministically) and is
removed everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.hashing import stable_hash64


def line_hashes(text: str, min_chars: int) -> Iterator[tuple[int, str]]:
    """(hash, line) for each distinct line of the text long enough to be considered."""
    seen: set[int] = set()
    for raw in text.split("\n"):
        line = raw.strip()
        if len(line) < min_chars:
            continue
        h = stable_hash64(line)
        if h not in seen:
            seen.add(h)
            yield h, line


def remove_boilerplate(text: str, doc_id: str, keepers: dict[int, str], min_chars: int) -> tuple[str, int]:
    """Drop boilerplate lines from ``text`` unless this document keeps them; (text, lines removed)."""
    if not keepers:
        return text, 0
    out, removed = [], 0
    for raw in text.split("\n"):
        line = raw.strip()
        if len(line) >= min_chars:
            keeper = keepers.get(stable_hash64(line))
            if keeper is not None and keeper != doc_id:
                removed += 1
                continue
        out.append(raw)
    if not removed:
        return text, 0
    return "\n".join(out).strip(), removed


class LineStats:
    """Combine (count, smallest doc id, line text) per line hash."""

    @staticmethod
    def merge(a: tuple[int, str, str], b: tuple[int, str, str]) -> tuple[int, str, str]:
        first = a if a[1] <= b[1] else b
        return a[0] + b[0], first[1], first[2]

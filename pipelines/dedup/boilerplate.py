"""C4-style boilerplate lines: lines that recur in many documents are kept only once.

A line (stripped, at least ``min_chars`` long) that appears in at least ``min_docs``
documents is boilerplate: navigation, cookie notices, site headers and footers. It stays
in one document -- the one whose id has the smallest stable hash, so the choice does not
depend on the runner or the worker count -- and is removed elsewhere. With
``scope="edges"`` (the default) only the runs of such lines at a document's start and
end go: that is where headers, navigation and footers sit, while the same line in the
middle of a text (a repeated section title, a licence sentence quoted in a README, a
standard notice inside a man page) is part of that text. ``scope="anywhere"`` removes
them wherever they are, as C4 did.

Only (line hash, document hash) pairs are shuffled, in numpy batches per shard; the
decision (frequent line hash -> keeper, count) is small and goes to the documents as a
side input.
"""

from __future__ import annotations

import numpy as np

from lmcore.hashing import stable_hash64
from pipelines.dedup.records import FrequentLines, KeptLine, LineRows


def doc_uid(doc_id: str) -> int:
    """The 64-bit stable hash that stands for a document id in every shuffle."""
    return stable_hash64(doc_id)


def line_hashes(text: str, min_chars: int) -> list[int]:
    """Distinct hashes of the text's lines long enough to be considered."""
    return list({stable_hash64(line) for raw in text.split("\n") if len(line := raw.strip()) >= min_chars})


def chunk_line_batches(docs: list[dict], min_chars: int, shards: int) -> list[tuple[int, LineRows]]:
    """(shard, LineRows) numpy batches for a chunk, one per non-empty shard."""
    hs: list[int] = []
    us: list[int] = []
    cs: list[int] = []
    for doc in docs:
        lines = line_hashes(doc["text"], min_chars)
        hs += lines
        us += [doc_uid(doc["id"])] * len(lines)
        cs += [stable_hash64(doc["text"])] * len(lines)
    batches = split_by_shard(
        np.array(hs, np.uint64), shards, np.array(us, np.uint64), np.array(cs, np.uint64)
    )
    return [(shard, LineRows(*cols)) for shard, cols in batches]


def split_by_shard(keys: np.ndarray, shards: int, *columns: np.ndarray) -> list[tuple[int, tuple]]:
    """Group rows by ``key % shards``: [(shard, (keys, *columns)), ...] for non-empty shards."""
    if not len(keys):
        return []
    shard = keys % np.uint64(shards)
    order = np.argsort(shard, kind="stable")
    shard_sorted = shard[order]
    cuts = np.flatnonzero(np.diff(shard_sorted)) + 1
    out = []
    for idx in np.split(order, cuts):
        out.append((int(shard[idx[0]]), (keys[idx], *(c[idx] for c in columns))))
    return out


def frequent_lines(batches: list[LineRows], min_docs: int) -> FrequentLines:
    """The lines found in >= ``min_docs`` documents, each with its keeper (smallest uid).

    Documents are counted by distinct text, so exact copies of one page (left for the exact
    pass to remove) do not turn all its lines into boilerplate.
    """
    if not batches:
        empty = np.zeros(0, np.uint64)
        return FrequentLines(empty, empty, np.zeros(0, np.int64))
    h, u, c = (np.concatenate([getattr(b, col) for b in batches]) for col in LineRows._fields)
    order = np.lexsort((u, c, h))
    h, u, c = h[order], u[order], c[order]
    starts = np.flatnonzero(np.concatenate(([True], h[1:] != h[:-1])))
    new_text = np.concatenate(([True], (h[1:] != h[:-1]) | (c[1:] != c[:-1])))
    counts = np.add.reduceat(new_text.astype(np.int64), starts)
    keepers = np.minimum.reduceat(u, starts)
    keep = counts >= min_docs
    return FrequentLines(h[starts][keep], keepers[keep], counts[keep])


def remove_boilerplate(
    text: str, uid: int, keepers: dict[int, tuple[int, int]], min_chars: int, scope: str = "edges"
) -> tuple[str, int, list[KeptLine]]:
    """Drop boilerplate lines unless this document keeps them.

    ``keepers``: line hash -> (keeper uid, document count). Returns (new text, lines removed,
    the lines this document keeps).
    With ``scope="edges"`` only lines in the leading and trailing runs of boilerplate go
    (blank and short lines inside a run neither end it nor are removed).
    """
    if not keepers:
        return text, 0, []
    raw = text.split("\n")
    hits: list[tuple[int, int] | None] = []
    kept_here: dict[str, int] = {}
    for line in raw:
        s = line.strip()
        hit = keepers.get(stable_hash64(s)) if len(s) >= min_chars else None
        hits.append(hit)
        if hit is not None and hit[0] == uid:
            kept_here[s] = hit[1]
    kept_lines = [KeptLine(n, line) for line, n in kept_here.items()]
    removable = [h is not None and h[0] != uid for h in hits]
    if scope == "edges":
        removable = _edge_runs(raw, hits, removable, min_chars)
    removed = sum(removable)
    if not removed:
        return text, 0, kept_lines
    out = [line for line, gone in zip(raw, removable, strict=True) if not gone]
    return "\n".join(out).strip("\n"), removed, kept_lines


def _edge_runs(raw: list[str], hits: list, removable: list[bool], min_chars: int) -> list[bool]:
    """Only the removable lines of the leading and trailing runs of boilerplate lines."""
    keep = [False] * len(raw)

    def walk(indices: range) -> None:
        for i in indices:
            if hits[i] is not None:
                keep[i] = removable[i]
            elif raw[i].strip() and len(raw[i].strip()) >= min_chars:
                return  # the first line of real content ends the run

    walk(range(len(raw)))
    walk(range(len(raw) - 1, -1, -1))
    return keep

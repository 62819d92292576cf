"""Clusters from duplicate edges, and which document of each cluster stays.

Pure functions: a union-find over (a, b) edges, then one representative per component.
Earlier runs' documents (from the persisted index) always win, so a new version never
removes what an old version kept; otherwise the smallest id wins, which makes the
choice independent of runner, worker count and arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable


def components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """node -> root of its connected component (any root; use ``clusters`` for the members)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
        parent.setdefault(a, a)
        parent.setdefault(b, b)
    return {x: find(x) for x in parent}


def clusters(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components with at least two members, each sorted, in sorted order."""
    groups: dict[str, list[str]] = {}
    for node, root in components(edges).items():
        groups.setdefault(root, []).append(node)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def removals(
    edges: Iterable[tuple[str, str]], old_ids: set[str], exact_hash: dict[str, int]
) -> dict[str, tuple[str, str]]:
    """removed new doc id -> (representative id, "exact" | "fuzzy")."""
    out: dict[str, tuple[str, str]] = {}
    for members in clusters(edges):
        old = [m for m in members if m in old_ids]
        rep = old[0] if old else members[0]
        for m in members:
            if m == rep or m in old_ids:
                continue
            same = exact_hash.get(m) is not None and exact_hash.get(m) == exact_hash.get(rep)
            out[m] = (rep, "exact" if same else "fuzzy")
    return out

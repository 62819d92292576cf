"""Inputs for the ``prepare_task --task=pairs`` tests: good English -> Chinese pairs plus one
record for each way a record can go elsewhere, with the bucket each one must end in."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from lmcore.text import normalize_text

NUM_GOOD = 80


def good_pairs(source_field: str = "source", target_field: str = "target") -> list[dict]:
    """``NUM_GOOD`` distinct pairs (distinct sources), ids p000..."""
    return [
        {"id": f"p{i:03d}", source_field: f"Open file number {i}", target_field: f"打开第 {i} 个文件"}
        for i in range(NUM_GOOD)
    ]


def write_pairs_inputs(
    root: Path, source_field: str = "source", target_field: str = "target"
) -> tuple[Counter, dict[str, str]]:
    """Write ``root/a.jsonl`` and ``root/b.csv``; return the expected flat counts and, for the
    kept records, id -> normalised (source, target) joined by a tab."""
    s, t = source_field, target_field
    lines = good_pairs(s, t)
    lines += [
        {"id": "z-dup", s: "Open file number 0  ", t: "打开第 0 个文件\u200b"},  # same pair once normalised
        {"id": "z-alt", s: "Open file number 1", t: "打开文件 1"},  # a second target for p001's source
        {"id": "z-notarget", s: "Save the changes"},
        {"id": "z-nulltarget", s: "Close window", t: None},
        {"id": "z-emptysource", s: " \u200b ", t: "空"},
        {"id": "z-emptytarget", s: "Quit", t: "  "},
        {"id": "z-intsource", s: 5, t: "五"},
        {"id": "z-listtarget", s: "Five", t: ["五"]},
        {"id": "z-nosource", t: "没有原文"},
        {"id": "z-long", s: "Short source", t: "很长 " * 300},
    ]
    body = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n{not json\n"
    (root / "a.jsonl").write_text(body, encoding="utf-8")
    csv = f'id,{s},{t}\nc1,"Print, then close",打印后关闭\nc2,one,field,too,many\n'
    (root / "b.csv").write_text(csv, encoding="utf-8")
    expected = Counter(
        {
            "input": len(lines) + 1 + 2,
            "kept": NUM_GOOD + 2,  # + z-alt + c1
            "duplicates/exact": 1,
            "quarantined/missing_target": 2,
            "quarantined/empty_source": 1,
            "quarantined/empty_target": 1,
            "quarantined/bad_source": 1,
            "quarantined/bad_target": 1,
            "quarantined/missing_source": 1,
            "quarantined/too_long": 1,
            "quarantined/bad_json": 1,
            "quarantined/bad_row": 1,
        }
    )
    kept = {r["id"]: (r[s], r[t]) for r in lines[:NUM_GOOD]}
    kept["z-alt"] = (lines[NUM_GOOD + 1][s], lines[NUM_GOOD + 1][t])
    kept["c1"] = ("Print, then close", "打印后关闭")
    return expected, {k: normalize_text(a) + "\t" + normalize_text(b) for k, (a, b) in kept.items()}


def flat_counts(counts: dict) -> Counter:
    """A ``stats.json`` counts object as flat ``bucket/reason`` keys."""
    flat = Counter({"input": counts["input"], "kept": counts["kept"]})
    for bucket in ("dropped", "duplicates", "quarantined"):
        for reason, n in counts.get(bucket, {}).items():
            flat[f"{bucket}/{reason}"] = n
    return flat

"""The clean rules' registry: what each rule declares holds, and one list drives the cleaner and what-if."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pipelines.clean import cleaner as cleaner_module
from pipelines.clean import whatif
from pipelines.clean.config import CleanConfig
from pipelines.clean.filters import registry
from pipelines.clean.filters.rule import Page, Rule, has
from pipelines.clean.outcome import Outcome, utf8_len
from pipelines.clean.presets import PRESET_NAMES, PRESETS
from pipelines.clean.thresholds import Thresholds, load_thresholds

REAL = Path(__file__).parent / "data" / "realtext"
# what the cleaner itself (not a registered rule) drops for, and the measures it keeps
CLEANER_DROPS = {"empty", "html_extraction_failed", "html_too_deep", "html_too_complex"}
CLEANER_KEYS = {"lang_score", "preset", "bytes_in", "retained"}
CLEANER_REMOVES = {"html_markup", "normalize", "zh_t2s", "fullwidth_ascii", "pii_mask"}


def declared(names: set[str], patterns: set[str]) -> bool:
    """Every name is one of ``patterns`` (``{n}`` stands for an n-gram size)."""
    rx = re.compile("|".join(re.escape(p).replace(re.escape("{n}"), r"\d+") for p in patterns))
    return all(rx.fullmatch(n) for n in names)


def real_docs() -> list[dict]:
    docs = []
    for path in sorted(REAL.iterdir()):
        if path.suffix in (".md",):
            continue
        meta = {"content_type": "text/html"} if path.suffix == ".html" else {}
        docs.append(
            {"id": path.name, "text": path.read_text(encoding="utf-8"), "source": "real", "meta": meta}
        )
    return docs


def test_rules_declare_known_thresholds_switches_and_presets():
    fields = {f.name for f in dataclasses.fields(Thresholds)}
    switches = {f.name for f in dataclasses.fields(CleanConfig) if f.type in (bool, "bool")}
    names = [r.name for r in registry.RULES]
    assert len(names) == len(set(names))
    drops = [d for r in registry.RULES for d in r.drops]
    assert len(drops) == len(set(drops)), "a drop reason belongs to one rule"
    for rule in registry.RULES:
        assert set(rule.thresholds) <= fields, rule.name
        assert rule.switch is None or rule.switch in switches, rule.name
        assert rule.presets and rule.presets <= set(PRESET_NAMES), rule.name
        assert set(rule.needs) <= {"logical", "view"}, rule.name
        assert registry.rule(rule.name) is rule
    with pytest.raises(KeyError, match="no clean rule"):
        registry.rule("nope")


def test_registry_order_is_cheap_first():
    assert [r.name for r in registry.RULES] == [
        "length", "language_allowed", "language_score", "c4_page", "c4_lines", "c4_sentences",
        "markup_leakage", "gopher_quality", "gopher_repetition", "fineweb",
    ]  # fmt: skip


def test_a_rule_must_do_something():
    with pytest.raises(ValueError, match="neither"):
        Rule(name="idle", family="idle")
    with pytest.raises(ValueError, match="what-if"):
        Rule(name="x", family="x", judge=lambda page, t: None, ran=has("x"))


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_reason_and_measure_the_cleaner_writes_is_declared(preset):
    cleaner = cleaner_module.Cleaner(CleanConfig(preset=preset, languages=[]))
    drops, keys, removes = set(), set(), set()
    for doc in real_docs():
        out = Outcome()
        cleaned, reason = cleaner.clean(doc, None, out)
        drops |= {reason} if reason else set()
        keys |= set(cleaned["meta"]["quality"]) if cleaned else set(out.scores) - {"lang"}
        removes |= set(out.removed)
    rules = registry.RULES
    assert declared(drops, {d for r in rules for d in r.drops} | CLEANER_DROPS), drops
    assert declared(keys, {k for r in rules for k in r.keys} | CLEANER_KEYS), keys
    assert declared(removes, {k for r in rules for k in r.removes} | CLEANER_REMOVES), removes


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_what_if_without_changes_repeats_the_cleaners_decisions(preset):
    """Kept documents stay kept; a drop by a re-decidable rule is the same drop from the stored measures."""
    config = CleanConfig(preset=preset, languages=[])
    cleaner = cleaner_module.Cleaner(config)
    redecidable = {d for r in registry.RULES if r.ran is not None for d in r.drops}
    seen = Counter()
    for doc in real_docs():
        out = Outcome()
        cleaned, reason = cleaner.clean(doc, None, out)
        scores = cleaned["meta"]["quality"] if cleaned else {**out.scores, "preset": preset}
        again = whatif.would_drop(out.lang, scores, {}, config.threshold_overrides())
        if reason is None or re.sub(r"\d+", "{n}", reason) in redecidable:
            assert again == reason, (doc["id"], reason, again)
            seen[reason is None] += 1
    assert seen[True] and seen[False]


SHOUTING = "shouting"


def shouting_measures(page: Page, t: Thresholds) -> dict[str, float]:
    letters = [c for c in page.text if c.isalpha()]
    return {"upper_ratio": round(sum(c.isupper() for c in letters) / max(len(letters), 1), 4)}


def shouting_reason(m: Mapping[str, Any], t: Thresholds) -> str | None:
    return SHOUTING if m["upper_ratio"] > 0.5 else None


def test_a_new_rule_is_one_function_and_one_registration(monkeypatch):
    rule = Rule(
        name=SHOUTING,
        family=SHOUTING,
        drops=(SHOUTING,),
        keys=("upper_ratio",),
        measure=shouting_measures,
        decide=shouting_reason,
        ran=has("upper_ratio"),
    )
    rules = (*registry.RULES[:1], rule, *registry.RULES[1:])
    monkeypatch.setattr(cleaner_module, "RULES", rules)
    monkeypatch.setattr(whatif, "RULES", rules)
    text = (REAL / "Apache-2.0.txt").read_text(encoding="utf-8")
    doc = {"id": "loud", "text": text.upper(), "source": "t", "meta": {}}
    assert cleaner_module.Cleaner(CleanConfig()).clean(doc) == (None, SHOUTING)
    kept, reason = cleaner_module.Cleaner(CleanConfig()).clean({**doc, "text": text})
    assert reason is None and kept["meta"]["quality"]["upper_ratio"] < 0.5
    assert whatif.would_drop("en", {**kept["meta"]["quality"], "upper_ratio": 0.9}, {}) == SHOUTING


def test_line_rule_cuts_lines_and_counts_their_bytes():
    text = (
        "Home | About | Contact\n"
        "The mill stood by the river for eight hundred years, grinding grain.  \n"
        "Please enable JavaScript to view this page.\n\n\n"
        "It ground the grain of the whole valley for the farmers."
    )
    config = CleanConfig(preset="web")
    out = Outcome()
    page = Page(text, "en", 0.99, PRESETS["web"], config, load_thresholds("en"), out)
    assert registry.rule("c4_lines").apply(page) is None  # a line rule never drops
    assert page.text.startswith("The mill") and "JavaScript" not in page.text
    assert set(out.removed) == {"c4_line_no_terminal_punct", "c4_line_bad_phrase", "whitespace"}
    assert utf8_len(text) == utf8_len(page.text) + sum(out.removed.values())
    assert out.scores == {"sentences": 2}

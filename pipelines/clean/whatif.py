"""Re-decide the clean stage's rules from the measures kept in documents' ``meta["quality"]``.

The clean stage stores the numbers behind every rule it applied (``Cleaner``); with them
a user can ask what other thresholds would have done to a prepared dataset without
reading the raw input again. Rules that need the text itself (HTML extraction, C4's
line clean-up, PII) are not re-run: their effect is already in the text, and the
measures were taken after it.

    from pipelines.clean.whatif import parse_assignments, would_drop
    changes = parse_assignments(["clean.thresholds.en.min_words=100"])
    would_drop(doc["lang"], doc["meta"]["quality"], changes)   # -> reason or None
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from pipelines.clean import quality
from pipelines.clean.presets import leakage_reason
from pipelines.clean.thresholds import Thresholds, load_thresholds

PREFIX = "clean.thresholds."


def parse_assignments(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``clean.thresholds.LANG.KEY=VALUE`` items -> ``{LANG: {KEY: value}}`` (values read as YAML).

    ``LANG`` is a language code or ``default`` (every language).
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith(PREFIX) or key.count(".") != 3:
            raise ValueError(f"--what-if expects clean.thresholds.LANG.KEY=VALUE, got {item!r}")
        lang, name = key[len(PREFIX) :].split(".")
        out.setdefault(lang, {})[name] = yaml.safe_load(value)
    return out


def thresholds_with(
    lang: str | None, changes: Mapping[str, Mapping[str, Any]], base: str = "", preset: str = "docs"
) -> Thresholds:
    """The thresholds for ``lang`` under ``preset`` with ``changes`` applied on top of the
    config's ``base`` overrides (YAML text of ``clean.thresholds``)."""
    merged: dict[str, dict[str, Any]] = (yaml.safe_load(base) or {}) if base else {}
    for section, values in changes.items():
        merged.setdefault(section, {}).update(values)
    overrides = yaml.safe_dump(merged, sort_keys=True) if merged else ""
    return load_thresholds(lang, overrides=overrides, preset=preset)


def decide(lang: str | None, scores: Mapping[str, Any], t: Thresholds) -> str | None:
    """The first rule that drops a document with these measures under ``t``, or None."""
    if "chars" in scores and scores["chars"] < t.min_chars:
        return "too_short"
    if "chars" in scores and scores["chars"] > t.max_chars:
        return "too_long"
    if scores.get("lang_score", 1.0) < t.min_lang_score:
        return "language_score_low"
    if "leak_char_ratio" in scores:
        reason = leakage_reason(dict(scores), t.max_leak_char_ratio)
        if reason:
            return reason
    if "words" in scores:
        reason = quality.gopher_quality_reason(dict(scores), t) if scores["words"] else "gopher_too_few_words"
        if reason:
            return reason
    if "dup_line_frac" in scores:
        reason = quality.gopher_repetition_reason(dict(scores), t)
        if reason:
            return reason
    if "lines" in scores and (scores["lines"] or scores.get("preset") != "docs"):
        reason = quality.fineweb_reason(dict(scores), t)
        if reason:
            return reason
    return None


def would_drop(
    lang: str | None, scores: Mapping[str, Any], changes: Mapping[str, Mapping[str, Any]], base: str = ""
) -> str | None:
    """The rule that would drop a document with these measures (its preset is in them)."""
    preset = str(scores.get("preset") or "docs")
    return decide(lang, scores, thresholds_with(lang, changes, base, preset))

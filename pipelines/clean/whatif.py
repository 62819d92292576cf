"""Re-decide the clean stage's rules from the measures kept in documents' ``meta["quality"]``.

The clean stage stores the numbers behind every rule it applied (``Cleaner``); with them
a user can ask what other thresholds would have done to a prepared dataset without
reading the raw input again. The rules are the registry's (``filters/registry.py``), in
its order; those whose decision needs the text or the settings (HTML extraction, C4's
page rules and line clean-up, allowed languages, PII) are not re-run: their effect is
already in the text, and the measures were taken after it.

    from pipelines.clean.whatif import parse_assignments, would_drop
    changes = parse_assignments(["clean.thresholds.en.min_words=100"])
    would_drop(doc["lang"], doc["meta"]["quality"], changes)   # -> reason or None
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from pipelines.clean.filters.registry import RULES
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
    for rule in RULES:
        if rule.redecides(scores):
            reason = rule.decide(scores, t)  # type: ignore[misc]  (redecides: it has one)
            if reason:
                return reason
    return None


def would_drop(
    lang: str | None, scores: Mapping[str, Any], changes: Mapping[str, Mapping[str, Any]], base: str = ""
) -> str | None:
    """The rule that would drop a document with these measures (its preset is in them)."""
    preset = str(scores.get("preset") or "docs")
    return decide(lang, scores, thresholds_with(lang, changes, base, preset))

"""What a corpus is: ``clean: {preset: web}`` or ``clean: {preset: docs}``.

``web`` is for crawls: C4's line and page rules (every logical line must end a sentence,
a page with a curly bracket is script leaking into text, at least a few sentences),
Gopher and FineWeb, over logical lines so hard-wrapped pages keep their paragraphs.

``docs`` is for technical documentation and code-bearing text (man pages, READMEs,
kernel and library docs): prose rules judge prose only. Code, tables, option and
reference lists and headings keep their lines and are left out of the line statistics;
the curly-bracket and sentence-count rules give way to ``markup_leakage``, which tells
script/markup leaking out of a web page from a code sample; everything that finds junk
(language, length, word counts and stop words over the whole text, repetition,
navigation-like prose) still applies.

A preset here says how rules *read* a text; which rules a preset runs is each rule's
``presets`` in ``filters/registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.clean import blocks

PRESET_NAMES = ("web", "docs")


@dataclass(frozen=True)
class Preset:
    name: str
    judged: frozenset[str]  # logical-line kinds judged by C4's line rules and measured by line statistics
    curly_bracket: bool  # C4: drop any page with "{"


PRESETS = {
    "web": Preset("web", blocks.ALL_KINDS, curly_bracket=True),
    "docs": Preset("docs", frozenset({blocks.PROSE}), curly_bracket=False),
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"clean.preset must be one of {', '.join(PRESET_NAMES)}, not {name!r}") from None

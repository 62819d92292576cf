"""Unicode and whitespace normalisation: NFC, cheap mojibake repair, control characters.

Shared by the clean stage, task datasets (``pipelines.prepare_task``) and ``lm_train.predict``,
so a text is normalised the same way when a dataset is built and when a model labels it.

ftfy repairs mojibake well but costs ~10x more than everything else here, so it only
runs on texts that contain the tell-tale sequences of UTF-8 decoded as Latin-1/cp1252.
"""

from __future__ import annotations

import re
import unicodedata

# "Ã©", "â€™", "Â " ...: UTF-8 bytes read as cp1252/Latin-1. One character class first (the
# second character checked after it), so ``re`` skips to candidates in C.
MOJIBAKE_HINT = re.compile("[\u00c2\u00c3\u00e2](?:(?<=[\u00c2\u00c3])[\u0080-\u00bf]|(?<=\u00e2)\u20ac)")
# C0/C1 controls except tab and newline; zero-width and BOM characters.
CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u200e\u200f\ufeff]")
# Exotic horizontal spaces become plain spaces; tabs and runs of spaces stay (indentation
# and alignment carry meaning in code, tables and man pages).
ODD_SPACE = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f]")
TRAILING_SPACE = re.compile(r"[ \t\u3000]+$", re.MULTILINE)
TRAILING_SPACE_CHARS = (" ", "\t", "\u3000")
MANY_NEWLINES = re.compile(r"\n{3,}")


def fix_mojibake(text: str) -> str:
    if not MOJIBAKE_HINT.search(text):
        return text
    import ftfy

    return ftfy.fix_encoding(text)


def _has_trailing_space(text: str) -> bool:
    """Could ``TRAILING_SPACE`` match: a space, tab or ideographic space before a newline or at the end?"""
    return text.endswith(TRAILING_SPACE_CHARS) or any(f"{c}\n" in text for c in TRAILING_SPACE_CHARS)


def normalize_text(text: str) -> str:
    """NFC, mojibake, controls removed, odd spaces made plain, trailing spaces and runs of
    blank lines removed, blank lines at the ends dropped.

    Leading indentation and inner runs of spaces stay: stripping them would turn code
    into invalid code and tables and option lists into run-on prose.
    """
    text = fix_mojibake(text)
    if not unicodedata.is_normalized("NFC", text):  # a cheap check; most text already is
        text = unicodedata.normalize("NFC", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL.sub("", text)
    text = ODD_SPACE.sub(" ", text)
    if _has_trailing_space(text):  # the substitutions below cost a pass each; most texts need neither
        text = TRAILING_SPACE.sub("", text)
    if "\n\n\n" in text:
        text = MANY_NEWLINES.sub("\n\n", text)
    text = text.strip("\n")
    return text if text.strip() else ""

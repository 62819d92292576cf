"""PII masking: e-mail addresses, IP addresses and phone numbers become placeholders.

Patterns are deliberately conservative (a phone number needs separators or a ``+``
country code, so verse references, years and prices are left alone). Each pattern runs
only when a cheap test says it could match (an ``@``; three digits in a row; two
hex digits around a colon), which keeps masking cheap on text that has no PII at all.

Each pattern starts with a lookbehind, which stops ``re`` from skipping ahead to a
possible first character: it would try the whole pattern at every position of a page.
So each has a ``STARTS`` pattern that begins with its first character (``re`` skips to
those in C) and holds only where a match could start; the pattern itself is tried there
alone (``masked``), which replaces exactly what ``pattern.subn`` would.
"""

from __future__ import annotations

import re

EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d]|\.\d)")
IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"  # full form
    r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6}(?![\w:])"  # "::"-compressed
)
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?!\w)"
    r"|(?<![\w+])\+\d{1,3}[\s.-]?\d{6,12}(?!\w)"
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"  # mainland China mobile numbers
)
# Cheap pre-checks: a pattern can only match where these do.
MAY_BE_NUMBER = re.compile(r"\d{3}|\d\.\d")  # every IPv4 and phone number has one
MAY_BE_IPV6 = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]")

PLACEHOLDERS = (
    ("email", EMAIL, "<EMAIL>"),
    ("ip", IPV4, "<IP>"),
    ("ip", IPV6, "<IP>"),
    ("phone", PHONE, "<PHONE>"),
)
# Where each pattern can start: its first character, the lookbehind re-checked one
# character later (a two-character lookbehind sees the character before the start), and
# for some what must follow soon (an "@"; an octet's dot; a hex group's colon).
STARTS = {
    EMAIL: re.compile(r"[A-Za-z0-9](?<![\w.+-][A-Za-z0-9])(?=[A-Za-z0-9._%+-]*@)"),
    IPV4: re.compile(r"\d(?<![\d.]\d)(?=\d{0,2}\.\d)"),
    IPV6: re.compile(r"[0-9A-Fa-f](?<![\w:][0-9A-Fa-f])(?=[0-9A-Fa-f]{0,3}:)"),
    PHONE: re.compile(r"[+(\d](?:(?<![\w+][+(\d])|(?<=1)(?<!\d1))"),
}


def masked(pattern: re.Pattern[str], starts: re.Pattern[str], placeholder: str, text: str) -> tuple[str, int]:
    """``pattern.subn(placeholder, text)`` for a pattern that can only match where ``starts``
    (one character long) does: the leftmost matches, left to right, without overlaps."""
    pieces: list[str] = []
    last = n = 0
    for start in starts.finditer(text):
        at = start.start()
        if at < last:
            continue
        m = pattern.match(text, at)
        if m is None:
            continue
        pieces += (text[last:at], placeholder)
        last = m.end()
        n += 1
    if not n:
        return text, 0
    pieces.append(text[last:])
    return "".join(pieces), n


def mask_pii(text: str) -> tuple[str, dict[str, int]]:
    """Replace PII with placeholders; return the new text and how many of each kind were masked."""
    counts: dict[str, int] = {}
    numbers = MAY_BE_NUMBER.search(text) is not None
    for kind, pattern, placeholder in PLACEHOLDERS:
        if kind == "email" and "@" not in text:
            continue
        if pattern is IPV6 and not MAY_BE_IPV6.search(text):
            continue
        if pattern is not EMAIL and pattern is not IPV6 and not numbers:
            continue
        text, n = masked(pattern, STARTS[pattern], placeholder, text)
        if n:
            counts[kind] = counts.get(kind, 0) + n
    return text, counts

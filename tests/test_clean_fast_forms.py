"""The fast forms of PII masking, markup-leakage detection and text normalisation give exactly
what the plain patterns give."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from lmcore import text as lmtext
from pipelines.clean import pii
from pipelines.clean.filters import markup_leakage as ml

# The leakage pattern as first written (case-insensitive, tried at every position).
PLAIN_STRONG_LEAK = re.compile(
    r"document\.(?:getElementById|write|cookie|querySelector)|window\.(?:location|onload|dataLayer)"
    r"|\bjQuery\b|\$\(\s*['\"(document]|\bgtag\(|googletag|\bdataLayer\b"
    r"|addEventListener\(\s*['\"](?:load|DOMContent)"
    r"|\{\s*(?:display|color|margin|padding|font-[a-z]+|background(?:-color)?|width|height)\s*:[^}]*;"
    r"|!important|@media\b|\{\{[^}]*\}\}|\{%[^%]*%\}",
    re.IGNORECASE,
)

PII_TOKENS = [
    "+1", "+86", "(555)", "555", "1234", "-", ".", " ", "\n", "192.168.0.1", "10.0.0", "255", "256",
    "fe80", "::", ":", "1", "13812345678", "a", "bob", "@", "ex.com", "_", "é", "%", "+", "\u0663",
    "2001:db8:0:0:0:0:2:1", "12", "0",
]  # fmt: skip
LEAK_TOKENS = [
    "document", "DOCUMENT", ".", "getElementById", "write", "Cookie", "window", "location", "dataLayer",
    "DATALAYER", "jQuery", "jquery", "x", "_", " ", "$", "(", "'", '"', "gtag", "googletag", "GoogleTag",
    "addEventListener", "load", "{", "}", "display", "color", ":", ";", "font-size", "!important",
    "@media", "{{", "}}", "{%", "%}", "%", "é", "1", "ı",
]  # fmt: skip


def fuzz(tokens: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(tokens) for _ in range(rng.randint(1, 12))) for _ in range(n)]


@pytest.mark.parametrize(("kind", "pattern", "placeholder"), pii.PLACEHOLDERS)
def test_masked_replaces_what_subn_replaces(kind: str, pattern: re.Pattern[str], placeholder: str) -> None:
    for text in fuzz(PII_TOKENS, 4000, seed=len(pattern.pattern)):
        assert pii.masked(pattern, pii.STARTS[pattern], placeholder, text) == pattern.subn(placeholder, text)


def test_mask_pii_examples() -> None:
    text = "mail bob.smith@example.com, host 192.168.0.1 or fe80:0:0:0:0:0:0:1; call +1 555-123-4567."
    masked, counts = pii.mask_pii(text)
    assert masked == "mail <EMAIL>, host <IP> or <IP>; call <PHONE>."
    assert counts == {"email": 1, "ip": 2, "phone": 1}
    assert pii.mask_pii("Genesis 1:1 in 1611 cost $3.50")[1] == {}
    assert pii.mask_pii("id 013812345678, tel 13812345678")[0] == "id 013812345678, tel <PHONE>"


def test_strong_leak_matches_the_plain_pattern() -> None:
    lines = [
        *fuzz(LEAK_TOKENS, 20000, seed=3),
        "$(document).ready(f)",
        "var x = document.getElementById('a');",
        "<style>{ color: red; }</style>",
        "window.dataLayer = window.dataLayer || [];",
        "googletag.cmd.push",
        "the jQueryUI plugin",
        "use jQuery.",
    ]
    for line in lines:
        assert bool(ml.STRONG_LEAK.search(line)) == bool(PLAIN_STRONG_LEAK.search(line)), line


def test_leakage_measures_counts_leaked_prose_lines() -> None:
    first = "Some prose here, and then we set window.location to a new value for you."
    second = "Prices&nbsp;are&nbsp;low &amp; fair today, we think, for everyone who reads this page."
    text = f"{first}\n\n{second}\n\nmore prose here too."
    m = ml.leakage_measures(text)
    assert m == {"leak_char_ratio": round((len(first) + len(second)) / len(text), 4), "minified_lines": 0}
    assert ml.leakage_measures("x = 1;\nwindow.location = 'x';")["leak_char_ratio"] == 0.0  # code lines
    assert ml.leakage_measures("a { b } c < d & e")["leak_char_ratio"] == 0.0


def plain_normalize(text: str) -> str:
    """``normalize_text`` with every substitution run unconditionally."""
    text = lmtext.fix_mojibake(text)
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = lmtext.CONTROL.sub("", text)
    text = lmtext.ODD_SPACE.sub(" ", text)
    text = lmtext.TRAILING_SPACE.sub("", text)
    text = lmtext.MANY_NEWLINES.sub("\n\n", text).strip("\n")
    return text if text.strip() else ""


def test_normalize_text_equals_the_unconditional_substitutions() -> None:
    plain_hint = re.compile("[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac")
    rng = random.Random(5)
    alphabet = [
        "a",
        " ",
        "\t",
        "\u3000",
        "\n",
        "\r",
        "\u00c3",
        "\u00a9",
        "\u00e2",
        "\u20ac",
        "\u00c2",
        "\u00a0",
        "\x00",
        "中",
    ]
    for _ in range(5000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 15)))
        assert lmtext.normalize_text(s) == plain_normalize(s), repr(s)
        assert bool(lmtext.MOJIBAKE_HINT.search(s)) == bool(plain_hint.search(s)), repr(s)

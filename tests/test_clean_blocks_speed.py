"""The clean stage's shortcuts give the answers of the plain definitions (decisions unchanged)."""

from __future__ import annotations

import random

from pipelines.clean import blocks
from pipelines.clean.filters.c4 import c4_lines
from pipelines.clean.thresholds import load_thresholds

LINES = [
    "    ls -la /tmp | grep foo",
    "def main(argv=None):",
    "NAME",
    "       ls - list directory contents",
    "The quick brown fox jumps over the lazy dog, and then it",
    "中文的句子，没有结束",
    "x = {a: [1, 2]};",
    "| a | b |",
]


def test_symbol_count_equals_the_regex() -> None:
    rng = random.Random(0)
    alphabet = "{}()[];=<>*&|\\/_#@$^~ab c中é\ud800\U0001f600"
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert blocks.code_symbols(s) == len(blocks.CODE_SYMBOLS.findall(s))


def test_line_start_alternatives_decide_as_the_checks_in_turn() -> None:
    def in_turn(s: str) -> str | None:
        if blocks.PROMPT.match(s):
            return blocks.CODE
        if blocks.BULLET.match(s) or (s[0] == "-" and blocks.OPTION.match(s)) or blocks.SIGN_OFF.match(s):
            return blocks.LIST
        if blocks.MAN_NAME.match(s):
            return blocks.LIST
        return blocks.HEADING if blocks.CHANGELOG_ENTRY.match(s) else None

    rng = random.Random(1)
    pieces = ["$ ", "# ", ">>> ", "- ", "--all", "-v", "1. ", "(a) ", "一、", "• ", "ls", " - ", "pkg (1.0-1) unstable; urgency=low",
              "-- Jane <j@x.org>  Mon, 1 Jan 2024", "In [3]: ", "word", " ", "x", "C:\\> ", "…"]  # fmt: skip
    lines = [*LINES, *("".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))) for _ in range(3000))]
    for line in lines:
        s = line.strip()
        if s:
            start = blocks.LINE_START.match(s)
            assert (start.lastgroup if start else None) == in_turn(s), s


def test_cached_and_uncached_line_kinds_agree() -> None:
    for line in LINES:
        assert blocks.line_kind(line) == blocks._line_kind(line)
        assert blocks.line_kind(line) == blocks.line_kind(line)  # a cache hit
        assert blocks.is_code_line(line.strip()) == blocks._is_code_line(line.strip())
    long = "word " * (blocks.CACHED_LINE_CHARS // 4)
    assert blocks.line_kind(long) == blocks._line_kind(long)


def test_display_width_of_ascii_and_wide_text() -> None:
    assert blocks.display_width("abc def") == 7
    assert blocks.display_width("中文ab") == 6


def test_c4_lines_with_given_logical_lines_equals_without() -> None:
    t = load_thresholds("en")
    text = "\n".join([*LINES, "", "A sentence that ends here.", "short"])
    logical = blocks.logical_lines(text.split("\n"), tuple(t.terminal_punctuation))
    assert c4_lines(text, "en", t, logical=logical) == c4_lines(text, "en", t)

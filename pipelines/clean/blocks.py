"""The layout of a text: physical lines grouped into logical lines, each with a kind.

Line rules (C4's "a line must end in terminal punctuation", words per line) were written
for web text, where a line is a paragraph. Hard-wrapped text (licences, READMEs, man
pages, e-texts, Chinese manuals) breaks every paragraph into physical lines of a fixed
width, and judging those one by one keeps only each paragraph's last line. So rules see
*logical lines*: the physical lines of one wrapped paragraph taken together. Lists,
tables, code and headings keep their line structure: each of their lines is its own
logical line, and it carries a kind, so a preset can exempt code and reference lists
from prose rules.

A physical line continues the previous one when both are prose, nothing structural
(blank line, bullet, option, table row, prompt, heading underline) stands between them,
they share an indentation (or the first line of a paragraph or list item is indented
differently from the rest), the previous line stops mid-sentence, and it was *filled*:
its display width (CJK characters count two columns, as a terminal shows them) reaches
most of the text's wrap width -- or the next line starts in lower case or with a CJK
character. Lines that end a sentence are never joined: web text puts one paragraph on
a line, and a break after a sentence costs the line rules nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

PROSE, CODE, LIST, TABLE, HEADING = "prose", "code", "list", "table", "heading"
ALL_KINDS = frozenset({PROSE, CODE, LIST, TABLE, HEADING})

CJK_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
)
LETTER = re.compile(r"[^\W\d_]")
UPPER = re.compile(r"[A-Z\u00c0-\u00de\u0391-\u03a9\u0410-\u042f]")  # Latin, Greek, Cyrillic capitals
RULE_START = frozenset("=-~^*#+_.:`'\"|")
CJK_START = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff]")
BULLET = re.compile(
    r"(?:[•●○■□▪▫–*·►▶+-]|\d{1,3}[.)]|[a-zA-Z][.)]|\(\w{1,3}\)|[（(]?[一二三四五六七八九十]+[、.)）])\s"
)
INLINE_MARKER = re.compile(r"\(\w{1,3}\)\s|\d{1,3}[.)]?\s")  # markers that also occur mid-sentence
SIGN_OFF = re.compile(r"--\s+\S.*(?:<[^>\s]+@[^>\s]+>|\d{4})")  # " -- Name <mail>  date" of changelogs
MAN_NAME = re.compile(r"[\w.+:@-]+(?:,\s*[\w.+:@-]+)*\s+\\?[-\u2013\u2014]\s+\S")
CHANGELOG_ENTRY = re.compile(r"[\w.+-]+ \([^)\s]+\) [\w./ -]+; urgency=\w+")  # Debian changelog
OPTION = re.compile(r"--?[A-Za-z0-9?][\w-]*")
TABLE_CHARS = re.compile("[\u2500-\u257f]")
RULE_LINE = re.compile(r"^\s*([=\-~^*#+_.:`'\"])\1{2,}\s*$|^\s*[+|][-=+|: ]{3,}[+|]\s*$")
PROMPT = re.compile(r"^(?:\$|#|>>>|\.\.\.|%|>|In \[\d+\]:|C:\\>)\s")
# Characters that make up code rather than prose.
CODE_SYMBOLS = re.compile(r"[{}()\[\];=<>*&|\\/_#@$^~]")
_CODE_SYMBOL_BYTES = b"{}()[];=<>*&|\\/_#@$^~"  # CODE_SYMBOLS, counted in C


def code_symbols(s: str) -> int:
    """``len(CODE_SYMBOLS.findall(s))``: the symbols are ASCII, and no other character's UTF-8
    bytes are ASCII, so deleting their bytes counts them (``bytes.translate`` is a C table)."""
    b = s.encode("utf-8", "surrogatepass")
    return len(b) - len(b.translate(None, _CODE_SYMBOL_BYTES))


MAN_HEADER = re.compile(r"^([\w.:-]+\(\w+\))\s.*\s\1$")  # "LS(1)  User Commands  LS(1)"
# A line that opens or is a statement in common programming and shell languages.
CODE_START = re.compile(
    r"^(?:def|class|import|from|return|if|elif|else|for|while|try|except|finally|with|raise|yield|async"
    r"|await|print|lambda|pass|break|continue|global|nonlocal|assert|del|#include|#define|#if|#ifdef|#endif"
    r"|int|void|char|unsigned|static|struct|typedef|enum|const|let|var|function|public|private|protected"
    r"|package|func|fn|use|impl|switch|case|goto|echo|export|sudo|cd|make|git|pip|apt|apt-get)\b"
)
CALL = re.compile(r"^[\w.\[\]'\"]+\(.*\)[;:,]?$")
ASSIGNMENT = re.compile(r"^[\w.\[\]'\"]+(?:\s*,\s*[\w.]+)*\s*(?:[-+*/%|&^]|<<|>>)?=\s*\S")
SYNOPSIS = re.compile(r"\[\s*-{1,2}\w|\[[A-Z_]{2,}\]|\[-\w+\s*\|")  # "cmd [-v] [OPTION]... [-a | -b]"
COLUMN_GAP = re.compile(r"(?<![.!?:;。！？])\S {2,}\S")
# PROMPT, then BULLET / OPTION / SIGN_OFF / MAN_NAME, then CHANGELOG_ENTRY as one match at
# the start of a line (the first alternative that matches wins, as the checks in turn would):
# one call into ``re`` instead of six for every prose line.
LINE_START = re.compile(
    "|".join(
        [
            f"(?P<{CODE}>{PROMPT.pattern})",
            f"(?P<{LIST}>{BULLET.pattern}|{OPTION.pattern}|{SIGN_OFF.pattern}|{MAN_NAME.pattern})",
            f"(?P<{HEADING}>{CHANGELOG_ENTRY.pattern})",
        ]
    )
)


@dataclass(frozen=True)
class Line:
    """A logical line: ``first``..``last`` physical line indices (inclusive), its kind, and its
    text as prose rules read it (physical lines stripped and joined)."""

    first: int
    last: int
    kind: str
    text: str


def display_width(s: str) -> int:
    """Columns a terminal gives ``s``: wide (CJK) characters count two."""
    return len(s) if s.isascii() else len(s) + len(CJK_WIDE.findall(s))


def indent_of(s: str) -> int:
    return len(s) - len(s.lstrip(" \t\u3000"))


def _letters(s: str) -> int:
    return len(LETTER.findall(s))


CACHED_LINE_CHARS = 512  # longer lines are judged afresh, so the caches stay small


def line_kind(raw: str) -> str:
    """The kind of one physical line on its own (prose unless something says otherwise).

    Cached: a page's lines are judged again after a cut, and boilerplate repeats across pages.
    """
    return _line_kind_cached(raw) if len(raw) <= CACHED_LINE_CHARS else _line_kind(raw)


def _line_kind(raw: str) -> str:
    s = raw.strip()
    if not s:
        return PROSE
    if s[0] in RULE_START and RULE_LINE.match(s):
        return HEADING
    if s.count("|") >= 2 or s.count("\t") >= 2 or (not s.isascii() and TABLE_CHARS.search(s)):
        return TABLE
    # a prompt; a bullet, option, changelog sign-off or "ls - list directory contents" (a
    # term and its definition); a Debian changelog entry
    start = LINE_START.match(s)
    if start is not None:
        return start.lastgroup  # type: ignore[return-value]
    symbols = code_symbols(s)
    if symbols >= 3 and symbols > 0.15 * len(s) and not CJK_START.search(s):
        return CODE
    if s[-1] in "{};)" and s.endswith(("{", "};", ");", "}")) and _letters(s) < 0.6 * len(s):
        return CODE
    if len(s) <= 40 and not s.endswith((".", "!", "?")):
        letters = _letters(s)
        upper = len(UPPER.findall(s))
        if letters >= 2 and upper >= 0.8 * letters:  # ALL CAPS (a CJK character has no case)
            return HEADING
    if ")" in s and MAN_HEADER.match(s):
        return HEADING
    if "  " in s and len(COLUMN_GAP.findall(s)) >= 2:
        return TABLE
    return PROSE


def is_code_line(s: str) -> bool:
    """Does one stripped line read as a statement rather than prose? (Cached, as ``line_kind``.)"""
    return _is_code_line_cached(s) if len(s) <= CACHED_LINE_CHARS else _is_code_line(s)


def _is_code_line(s: str) -> bool:
    if PROMPT.match(s) or s.startswith(("@", "#!", "//", "/*", "*/", "<?", "# ")):
        return True
    if s.endswith(("{", "}", ";", "};", "*/")) or SYNOPSIS.search(s):
        return True
    words = len(s.split(None, 8))  # the word count where it is at most 8 (all the tests below need)
    if CODE_START.match(s) and (s.endswith(":") or "(" in s or "=" in s or words <= 4):
        return True
    return words <= 8 and bool(CALL.match(s) or ASSIGNMENT.match(s))


_line_kind_cached = lru_cache(maxsize=1 << 16)(_line_kind)
_is_code_line_cached = lru_cache(maxsize=1 << 16)(_is_code_line)


def _mark_code_blocks(raw_lines: list[str], kinds: list[str], stripped: list[str] | None = None) -> None:
    """Blocks (between blank lines) made mostly of statements are code, all their lines.

    ``stripped``: the lines stripped, when the caller has them."""
    lines = [ln.strip() for ln in raw_lines] if stripped is None else stripped
    start = 0
    n = len(lines)
    while start < n:
        if not lines[start]:
            start += 1
            continue
        end = start
        while end < n and lines[end]:
            end += 1
        idx = [i for i in range(start, end) if kinds[i] in (PROSE, CODE)]
        code = [i for i in idx if kinds[i] == CODE or is_code_line(lines[i])]
        if idx and (len(code) == len(idx) or (len(idx) >= 2 and 2 * len(code) >= len(idx))):
            for i in idx:
                kinds[i] = CODE
        start = end


def wrap_width(lines: list[str]) -> int:
    """The width a text was hard-wrapped at (a high percentile of its line widths), or 0.

    Text whose lines run past ~100 columns, or that has no line of 50 columns, was not
    wrapped at a fixed width (a line is a paragraph or a verse): only the mid-sentence
    cue joins its lines.
    """
    widths = sorted(display_width(ln.rstrip()) for ln in lines if ln.strip())
    if not widths:
        return 0
    width = widths[min(len(widths) - 1, int(len(widths) * 0.9))]
    return width if 50 <= width <= 100 else 0


CLOSERS = "\"'\u201d\u2019\u300d\u300f)\uff09\u300b"  # quotes and brackets that close a sentence


def ends_sentence(s: str, terminal: tuple[str, ...]) -> bool:
    """Ends a sentence: terminal punctuation, or a closing quote or bracket right after one
    (``set to "selinux"`` goes on; ``he said "no."`` ends)."""
    bare = s.rstrip(CLOSERS)
    if bare != s:
        return bare.endswith(tuple(t for t in terminal if t not in CLOSERS))
    return s.endswith(terminal)


def _filled(p: str, c: str, width: int) -> bool:
    """Was line ``p`` broken because the next word (``c``'s first) would not fit the width?"""
    if width <= 0:
        return False
    w = display_width(p)
    words = c.split(None, 1)
    return w >= 0.8 * width or w + 1 + display_width(words[0] if words else "") > width


def _continues(
    prev: str, cur: str, prev_kind: str, cur_kind: str, width: int, terminal: tuple[str, ...], first: bool
) -> bool:
    """Does physical line ``cur`` continue the logical line that ``prev`` ends (``first``: ``prev``
    is that logical line's first physical line)?"""
    p, c = prev.rstrip(), cur.strip()
    if not c or not p.strip() or prev_kind not in (PROSE, LIST):
        return False
    if (
        cur_kind == LIST
        and prev_kind == PROSE
        and (INLINE_MARKER.match(c) or OPTION.match(c))
        and indent_of(cur) == indent_of(prev)
    ):
        # "(ii) ownership of ..." or "--system in their ..." at the start of a wrapped line
        # is the sentence going on, when the line before was filled and stopped mid-sentence
        return not ends_sentence(p, terminal) and not p.endswith(":") and _filled(p, c, width)
    if cur_kind != PROSE:
        return False
    pi, ci = indent_of(prev), indent_of(cur)
    if prev_kind == LIST:
        # a list item's text wraps under its first word (hanging indent) or at its indent
        if ci < pi:
            return False
    elif ci != pi and not (first and pi - 8 <= ci < pi):  # only a first-line indent may differ
        return False
    if ends_sentence(p, terminal) or p.endswith(":"):  # a break after a sentence loses nothing
        return False
    if _filled(p, c, width):  # the line was filled to the wrap width
        return True
    return c[0].islower() or bool(CJK_START.match(c[0])) or bool(CJK_START.search(p[-1]))


def _join(parts: list[str]) -> str:
    out = parts[0]
    for s in parts[1:]:
        sep = "" if CJK_START.match(s[0]) and CJK_START.match(out[-1]) else " "
        out += sep + s
    return out


def logical_lines(raw_lines: list[str], terminal: tuple[str, ...], width: int | None = None) -> list[Line]:
    """Logical lines of ``raw_lines`` (blank lines are left out; indices refer to ``raw_lines``).

    A line after a rule-underline (rst headings) or one ending with ``::`` (rst code) is
    treated accordingly: the underlined title is a heading, the indented block after
    ``::`` is code.
    """
    stripped = [ln.strip() for ln in raw_lines]  # once: every pass below reads them
    width = wrap_width(raw_lines) if width is None else width
    kinds = [line_kind(ln) for ln in raw_lines]
    _mark_code_blocks(raw_lines, kinds, stripped)
    # rst: "Title\n=====": the title is a heading; "...::" + indented block: code
    code_after = -1
    for i, s in enumerate(stripped):
        if not s:
            continue
        if s[0] in RULE_START and i > 0 and stripped[i - 1] and RULE_LINE.match(s):
            kinds[i - 1] = HEADING
        if code_after >= 0 and indent_of(raw_lines[i]) > code_after:
            kinds[i] = CODE
        else:
            code_after = indent_of(raw_lines[i]) if s.endswith("::") else -1
    out: list[Line] = []
    parts: list[str] = []
    first = -1
    for i, s in enumerate(stripped):
        if not s:
            if parts:
                out.append(Line(first, i - 1, kinds[first], _join(parts)))
                parts = []
            continue
        if parts and _continues(
            raw_lines[i - 1], raw_lines[i], kinds[first], kinds[i], width, terminal, first == i - 1
        ):
            parts.append(s)
            continue
        if parts:
            out.append(Line(first, i - 1, kinds[first], _join(parts)))
        parts, first = [s], i
    if parts:
        out.append(Line(first, len(raw_lines) - 1, kinds[first], _join(parts)))
    return [_as_heading(ln, raw_lines, terminal) for ln in out]


def _as_heading(line: Line, raw_lines: list[str], terminal: tuple[str, ...]) -> Line:
    """A short one-line prose title is a heading: no closing punctuation, few words, and the
    text after it is indented deeper (man page subsections) or it stands alone between
    blank lines starting with a capital (titles of extracted HTML and Markdown)."""
    if line.kind != PROSE or line.first != line.last:
        return line
    s = line.text
    if len(s) > 60 or len(s.split()) > 8 or s.endswith(terminal) or s.endswith((":", ";", ",")):
        return line
    nxt = raw_lines[line.last + 1] if line.last + 1 < len(raw_lines) else ""
    prev = raw_lines[line.first - 1] if line.first > 0 else ""
    deeper = bool(nxt.strip()) and indent_of(nxt) > indent_of(raw_lines[line.first])
    alone = not nxt.strip() and not prev.strip() and s[:1].isupper()
    return Line(line.first, line.last, HEADING, s) if deeper or alone else line

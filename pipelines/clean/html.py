"""HTML -> main text.

Choice: resiliparse (``extract_plain_text(main_content=True)``), measured with
``python -m bench.bench_clean --quick`` on the sample's 185 pages (5 HTML files, 180 WARC
responses, English and Chinese; machine shared with other jobs):

=============  ===========  ========================  ==================================
extractor      pages/s      article paragraphs found  pages with nav/cookie/footer/script
=============  ===========  ========================  ==================================
resiliparse    3,215        100.0 %                   0 / 185
trafilatura    253          100.0 %                   0 / 185
=============  ===========  ========================  ==================================

Both keep the article and drop ``<nav>``, the cookie banner, ``<footer>``, scripts and
styles on these pages; resiliparse does it ~13x faster (a C++ DOM), which decides it at
web scale. trafilatura stays available as ``clean.html_extractor: trafilatura`` for sites
where its heuristics do better. The sample pages are simple; on messy real pages both
leave some boilerplate, which the C4 line rules and dedup's boilerplate removal catch.

Deep nesting: extraction time grows faster than linearly with the depth of the tree
(5,000 nested ``<div>`` take about 0.5 s, 30,000 about 44 s, 200,000 never finish), so
``extract_text`` first counts the nesting with a cheap scan of the tags and refuses a page
deeper than ``MAX_DEPTH`` with ``HtmlTooDeep``. Browsers cap their trees at 512 levels;
real pages stay far below. Elements whose end tag is optional (``<p>``, ``<li>``, ``<td>``...)
and void elements (``<br>``, ``<img>``...) are not counted, so long unclosed lists pass.
The parser is also quadratic in a few flat structures (``<option>`` in a ``<select>``: 20,000
take 1.4 s, 50,000 take 8 s; unclosed ``<rt>``/``<rp>``): past ``SLOW_SIBLINGS`` of them a
page is refused with ``HtmlTooComplex`` (reason ``html_too_complex``).
"""

from __future__ import annotations

import re

MAX_DEPTH = 1000  # ~0.04 s of extraction at this depth; deeper pages are refused
TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
NOT_NESTING = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "keygen",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "rb",
        "rp",
        "rt",
        "rtc",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "head",
        "body",
        "html",
    ]
)


# Elements the parser handles in quadratic time when there are many of them; the budget
# keeps extraction under ~0.1 s (option, optgroup) or ~0.5 s (ruby annotations).
SLOW_SIBLINGS = {"option": 5000, "optgroup": 5000, "rp": 20000, "rt": 20000, "rb": 20000, "rtc": 20000}


class HtmlTooDeep(ValueError):
    """A page nested too deeply to extract in bounded time (drop reason ``html_too_deep``)."""

    reason = "html_too_deep"


class HtmlTooComplex(HtmlTooDeep):
    """A page with more elements of a kind than the parser handles in bounded time
    (drop reason ``html_too_complex``; a kind of ``HtmlTooDeep``, so callers catch both)."""

    reason = "html_too_complex"


def nesting_depth(html: str, stop_above: int | None = None) -> int:
    """The deepest nesting of elements, from the tags alone (no parser: linear, ~0.3 us a tag).

    Stray end tags never take the depth below zero. Stops counting once above ``stop_above``.
    Raises ``HtmlTooComplex`` past ``SLOW_SIBLINGS`` elements of a kind the parser is slow on.
    """
    if stop_above is not None and html.count("<") <= stop_above:
        return 0  # fewer tags than the limit: cannot be deeper than it (skips the scan)
    depth = peak = 0
    slow: dict[str, int] = {}
    for close, name in TAG.findall(html):
        name = name.lower()
        if name in NOT_NESTING:
            if name in SLOW_SIBLINGS and not close:
                slow[name] = slow.get(name, 0) + 1
                if slow[name] > SLOW_SIBLINGS[name]:
                    raise HtmlTooComplex(
                        f"HTML holds more than {SLOW_SIBLINGS[name]:,} <{name}> elements; "
                        "the parser's time grows with their square"
                    )
            continue
        if close:
            depth = depth - 1 if depth else 0
            continue
        depth += 1
        if depth > peak:
            peak = depth
            if stop_above is not None and peak > stop_above:
                break
    return peak


def check_depth(html: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``HtmlTooDeep`` for a page nested deeper than ``max_depth`` elements."""
    depth = nesting_depth(html, stop_above=max_depth)
    if depth > max_depth:
        raise HtmlTooDeep(
            f"HTML nested more than {max_depth:,} elements deep (unclosed or deeply nested tags); "
            "extraction time would grow without bound"
        )


def extract_resiliparse(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True, alt_texts=False, links=False, list_bullets=True)


def extract_trafilatura(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True) or ""


EXTRACTORS = {"resiliparse": extract_resiliparse, "trafilatura": extract_trafilatura}


def extract_text(html: str, extractor: str = "resiliparse", max_depth: int = MAX_DEPTH) -> str:
    """Main text of an HTML page: blocks separated by blank lines, as the extractor laid them
    out; lines inside a block (``<pre>`` code, list items) keep their breaks and indentation.

    Raises ``HtmlTooDeep`` (before any parsing) for a page nested deeper than ``max_depth``."""
    check_depth(html, max_depth)
    text = EXTRACTORS[extractor](html)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")

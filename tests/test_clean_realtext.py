"""The clean stage on real documents nobody here wrote (tests/data/realtext, see its README)."""

from __future__ import annotations

import gzip
import json
import re
import textwrap
from pathlib import Path

import pytest

from pipelines.clean import CleanConfig, Cleaner, blocks
from pipelines.clean.outcome import Outcome
from pipelines.clean.whatif import parse_assignments, would_drop

REAL = Path(__file__).parent / "data" / "realtext"


def doc(name: str, text: str | None = None) -> dict:
    path = REAL / name
    meta = {"content_type": "text/html"} if name.endswith(".html") else {}
    return {"id": name, "text": text or path.read_text(encoding="utf-8"), "source": "real", "meta": meta}


def clean(name: str, preset: str, text: str | None = None) -> tuple[dict | None, str | None, Outcome]:
    outcome = Outcome()
    cleaned, reason = Cleaner(CleanConfig(preset=preset)).clean(doc(name, text), None, outcome)
    return cleaned, reason, outcome


@pytest.mark.parametrize("name", ["man-apt-transport-https.1.txt", "python-copyreg.html"])
def test_docs_keeps_a_man_page_and_a_code_bearing_page_that_web_drops(name):
    _, web_reason, _ = clean(name, "web")
    assert web_reason is not None  # a curly bracket, a repeated line: crawl rules say junk
    kept, reason, outcome = clean(name, "docs")
    assert reason is None
    assert outcome.bytes_out / outcome.basis > 0.9
    if name.endswith(".txt"):  # the configuration example keeps its braces and indentation
        assert "       Acquire::https {\n" in kept["text"] and "SSLKey::example.org" in kept["text"]
    else:  # the code sample keeps its lines and indentation
        assert "\n>>> class C:\n...     def __init__(self, a):\n...         self.a = a\n" in kept["text"]


def test_docs_keeps_option_lists_of_a_man_page_in_both_languages():
    for name in ("man-ls.1.txt", "man-ls.zh_CN.1.txt"):
        kept, reason, outcome = clean(name, "docs")
        assert reason is None and outcome.bytes_out / outcome.basis > 0.9, (name, outcome.removed)
        assert "--almost-all" in kept["text"] and "--human-readable" in kept["text"]


NAVIGATION = ["Home", "Downloads", "Documentation", "Community", "Success Stories", "News", "Events", "About"]


def _spam() -> str:
    line = "Cheap licences here! Apache licence for your software, best price, click now to buy."
    return "\n".join([line] * 40)


@pytest.mark.parametrize("preset", ["web", "docs"])
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("junk-dpkg-filelist.txt", None),
        ("junk-base64.txt", None),
        ("spam.txt", _spam()),
        ("navigation.txt", "\n".join(NAVIGATION * 8)),
    ],
)
def test_both_presets_drop_junk(preset, name, text):
    _, reason, _ = clean(name, preset, text)
    assert reason is not None


def _rewrap(paragraphs: list[str], width: int, cjk: bool) -> str:
    if cjk:  # by display columns, as fold and man do: a CJK character is two columns wide
        return "\n\n".join("\n".join(_fold_columns(p, width)) for p in paragraphs)
    return "\n\n".join(textwrap.fill(p, width) for p in paragraphs)


def _fold_columns(text: str, width: int) -> list[str]:
    lines, cur, cols = [], "", 0
    for ch in text:
        w = 2 if blocks.CJK_WIDE.match(ch) else 1
        if cols + w > width:
            lines.append(cur.strip())
            cur, cols = "", 0
        cur += ch
        cols += w
    return [*lines, cur.strip()]


def _prose_paragraphs(name: str, cjk: bool) -> list[str]:
    """The plain prose paragraphs of a real document, unwrapped."""
    text = (REAL / name).read_text(encoding="utf-8")
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.strip("\n").split("\n")]
        if any(
            not ln or ln.startswith(("-", "*", ".", ":", "=", "|", "[", "(")) or "::" in ln for ln in lines
        ):
            continue
        para = ("" if cjk else " ").join(ln.strip() for ln in lines)
        if para.endswith(("。", ".")) and len(para) > (40 if cjk else 120):
            out.append(para)
    return out


@pytest.mark.parametrize("preset", ["web", "docs"])
@pytest.mark.parametrize(
    ("name", "cjk", "width"),
    [
        ("Apache-2.0.txt", False, 72),
        ("kernel-en-bug-hunting.rst", False, 64),
        ("kernel-zh-bug-hunting.rst", True, 80),
    ],
)
def test_hard_wrapped_prose_keeps_its_bytes(preset, name, cjk, width):
    paragraphs = _prose_paragraphs(name, cjk)
    assert len(paragraphs) >= 4
    text = _rewrap(paragraphs, width, cjk)
    assert text.count("\n") > 2 * len(paragraphs)  # really hard-wrapped
    _, reason, outcome = clean(name, preset, text)
    assert reason is None, reason
    assert outcome.bytes_out / outcome.basis >= 0.97, outcome.removed


def test_a_real_licence_keeps_its_text():
    _, reason, web = clean("Apache-2.0.txt", "web")
    assert reason is None and web.bytes_out / web.basis > 0.9, web.removed  # headings are what C4 takes
    kept, reason, docs = clean("Apache-2.0.txt", "docs")
    assert reason is None and docs.bytes_out / docs.basis > 0.97, docs.removed
    assert "You must give any other recipients of the Work" in kept["text"]


def test_every_removed_byte_is_counted_and_scores_are_kept():
    for name in ("man-ls.1.txt", "python-atexit.html", "Apache-2.0.txt"):
        kept, reason, outcome = clean(name, "web")
        assert reason is None
        assert outcome.bytes_in == outcome.bytes_out + sum(outcome.removed.values()), (name, outcome.removed)
        scores = kept["meta"]["quality"]
        assert scores["words"] > 100 and 0 < scores["retained"] <= 1 and scores["lang_score"] > 0.5


def test_what_if_redecides_from_the_kept_scores():
    kept, _, _ = clean("man-ls.1.txt", "docs")
    scores = kept["meta"]["quality"]
    assert would_drop("en", scores, {}) is None
    stricter = parse_assignments([f"clean.thresholds.en.min_words={scores['words'] + 1}"])
    assert would_drop("en", scores, stricter) == "gopher_too_few_words"
    with pytest.raises(ValueError, match=r"clean\.thresholds\.LANG\.KEY=VALUE"):
        parse_assignments(["min_words=5"])


def test_clean_cli_writes_byte_accounting_and_losses(tmp_path):
    from pipelines.clean.__main__ import main as clean_main

    src = tmp_path / "in.jsonl.gz"
    names = ["man-ls.1.txt", "Apache-2.0.txt", "junk-dpkg-filelist.txt", "kernel-zh-bug-hunting.rst"]
    with gzip.open(src, "wt", encoding="utf-8") as f:
        for name in names:
            f.write(json.dumps({"id": name, "text": (REAL / name).read_text(encoding="utf-8")}) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text("clean: {preset: docs}\n")
    out = tmp_path / "out"
    assert clean_main([f"--input={src}", f"--output={out}", f"--config={config}"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    b = stats["annotations"]["bytes_clean"]
    assert b["in"] == b["out"] + b["dropped"] + b["removed"]
    removed = stats["annotations"]["bytes_clean_removed"]
    assert sum(removed.values()) == b["removed"] and removed["c4_line_no_terminal_punct"] > 0
    assert sum(stats["annotations"]["source_docs_in"].values()) == len(names)
    losses = json.loads((out / "clean_losses.json").read_text())
    assert losses and losses == sorted(losses, key=lambda r: -r["lost_fraction"])
    assert {"id", "source", "bytes_in", "bytes_out", "lost_fraction", "removed"} <= set(losses[0])


def test_unknown_preset_and_threshold_are_refused_before_any_work():
    from lmcore.config import ConfigError
    from pipelines.config import load_pipeline_config

    with pytest.raises(ConfigError, match="preset must be one of web, docs"):
        load_pipeline_config(overrides={"clean": {"preset": "doc"}})
    with pytest.raises(ConfigError, match=r"unknown threshold.*min_wrods"):
        load_pipeline_config(overrides={"clean": {"thresholds": {"zh": {"min_wrods": 3}}}})


def test_chinese_conversions_are_applied_and_counted():
    page = (REAL / "man-ls.zh_CN.1.txt").read_text(encoding="utf-8")
    traditional = page.replace("默认为当前目录", "默認為當前目錄") + "\n\n使用 ＧＮＵ ｃｏｒｅｕｔｉｌｓ。"
    outcome = Outcome()
    cleaned, reason = Cleaner(CleanConfig(zh_convert="t2s")).clean(
        doc("man-ls.zh_CN.1.txt", traditional), None, outcome
    )
    assert reason is None
    assert "默认为当前目录" in cleaned["text"] and "目錄" not in cleaned["text"]
    assert "使用 GNU coreutils。" in cleaned["text"]  # full-width letters made ASCII, 。 kept
    assert outcome.changes["zh_t2s_chars"] >= 2 and outcome.changes["fullwidth_ascii_chars"] == 12
    assert outcome.removed["fullwidth_ascii"] == 12 * 2  # 3-byte forms became 1-byte letters
    untouched, _ = Cleaner(CleanConfig()).clean(doc("man-ls.zh_CN.1.txt", traditional), None)
    assert "目錄" in untouched["text"]  # conversion is opt-in


def test_html_nested_beyond_any_browser_is_dropped_quickly():
    import time

    page = "<html><body>" + "<div>" * 200_000 + "text" + "</body></html>"
    started = time.monotonic()
    _, reason, _ = clean("deep.html", "docs", page)
    assert reason == "html_too_deep" and time.monotonic() - started < 10


def test_technical_chinese_is_identified_as_chinese():
    from pipelines.clean.langid import identify

    page = (REAL / "man-ls.zh_CN.1.txt").read_text(encoding="utf-8")
    for start in range(0, 6000, 600):  # every part of the page, option lists included
        found = identify(page[start:])
        assert found.lang == "zh" and found.score > 0.9, (start, found)


def test_technical_chinese_counts_as_chinese_without_a_label():
    from pipelines.clean.segment import is_cjk_text

    page = (REAL / "man-ls.zh_CN.1.txt").read_text(encoding="utf-8")
    options = page[page.index("-a, --all") :]  # option names on every other line
    assert is_cjk_text(options) and not is_cjk_text("The Chinese word 文件 means file.")

"""Each cleaning step alone, as a pure function (no Beam)."""

from __future__ import annotations

import dataclasses

import pytest

from lmcore.text import fix_mojibake, normalize_text
from pipelines.clean import blocks
from pipelines.clean.cleaner import Cleaner
from pipelines.clean.config import CleanConfig
from pipelines.clean.filters.c4 import c4_clean, c4_lines
from pipelines.clean.filters.fineweb import fineweb
from pipelines.clean.filters.gopher_quality import gopher_quality
from pipelines.clean.filters.gopher_repetition import (
    duplicated_ngram_char_fraction,
    gopher_repetition,
    top_ngram_char_fraction,
)
from pipelines.clean.filters.view import TextView
from pipelines.clean.html import extract_text
from pipelines.clean.langid import identify
from pipelines.clean.pii import mask_pii
from pipelines.clean.segment import words
from pipelines.clean.thresholds import load_thresholds

EN = load_thresholds("en")
ZH = load_thresholds("zh")

PROSE_EN = (
    "The history of the town goes back to the twelfth century, when a small group of farmers "
    "settled by the river and built a mill. Over the years the mill became the centre of the "
    "village, and the people who lived there traded grain with the merchants of the coast. "
    "In the winter the river froze and the mill stood still, so the farmers spent their days "
    "repairing tools and telling stories by the fire. Many of those stories are still told "
    "today, and some of them have been written down by the local school teacher.\n\n"
    "The old mill was restored in 1990 and is now a museum that is open to visitors in summer. "
    "It shows how flour was made and how the wheel turned with the water of the river."
)
PROSE_ZH = (
    "我们的城市坐落在一条大河的旁边，历史可以追溯到一千多年以前。那时候，一些农民来到河边定居，"
    "他们开垦土地，修建水磨，慢慢地形成了一个小村庄。后来，村里的人开始和沿海的商人交换粮食和布匹，"
    "村庄也一天天热闹起来。\n\n冬天的时候，河水结了冰，水磨停止了转动，农民们就在家里修理农具，"
    "围着火炉讲故事。这些故事有的流传到了今天，还被学校的老师写成了书。现在，老水磨已经修复，"
    "成为一座博物馆，每年夏天都有很多游客来参观。"
)


def view(text: str, lang: str, t=EN) -> TextView:
    return TextView.of(text, lang, t.attribution_prefixes, terminal=tuple(t.terminal_punctuation))


# -- normalisation -----------------------------------------------------------------------------------
def test_normalize_nfc_controls_whitespace():
    text = "Cafe\u0301\x00\x07\u00a0with tabs\u200b  \r\n\n\n\n  next line  \n\n"
    assert normalize_text(text) == "Café with tabs\n\n  next line"
    code = "def f(x):\n    if x:\n\treturn  1"  # indentation and alignment are content
    assert normalize_text(code) == code


def test_mojibake_repaired_only_when_hinted():
    assert fix_mojibake("CafÃ© dÃ©jÃ  vu") == "Café déjà vu"
    clean = "Plain text with Ã alone stays"
    assert fix_mojibake(clean) is clean


# -- HTML ----------------------------------------------------------------------------------------------
PAGE = """<html><head><title>t</title><script>var tracking = 1;</script><style>p {}</style></head>
<body><nav><a href="/">Home</a> | <a href="/about">About us</a></nav>
<article><h1>A day at the mill</h1>
<p>The mill stood by the river for eight hundred years, grinding the grain of the valley.</p>
<p>Every spring the farmers brought their harvest to the miller and paid him in flour.</p></article>
<footer>Copyright 2024 Example Inc. All rights reserved. Privacy policy</footer></body></html>"""


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
def test_html_extraction_keeps_article_drops_scripts(extractor):
    text = extract_text(PAGE, extractor)
    assert "grinding the grain of the valley" in text and "paid him in flour" in text
    assert "tracking" not in text and "p {}" not in text


# -- language ID and segmentation ------------------------------------------------------------------------
def test_language_identification_offline():
    assert identify(PROSE_EN).lang == "en" and identify(PROSE_EN).score > 0.9
    assert identify(PROSE_ZH).lang == "zh" and identify(PROSE_ZH).score > 0.9
    assert identify("Au commencement, Dieu créa les cieux et la terre.").lang == "fr"


def test_chinese_words_come_from_segmentation():
    zh = words("我们的城市坐落在一条大河的旁边。", "zh")
    assert "城市" in zh and "。" not in zh and 5 <= len(zh) <= 12
    assert words("作者:陆游（１１２５－１２１０）", "zh").count("１１２５") == 1  # digit runs stay whole
    assert words("Don't split the well-known words.", "en") == [
        "Don't",
        "split",
        "the",
        "well-known",
        "words",
    ]


# -- Gopher quality ------------------------------------------------------------------------------------------
def test_gopher_quality_keeps_prose_in_both_languages():
    assert gopher_quality(view(PROSE_EN, "en"), EN) is None
    assert gopher_quality(view(PROSE_ZH, "zh", ZH), ZH) is None


def test_gopher_quality_reasons():
    assert gopher_quality(view("The cat and the dog.", "en"), EN) == "gopher_too_few_words"
    longwords = " ".join(["incomprehensibilities"] * 60) + " the and"
    assert gopher_quality(view(longwords, "en"), EN) == "gopher_mean_word_length"
    hashes = PROSE_EN + " #" * 40
    assert gopher_quality(view(hashes, "en"), EN) == "gopher_symbol_ratio"
    bullets = "\n".join(f"- item number {i} of the list and the rest" for i in range(30))
    assert gopher_quality(view(bullets, "en"), EN) == "gopher_bullet_lines"
    ellipses = "\n".join(f"Read more about the story of town {i} and the mill..." for i in range(20))
    assert gopher_quality(view(ellipses, "en"), EN) == "gopher_ellipsis_lines"
    numbers = " ".join(str(i) for i in range(1000, 1080)) + " the and of"
    assert gopher_quality(view(numbers, "en"), EN) == "gopher_alpha_words"
    no_stop = " ".join(["apple", "banana", "cherry", "orange", "melon"] * 12)
    assert gopher_quality(view(no_stop, "en"), EN) == "gopher_stop_words"


# -- Gopher repetition -------------------------------------------------------------------------------------------
def test_ngram_fractions():
    toks = ["a", "b", "a", "b", "a", "b", "a", "b"]
    assert top_ngram_char_fraction(toks, 2) == 1.0
    assert top_ngram_char_fraction(["a", "b", "c", "d"], 2) == 0.0
    assert duplicated_ngram_char_fraction(["x", "y", "z", "w", "x", "y", "z", "w"], 4) == 0.5
    assert duplicated_ngram_char_fraction(["a", "b", "c", "d", "e", "f"], 2) == 0.0


def test_gopher_repetition_reasons():
    assert gopher_repetition(view(PROSE_EN, "en"), EN) is None
    assert gopher_repetition(view(PROSE_ZH, "zh", ZH), ZH) is None
    lines = "\n".join(["Login", "Register", "Cart", "Search"] * 10)
    assert gopher_repetition(view(lines, "en"), EN) == "gopher_dup_lines"
    spam = " ".join(["buy cheap watches online now"] * 30)
    assert gopher_repetition(view(spam, "en"), EN) == "gopher_top_2gram"
    zh_spam = "下载免费软件，" * 60
    assert gopher_repetition(view(zh_spam, "zh", ZH), ZH) is not None


def test_attribution_lines_do_not_count_as_duplicates_in_chinese():
    sayings = ["山重水复疑无路，柳暗花明又一村。", "人情似纸张张薄，世事如棋局局新。",
               "贫居闹市无人问，富在深山有远亲。", "平生莫作皱眉事，世上应无切齿人。"]  # fmt: skip
    page = "\n\n".join(f"{s}\n--《增广贤文》" for s in sayings)
    assert gopher_repetition(view(page, "zh", ZH), ZH) is None
    assert fineweb(view(page, "zh", ZH), ZH) is None
    # English keeps the published rule: no exemption unless configured.
    assert gopher_repetition(view(page.replace("增广贤文", "Proverbs"), "en"), EN) == "gopher_dup_lines"


# -- C4 ---------------------------------------------------------------------------------------------------------------
def test_c4_line_cleanup_and_page_rules():
    text = (
        "Home | About | Contact\n"
        "The mill stood by the river for eight hundred years.\n"
        "Please enable JavaScript to view this page.\n"
        "This site uses cookies to improve your experience.\n"
        "It ground the grain of the whole valley.\n"
        "Farmers paid the miller in flour.\n"
        "The river froze in winter.\n"
        "In spring the wheel turned again!"
    )
    cleaned, reason = c4_clean(text, "en", EN)
    assert reason is None
    assert "Home" not in cleaned and "JavaScript" not in cleaned and "cookies" not in cleaned
    assert cleaned.startswith("The mill stood") and cleaned.endswith("turned again!")
    assert c4_clean("Lorem ipsum dolor sit amet. " * 10, "en", EN)[1] == "c4_lorem_ipsum"
    assert c4_clean(PROSE_EN + "\nfunction f() { return 1; }", "en", EN)[1] == "c4_curly_bracket"
    assert c4_clean("One short sentence here.", "en", EN)[1] == "c4_too_few_sentences"


def test_c4_uses_chinese_sentence_punctuation():
    cleaned, reason = c4_clean(PROSE_ZH, "zh", ZH)
    assert reason is None and cleaned == PROSE_ZH
    # With English punctuation rules every Chinese line would be removed.
    assert c4_clean(PROSE_ZH, "zh", EN)[1] == "c4_too_few_sentences"


# -- FineWeb ---------------------------------------------------------------------------------------------------------
def test_fineweb_reasons():
    assert fineweb(view(PROSE_EN, "en"), EN) is None
    no_punct = "\n".join(f"a heading without a full stop number {i} here" for i in range(20))
    assert fineweb(view(no_punct, "en"), EN) == "fineweb_line_punctuation"
    short = "\n".join(f"Item {i}." for i in range(20))
    assert fineweb(view(short, "en"), EN) == "fineweb_short_lines"
    dup = PROSE_EN + "\nRead the full story of the old mill here today.\n" * 2
    assert fineweb(view(dup, "en"), EN) == "fineweb_dup_line_chars"


# -- PII -----------------------------------------------------------------------------------------------------------
def test_pii_masking_and_counts():
    text = (
        "Write to jane.doe@example.org or call +1 555-123-4567, (020) 7946 0958 or 13812345678. "
        "Server 192.0.2.15, 2001:db8::1 and 2001:0db8:85a3:0000:0000:8a2e:0370:7334."
    )
    masked, counts = mask_pii(text)
    assert counts == {"email": 1, "phone": 3, "ip": 3}
    assert "<EMAIL>" in masked and masked.count("<PHONE>") == 3 and masked.count("<IP>") == 3
    assert "example.org" not in masked and "192.0.2" not in masked


def test_pii_leaves_verses_numbers_and_versions_alone():
    text = (
        "Genesis 1:1 (1611), John 3:16, 10:30 a.m., pi is 3.14159, version 1.2.3.4.5, std::vector, 2,000 men."
    )
    assert mask_pii(text) == (text, {})


# -- the whole document --------------------------------------------------------------------------------------------
def test_cleaner_annotates_and_masks():
    doc = {"id": "1", "text": PROSE_EN + "\n\nContact the museum at info@example.org today.", "source": "s",
           "url": None, "lang": None, "lang_score": None, "meta": {}}  # fmt: skip
    cleaned, reason = Cleaner(CleanConfig()).clean(doc)
    assert reason is None
    assert cleaned["lang"] == "en" and cleaned["lang_score"] > 0.9
    assert "<EMAIL>" in cleaned["text"] and cleaned["meta"]["pii"] == {"email": 1}
    assert doc["text"].endswith("info@example.org today.")  # input untouched


def test_cleaner_html_language_and_threshold_overrides():
    html = {"id": "h", "text": PAGE.replace("</article>", "<p>" + PROSE_EN + "</p></article>"), "source": "s",
            "url": None, "lang": None, "lang_score": None, "meta": {"content_type": "text/html"}}  # fmt: skip
    cleaned, reason = Cleaner(CleanConfig()).clean(html)
    assert reason is None and "<p>" not in cleaned["text"] and cleaned["meta"]["extracted_from"] == "html"
    zh = {**html, "text": PROSE_ZH, "meta": {}}
    assert Cleaner(CleanConfig(languages=["en"])).clean(zh) == (None, "language_not_allowed")
    strict = CleanConfig(thresholds={"zh": {"min_words": 500}})
    assert Cleaner(strict).clean(zh) == (None, "gopher_too_few_words")
    assert Cleaner(CleanConfig()).clean({**zh, "text": "短。"}) == (None, "too_short")
    assert Cleaner(CleanConfig(thresholds={"default": {"max_chars": 100}})).clean(zh) == (None, "too_long")


def test_unknown_threshold_is_an_error():
    with pytest.raises(ValueError, match="unknown threshold"):
        load_thresholds("en", overrides="en: {min_wrods: 3}\n")


def reference_top(words: list[str], n: int) -> float:
    from collections import Counter

    grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    gram, count = grams.most_common(1)[0]
    return 0.0 if count <= 1 else sum(map(len, gram)) * count / sum(map(len, words))


def reference_dup(words: list[str], n: int) -> float:
    seen, repeated, i = set(), 0, 0
    while i <= len(words) - n:
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeated, i = repeated + sum(map(len, gram)), i + n
        else:
            seen.add(gram)
            i += 1
    return repeated / sum(map(len, words))


def test_vectorised_ngram_statistics_equal_the_definitions():
    import random

    from pipelines.clean.ngrams import NgramIndex

    rng = random.Random(7)
    vocab = ["a", "bb", "ccc", "the", "of", "mill", "river", "。", "我们"]
    for trial in range(60):
        words = [rng.choice(vocab[: rng.randint(2, len(vocab))]) for _ in range(rng.randint(1, 80))]
        index = NgramIndex(words)
        for n in (2, 3, 4, 5, 7, 10):
            if len(words) < n:
                continue
            assert index.top_fraction(n) == pytest.approx(reference_top(words, n)), (trial, n)
            exact = reference_dup(words, n)
            assert index.duplicated_fraction(n) == pytest.approx(exact), (trial, n)
            assert index.duplicated_fraction_bound(n) >= exact - 1e-12
            for limit in (0.0, 0.1, 0.3):
                assert index.top_exceeds(n, limit) == (reference_top(words, n) > limit)
                assert index.duplicated_exceeds(n, limit) == (exact > limit)


def test_hard_wrapped_chinese_is_judged_as_whole_paragraphs():
    wrapped = [
        "引导加载程序是启动过程的第二阶段，由 BIOS 启动。引导加载程序将系统内核映像和",
        "initrd 映像加载到内存并将控制权交给它们。当前的内核镜像从技术上说是初始化",
        "文件系统镜像。",
    ]
    lines = blocks.logical_lines(wrapped, ("。",))
    assert [(ln.first, ln.last) for ln in lines] == [(0, 2)]
    assert lines[0].text.endswith("初始化文件系统镜像。") and "映像和 initrd 映像" in lines[0].text
    table = ["│ 命令 │ 说明 │", "│ ls │ 列出文件 │", "* 列表项", "下一行"]
    assert [(ln.first, ln.last) for ln in blocks.logical_lines(table, ("。",))] == [(0, 0), (1, 1), (2, 3)]
    text = "\n".join(wrapped) + "\n" + PROSE_ZH
    cleaned, reason = c4_clean(text, "zh", ZH)
    # the wrapped paragraph survives byte for byte, its line breaks included
    assert reason is None and cleaned.startswith("\n".join(wrapped))


def test_hard_wrapped_english_keeps_its_paragraphs():
    para = (
        "The licenses for most software and other practical works are designed\n"
        "to take away your freedom to share and change the works.  By contrast,\n"
        "the GNU General Public License is intended to guarantee your freedom to\n"
        "share and change all versions of a program--to make sure it remains free\n"
        "software for all its users."
    )
    text = "\n\n".join([para] * 3)
    cleaned, removed = c4_lines(text, "en", EN)
    assert cleaned == text and removed == {}
    # judged line by line, as C4 was published, only each paragraph's last line is left
    one_by_one = dataclasses.replace(EN, c4_join_wrapped_lines=False)
    cleaned, removed = c4_lines(text, "en", one_by_one)
    assert cleaned.count("\n") == 4 and removed["c4_line_no_terminal_punct"] > 0.7 * len(text)


def test_lists_and_code_keep_their_lines():
    text = (
        "Avahi has the following requirements:\n"
        "- glib2\n"
        "- expat\n"
        "\n"
        "    for (i = 0; i < n; i++) {\n"
        "        total += x[i];\n"
        "    }\n"
    )
    kinds = [ln.kind for ln in blocks.logical_lines(text.split("\n"), (".",))]
    assert kinds == ["prose", "list", "list", "code", "code", "code"]

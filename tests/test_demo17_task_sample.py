"""The bundled labelled set (data/sample/tasks/man-sections) and the functions that build it."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from scripts.make_task_sample import (
    LABELS,
    copyright_paragraphs,
    man_sections,
    page_licence,
    page_text,
    section_of,
    shorten,
)

SET = Path(__file__).resolve().parents[1] / "data" / "sample" / "tasks" / "man-sections"

RENDERED_EN = """\
LS(1)                            User Commands                           LS(1)

NAME
       ls - list directory contents

SYNOPSIS
       ls [OPTION]... [FILE]...

DESCRIPTION
       List  information  about  the FILEs (the current directory by default).
       Sort entries alphabetically.

       Mandatory arguments to long options are mandatory for short options too.

SEE ALSO
       dir(1)

GNU coreutils 9.1                 September 2022                          LS(1)"""

RENDERED_ZH = """\
PASSWD(5)               File Formats and Configuration               PASSWD(5)

名称 NAME
       passwd - 密码文件

描述 (DESCRIPTION)
       /etc/passwd 文件中每个用户
       占一行。

跋
       本页面中文版由中文 man 手册页计划提供。"""


def read(lang: str) -> list[dict]:
    return [json.loads(line) for line in (SET / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_page_text_is_name_and_description_without_header_or_synopsis():
    text = page_text(RENDERED_EN, max_chars=1000)
    assert text.splitlines()[0] == "ls - list directory contents"
    assert "List information about the FILEs (the current directory by default). Sort entries" in text
    assert "LS(1)" not in text and "User Commands" not in text  # the header names the section
    assert "[OPTION]" not in text and "dir(1)" not in text  # synopsis and see-also left out


def test_chinese_headings_with_english_in_them_are_found():
    text = page_text(RENDERED_ZH, max_chars=1000)
    assert text.splitlines()[0] == "passwd - 密码文件"
    assert "每个用户 占一行" in text
    assert "中文 man 手册页计划" not in text  # the translators' footer section is not the page


def test_page_without_description_gives_nothing():
    assert page_text(RENDERED_EN.replace("DESCRIPTION", "OPTIONS"), max_chars=1000) is None
    assert list(man_sections(RENDERED_EN)) == ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"]


def test_shorten_cuts_at_a_sentence_end_within_the_limit():
    text = "First sentence here. Second sentence is longer than the rest of it all."
    cut = shorten(text, 36)
    assert cut == "First sentence here."
    assert shorten(text, 60) == "First sentence here. Second sentence is longer than the"
    assert shorten(text, 500) == text


@pytest.mark.parametrize(
    ("path", "section"),
    [("/usr/share/man/man3/printf.3.gz", "3"), ("/usr/share/man/zh_CN/man3/after.3tcl.gz", "3")],
)
def test_section_of(path, section):
    assert section_of(Path(path)) == section


def test_page_licence_last_matching_files_paragraph_wins():
    copyright = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: someone
License: GFDL-1.2+

Files:
 src/man1/kill.1
Copyright: others
License: GPL-2.0

Files: man3/CIRCLEQ_*.3 man3/queue.3
License: BSD-3-clause
"""
    paragraphs = copyright_paragraphs(copyright)
    assert page_licence(paragraphs, "man1/kill.1") == "GPL-2.0"
    assert page_licence(paragraphs, "man1/ls.1") == "GFDL-1.2+"
    assert page_licence(paragraphs, "man3/CIRCLEQ_EMPTY.3") == "BSD-3-clause"
    assert page_licence([], "man1/ls.1") is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bundled_set_records(lang):
    records = read(lang)
    assert 200 <= len(records) <= 400
    assert all(set(r) == {"id", "text", "label", "lang"} for r in records)
    assert {r["lang"] for r in records} == {lang}
    assert set(Counter(r["label"] for r in records)) == set(LABELS)
    assert min(Counter(r["label"] for r in records).values()) >= 40
    assert len({r["id"] for r in records}) == len(records)
    assert all(80 <= len(r["text"]) <= 500 for r in records)
    # no text carries the header or footer line, which names the section (``LS(1) User Commands LS(1)``)
    header = re.compile(r"^(\S+\(\d\w*\)) .* \1$", re.MULTILINE)
    assert header.search(" ".join(["LS(1)", "User", "Commands", "LS(1)"]))
    assert not [r["id"] for r in records if header.search(r["text"])]


def test_chinese_examples_are_chinese():
    cjk = lambda s: sum("\u4e00" <= c <= "\u9fff" for c in s) / max(1, sum(c.isalpha() for c in s))  # noqa: E731
    assert all(cjk(r["text"]) >= 0.3 for r in read("zh"))


def test_bundled_set_is_small_and_every_page_has_a_licence():
    assert sum(p.stat().st_size for p in SET.iterdir()) < 1_000_000
    prov = json.loads((SET / "provenance.json").read_text(encoding="utf-8"))
    ids = {r["id"] for lang in ("en", "zh") for r in read(lang)}
    assert set(prov["pages"]) == ids
    assert all(v["package"] != "(unowned)" and v["licence"] for v in prov["pages"].values())
    assert prov["counts"]["zh"] == dict(sorted(Counter(r["label"] for r in read("zh")).items()))
    assert all(prov["pages"][i]["package"] == "manpages-zh" for i in ids if "zh_CN/man1/ls.1" in i)

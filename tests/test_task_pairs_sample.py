"""The bundled paired set (``data/sample/tasks/ui-messages``) and the cleaning rules of
``scripts/make_pairs_sample.py`` that made it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.make_pairs_sample import clean_pair, is_free, messages, only_format, strip_accelerators

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "data" / "sample" / "tasks" / "ui-messages"


@pytest.mark.parametrize(
    "msgid, msgstr, pair",
    [
        ("_Open", "打开(_O)", ("Open", "打开")),
        ("Save _As…", "另存为(_A)…", ("Save As…", "另存为…")),
        ("Pag_es:", "页面(_E)：", ("Pages", "页面")),
        ("_Red:", "红（_R）：", ("Red", "红")),
        ("Name:", "名称：", ("Name", "名称")),
        ("rule_name", "规则_名称", ("rule_name", "规则_名称")),  # no accelerator in the translation
        ("  cannot open %s\n", "无法打开 %s\n", ("cannot open %s", "无法打开 %s")),
        ("-E      (ignored)", "-E      （忽略）", ("-E (ignored)", "-E （忽略）")),
        ("%s: %s", "%s：%s", None),  # only format specifiers
        ("%d%%", "%d%%", None),
        ("OK", "确定", None),  # too short
        ("x" * 61, "长", None),  # too long
        ("two\nlines here", "两\n行", None),
        ("Untranslated", "Untranslated", None),
        ("GNU", "GNU", None),
        ("Copy link", "Kopieren", None),  # the target has no Chinese
    ],
)
def test_clean_pair(msgid, msgstr, pair):
    assert clean_pair(msgid, msgstr) == pair


def test_accelerators_come_off_only_when_the_translation_marks_one():
    assert strip_accelerators("_File", "文件(_F)") == ("File", "文件")
    assert strip_accelerators("&Quit", "退出(&Q)") == ("Quit", "退出")
    assert strip_accelerators("AF_INET", "AF_INET 地址") == ("AF_INET", "AF_INET 地址")


def test_messages_skip_plurals_the_header_and_untranslated_entries_and_strip_the_context():
    catalog = {
        "": "Project-Id-Version: x\n",
        ("%d file", 0): "%d 个文件",
        "Stock label\x04_Close": "关闭(_C)",
        "Open file": "打开文件",
        "Empty": "",
    }
    assert sorted(messages(catalog)) == [("Open file", "打开文件"), ("_Close", "关闭(_C)")]


def test_only_format():
    assert only_format("%s: %-10lu (%1$s) {0} ${HOME}")
    assert not only_format("%s: not found")


def test_licences_of_the_gpl_family_are_free_and_others_are_left_out():
    assert all(is_free(x) for x in ("GPL-2+", "LGPL-2.1+", "GPL-2+ and LGPL-2.1+", "BSD-3-clause or GPL"))
    assert not any(is_free(x) for x in ("PostgreSQL", "GFDL-NIV-1.3+", "BSD-3-clause", "expat", "unknown"))


def test_the_bundled_set_is_what_its_readme_and_provenance_say():
    lines = (SET / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(x) for x in lines]
    assert 4000 <= len(records) <= 6000 and (SET / "pairs.jsonl").stat().st_size < 1_000_000
    assert all(list(r) == ["id", "source", "target", "package"] for r in records)
    assert len({r["id"] for r in records}) == len(records)
    assert len({(r["source"], r["target"]) for r in records}) == len(records)
    assert all(clean_pair(r["source"], r["target"]) == (r["source"], r["target"]) for r in records)
    prov = json.loads((SET / "provenance.json").read_text(encoding="utf-8"))
    assert prov["pairs"] == len(records)
    per_package = {name: p["pairs"] for name, p in prov["packages"].items()}
    assert sum(per_package.values()) == len(records)
    assert {r["package"] for r in records} == set(per_package)
    assert all(is_free(p["licence"]) and p["version"] for p in prov["packages"].values())

"""Thresholds: defaults written once (``Thresholds``), the same values as before for every
language and preset, and every layer checked when the config is loaded."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import yaml

from lmcore.config import ConfigError
from pipelines.clean import thresholds as th
from pipelines.clean.thresholds import LANGUAGE_DIR, Thresholds, load_thresholds
from pipelines.config import load_pipeline_config

# Frozen from ``load_thresholds(lang, preset=p)`` before the defaults moved out of
# default.yaml: the published defaults (web preset, no language) ...
BASE = {
    "attribution_prefixes": [],
    "c4_bad_line_phrases": ["javascript", "terms of use", "privacy policy", "cookie policy",
                            "uses cookies", "use of cookies", "use cookies"],
    "c4_bad_page_phrases": ["lorem ipsum", "{"],
    "c4_clause_punctuation": ";:",
    "c4_join_wrapped_lines": True,
    "c4_max_word_length": 1000,
    "c4_min_sentences": 5,
    "c4_min_words_per_line": 3,
    "c4_terminal_exempt_words": 0,
    "dup_ngram_max_frac": {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.1},
    "fineweb_max_dup_line_char_ratio": 0.01,
    "fineweb_max_newline_word_ratio": 0.3,
    "fineweb_max_short_line_ratio": 0.67,
    "fineweb_min_line_punct_ratio": 0.12,
    "fineweb_short_line_chars": 30,
    "max_bullet_lines_ratio": 0.9,
    "max_chars": 1000000,
    "max_dup_line_char_frac": 0.2,
    "max_dup_line_frac": 0.3,
    "max_dup_para_char_frac": 0.2,
    "max_dup_para_frac": 0.3,
    "max_ellipsis_lines_ratio": 0.3,
    "max_leak_char_ratio": 0.05,
    "max_mean_word_length": 10.0,
    "max_symbol_word_ratio": 0.1,
    "max_words": 100000,
    "min_alpha_words_ratio": 0.8,
    "min_chars": 200,
    "min_lang_score": 0.5,
    "min_mean_word_length": 3.0,
    "min_stop_words": 2,
    "min_words": 50,
    "stop_words": ["the", "be", "to", "of", "and", "that", "have", "with"],
    "terminal_punctuation": ".!?\"'",
    "top_ngram_max_frac": {"2": 0.2, "3": 0.18, "4": 0.16},
}  # fmt: skip
# ... what the docs preset changes for every language ...
DOCS = {
    "c4_terminal_exempt_words": 12,
    "dup_ngram_max_frac": {"5": 0.3, "6": 0.28, "7": 0.26, "8": 0.24, "9": 0.22, "10": 0.2},
    "fineweb_max_dup_line_char_ratio": 0.1,
}
EN = {"min_lang_score": 0.65}
ZH = {
    "attribution_prefixes": ["--", "——", "—", "－－"],
    "c4_min_sentences": 3,
    "c4_min_words_per_line": 2,
    "dup_ngram_max_frac": {"10": 0.15, "12": 0.14, "14": 0.13, "16": 0.12, "18": 0.11, "20": 0.1},
    "fineweb_max_newline_word_ratio": 0.5,
    "fineweb_short_line_chars": 10,
    "max_mean_word_length": 4.0,
    "min_chars": 60,
    "min_mean_word_length": 1.0,
    "stop_words": [
        "的",
        "了",
        "是",
        "在",
        "和",
        "有",
        "我",
        "也",
        "不",
        "就",
        "人",
        "都",
        "一",
        "这",
        "你",
        "他",
        "我们",
        "说",
        "要",
        "会",
        "着",
        "没有",
        "上",
        "中",
        "下",
        "来",
        "去",
        "之",
        "而",
        "其",
        "以",
        "于",
        "为",
        "者",
        "矣",
        "乎",
        "与",
        "何",
        "兮",
        "焉",
        "哉",
        "所",
        "此",
        "无",
        "自",
        "如",
        "似",
        "若",
        "未",
        "已",
        "又",
        "亦",
        "皆",
        "将",
        "欲",
        "莫",
        "休",
        "非",
        "应",
        "相",
        "还",
        "更",
        "谁",
        "能",
        "可",
        "君",
        "犹",
        "则",
        "乃",
        "故",
        "且",
        "虽",
        "但",
        "及",
        "即",
        "便",
    ],
    "terminal_punctuation": "。！？!?…」』”’\"'）)》.；;",
    "top_ngram_max_frac": {"4": 0.2, "6": 0.18, "8": 0.16},
}
ZH_DOCS = {
    "dup_ngram_max_frac": {"10": 0.3, "12": 0.28, "14": 0.26, "16": 0.24, "18": 0.22, "20": 0.2},
    "max_mean_word_length": 6.0,
}
LAYERS = {None: [], "en": [EN], "zh": [ZH], "fr": []}
# sha256 of the whole frozen table (json.dumps(..., sort_keys=True, ensure_ascii=False))
FROZEN_SHA256 = "6c7312912abd8d1b4b331049349f563126ed5857e0e635ebc64750473ce3dca9"


def plain(t: Thresholds) -> dict:
    """JSON-like: tuples as lists, n-gram sizes as strings (types kept: 1 is not 1.0)."""
    return json.loads(json.dumps(dataclasses.asdict(t)))


def expected(lang: str | None, preset: str) -> dict:
    out = dict(BASE)
    for layer in (
        LAYERS[lang]
        + ([DOCS] if preset == "docs" else [])
        + ([ZH_DOCS] if (lang, preset) == ("zh", "docs") else [])
    ):
        out.update(layer)
    return out


@pytest.mark.parametrize("preset", ["web", "docs"])
@pytest.mark.parametrize("lang", [None, "en", "zh", "fr"])
def test_loaded_thresholds_are_those_frozen_before_the_move(lang, preset):
    got = plain(load_thresholds(lang, preset=preset))
    want = expected(lang, preset)
    assert json.dumps(got, sort_keys=True, ensure_ascii=False) == json.dumps(
        want, sort_keys=True, ensure_ascii=False
    )


def test_the_whole_frozen_table_matches_its_digest():
    table = {
        f"{lang or 'default'}/{p}": plain(load_thresholds(lang, preset=p))
        for lang in (None, "en", "zh", "fr")
        for p in ("web", "docs")
    }
    text = json.dumps(table, sort_keys=True, ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == FROZEN_SHA256


def test_defaults_are_written_once_in_the_dataclass():
    defaults = dataclasses.asdict(Thresholds())
    for path in sorted(LANGUAGE_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        sections = data.items() if path.stem.startswith("preset-") else [(path.stem, data)]
        for section, values in sections:
            for key, value in values.items():
                default = defaults[key]
                value = tuple(value) if isinstance(default, tuple) else value
                assert value != default, f"{path.name}: {section}.{key} repeats the default {default!r}"
    assert not (yaml.safe_load((LANGUAGE_DIR / "default.yaml").read_text()) or {})


@pytest.mark.parametrize(
    ("section", "pattern"),
    [
        ({"zh": {"min_wrods": 3}}, r"clean\.thresholds\.zh: unknown threshold\(s\) \['min_wrods'\]"),
        ({"fr": {"min_words": "many"}}, r"clean\.thresholds\.fr\.min_words: expected an integer"),
        ({"default": {"max_dup_line_frac": 1.5}}, r"clean\.thresholds\.default\.max_dup_line_frac must be in \[0, 1\], not 1\.5"),
        ({"en": {"min_chars": -1}}, r"clean\.thresholds\.en\.min_chars must be >= 0, not -1"),
        ({"zh": {"stop_words": ["的", ""]}}, r"clean\.thresholds\.zh\.stop_words must not contain an empty string"),
        ({"zh": {"top_ngram_max_frac": {0: 0.2}}}, r"clean\.thresholds\.zh\.top_ngram_max_frac n-gram size must be >= 1, not 0"),
        ({"zh": {"dup_ngram_max_frac": {5: 2}}}, r"clean\.thresholds\.zh\.dup_ngram_max_frac\.5 must be in \[0, 1\]"),
        ({"zh": 3}, r"clean\.thresholds\.zh must be a mapping of threshold: value"),
        ({"de": {"c4_max_word_length": 0}}, r"clean\.thresholds\.de\.c4_max_word_length must be >= 1, not 0"),
    ],
)  # fmt: skip
def test_a_bad_threshold_override_fails_when_the_config_is_loaded(section, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_pipeline_config(overrides={"clean": {"thresholds": section}})


def test_a_language_not_in_the_allowed_list_is_checked_too():
    # "de" has no file and is not in clean.languages: its section is still read at load time
    with pytest.raises(ConfigError, match=r"clean\.thresholds\.de"):
        load_pipeline_config(
            overrides={"clean": {"languages": ["en"], "thresholds": {"de": {"min_wrods": 1}}}}
        )


def test_every_language_file_is_checked_at_load_time(tmp_path):
    for path in LANGUAGE_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "ja.yaml").write_text("min_wrods: 3\n")  # a language nobody configured
    with pytest.raises(ConfigError, match=r"languages/ja\.yaml: unknown threshold\(s\) \['min_wrods'\]"):
        th.check_thresholds("", "docs", directory=str(tmp_path))
    (tmp_path / "ja.yaml").write_text("min_words: 3\n")
    (tmp_path / "preset-docs.yaml").write_text("ja: {max_chars: -5}\n")
    with pytest.raises(ConfigError, match=r"languages/preset-docs\.yaml\.ja\.max_chars must be >= 0, not -5"):
        th.check_thresholds("", "docs", directory=str(tmp_path))


def test_direct_construction_checks_too():
    with pytest.raises(ConfigError, match=r"thresholds\.min_lang_score must be in \[0, 1\]"):
        Thresholds(min_lang_score=2.0)
    # JSON keys (stats.json's recorded config) are n-gram sizes as strings
    t = load_thresholds("en", overrides=json.dumps({"en": {"top_ngram_max_frac": {"2": 0.25}}}))
    assert t.top_ngram_max_frac == {2: 0.25}

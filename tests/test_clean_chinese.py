"""Chinese normalisation: OpenCC Traditional -> Simplified and full-width -> half-width."""

from __future__ import annotations

import threading

import opencc
import pytest

from pipelines.clean import chinese
from pipelines.clean.chinese import CJK_PRESENT, fullwidth_to_halfwidth, has_cjk, to_simplified

TRAD = "漢字轉換測試，這是一個繁體中文句子。"
SIMP = "汉字转换测试，这是一个繁体中文句子。"


# -- Traditional -> Simplified -------------------------------------------------------------------------
def test_to_simplified_round_trip():
    out, changed = to_simplified(TRAD)
    assert out == SIMP
    assert changed == sum(a != b for a, b in zip(TRAD, SIMP)) == 8  # 漢轉換測試這個體
    assert opencc.OpenCC("s2t").convert(out) == TRAD


def test_to_simplified_leaves_simplified_and_english_alone():
    for text in (SIMP, "Plain English, no CJK at all.", "Café déjà vu — naïve", ""):
        out, changed = to_simplified(text)
        assert (out, changed) == (text, 0)
        assert out is text


def test_to_simplified_idempotent_and_length_preserving():
    text = "頭髮與理髮店：乾燥的天氣裡，衆人爲什麼要去峯會？"
    once, changed = to_simplified(text)
    assert once == "头发与理发店：干燥的天气里，众人为什么要去峰会？"
    assert len(once) == len(text) and changed == 12
    assert to_simplified(once) == (once, 0)


def test_to_simplified_mixed_technical_sentence():
    text = "在 Linux 上執行 `pip install torch==2.13` 後，GPU 記憶體使用量會顯示在終端機。"
    out, changed = to_simplified(text)
    assert out == "在 Linux 上执行 `pip install torch==2.13` 后，GPU 记忆体使用量会显示在终端机。"
    assert changed == 9  # character forms only; 記憶體 is not rewritten as 内存


def test_tofu_risk_dictionary_left_out():
    # With it, rare characters map to extension-plane forms that native Simplified text lacks.
    assert opencc.OpenCC("t2s", include_tofu_risk_dictionaries=True).convert("鞾") == "\U0002b587"
    assert to_simplified("鞾") == ("鞾", 0)


def test_regional_configs():
    assert to_simplified("他看著我")[0] == "他看著我"  # t2s makes no guess about 著
    assert to_simplified("他看著我", config="tw2s")[0] == "他看着我"
    assert to_simplified("衞生", config="hk2s")[0] == "卫生"
    with pytest.raises(ValueError):
        to_simplified("漢字", config="tw2sp")  # type: ignore[arg-type]


def test_to_simplified_survives_lone_surrogates():
    assert to_simplified("漢\ud800字") == ("汉\ud800字", 1)


def test_count_when_length_changes(monkeypatch: pytest.MonkeyPatch):
    class Phrasal:  # stands in for a dictionary that rewrites 記憶體 as 内存
        def convert(self, text: str) -> str:
            return text.replace("記憶體", "内存")

    monkeypatch.setitem(chinese._converters, "t2s", Phrasal())
    assert to_simplified("一條記憶體") == ("一條内存", 3)


def test_converter_cached_and_thread_safe():
    chinese._converters.pop("hk2s", None)
    results: list[tuple[str, int]] = []

    def work() -> None:
        for _ in range(50):
            results.append(to_simplified(TRAD, config="hk2s"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {(SIMP, 8)}
    assert chinese._converter("hk2s") is chinese._converter("hk2s")


def test_cjk_present():
    assert has_cjk("GPU 記憶體") and has_cjk("\U00020000") and has_cjk("\uf900")
    assert not has_cjk("GPU memory") and not has_cjk("Ｇ，。「」") and not has_cjk("")
    assert CJK_PRESENT.search("abc漢") is not None


# -- full-width -> half-width ----------------------------------------------------------------------------
def test_fullwidth_letters_digits_symbols_converted():
    text = "ＧＰＵ型號ＲＴＸ　４０９０，郵箱ａ＠ｂ．ｃｏｍ，Ｃ＋＋與１／２＝０．５＃"
    out, changed = fullwidth_to_halfwidth(text)
    assert out == "GPU型號RTX 4090，郵箱a@b.com，C++與1/2=0.5#"
    assert changed == 29


def test_chinese_punctuation_kept_by_default_converted_on_request():
    text = "真的嗎？是的！注意：（一）甲；乙，丙［１］。「好」、《書》１～３"
    out, changed = fullwidth_to_halfwidth(text)
    assert out == "真的嗎？是的！注意：（一）甲；乙，丙［1］。「好」、《書》1～3"
    assert changed == 3
    out, changed = fullwidth_to_halfwidth(text, punctuation=True)
    assert out == "真的嗎?是的!注意:(一)甲;乙,丙[1]。「好」、《書》1~3"
    assert changed == 13


def test_fullwidth_whole_block_and_ideographic_space():
    block = "".join(map(chr, range(0xFF01, 0xFF5F)))
    ascii_ = "".join(map(chr, range(0x21, 0x7F)))
    assert fullwidth_to_halfwidth(block, punctuation=True) == (ascii_, 94)
    kept, changed = fullwidth_to_halfwidth(block)
    assert changed == 94 - len(chinese.CHINESE_PUNCTUATION)
    assert "".join(c for c in kept if not c.isascii()) == "！（），：；？［］～"
    assert fullwidth_to_halfwidth("　　段落開頭") == ("  段落開頭", 2)


def test_fullwidth_idempotent_and_no_op():
    text = "ＡＩ模型，共１２８層！"
    for punctuation in (False, True):
        once, _ = fullwidth_to_halfwidth(text, punctuation)
        assert fullwidth_to_halfwidth(once, punctuation) == (once, 0)
    for text in ("plain ascii", "中文，没有全角字母。", ""):
        out, changed = fullwidth_to_halfwidth(text)
        assert out is text and changed == 0


def test_mixed_sentence_both_steps():
    text = "使用ｐｙｔｈｏｎ３．１１與ＣＵＤＡ１２訓練模型，速度提升５０％！"
    half, n_width = fullwidth_to_halfwidth(text)
    simp, n_script = to_simplified(half)
    assert simp == "使用python3.11与CUDA12训练模型，速度提升50%！"
    assert (n_width, n_script) == (19, 3)

"""Chinese text normalisation: Traditional -> Simplified script, full-width -> half-width forms.

Pure functions, no Beam. Each returns ``(new_text, changed)``, ``changed`` being the number of
characters replaced, so the stage can report how much of the corpus each step touched.

Script (``to_simplified``). A corpus mixes Simplified text with Traditional text from Taiwan,
Hong Kong and classical sources; converting all of it to one script lets the tokenizer learn one
vocabulary and lets dedup see "漢字" and "汉字" as the same text. Conversion uses OpenCC (the
``opencc`` wheel), whose dictionaries ship inside the wheel: nothing is downloaded at run time.

* Config ``t2s`` by default. It maps OpenCC's standard Traditional characters and phrases and
  also accepts the Taiwan and Hong Kong glyph variants that have a fixed Simplified form (裡, 為,
  眾, 峯 ...). ``tw2s`` and ``hk2s`` first rewrite regional variants; that only helps when the
  region is known, which it is not for a web document, and it can guess wrong: ``tw2s`` turns
  every 著 outside its phrase list into 着, so 看著 becomes 看着 but 原著, 編著 and 土著 become
  原着, 编着 and 土着. ``t2s`` never makes such a guess; the price is that Taiwan's particle 著
  (看著) and a few Hong Kong forms (衞, 衹, 粧, 枱) stay as they are. Pass ``config`` when the
  source is known. The phrase configs (``tw2sp``, ``hk2sp``) are not offered: they translate
  vocabulary (軟體 -> 软件, 記憶體 -> 内存), which is rewriting, not changing script.
* OpenCC's "tofu-risk" dictionary is left out (the Python binding includes it by default, its
  command line does not). It maps some 900 rare Traditional characters to analogically
  simplified forms in the CJK extension planes (鞾 -> U+2B587), which native Simplified text
  almost never uses and many fonts cannot draw; keeping 鞾 matches what real Simplified text
  contains.
* Length: with these configs and the dictionaries shipped in the wheel, every mapping, phrases
  included, keeps the number of code points, so ``len`` is unchanged and ``changed`` counts the
  positions that differ. Phrase configs can change length (記憶體 -> 内存); should a future
  dictionary do so, ``changed`` falls back to the length of the span between the common prefix
  and suffix, an upper bound.
* OpenCC also folds CJK compatibility ideographs (U+F900-FAFF, U+2F800-2FA1F) to the unified
  ones, exactly as NFC does, so after the stage's NFC step this adds nothing.
* One converter per config per process, created under a lock. The binding holds the GIL while it
  converts, so threads share it safely but do not convert in parallel; processes do.

Width (``fullwidth_to_halfwidth``). Text typed with a Chinese input method often carries the
full-width forms of ASCII (U+FF01-FF5E): "ＧＰＵ", "１２８", "Ｃ＋＋". Tokenizers and dedup
should see those as "GPU", "128" and "C++", so letters, digits and ASCII symbols become ASCII.
U+3000 (ideographic space) becomes ' ' in both modes: it is whitespace, not punctuation, and
only its width differs; one for one, so a paragraph's "　　" indent stays an indent. The marks that
GB/T 15834-2011 writes full-width in Chinese text, ！（），：；？［］～, are the correct form
there and are kept unless ``punctuation=True``. 。、「」《》 lie outside that block and are never
touched.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import opencc

Config = Literal["t2s", "tw2s", "hk2s"]
CONFIGS: tuple[Config, ...] = ("t2s", "tw2s", "hk2s")

# Han ideographs: every character that a key of the configs' dictionaries is made of lies here.
CJK_PRESENT = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_SURROGATES = re.compile("([\ud800-\udfff]+)")


def has_cjk(text: str) -> bool:
    """True if ``text`` contains a Han ideograph; O(1) for pure-ASCII strings."""
    return not text.isascii() and CJK_PRESENT.search(text) is not None


_converters: dict[str, opencc.OpenCC] = {}
_converters_lock = threading.Lock()


def _converter(config: Config) -> opencc.OpenCC:
    conv = _converters.get(config)
    if conv is None:
        with _converters_lock:
            conv = _converters.get(config)
            if conv is None:
                if config not in CONFIGS:
                    raise ValueError(f"config must be one of {CONFIGS}, not {config!r}")
                import opencc

                conv = opencc.OpenCC(config, include_tofu_risk_dictionaries=False)
                _converters[config] = conv
    return conv


def _count_changed(old: str, new: str) -> int:
    if len(old) == len(new):  # compare code points in numpy: a Python loop costs as much as OpenCC
        a = np.frombuffer(old.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        b = np.frombuffer(new.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return int(np.count_nonzero(a != b))
    # A length-changing mapping: count the span between the common prefix and suffix.
    n = min(len(old), len(new))
    prefix = next((i for i in range(n) if old[i] != new[i]), n)
    suffix = next((i for i in range(n - prefix) if old[-1 - i] != new[-1 - i]), n - prefix)
    return max(len(old), len(new)) - prefix - suffix


def to_simplified(text: str, config: Config = "t2s") -> tuple[str, int]:
    """Traditional -> Simplified with OpenCC; returns the text and the number of characters changed."""
    if not has_cjk(text):
        return text, 0
    conv = _converter(config)
    try:
        out = conv.convert(text)
    except UnicodeEncodeError:  # lone surrogates cannot cross into UTF-8: convert around them
        out = "".join(part if i % 2 else conv.convert(part) for i, part in enumerate(_SURROGATES.split(text)))
    if out == text:
        return text, 0
    return out, _count_changed(text, out)


# Full-width forms that are correct Chinese punctuation (GB/T 15834-2011): kept by default.
CHINESE_PUNCTUATION = "！（），：；？［］～"
_HALF_ALL = {chr(cp): chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)} | {"\u3000": " "}
_HALF_KEEP_PUNCT = {wide: half for wide, half in _HALF_ALL.items() if wide not in CHINESE_PUNCTUATION}
# A character class and a per-match lookup, not str.translate: translate looks up every character
# of a non-Latin-1 string in its table, while the regex scans in C and calls back only on the
# (usually few) characters that change, and subn counts them on the way.
_WIDE_ALL = re.compile("[\u3000\uff01-\uff5e]")
_WIDE_KEEP_PUNCT = re.compile("[" + "".join(map(re.escape, _HALF_KEEP_PUNCT)) + "]")


def _half_all(match: re.Match[str]) -> str:
    return _HALF_ALL[match[0]]


def _half_keep_punct(match: re.Match[str]) -> str:
    return _HALF_KEEP_PUNCT[match[0]]


def fullwidth_to_halfwidth(text: str, punctuation: bool = False) -> tuple[str, int]:
    """Full-width ASCII forms and U+3000 -> ASCII, keeping Chinese punctuation unless ``punctuation``."""
    if text.isascii():
        return text, 0
    if punctuation:
        out, changed = _WIDE_ALL.subn(_half_all, text)
    else:
        out, changed = _WIDE_KEEP_PUNCT.subn(_half_keep_punct, text)
    return (out, changed) if changed else (text, 0)

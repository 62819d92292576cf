"""A font for CJK labels in both reports' figures, when one is at hand; never a reason for a plot to fail.

The ``noto-cjk-sans-otc`` package (Google's Noto Sans CJK, SIL Open Font License 1.1) comes
with the ``[pipelines]`` extra, not the trainer's, so at run time it may be missing. Then a
CJK font installed on the system is used if matplotlib finds one (Simplified Chinese forms
first: the corpora's Chinese is mostly simplified), and otherwise characters the default
font cannot draw are shown as ``?`` (the HTML tables carry the exact text).
"""

from __future__ import annotations

import functools
import os

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)
BASE_FAMILY = "DejaVu Sans"


def register_packaged_cjk_font() -> str | None:
    """Add the font file of ``noto_cjk_sans_otc`` to matplotlib (every face of the collection:
    JP, KR, SC, TC, HK); its path, or None when that package is not installed."""
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    from matplotlib import font_manager

    path = os.fspath(getattr(noto_cjk_sans_otc, "FONT_PATH", ""))
    if not path or not os.path.exists(path):
        return None
    if all(f.fname != path for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    return path


@functools.cache
def use_cjk_font() -> str | None:
    """Make matplotlib fall back to a CJK font; return its family name, or None if there is none."""
    from matplotlib import font_manager, rcParams

    try:
        register_packaged_cjk_font()
    except Exception:  # a broken font file: draw without it
        return None
    names = {f.name for f in font_manager.fontManager.ttflist}
    family = next((name for name in CJK_FAMILIES if name in names), None)
    if family is None:
        family = next((name for name in sorted(names) if "CJK" in name), None)
    if family is not None:
        rcParams["font.family"] = [BASE_FAMILY, family]
    return family


@functools.cache
def _base_charmap() -> frozenset[int]:
    from matplotlib import font_manager, ft2font

    path = font_manager.findfont(font_manager.FontProperties(family=BASE_FAMILY))
    return frozenset(ft2font.FT2Font(path).get_charmap())


def drawable(text: str) -> str:
    """``text`` as a label: unchanged with a CJK font, else undrawable characters as ``?``."""
    if use_cjk_font() is not None:
        return text
    chars = _base_charmap()
    return "".join(c if ord(c) in chars else "?" for c in text)


__all__ = ["drawable", "register_packaged_cjk_font", "use_cjk_font"]

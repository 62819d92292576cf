"""Per-language filter thresholds, loaded from ``pipelines/clean/languages/<lang>.yaml``.

``default.yaml`` holds the published defaults (Gopher, C4, FineWeb, all tuned on
English); a language file overrides only what differs. Chinese needs different
word-length bounds (a segmented word averages ~1.5 characters), its own stop words and
terminal punctuation (``。！？``), and character-based line lengths.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LANGUAGE_DIR = Path(__file__).parent / "languages"


@dataclass(frozen=True)
class Thresholds:
    min_lang_score: float = 0.5
    # Gopher quality
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")
    # Lines starting with these are citations ("-- 李白《将进酒》"), left out of line
    # statistics (duplicate lines, FineWeb line rules): anthologies repeat them by design.
    attribution_prefixes: tuple[str, ...] = ()
    # Gopher repetition
    max_dup_line_frac: float = 0.3
    max_dup_para_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_dup_para_char_frac: float = 0.2
    top_ngram_max_frac: dict[int, float] = field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    dup_ngram_max_frac: dict[int, float] = field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )
    # C4
    terminal_punctuation: str = ".!?\"'"
    # a logical line ending a clause before a list or code ("; and", "as follows:") is finished
    c4_clause_punctuation: str = ";:"
    # logical lines of at least this many words need no terminal punctuation (a paragraph
    # ending in a path, a URL or an option name); 0: every line needs it, as C4 published
    c4_terminal_exempt_words: int = 0
    c4_min_words_per_line: int = 3
    c4_min_sentences: int = 5
    c4_max_word_length: int = 1000
    c4_join_wrapped_lines: bool = True  # judge logical lines (wrapped paragraphs whole), see blocks.py
    c4_bad_line_phrases: tuple[str, ...] = (
        "javascript",
        "terms of use",
        "privacy policy",
        "cookie policy",
        "uses cookies",
        "use of cookies",
        "use cookies",
    )
    c4_bad_page_phrases: tuple[str, ...] = ("lorem ipsum", "{")
    # FineWeb
    fineweb_min_line_punct_ratio: float = 0.12
    fineweb_short_line_chars: int = 30
    fineweb_max_short_line_ratio: float = 0.67
    fineweb_max_dup_line_char_ratio: float = 0.01
    fineweb_max_newline_word_ratio: float = 0.3
    # docs preset: share of characters on lines of leaked script/markup (presets.py)
    max_leak_char_ratio: float = 0.05
    # length limits (characters)
    min_chars: int = 200
    max_chars: int = 1_000_000

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Thresholds:
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{where}: unknown threshold(s) {unknown}; known: {', '.join(sorted(names))}")
        values = dict(data)
        for key in ("stop_words", "c4_bad_line_phrases", "c4_bad_page_phrases", "attribution_prefixes"):
            if key in values:
                values[key] = tuple(values[key])
        for key in ("top_ngram_max_frac", "dup_ngram_max_frac"):
            if key in values:
                values[key] = {int(k): float(v) for k, v in values[key].items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(f"{where}: {exc}") from None


@functools.lru_cache(maxsize=64)
def load_thresholds(
    lang: str | None, directory: str = str(LANGUAGE_DIR), overrides: str = "", preset: str = "web"
) -> Thresholds:
    """Defaults <- ``default.yaml`` <- ``<lang>.yaml`` <- ``preset-<preset>.yaml`` (its ``default``
    then ``<lang>`` section, if the file exists) <- ``overrides`` (YAML text from the config)."""
    merged: dict[str, Any] = {}
    for name in ("default", lang or "default"):
        path = Path(directory) / f"{name}.yaml"
        if path.exists():
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    preset_path = Path(directory) / f"preset-{preset}.yaml"
    layers = [yaml.safe_load(preset_path.read_text(encoding="utf-8")) or {}] if preset_path.exists() else []
    if overrides:
        layers.append(yaml.safe_load(overrides) or {})
    for extra in layers:
        merged.update(extra.get("default", {}))
        if lang and lang != "default":
            merged.update(extra.get(lang, {}))
    return Thresholds.from_dict(merged, f"thresholds for {lang!r}")

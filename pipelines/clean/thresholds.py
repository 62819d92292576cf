"""Per-language filter thresholds: the defaults in ``Thresholds``, per-language changes in
``pipelines/clean/languages/<lang>.yaml``.

The defaults are the published ones (Gopher, C4, FineWeb, all tuned on English) and are
written only here; a language file, a preset file (``preset-<name>.yaml``) or a config's
``clean.thresholds.<lang>`` sets only what differs. Chinese needs different word-length
bounds (a segmented word averages ~1.5 characters), its own stop words and terminal
punctuation (``。！？``), and character-based line lengths.

Every layer is checked when it is read (unknown names, wrong types, values out of range),
and ``check_thresholds`` reads them all for a config, so a typo in any of them fails when
the config is loaded, not in a worker at the first document of that language.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmcore.config import ConfigError, at_least, in_range, require, typed_fields

LANGUAGE_DIR = Path(__file__).parent / "languages"
PRESET_PREFIX = "preset-"


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

    def __post_init__(self) -> None:
        check_values(dataclasses.asdict(self), "thresholds")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Thresholds:
        """``data`` (threshold: value) checked and on top of the defaults."""
        return cls(**check_layer(data, where))


# -- what each threshold may be ------------------------------------------------------------------
# shares of words, lines, characters or n-grams, and the language-ID score
FRACTIONS = frozenset(
    {
        "min_lang_score",
        "max_symbol_word_ratio",
        "max_bullet_lines_ratio",
        "max_ellipsis_lines_ratio",
        "min_alpha_words_ratio",
        "max_dup_line_frac",
        "max_dup_para_frac",
        "max_dup_line_char_frac",
        "max_dup_para_char_frac",
        "fineweb_min_line_punct_ratio",
        "fineweb_max_short_line_ratio",
        "fineweb_max_dup_line_char_ratio",
        "max_leak_char_ratio",
    }
)
# n-gram size -> largest share of characters it may cover
NGRAM_LIMITS = frozenset({"top_ngram_max_frac", "dup_ngram_max_frac"})
# every entry must be non-empty: an empty phrase or prefix would match every line or page
PHRASES = frozenset({"stop_words", "attribution_prefixes", "c4_bad_line_phrases", "c4_bad_page_phrases"})
AT_LEAST_ONE = frozenset({"c4_max_word_length"})


def check_value(name: str, value: Any, where: str) -> None:
    """Raise ``ConfigError`` naming ``where.name`` unless ``value`` is allowed for that threshold."""
    key = f"{where}.{name}"
    if name in FRACTIONS:
        in_range(value, key, 0, 1)
    elif name in NGRAM_LIMITS:
        for n, share in value.items():
            at_least(n, f"{key} n-gram size", 1)
            in_range(share, f"{key}.{n}", 0, 1)
    elif name in PHRASES:
        require(all(value), f"{key} must not contain an empty string")
    elif name in AT_LEAST_ONE:
        at_least(value, key, 1)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        at_least(value, key, 0)  # counts, lengths and the newline/word ratio


def check_values(values: Mapping[str, Any], where: str) -> None:
    for name, value in values.items():
        check_value(name, value, where)


def check_layer(data: Any, where: str) -> dict[str, Any]:
    """One layer of thresholds (a file or a config section), typed and checked."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of threshold: value")
    values = typed_fields(Thresholds, data, where, unknown="unknown threshold(s)")
    check_values(values, where)
    return values


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def _sections(data: Any, where: str, lang: str | None) -> list[tuple[str, Any]]:
    """A per-language mapping's ``default`` section, then ``lang``'s, each with its name."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of language: thresholds")
    names = ["default"] + ([lang] if lang and lang != "default" else [])
    return [(f"{where}.{name}", data[name]) for name in names if name in data]


@functools.lru_cache(maxsize=64)
def load_thresholds(
    lang: str | None, directory: str = str(LANGUAGE_DIR), overrides: str = "", preset: str = "web"
) -> Thresholds:
    """Defaults <- ``default.yaml`` <- ``<lang>.yaml`` <- ``preset-<preset>.yaml`` (its ``default``
    then ``<lang>`` section, if the file exists) <- ``overrides`` (YAML text from the config)."""
    base = Path(directory)
    layers: list[tuple[str, Any]] = []
    for name in dict.fromkeys(("default", lang or "default")):
        path = base / f"{name}.yaml"
        if path.exists():
            layers.append((f"languages/{path.name}", _read_yaml(path)))
    preset_path = base / f"{PRESET_PREFIX}{preset}.yaml"
    if preset_path.exists():
        layers += _sections(_read_yaml(preset_path), f"languages/{preset_path.name}", lang)
    if overrides:
        layers += _sections(yaml.safe_load(overrides) or {}, "clean.thresholds", lang)
    merged: dict[str, Any] = {}
    for where, data in layers:
        merged.update(check_layer(data, where))
    return Thresholds(**merged)


def language_files(directory: str = str(LANGUAGE_DIR)) -> list[str]:
    """The languages with a file of their own (``default`` and presets left out)."""
    stems = (p.stem for p in sorted(Path(directory).glob("*.yaml")))
    return [s for s in stems if s != "default" and not s.startswith(PRESET_PREFIX)]


def check_thresholds(
    overrides: str, preset: str, languages: Iterable[str] = (), directory: str = str(LANGUAGE_DIR)
) -> None:
    """Load the thresholds of every language that has a file, a section in the preset file or
    in ``overrides``, and of ``languages``: a bad value anywhere fails now, naming its key."""
    names = dict.fromkeys([None, *language_files(directory), *languages])
    preset_path = Path(directory) / f"{PRESET_PREFIX}{preset}.yaml"
    for sections in (
        _read_yaml(preset_path) if preset_path.exists() else {},
        yaml.safe_load(overrides or ""),
    ):
        if isinstance(sections, Mapping):
            names.update(dict.fromkeys(str(k) for k in sections))
    for lang in names:
        load_thresholds(None if lang == "default" else lang, directory, overrides, preset)

"""The quality rules' functions under their old home (Gopher, C4, FineWeb).

Each rule family now has its own module under ``filters/`` and one entry in
``filters/registry.py``; these names stay importable from here for callers (tests,
benches) that measure or judge a text directly.
"""

from __future__ import annotations

from pipelines.clean.filters.c4 import (
    CLAUSE_END,
    SENTENCE_END,
    c4_clean,
    c4_line_reason,
    c4_lines,
    c4_page_reason,
    line_word_count,
)
from pipelines.clean.filters.fineweb import fineweb, fineweb_measures, fineweb_reason
from pipelines.clean.filters.gopher_quality import (
    BULLETS,
    ELLIPSES,
    NO_ALPHA_WORD,
    count_stop_words,
    gopher_quality,
    gopher_quality_measures,
    gopher_quality_reason,
)
from pipelines.clean.filters.gopher_repetition import (
    dup_fraction as _dup_fraction,
)
from pipelines.clean.filters.gopher_repetition import (
    duplicated_ngram_char_fraction,
    gopher_repetition,
    gopher_repetition_measures,
    gopher_repetition_reason,
    top_ngram_char_fraction,
)
from pipelines.clean.filters.view import TextView
from pipelines.clean.outcome import utf8_len

__all__ = [
    "BULLETS", "CLAUSE_END", "ELLIPSES", "NO_ALPHA_WORD", "SENTENCE_END", "TextView", "_dup_fraction",
    "c4_clean", "c4_line_reason", "c4_lines", "c4_page_reason", "count_stop_words",
    "duplicated_ngram_char_fraction", "fineweb", "fineweb_measures", "fineweb_reason", "gopher_quality",
    "gopher_quality_measures", "gopher_quality_reason", "gopher_repetition", "gopher_repetition_measures",
    "gopher_repetition_reason", "line_word_count", "top_ngram_char_fraction", "utf8_len",
]  # fmt: skip

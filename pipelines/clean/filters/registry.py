"""The clean stage's rules, in the order they run (cheap first; the first drop wins).

Adding a rule: write its function(s) in the family's module (or a new one) and add one
``Rule`` here; its thresholds go in ``thresholds.py``. The cleaner (``cleaner.py``) runs
this list after language identification and the what-if report (``whatif.py``)
re-decides from it, so neither keeps a second list.
"""

from __future__ import annotations

from pipelines.clean.filters import c4, fineweb, gopher_quality, gopher_repetition, language, length
from pipelines.clean.filters import markup_leakage as leakage
from pipelines.clean.filters.rule import Rule, has

C4_LINE_THRESHOLDS = (
    "terminal_punctuation",
    "c4_clause_punctuation",
    "c4_terminal_exempt_words",
    "c4_min_words_per_line",
    "c4_max_word_length",
    "c4_join_wrapped_lines",
    "c4_bad_line_phrases",
)

RULES: tuple[Rule, ...] = (
    Rule(
        name="length",
        family="length",
        drops=("too_short", "too_long"),
        keys=("chars",),
        thresholds=("min_chars", "max_chars"),
        measure=length.length_measures,
        decide=length.length_reason,
        ran=has("chars"),
    ),
    Rule(
        name="language_allowed",
        family="language",
        drops=("language_not_allowed",),
        judge=language.language_allowed,
    ),
    Rule(
        name="language_score",
        family="language",
        drops=("language_score_low",),
        thresholds=("min_lang_score",),
        judge=language.language_score_judge,
        decide=language.language_score_reason,
        ran=has("lang_score"),
    ),
    Rule(
        name="c4_page",
        family="c4",
        drops=("c4_lorem_ipsum", "c4_curly_bracket"),
        thresholds=("c4_bad_page_phrases",),
        switch="c4",
        judge=c4.c4_page_judge,
    ),
    Rule(
        name="c4_lines",
        family="c4",
        removes=(
            "c4_line_no_terminal_punct",
            "c4_line_few_words",
            "c4_line_bad_phrase",
            "c4_line_long_word",
            "whitespace",
        ),
        keys=("sentences",),
        thresholds=C4_LINE_THRESHOLDS,
        switch="c4",
        cut=c4.c4_line_cut,
    ),
    Rule(
        name="c4_sentences",
        family="c4",
        drops=("c4_too_few_sentences",),
        thresholds=("c4_min_sentences",),
        presets=frozenset({"web"}),
        switch="c4",
        decide=c4.c4_sentences_reason,  # from the sentences c4_lines counted; not re-decided (needs the preset)
    ),
    Rule(
        name="markup_leakage",
        family="markup_leakage",
        drops=("markup_leakage",),
        keys=("leak_char_ratio", "minified_lines"),
        thresholds=("max_leak_char_ratio",),
        presets=frozenset({"docs"}),
        needs=("logical",),
        measure=leakage.leakage_of_page,
        decide=leakage.leakage_decision,
        ran=has("leak_char_ratio"),
    ),
    Rule(
        name="gopher_quality",
        family="gopher_quality",
        drops=(
            "gopher_too_few_words",
            "gopher_too_many_words",
            "gopher_mean_word_length",
            "gopher_symbol_ratio",
            "gopher_bullet_lines",
            "gopher_ellipsis_lines",
            "gopher_alpha_words",
            "gopher_stop_words",
        ),
        keys=(
            "words",
            "mean_word_length",
            "symbol_word_ratio",
            "bullet_lines_ratio",
            "ellipsis_lines_ratio",
            "alpha_words_ratio",
            "stop_words",
        ),
        thresholds=(
            "min_words",
            "max_words",
            "min_mean_word_length",
            "max_mean_word_length",
            "max_symbol_word_ratio",
            "max_bullet_lines_ratio",
            "max_ellipsis_lines_ratio",
            "min_alpha_words_ratio",
            "min_stop_words",
            "stop_words",
            "attribution_prefixes",
        ),
        switch="gopher_quality",
        needs=("view",),
        measure=gopher_quality.gopher_quality_of_page,
        decide=gopher_quality.gopher_quality_reason,
        ran=has("words"),
    ),
    Rule(
        name="gopher_repetition",
        family="gopher_repetition",
        drops=(
            "gopher_dup_lines",
            "gopher_dup_line_chars",
            "gopher_dup_paragraphs",
            "gopher_dup_paragraph_chars",
            "gopher_top_{n}gram",
            "gopher_dup_{n}gram",
        ),
        keys=(
            "dup_line_frac",
            "dup_line_char_frac",
            "dup_para_frac",
            "dup_para_char_frac",
            "top_{n}gram_frac",
            "dup_{n}gram_frac",
        ),
        thresholds=(
            "max_dup_line_frac",
            "max_dup_line_char_frac",
            "max_dup_para_frac",
            "max_dup_para_char_frac",
            "top_ngram_max_frac",
            "dup_ngram_max_frac",
            "attribution_prefixes",
        ),
        switch="gopher_repetition",
        needs=("view",),
        measure=gopher_repetition.gopher_repetition_of_page,
        decide=gopher_repetition.gopher_repetition_reason,
        ran=has("dup_line_frac"),
    ),
    Rule(
        name="fineweb",
        family="fineweb",
        drops=(
            "fineweb_empty",
            "fineweb_line_punctuation",
            "fineweb_short_lines",
            "fineweb_dup_line_chars",
            "fineweb_list_like",
        ),
        keys=(
            "lines",
            "line_punct_ratio",
            "short_line_ratio",
            "fineweb_dup_line_char_ratio",
            "newline_word_ratio",
        ),
        thresholds=(
            "terminal_punctuation",
            "fineweb_min_line_punct_ratio",
            "fineweb_short_line_chars",
            "fineweb_max_short_line_ratio",
            "fineweb_max_dup_line_char_ratio",
            "fineweb_max_newline_word_ratio",
            "attribution_prefixes",
        ),
        switch="fineweb",
        needs=("view",),
        skip=fineweb.no_prose_lines,
        measure=fineweb.fineweb_of_page,
        decide=fineweb.fineweb_reason,
        ran=fineweb.fineweb_ran,
    ),
)


def rule(name: str) -> Rule:
    """The registered rule called ``name``."""
    for r in RULES:
        if r.name == name:
            return r
    raise KeyError(f"no clean rule {name!r}; known: {', '.join(r.name for r in RULES)}")

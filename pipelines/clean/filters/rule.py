"""The shape of a clean rule (``Rule``) and the document it reads (``Page``).

datatrove's ``filter(doc) -> keep | reason`` is the model, split where the what-if
report needs it: a rule *measures* the page (numbers kept in ``meta["quality"]``) and
*decides* from those numbers alone, so the same decision re-runs later on a prepared
dataset with other thresholds. A rule whose decision rests on the text itself or on the
settings *judges* the page instead (nothing to re-decide later), and a line rule *cuts*
lines from the text, counting the bytes it removes per reason. One ``Rule`` may combine
these (the C4 line rule cuts and measures; the language-score rule judges the exact
score and decides from the stored, rounded one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from pipelines.clean.blocks import Line, logical_lines
from pipelines.clean.filters.view import TextView
from pipelines.clean.outcome import Outcome
from pipelines.clean.presets import PRESET_NAMES, Preset
from pipelines.clean.thresholds import Thresholds

if TYPE_CHECKING:
    from pipelines.clean.config import CleanConfig

Scores = dict[str, Any]
Measure = Callable[["Page", Thresholds], Scores]
Decide = Callable[[Mapping[str, Any], Thresholds], "str | None"]
Judge = Callable[["Page", Thresholds], "str | None"]


class LineCut(NamedTuple):
    """What a line rule leaves: the kept text, UTF-8 bytes removed per reason, and measures."""

    text: str
    removed: dict[str, int]
    scores: Scores


@dataclass
class Page:
    """One document past language identification, as the rules see it.

    Only line rules change ``text`` (through ``cut``); the logical lines and the
    ``TextView`` are built on first use and rebuilt after a cut.
    """

    text: str
    lang: str | None
    lang_score: float  # exact (``scores["lang_score"]`` is rounded)
    preset: Preset
    config: CleanConfig
    t: Thresholds
    outcome: Outcome
    _logical: list[Line] | None = field(default=None, repr=False)
    _view: TextView | None = field(default=None, repr=False)

    @property
    def scores(self) -> Scores:
        return self.outcome.scores

    @property
    def terminal(self) -> tuple[str, ...]:
        return tuple(self.t.terminal_punctuation)

    @property
    def logical(self) -> list[Line]:
        if self._logical is None:
            self._logical = logical_lines(self.text.split("\n"), self.terminal)
        return self._logical

    @property
    def view(self) -> TextView:
        if self._view is None:
            t = self.t
            self._view = TextView.of(
                self.text, self.lang, t.attribution_prefixes, self.preset.judged, self.terminal, self.logical
            )
        return self._view

    def cut(self, result: LineCut) -> None:
        """Apply a line rule's result: count its removed bytes, keep its text and measures."""
        for reason, n in result.removed.items():
            self.outcome.remove(reason, n)
        if result.text != self.text:
            self.text, self._logical, self._view = result.text, None, None
        self.scores.update(result.scores)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One registered rule: what it is called, what it can do to a document, what it reads.

    ``drops``/``removes``: its reasons, i.e. the counters ``dropped/<reason>`` and
    ``bytes_clean_removed/<reason>`` (``{n}`` stands for an n-gram size). ``keys``: the
    ``meta["quality"]`` measures it writes. ``thresholds``: the ``Thresholds`` fields it
    reads. ``switch``: the ``CleanConfig`` flag that turns it off. ``needs``: ``"logical"``
    or ``"view"``, built (and timed as segmentation) before the rule runs. ``skip``: a
    page the rule has nothing to judge. ``ran``: whether stored measures show the rule
    ran, so the what-if report re-decides it (``None``: not re-decided).
    """

    name: str
    family: str  # its module, and the step its time is counted under
    drops: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    thresholds: tuple[str, ...] = ()
    presets: frozenset[str] = frozenset(PRESET_NAMES)
    switch: str | None = None
    needs: tuple[str, ...] = ()
    cut: Callable[[Page, Thresholds], LineCut] | None = None
    measure: Measure | None = None
    judge: Judge | None = None
    decide: Decide | None = None
    skip: Callable[[Page], bool] | None = None
    ran: Callable[[Mapping[str, Any]], bool] | None = None

    def __post_init__(self) -> None:
        if not (self.cut or self.measure or self.judge or self.decide):
            raise ValueError(f"rule {self.name!r} neither cuts, measures, judges nor decides")
        if self.ran is not None and self.decide is None:
            raise ValueError(f"rule {self.name!r}: what-if needs a decision from the measures")

    def runs_with(self, preset: Preset, config: CleanConfig) -> bool:
        """Does this preset run the rule, and do the settings leave it on?"""
        return preset.name in self.presets and (self.switch is None or bool(getattr(config, self.switch)))

    def apply(self, page: Page) -> str | None:
        """Run the rule on ``page`` (measures and removed bytes recorded there): drop reason or None."""
        if self.skip is not None and self.skip(page):
            return None
        if self.cut is not None:
            page.cut(self.cut(page, page.t))
        if self.measure is not None:
            page.scores.update(self.measure(page, page.t))
        if self.judge is not None:
            return self.judge(page, page.t)
        if self.decide is not None:
            return self.decide(page.scores, page.t)
        return None

    def redecides(self, scores: Mapping[str, Any]) -> bool:
        """Can the what-if report re-decide this rule for a document with these measures?"""
        return self.ran is not None and self.ran(scores)


def has(key: str) -> Callable[[Mapping[str, Any]], bool]:
    """``ran`` for a rule whose measures include ``key``."""

    def ran(scores: Mapping[str, Any]) -> bool:
        return key in scores

    ran.__qualname__ = f"has({key!r})"
    return ran

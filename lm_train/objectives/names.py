"""Which objectives exist, without importing torch: ``lm_train.config`` checks names against these.

Each name maps to ``"module:Class"``; ``lm_train.objectives.OBJECTIVES`` imports the class only
when an objective is actually built, so ``--help`` and config errors stay fast.
"""

from __future__ import annotations

OBJECTIVE_CLASSES: dict[str, str] = {
    "causal_lm": "lm_train.objectives.causal_lm:CausalLM",
    "masked_lm": "lm_train.objectives.masked_lm:MaskedLM",
    "classify": "lm_train.objectives.classify:Classify",
    "seq2seq": "lm_train.objectives.seq2seq:Seq2Seq",
}

OBJECTIVE_NAMES: tuple[str, ...] = tuple(OBJECTIVE_CLASSES)

__all__ = ["OBJECTIVE_CLASSES", "OBJECTIVE_NAMES"]

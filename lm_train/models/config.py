"""What every model's settings share, without torch: ``--help`` and config checks import them.

A model's settings are a dataclass deriving from ``ModelConfig`` in a file beside the
model (``gpt_config.py`` beside ``gpt.py``); ``lm_train.models`` maps each ``model=NAME``
to its class. ``build`` imports the network only when a model is actually made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lmcore.config import in_range, require

if TYPE_CHECKING:
    from torch import nn


@dataclass
class ModelConfig:
    """The ``model`` section: ``name`` is the registry key (``model=lstm`` sets it)."""

    name: str
    n_layer: int = 4
    d_model: int = 128
    dropout: float = 0.0
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        require(self.n_layer >= 1 and self.d_model >= 1, "n_layer and d_model must be >= 1")
        in_range(self.dropout, "dropout", 0.0, 1.0, high_open=True)

    def build(self, vocab_size: int, max_seq_len: int) -> nn.Module:
        """The network for ``vocab_size`` ids and sequences up to ``max_seq_len`` tokens."""
        raise NotImplementedError

    def for_device(self, device_type: str, compiled: bool) -> ModelConfig:
        """These settings with every ``auto`` choice made for the device (default: none to make)."""
        return self

"""What every language model here shares: an embedding, an output head, and their accounting.

Models return hidden states from ``forward``; ``logits`` applies the head, so objectives
(causal LM today, masked LM later) decide what to project and where the loss goes.
"""

from __future__ import annotations

from torch import Tensor, nn


class LanguageModel(nn.Module):
    """Base for models with ``self.embed`` (token embedding) and ``self.head`` (vocabulary projection)."""

    embed: nn.Embedding
    head: nn.Linear

    def logits(self, hidden: Tensor) -> Tensor:
        return self.head(hidden)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def matmul_params(self) -> int:
        """Weights used in a matrix multiply per token: everything but the embedding lookup, head included."""
        tied = self.head.weight is self.embed.weight
        return self.num_params(non_embedding=True) + (self.head.weight.numel() if tied else 0)

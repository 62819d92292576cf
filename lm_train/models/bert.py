"""A BERT-style encoder: token embedding → N × (pre-norm bidirectional attention + MLP) → norm → tied head.

The trunk of ``gpt.py`` (its blocks, RoPE, MLP and initialisation: ``Bert`` is a ``GPT``
whose attention is not causal), with one difference that matters: every token attends to every token *of its own document*, before and after it.
The loader packs several documents into a row, so ``segment_ids`` become a block-diagonal
(non-causal) mask for ``scaled_dot_product_attention``; padding (segment -1) attends only
to padding, so no query is left with nothing to attend to. A row holding one document and
no padding needs no mask at all.

The head shares the embedding matrix (``tie_embeddings``), which is what a masked-LM
objective (``lm_train.objectives.masked_lm``) projects the masked positions with; a
classification head pools the hidden states instead.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from lm_train.models.gpt import GPT, is_single_document


def document_mask(segment_ids: Tensor) -> Tensor:
    """``[B, 1, T, T]`` bool: query i sees key j iff both are in the same document (or both padding)."""
    return (segment_ids[:, :, None] == segment_ids[:, None, :])[:, None]


class Bert(GPT):
    """Bidirectional Transformer encoder; ``forward`` → hidden states ``[B, T, d_model]``."""

    causal = False

    def attention_masks(self, segment_ids: Tensor | None, is_cuda: bool) -> tuple[Tensor | None, Any]:
        """A block-diagonal mask per packed row; none for a row of one document (full attention)."""
        return (None if is_single_document(segment_ids) else document_mask(segment_ids)), None

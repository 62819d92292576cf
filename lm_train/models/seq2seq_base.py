"""What both encoder–decoder families share: embeddings, the output head, the decoding interface.

A seq2seq model (``model=seq2seq``, trained by ``objective=seq2seq``) answers three calls:

* ``forward(src, src_lengths, tgt_in) -> logits [B, T, vocab]``: teacher forcing; ``src``
  ``[B, S]`` is padded after ``src_lengths`` tokens, ``tgt_in`` ``[B, T]`` is the target
  shifted right behind the start token. Position ``t`` sees ``tgt_in[:, :t+1]`` only.
* ``encode(src, src_lengths) -> state``: a dict of tensors, every one batch-first, so that
  ``lm_train.decoding`` can copy a state per beam (``expand_state``) and reorder it
  (``reorder_state``) without knowing what is inside;
* ``decode_step(state, tokens [N]) -> (logits [N, vocab], state)``: one target step; a
  run of ``decode_step`` calls gives the same logits as ``forward`` on the same tokens.

The source embedding is ``embed`` (the one ``--init-from`` and the checkpoint readers look
for), the target embedding ``tgt_embed`` (the same module unless ``share_embeddings=false``),
the vocabulary projection ``head`` (tied to ``tgt_embed`` unless ``tie_embeddings=false``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Seq2SeqModel(nn.Module):
    embed: nn.Embedding
    tgt_embed: nn.Embedding
    head: nn.Linear

    def _embeddings(self, vocab_size: int, d_model: int, share: bool, tie: bool) -> None:
        self.embed = nn.Embedding(vocab_size, d_model)
        self.tgt_embed = self.embed if share else nn.Embedding(vocab_size, d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        for emb in {id(self.embed): self.embed, id(self.tgt_embed): self.tgt_embed}.values():
            nn.init.normal_(emb.weight, std=d_model**-0.5)
        if tie:
            self.head.weight = self.tgt_embed.weight
        else:
            nn.init.normal_(self.head.weight, std=d_model**-0.5)

    def logits(self, hidden: Tensor) -> Tensor:
        return self.head(hidden)

    def embedding_params(self) -> int:
        return sum(e.weight.numel() for e in {id(e): e for e in (self.embed, self.tgt_embed)}.values())

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embedding_params() if non_embedding else n

    def matmul_params(self) -> int:
        """Weights in a matrix multiply per target token: everything but the lookups, head included."""
        tied = self.head.weight is self.tgt_embed.weight
        return self.num_params(non_embedding=True) + (self.head.weight.numel() if tied else 0)

    def flops_per_token(self, seq_len: int) -> float:
        """6 × matmul weights: an estimate (encoder and decoder both counted once per token)."""
        return 6.0 * self.matmul_params()


def valid_mask(lengths: Tensor, width: int) -> Tensor:
    """``[B, width]`` bool: True on the first ``lengths[b]`` positions of each row."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


__all__ = ["Seq2SeqModel", "valid_mask"]

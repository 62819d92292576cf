"""Batched greedy and beam-search decoding for the encoder–decoder models (``model=seq2seq``).

Both take a model with ``encode(src, src_lengths) -> state`` and ``decode_step(state,
tokens) -> (logits, state)`` (``lm_train.models.seq2seq_base``), whose state is a dict of
batch-first tensors, and return per example the generated target ids without the start
token and without the end-of-sequence token.

* **Greedy**: the most probable token at each step; an example is finished at its first
  ``eos_id``; decoding stops when every example is finished or after ``max_len`` tokens
  (eos included), whichever comes first.
* **Beam search**: ``beam_size`` hypotheses per example, expanded together as one batch of
  ``B × beam_size`` rows. At each step the ``2 × beam_size`` best continuations of an
  example (over all its beams × the vocabulary) are taken in score order: one ending in
  ``eos_id`` becomes a finished hypothesis if it is among the ``beam_size`` best (further
  down it is dropped), the others refill the live beams. An example is done once it has
  ``beam_size`` finished hypotheses (fairseq's rule: a live beam that might still overtake
  them after more steps is not waited for); at ``max_len`` its live beams are finished as
  they are. The answer is the finished hypothesis of the best
  length-normalised score ``log p(y) / lp(|y|)``, with the GNMT penalty
  ``lp(n) = ((5 + n) / 6) ** length_penalty`` (Wu et al. 2016), ``n`` counting the
  generated tokens with the eos; ``length_penalty=0`` ranks by the plain log-probability,
  larger values favour longer outputs.

With ``beam_size=1`` beam search picks the same token as greedy at every step and stops
at the same eos, so both return the same ids (``tests/test_seq2seq_decoding.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

State = Mapping[str, Tensor]


@dataclass(frozen=True)
class DecodeConfig:
    """How to decode: ``beam_size`` 1 is greedy."""

    max_len: int
    beam_size: int = 1
    length_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.max_len < 1 or self.beam_size < 1:
            raise ValueError(f"max_len and beam_size must be >= 1, got {self.max_len}, {self.beam_size}")


def expand_state(state: State, times: int) -> dict[str, Tensor]:
    """Every row repeated ``times`` times in a row (row ``b`` -> rows ``b·times .. b·times+times-1``)."""
    return {k: v.repeat_interleave(times, dim=0) for k, v in state.items()}


def reorder_state(state: State, index: Tensor) -> dict[str, Tensor]:
    """Rows ``index`` of every tensor of the state (beam reordering)."""
    return {k: v.index_select(0, index) for k, v in state.items()}


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ``((5 + length) / 6) ** alpha``."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def greedy_decode(
    model, src: Tensor, src_lengths: Tensor, start_id: int, eos_id: int, max_len: int
) -> list[list[int]]:
    """The argmax continuation of every source, batched; see the module docstring."""
    b = src.shape[0]
    state = model.encode(src, src_lengths)
    tokens = torch.full((b,), start_id, dtype=torch.long, device=src.device)
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    out: list[Tensor] = []
    for _ in range(max_len):
        logits, state = model.decode_step(state, tokens)
        tokens = logits.float().argmax(-1)
        out.append(tokens)
        done |= tokens == eos_id
        if bool(done.all()):
            break
    ids = torch.stack(out, 1).tolist() if out else [[] for _ in range(b)]
    return [row[: row.index(eos_id)] if eos_id in row else row for row in ids]


@torch.no_grad()
def beam_search(
    model,
    src: Tensor,
    src_lengths: Tensor,
    start_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int,
    alpha: float = 0.0,
) -> list[list[int]]:
    """The best hypothesis of a ``beam_size`` beam search per source, batched; see the module docstring."""
    b, k = src.shape[0], beam_size
    device = src.device
    state = expand_state(model.encode(src, src_lengths), k)
    tokens = torch.full((b * k,), start_id, dtype=torch.long, device=device)
    scores = torch.full((b, k), float("-inf"), dtype=torch.float64, device=device)
    scores[:, 0] = 0.0  # at the start every beam holds the same prefix: keep one
    prefixes: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(b)]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    active = [True] * b
    for _ in range(max_len):
        logits, state = model.decode_step(state, tokens)
        logp = torch.log_softmax(logits.float(), -1).double().view(b, k, -1)
        vocab = logp.shape[-1]
        cand = (scores[:, :, None] + logp).view(b, -1)
        top_scores, top_index = cand.topk(min(2 * k, cand.shape[1]), dim=1)
        top_scores, top_index = top_scores.tolist(), top_index.tolist()
        next_rows, next_tokens = [], []
        new_scores = torch.full((b, k), float("-inf"), dtype=torch.float64)
        new_prefixes: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(b)]
        for i in range(b):
            filled = 0
            if active[i]:
                for rank, (score, index) in enumerate(zip(top_scores[i], top_index[i])):
                    if score == float("-inf") or filled == k:
                        break
                    beam, token = divmod(index, vocab)
                    prefix = prefixes[i][beam]
                    if token == eos_id:
                        if rank < k:  # an eos counts only among the k best candidates
                            finished[i].append((score / length_penalty(len(prefix) + 1, alpha), prefix))
                        if len(finished[i]) >= k:
                            break
                        continue
                    next_rows.append(i * k + beam)
                    next_tokens.append(token)
                    new_scores[i, filled] = score
                    new_prefixes[i][filled] = [*prefix, token]
                    filled += 1
                if len(finished[i]) >= k:
                    active[i] = False
            while filled < k:  # a done example (or too few candidates): dead rows, never extended
                next_rows.append(i * k)
                next_tokens.append(eos_id)
                filled += 1
        scores, prefixes = new_scores.to(device), new_prefixes
        if not any(active):
            break
        state = reorder_state(state, torch.tensor(next_rows, dtype=torch.long, device=device))
        tokens = torch.tensor(next_tokens, dtype=torch.long, device=device)
    out = []
    for i in range(b):
        if active[i]:  # max_len reached: the live beams count as they are
            for beam in range(k):
                score = float(scores[i, beam])
                if score > float("-inf"):
                    finished[i].append(
                        (score / length_penalty(len(prefixes[i][beam]), alpha), prefixes[i][beam])
                    )
        best = max(finished[i], key=lambda item: item[0]) if finished[i] else (0.0, [])
        out.append(best[1])
    return out


def decode(
    model, src: Tensor, src_lengths: Tensor, start_id: int, eos_id: int, config: DecodeConfig
) -> list[list[int]]:
    """Greedy for ``beam_size=1``, else beam search."""
    if config.beam_size == 1:
        return greedy_decode(model, src, src_lengths, start_id, eos_id, config.max_len)
    return beam_search(
        model, src, src_lengths, start_id, eos_id, config.max_len, config.beam_size, config.length_penalty
    )


__all__ = [
    "DecodeConfig",
    "beam_search",
    "decode",
    "expand_state",
    "greedy_decode",
    "length_penalty",
    "reorder_state",
]

"""Greedy and beam search: beam 1 is greedy, a wider beam finds what greedy misses, eos and
max length end a hypothesis, the length penalty is GNMT's."""

from __future__ import annotations

import math

import pytest
import torch

from lm_train.decoding import (
    DecodeConfig,
    beam_search,
    decode,
    expand_state,
    greedy_decode,
    length_penalty,
    reorder_state,
)
from lm_train.models.seq2seq_config import Seq2SeqConfig

torch.set_num_threads(1)
EOS, START = 0, 1


class TableModel:
    """A decoder whose next-token log-probabilities depend only on the previous token (a table)."""

    def __init__(self, table: dict[int, dict[int, float]], vocab: int) -> None:
        self.logits = torch.full((vocab, vocab), -1e9)
        for prev, nxt in table.items():
            for tok, p in nxt.items():
                self.logits[prev, tok] = math.log(p)

    def encode(self, src, src_lengths):
        return {"dummy": torch.zeros(src.shape[0], 1)}

    def decode_step(self, state, tokens):
        return self.logits[tokens], state


def _src(n: int):
    return torch.zeros(n, 2, dtype=torch.long), torch.full((n,), 2)


def test_beam_finds_the_more_probable_sequence_greedy_misses():
    # start -> 2 (0.6) -> eos (0.3) / 4 (0.35) / 5 (0.35) ... ; start -> 3 (0.4) -> eos (1.0)
    table = {
        START: {2: 0.6, 3: 0.4},
        2: {EOS: 0.3, 4: 0.35, 5: 0.35},
        3: {EOS: 1.0},
        4: {EOS: 1.0},
        5: {EOS: 1.0},
    }
    model = TableModel(table, 6)
    src, lengths = _src(2)
    assert greedy_decode(model, src, lengths, START, EOS, 10) == [[2, 4], [2, 4]]
    assert beam_search(model, src, lengths, START, EOS, 10, beam_size=2) == [[3], [3]]  # 0.4 > 0.6 × 0.35


def test_max_length_ends_hypotheses_without_eos():
    table = {START: {2: 1.0}, 2: {2: 0.9, 3: 0.1}, 3: {2: 1.0}}  # eos is (almost) never likely
    model = TableModel(table, 4)
    src, lengths = _src(2)
    assert greedy_decode(model, src, lengths, START, EOS, 4) == [[2, 2, 2, 2]] * 2
    assert beam_search(model, src, lengths, START, EOS, 4, beam_size=1) == [[2, 2, 2, 2]] * 2
    assert beam_search(model, src, lengths, START, EOS, 4, beam_size=2) == [[2, 2, 2, 2]] * 2


def test_a_sure_eos_ends_the_hypothesis():
    table = {START: {2: 0.5, 3: 0.5}, 2: {EOS: 1.0}, 3: {3: 0.9, EOS: 0.1}}
    model = TableModel(table, 4)
    src, lengths = _src(1)
    assert greedy_decode(model, src, lengths, START, EOS, 5) == [[2]]  # ties: the lower id
    assert beam_search(model, src, lengths, START, EOS, 5, beam_size=2) == [[2]]


def test_the_length_penalty_is_gnmt_and_favours_longer_outputs():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    assert length_penalty(3, 0.6) == pytest.approx((8 / 6) ** 0.6)
    # start -> 2 -> eos is short and likely; start -> 3 -> 3 ... longer and less likely.
    table = {START: {2: 0.5, 3: 0.5}, 2: {EOS: 0.5, 4: 0.5}, 3: {3: 0.6, EOS: 0.4}, 4: {EOS: 1.0}}
    model = TableModel(table, 5)
    src, lengths = _src(1)
    short = beam_search(model, src, lengths, START, EOS, 6, beam_size=3, alpha=0.0)
    long = beam_search(model, src, lengths, START, EOS, 6, beam_size=3, alpha=3.0)
    assert len(long[0]) > len(short[0])


@pytest.mark.parametrize("cell", ["gru", "lstm", "transformer"])
def test_beam_one_equals_greedy_on_a_random_network(cell):
    torch.manual_seed(3)
    model = Seq2SeqConfig(cell=cell, d_model=16, n_head=2, n_layer=2).build(30, 16).eval()
    g = torch.Generator().manual_seed(0)
    src, lengths = torch.randint(2, 30, (6, 9), generator=g), torch.tensor([9, 5, 3, 1, 8, 2])
    greedy = greedy_decode(model, src, lengths, START, EOS, 12)
    assert beam_search(model, src, lengths, START, EOS, 12, beam_size=1, alpha=0.6) == greedy
    assert decode(model, src, lengths, START, EOS, DecodeConfig(12)) == greedy
    # A wider beam decodes every row the same whether it is batched with others or alone.
    batched = decode(model, src, lengths, START, EOS, DecodeConfig(12, beam_size=3, length_penalty=0.6))
    alone = [
        decode(model, src[i : i + 1], lengths[i : i + 1], START, EOS, DecodeConfig(12, 3, 0.6))[0]
        for i in range(6)
    ]
    assert batched == alone


def test_state_helpers_copy_and_reorder_rows():
    state = {"h": torch.arange(6).view(3, 2)}
    assert expand_state(state, 2)["h"][:, 0].tolist() == [0, 0, 2, 2, 4, 4]
    assert reorder_state(state, torch.tensor([2, 0]))["h"][:, 0].tolist() == [4, 0]
    with pytest.raises(ValueError):
        DecodeConfig(max_len=0)

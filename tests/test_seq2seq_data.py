"""PairLoader batches and the seq2seq objective's pure pieces: shifted targets, cuts, rank
slicing, resume, sacrebleu statistics that add up, BLEU's tokenizer for Chinese targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lm_train.data.config import LoaderError
from lm_train.data.pairs import IGNORE, PairExamples, PairLoader, build_pair_rows
from lm_train.data.task import TaskLoader
from lm_train.objectives.seq2seq import (
    choose_bleu_tokenize,
    cjk_share,
    seq2seq_metrics,
    start_token_id,
    strip_eos,
    text_scores,
    text_stats,
)
from lm_train.testing import copy_reverse_task, keyword_task, write_pairs_dataset, write_task_dataset
from schemas import load_manifest

EOS, PAD, START = 0, 1, 0


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return str(write_pairs_dataset(tmp_path_factory.mktemp("pairs"), copy_reverse_task(120), test_every=7))


def _loader(data, split="train", **kw):
    args = dict(max_target_len=16, start_id=0, seq_len=16, global_batch_size=8, micro_batch_size=8, seed=0)
    return PairLoader(data, split, **{**args, **kw})


def test_rows_shift_the_target_behind_the_start_token_and_cut_both_sides():
    examples = PairExamples.from_lists([[5, 6, 7, EOS], [8, EOS]], [[9, 10, EOS], [11, 12, 13, 14, EOS]])
    rows = build_pair_rows(examples, np.array([0, 1, -1]), 3, 4, PAD, START, None)
    assert rows["src_ids"].tolist() == [[5, 6, 7], [8, EOS, PAD], [PAD, PAD, PAD]]
    assert rows["src_lengths"].tolist() == [3, 2, 1]
    assert rows["tgt_out"].tolist() == [[9, 10, EOS, IGNORE], [11, 12, 13, 14], [IGNORE] * 4]
    assert rows["tgt_in"].tolist() == [[START, 9, 10, EOS], [START, 11, 12, 13], [START, PAD, PAD, PAD]]
    assert rows["tgt_lengths"].tolist() == [3, 4, 0]
    fixed = build_pair_rows(examples, np.array([1]), 8, 6, PAD, START, (8, 6))
    assert fixed["src_ids"].shape == (1, 8) and fixed["tgt_out"].shape == (1, 6)


def test_the_loader_reads_sources_and_targets_of_a_pairs_dataset(pairs):
    manifest = load_manifest(pairs)
    assert manifest.task.kind == "pairs" and set(manifest.task.example_counts) == {
        "train",
        "validation",
        "test",
    }
    assert sum(manifest.task.example_counts.values()) == 120
    loader = _loader(pairs)
    batch = next(iter(loader))
    assert batch["src_ids"].shape == (8, 16) and batch["tgt_out"].shape == (8, 16)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(f"{pairs}/tokenizer.json")
    for row in range(8):
        n, m = int(batch["src_lengths"][row]), int(batch["tgt_lengths"][row])
        src = tok.decode(batch["src_ids"][row, : n - 1].tolist())
        tgt = tok.decode(batch["tgt_out"][row, : m - 1].tolist())
        assert batch["src_ids"][row, n - 1] == manifest.tokenizer.eos_id == batch["tgt_out"][row, m - 1]
        assert tgt == " ".join(src.split()[::-1])  # the reverse task
    assert loader.stats() == {"examples": len(loader.examples), "source_cut": 0, "target_cut": 0}


def test_two_ranks_share_out_the_examples_of_one_rank_and_resume_exactly(pairs):
    one = _loader(pairs)
    halves = [_loader(pairs, micro_batch_size=4, rank=r, world_size=2) for r in (0, 1)]
    for u in range(3):
        whole = one.batch_at(u)
        parts = [h.batch_at(u) for h in halves]
        assert torch.equal(torch.cat([p["tgt_out"] for p in parts]), whole["tgt_out"])
        assert torch.equal(torch.cat([p["sample_positions"] for p in parts]), whole["sample_positions"])
    it = iter(one)
    for _ in range(3):
        next(it)
    state = one.state_dict()
    resumed = _loader(pairs)
    resumed.load_state_dict(state)
    assert torch.equal(next(iter(resumed))["src_ids"], next(it)["src_ids"])
    with pytest.raises(LoaderError, match="max_target_len"):
        _loader(pairs, max_target_len=8).load_state_dict(state)
    with pytest.raises(LoaderError, match="not a task loader state"):
        resumed.load_state_dict({**state, "format": TaskLoader.state_format})


def test_a_finite_loader_pads_past_the_end_with_rows_that_count_nothing(pairs):
    loader = _loader(pairs, "validation", num_epochs=1, bucket_by_length=True)
    batches = list(loader)
    n = len(loader.examples)
    assert sum(int((b["tgt_lengths"] > 0).sum()) for b in batches) == n
    assert all(int((b["tgt_out"][b["tgt_lengths"] == 0] != IGNORE).sum()) == 0 for b in batches)


def test_a_classification_dataset_is_refused_naming_the_pairs_task(tmp_path):
    data = str(write_task_dataset(tmp_path / "cls", keyword_task(20), ["no", "yes"]))
    with pytest.raises(LoaderError, match="task=pairs"):
        _loader(data)


def test_sacrebleu_statistics_add_up_to_its_corpus_scores():
    from sacrebleu.metrics import BLEU, CHRF

    hyps = ["the cat sat on the mat", "a dog ran", "", "blue sky over the old road"]
    refs = ["the cat sat on a mat", "a dog ran far", "tree", "blue sky over the old road"]
    whole = text_stats(hyps, refs, "13a")
    halves = text_stats(hyps[:2], refs[:2], "13a") + text_stats(hyps[2:], refs[2:], "13a")
    assert np.array_equal(whole, halves)  # two ranks' sums = one rank's
    bleu, chrf = text_scores(whole, "13a")
    assert bleu == pytest.approx(BLEU(tokenize="13a").corpus_score(hyps, [refs]).score)
    assert chrf == pytest.approx(CHRF().corpus_score(hyps, [refs]).score)
    zh_h, zh_r = ["我爱北京天安门", "今天天气很好"], ["我爱北京", "今天天气不错"]
    assert text_scores(text_stats(zh_h, zh_r, "zh"), "zh")[0] == pytest.approx(
        BLEU(tokenize="zh").corpus_score(zh_h, [zh_r]).score
    )
    metrics = seq2seq_metrics([2.0, 4.0, 4.0, 1.0, *whole], "13a")
    assert metrics["loss"] == 0.5 and metrics["exact_match"] == 0.25 and metrics["bleu"] == bleu


def test_chinese_targets_choose_the_zh_tokenizer():
    assert cjk_share(["你好 世界", "ab"]) == pytest.approx(4 / 6)
    assert choose_bleu_tokenize("auto", ["今天天气很好", "我们走吧"]) == "zh"
    assert choose_bleu_tokenize("auto", ["the cat", "sat 在"]) == "13a"
    assert choose_bleu_tokenize("auto", []) == "13a"
    assert choose_bleu_tokenize("intl", ["今天天气很好"]) == "intl"


def test_the_start_token_is_bos_when_there_is_one_else_eos():
    assert start_token_id({"<|endoftext|>": 0, "<|pad|>": 1}, 0) == 0
    assert start_token_id({"</s>": 2, "<s>": 1}, 2) == 1
    assert strip_eos([4, 5, 0, 7], 0) == [4, 5] and strip_eos([4, 5], 0) == [4, 5]

"""Masked-LM masking: the 15 % / 80-10-10 statistics, what is never masked, masks that depend
only on a row's stream position (batch split, world size, resume), and whole-word masking
for English (byte-level pieces) and Chinese (jieba)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lm_train.testing
from lm_train.config import TrainConfig
from lm_train.data import LoaderConfig, PackedLoader
from lm_train.objectives import masking
from lm_train.objectives.masked_lm import MASK_TOKEN, MaskedLM, word_table
from lm_train.testing import sample_texts, write_text_dataset
from schemas import load_manifest

SPECIALS = np.array([0, 1, 2])
MASK_ID, VOCAB = 2, 1000


DEFAULT = masking.MaskingConfig()


def _mask(ids, segments, positions, cfg=DEFAULT, seed=0, word_start=None):
    return masking.mask_rows(
        ids,
        segments,
        positions,
        seed=seed,
        stream=masking.TRAIN_STREAM,
        config=cfg,
        mask_id=MASK_ID,
        special_ids=SPECIALS,
        vocab_size=VOCAB,
        word_start=word_start,
    )


def _packed_rows(rows=256, width=128, seed=0):
    """Rows of three documents each (EOS-terminated), then padding: like the loader's."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, VOCAB, (rows, width))
    segments = np.zeros((rows, width), np.int32)
    for cut, seg in ((40, 1), (80, 2)):
        ids[:, cut - 1] = 0  # end of document
        segments[:, cut:] = seg
    ids[:, 110:], segments[:, 110:] = 1, -1  # padding
    return ids, segments


def test_fifteen_percent_of_ordinary_tokens_split_80_10_10():
    ids, segments = _packed_rows()
    out = _mask(ids, segments, np.arange(len(ids)))
    picked = out.labels != masking.IGNORE
    eligible = masking.eligible_tokens(ids, segments, SPECIALS)
    assert abs(picked[eligible].mean() - 0.15) < 0.005
    n = picked.sum()
    to_mask = (out.input_ids == MASK_ID) & picked
    kept = (out.input_ids == ids) & picked
    randomised = picked & ~to_mask & ~kept
    assert abs(to_mask.sum() / n - 0.8) < 0.01
    assert abs(randomised.sum() / n - 0.1) < 0.01
    assert abs(kept.sum() / n - 0.1) < 0.01
    assert np.all(out.labels[picked] == ids[picked])  # the label is the original token
    assert not np.isin(out.input_ids[randomised], SPECIALS).any()  # random tokens are ordinary ones
    assert np.all(out.input_ids[~picked] == ids[~picked])  # nothing else changes


def test_special_tokens_and_padding_are_never_masked():
    ids, segments = _packed_rows()
    ids[:, 5] = MASK_ID  # a literal mask token inside a document stays what it is
    out = _mask(ids, segments, np.arange(len(ids)), cfg=masking.MaskingConfig(mask_prob=0.9))
    picked = out.labels != masking.IGNORE
    assert not picked[np.isin(ids, SPECIALS)].any()
    assert not picked[segments < 0].any()
    assert np.all(out.input_ids[segments < 0] == 1)
    assert picked[masking.eligible_tokens(ids, segments, SPECIALS)].mean() > 0.85


def test_mask_prob_setting_is_honoured_and_checked():
    ids, segments = _packed_rows()
    out = _mask(ids, segments, np.arange(len(ids)), cfg=masking.MaskingConfig(mask_prob=0.4))
    eligible = masking.eligible_tokens(ids, segments, SPECIALS)
    assert abs((out.labels != masking.IGNORE)[eligible].mean() - 0.4) < 0.01
    with pytest.raises(ValueError, match="mask_prob"):
        masking.MaskingConfig(mask_prob=0.0)


def test_a_rows_mask_depends_on_its_position_and_seed_only():
    ids, segments = _packed_rows(rows=16)
    positions = np.arange(100, 116)
    whole = _mask(ids, segments, positions)
    halves = [_mask(ids[s], segments[s], positions[s]) for s in (slice(0, 5), slice(5, 16))]
    assert np.array_equal(whole.input_ids, np.concatenate([h.input_ids for h in halves]))
    assert np.array_equal(whole.labels, np.concatenate([h.labels for h in halves]))
    later = _mask(ids, segments, positions + 16)  # the same samples in a later epoch: new masks
    assert not np.array_equal(whole.labels, later.labels)
    other_seed = _mask(ids, segments, positions, seed=1)
    assert not np.array_equal(whole.labels, other_seed.labels)


# -- through the loader: world sizes and resume --------------------------------------------------
@pytest.fixture(scope="module")
def mask_dataset(tmp_path_factory):
    """A real text dataset whose tokenizer has the mask token (as new tokenize runs write)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lm_train.testing, "SPECIALS", [*lm_train.testing.SPECIALS, MASK_TOKEN])
        out = tmp_path_factory.mktemp("mlm-ds")
        return str(write_text_dataset(out, sample_texts(n_en=16, n_zh=16, max_chars=800), vocab_size=400))


def _objective(data: str, **settings) -> MaskedLM:
    cfg = TrainConfig(objective="masked_lm", seed=3, **settings)
    objective = MaskedLM(cfg, load_manifest(data))
    objective.check_dataset(data)
    return objective


def _loader(data: str, rank: int, world_size: int, micro: int) -> PackedLoader:
    cfg = LoaderConfig(seq_len=32, global_batch_size=8, micro_batch_size=micro, seed=3)
    return PackedLoader(data=data, split="train", config=cfg, rank=rank, world_size=world_size)


def _global_step_masks(data: str, objective: MaskedLM, world_size: int, micro: int, steps: int):
    """The masked inputs of each optimizer step, rows in global order, whatever the split."""
    loaders = [_loader(data, r, world_size, micro) for r in range(world_size)]
    per_step = 8 // (micro * world_size)
    out = []
    for step in range(steps):
        rows = []
        for a in range(per_step):
            for loader in loaders:
                rows.append(objective.collate(loader.batch_at(step * per_step + a))["input_ids"])
        out.append(torch.cat(rows))
    return out


def test_masks_are_the_same_for_world_sizes_1_and_2_and_any_accumulation(mask_dataset):
    objective = _objective(mask_dataset)
    one = _global_step_masks(mask_dataset, objective, world_size=1, micro=8, steps=3)
    two = _global_step_masks(mask_dataset, objective, world_size=2, micro=4, steps=3)
    two_accum = _global_step_masks(mask_dataset, objective, world_size=2, micro=2, steps=3)
    for a, b, c in zip(one, two, two_accum, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert (one[0] == objective.mask_id).any()


def test_masks_after_resume_are_the_masks_of_the_uninterrupted_run(mask_dataset):
    objective = _objective(mask_dataset)
    straight = _loader(mask_dataset, 0, 1, 4)
    stream = iter(straight)
    batches = [objective.collate(next(stream)) for _ in range(6)]
    resumed = _loader(mask_dataset, 0, 1, 4)
    fresh = _loader(mask_dataset, 0, 1, 4)
    stream2 = iter(fresh)
    for _ in range(3):
        next(stream2)
    resumed.load_state_dict(fresh.state_dict())
    after = [objective.collate(b) for b, _ in zip(resumed, range(3), strict=False)]
    for a, b in zip(batches[3:], after, strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["loss_mask"], b["loss_mask"])


# -- whole words ---------------------------------------------------------------------------
def _words_of(tokenizer, text: str, objective: MaskedLM):
    ids = np.array([tokenizer.encode(text).ids], np.int64)
    segments = np.zeros_like(ids, dtype=np.int32)
    starts = masking.word_starts(ids, segments, objective.words, objective.segmenter)[0]
    pieces = [objective.words.pieces[i] for i in ids[0].tolist()]
    words, current = [], b""
    for piece, start in zip(pieces, starts, strict=True):
        if start and current:
            words.append(current.decode("utf-8"))
            current = b""
        current += piece
    words.append(current.decode("utf-8"))
    return ids, words


@pytest.fixture(scope="module")
def tokenizer(mask_dataset):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(f"{mask_dataset}/tokenizer.json")


def test_english_words_are_runs_of_pieces_without_a_space_or_punctuation(mask_dataset, tokenizer):
    objective = _objective(mask_dataset, whole_word=True)
    text = " unrighteousness, and the bondservants' wickedness"
    ids, words = _words_of(tokenizer, text, objective)
    assert len(ids[0]) > len(text.split())  # the rare words take several pieces each
    assert words == [" unrighteousness", ",", " and", " the", " bondservants", "'", " wickedness"]


def test_chinese_words_come_from_jieba(mask_dataset, tokenizer):
    objective = _objective(mask_dataset, whole_word=True)
    text = "我们在北京大学学习自然语言处理。"
    _, words = _words_of(tokenizer, text, objective)
    assert "".join(words) == text
    assert {"北京大学", "自然语言", "处理"} <= set(words)


def test_whole_word_masking_masks_every_piece_of_a_picked_word(mask_dataset, tokenizer):
    objective = _objective(mask_dataset, whole_word=True)
    text = " unrighteousness and wickedness 我们在北京大学学习自然语言处理。" * 8
    ids = np.array([tokenizer.encode(text).ids[:256]] * 32, np.int64)
    segments = np.zeros_like(ids, dtype=np.int32)
    batch = {
        "input_ids": torch.from_numpy(ids),
        "segment_ids": torch.from_numpy(segments),
        "sample_positions": torch.arange(32),
    }
    picked = objective.collate(batch)["loss_mask"].numpy() > 0
    starts = masking.word_starts(ids, segments, objective.words, objective.segmenter)
    word_of = np.cumsum(starts, axis=1)
    for row in range(len(ids)):
        for word in np.unique(word_of[row]):
            in_word = picked[row][word_of[row] == word]
            assert in_word.all() or not in_word.any()
    multi_piece = np.bincount(word_of[0])[word_of[0]] > 1
    assert picked[:, multi_piece].any()  # words of several pieces were picked, whole
    assert 0.05 < picked.mean() < 0.3


def test_piece_bytes_undo_the_byte_level_alphabet(mask_dataset, tokenizer):
    with open(f"{mask_dataset}/tokenizer.json", "rb") as f:
        table = word_table(f.read())
    text = " 北京 and\tdone\n"
    assert b"".join(table.pieces[i] for i in tokenizer.encode(text).ids).decode("utf-8") == text

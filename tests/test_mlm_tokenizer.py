"""New tokenizers carry ``<|mask|>`` for masked-LM training, after the end-of-document and pad
tokens so their ids (0 and 1) stay what older datasets and the trainer expect."""

from __future__ import annotations

import pytest

from lm_train.testing import sample_texts
from pipelines.tokenize import bpe
from pipelines.tokenize.config import TokenizeConfig
from pipelines.tokenize.tokenizer import tokenizer_info


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return [text for _, _, text in sample_texts(n_en=20, n_zh=20, max_chars=600)]


def test_a_new_tokenizer_has_the_mask_token_after_eod_and_pad(corpus):
    cfg = TokenizeConfig(vocab_size=400)
    text = bpe.train_bpe(corpus, cfg)
    info = tokenizer_info(text, cfg)
    assert info.special_tokens == {"<|endoftext|>": 0, "<|pad|>": 1, "<|mask|>": 2}
    assert info.to_dict()["special_tokens"]["<|mask|>"] == 2  # what manifest.json lists
    assert info.eos_id == 0 and info.pad_id == 1 and info.vocab_size == 400
    tok = bpe.load_tokenizer(text)
    assert 2 not in tok.encode("a <|mask|> b").ids  # the literal text in a document stays text


def test_the_mask_token_can_be_renamed_or_left_out(corpus):
    renamed = TokenizeConfig(vocab_size=400, mask_token="[MASK]", special_tokens=["<|user|>"])
    assert renamed.all_special_tokens() == ["<|endoftext|>", "<|pad|>", "[MASK]", "<|user|>"]
    info = tokenizer_info(bpe.train_bpe(corpus, renamed), renamed)
    assert info.special_tokens["[MASK]"] == 2 and info.special_tokens["<|user|>"] == 3
    none = TokenizeConfig(vocab_size=400, mask_token=None)
    assert none.all_special_tokens() == ["<|endoftext|>", "<|pad|>"]

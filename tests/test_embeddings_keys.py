"""Token keys: readable text of a tokenizer's pieces, unique and whitespace-free (the word2vec
text format splits on spaces), and a word's vector as the mean of its pieces."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import pre_tokenizers

from lm_train.embeddings.keys import (
    byte_level_chars,
    is_byte_level,
    piece_key,
    readable_bytes,
    token_keys,
    unique_keys,
)
from lm_train.embeddings.pieces import PieceWords, tokenizer_encoder
from lm_train.testing import SPECIALS, sample_texts, train_tokenizer


def test_the_byte_table_is_gpt2s_alphabet_and_a_bijection():
    table = byte_level_chars()
    assert set(table) == set(pre_tokenizers.ByteLevel.alphabet())
    assert sorted(table.values()) == list(range(256))
    assert table["Ġ"] == 0x20 and table["Ċ"] == 0x0A and table["A"] == 0x41


@pytest.mark.parametrize(
    ("piece", "key"),
    [
        ("Ġword", "▁word"),
        ("ĠĠ", "▁▁"),
        ("çļĦ", "的"),  # one whole Chinese character
        ("ä¸", "<0xE4><0xB8>"),  # two bytes of a three-byte character
        ("Ċ", "<0x0A>"),
        ("ĉĠx", "<0x09>▁x"),
        ("th", "th"),
    ],
)
def test_a_byte_level_piece_becomes_the_text_of_its_bytes(piece, key):
    assert piece_key(piece, byte_level=True) == key


def test_other_tokenizers_pieces_keep_their_string_with_whitespace_escaped():
    assert piece_key("##ing", byte_level=False) == "##ing"
    assert piece_key("a b", byte_level=False) == "a▁b"
    assert piece_key("\u00a0x", byte_level=False) == "<0xC2><0xA0>x"  # no-break space
    assert readable_bytes("\u200b".encode()) == "<0xE2><0x80><0x8B>"  # zero-width space


def test_keys_are_unique_a_repeat_gets_its_id():
    assert unique_keys(["a", "b", "a", "a#2", "a"]) == ["a", "b", "a#2", "a#2#3", "a#4"]
    # special tokens keep their text; ids without a token are <id:N>
    keys = token_keys(["x", "Ġy", None], special={0: "<|endoftext|>"})
    assert keys == ["<|endoftext|>", "▁y", "<id:2>"]


def test_a_trained_byte_level_tokenizer_gets_readable_unique_keys():
    tok = train_tokenizer([t for _, _, t in sample_texts(n_en=12, n_zh=12, max_chars=600)], 400)
    import json

    assert is_byte_level(json.loads(tok.to_str()))
    n = tok.get_vocab_size()
    special = {tok.token_to_id(s): s for s in SPECIALS}
    keys = token_keys([tok.id_to_token(i) for i in range(n)], special)
    assert len(keys) == n == len(set(keys))
    assert not any(c.isspace() for k in keys for c in k)
    assert keys[tok.token_to_id("<|endoftext|>")] == "<|endoftext|>"
    checked = 0
    for i, key in enumerate(keys):
        text = tok.decode([i])
        if i in special or "<0x" in key or "\ufffd" in text or any(c.isspace() and c != " " for c in text):
            continue
        assert key.replace("▁", " ") == text  # the key reads as the text the token stands for
        checked += 1
    assert checked > 150  # the rest: special tokens and pieces of multi-byte characters


def test_a_words_vector_is_the_mean_of_its_pieces_with_a_leading_space():
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    seen = []

    def encode(text):
        seen.append(text)
        return {" cat": [1], " cats": [1, 2], " zz": []}[text]

    words = PieceWords(matrix, encode)
    assert np.array_equal(words("cat"), matrix[1])
    assert np.array_equal(words("cats"), (matrix[1] + matrix[2]) / 2)
    assert words("zz") is None
    assert (words.num_pieces("cat"), words.num_pieces("cats")) == (1, 2)
    assert seen[0] == " cat"
    tok = train_tokenizer(["the cat sat on the mat"] * 20, 300)
    encoded = tokenizer_encoder(tok)(" cat")
    assert encoded == tok.encode(" cat", add_special_tokens=False).ids

"""Decontamination's pure part: reference n-grams, lookups, the shared words, the settings."""

from __future__ import annotations

import numpy as np
import pytest

from lmcore.config import ConfigError
from pipelines.config import load_pipeline_config
from pipelines.dedup.contamination import (
    chunk_ngrams,
    find_matches,
    matched_text,
    merge_parts,
    reference_part,
)
from tests.test_dedup import text

TEST_SENTENCE = (
    "Reviewers agreed the second act drags badly, although the cast keeps every single scene alive"
)
ZH_SENTENCE = "这部电影的第二幕拖沓得厉害但是演员们让每一场戏都充满了活力"


def _reference(texts_by_file: dict[str, list[str]], n: int = 13):
    files = tuple(sorted(texts_by_file))
    return merge_parts([reference_part(i, texts_by_file[f], n) for i, f in enumerate(files)], files)


def _matched(reference, docs: list[str], n: int = 13) -> dict[int, tuple[str, str]]:
    return {
        m.doc: (reference.files[m.source], matched_text(docs[m.doc], m.ngram, n))
        for m in find_matches(reference, chunk_ngrams(docs, n))
    }


def test_a_planted_test_sentence_is_found_inside_a_long_document_and_12_shared_words_are_not():
    ref = _reference({"sst/test.jsonl": [TEST_SENTENCE]})
    words = TEST_SENTENCE.split()
    docs = [
        text(1) + " " + TEST_SENTENCE.upper() + "!! " + text(2),  # case and punctuation differ
        text(3) + " " + " ".join(words[:12]) + " " + text(4),  # 12 consecutive words only
        text(5),
    ]
    found = _matched(ref, docs)
    assert list(found) == [0]
    reference, shared = found[0]
    assert reference == "sst/test.jsonl"
    assert shared == "reviewers agreed the second act drags badly, although the cast keeps every single"


def test_a_chinese_sentence_is_matched_by_characters_inside_english_and_chinese_text():
    ref = _reference({"zh/test.jsonl": [ZH_SENTENCE]})
    docs = [
        "今天我们讨论一部新片。" + ZH_SENTENCE + "大家怎么看？",
        text(7) + " quoting: " + ZH_SENTENCE[:13] + " end of quote " + text(8),  # exactly 13 characters
        "今天我们讨论一部新片。" + ZH_SENTENCE[:12] + "别的内容完全不同",  # 12 characters only
    ]
    found = _matched(ref, docs)
    assert sorted(found) == [0, 1]
    assert found[1][1] == ZH_SENTENCE[:13]


def test_the_ngram_size_decides_what_counts_as_shared():
    ref = _reference({"t.txt": [TEST_SENTENCE]}, n=8)
    doc = text(3) + " " + " ".join(TEST_SENTENCE.split()[:8]) + " " + text(4)
    assert list(_matched(ref, [doc], n=8)) == [0]
    assert _matched(_reference({"t.txt": [TEST_SENTENCE]}, n=9), [doc], n=9) == {}


def test_reference_texts_shorter_than_the_ngram_are_counted_not_matched():
    part = reference_part(0, ["too short to be matched", TEST_SENTENCE, ""], 13)
    assert (part.texts, part.short_texts) == (3, 2)
    assert len(part.hashes) == len(TEST_SENTENCE.split()) - 12


def test_the_reference_set_is_the_same_whatever_order_its_files_arrive_in_and_ties_go_to_the_first_file():
    files = ("a/test.jsonl", "b/validation.jsonl")
    parts = [reference_part(0, [TEST_SENTENCE], 13), reference_part(1, [TEST_SENTENCE, text(9)], 13)]
    one, other = merge_parts(parts, files), merge_parts(parts[::-1], files)
    assert np.array_equal(one.hashes, other.hashes) and np.array_equal(one.source, other.source)
    assert np.all(one.hashes[1:] > one.hashes[:-1])
    found = _matched(one, [text(1) + " " + TEST_SENTENCE, text(2) + " " + text(9)[:400]])
    assert {d: ref for d, (ref, _) in found.items()} == {0: "a/test.jsonl", 1: "b/validation.jsonl"}
    assert one.texts == 3


def test_the_settings_are_checked_when_the_config_loads():
    cfg = load_pipeline_config(None, ["dedup.decontaminate=tasks/sst2"])
    assert cfg.dedup.decontaminate == ["tasks/sst2"] and cfg.dedup.decontaminate_ngram == 13
    assert load_pipeline_config(None, ["dedup.decontaminate=[a, b]"]).dedup.decontaminate == ["a", "b"]
    for bad, key in (
        ("dedup.decontaminate_ngram=4", "dedup.decontaminate_ngram"),
        ("dedup.decontaminate_ngram=0", "dedup.decontaminate_ngram"),
        ("dedup.decontaminate_ngram=words", "dedup.decontaminate_ngram"),
        ("dedup.decontaminate=['  ']", "dedup.decontaminate[0]"),
        ("dedup.decontaminate={a: 1}", "dedup.decontaminate"),
    ):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[")):
            load_pipeline_config(None, [bad])

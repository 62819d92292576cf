"""Words and documents for word vectors (lmcore.words, lmcore.documents), and the planted corpus
the other test_w2v_* files train on."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmcore.documents import NoDocumentsError, find_document_files, iter_texts
from lmcore.words import split_words
from schemas import documents_to_table

# Planted synonyms: each pair shares one group of context words and never appears elsewhere.
PAIRS = [("car", "automobile"), ("happy", "glad"), ("big", "large"), ("汽车", "轿车")]
GROUPS = {
    "car": ["drive", "road", "engine", "wheel", "garage", "fuel", "park", "highway", "driver", "tire"],
    "happy": ["smile", "laugh", "joy", "party", "cheer", "song", "dance", "friend", "sunny", "fun"],
    "big": ["size", "huge", "mountain", "giant", "tall", "elephant", "ocean", "wide", "heavy", "mass"],
    "汽车": ["司机", "发动机", "车库", "汽油", "停车", "驾驶", "方向盘", "加油站", "乘客", "交通"],
}
# Background words every group uses at random: they dilute what context words share, so that the
# two words of a pair (the same contexts exactly) are closer to each other than to any context word.
BACKGROUND = [
    "time",
    "people",
    "way",
    "year",
    "day",
    "thing",
    "man",
    "world",
    "life",
    "hand",
    "part",
    "child",
    "eye",
    "woman",
    "place",
    "work",
    "week",
    "case",
    "point",
    "number",
    "group",
    "problem",
    "fact",
    "house",
    "room",
    "area",
    "money",
    "story",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "job",
    "word",
    "business",
]
ZH_BACKGROUND = [
    "时间",
    "人们",
    "世界",
    "生活",
    "学校",
    "问题",
    "国家",
    "城市",
    "朋友",
    "工作",
    "电话",
    "孩子",
    "老师",
    "音乐",
    "电影",
    "历史",
]


def planted_sentences(per_pair: int = 400, seed: int = 0) -> list[tuple[str, str]]:
    """(text, lang) sentences: a target of a planted pair, three of its group's context words and
    four background words, shuffled. Chinese sentences are written without spaces (jieba splits them)."""
    rng = random.Random(seed)
    out = []
    for a, b in PAIRS:
        zh = a == "汽车"
        for k in range(per_pair):
            words = [a if k % 2 == 0 else b, *rng.sample(GROUPS[a], 3)]
            words += rng.sample(ZH_BACKGROUND if zh else BACKGROUND, 4)
            rng.shuffle(words)
            out.append(("".join(words) if zh else " ".join(words), "zh" if zh else "en"))
    rng.shuffle(out)
    return out


def write_documents(
    directory: Path, sentences: list[tuple[str, str]], files: int = 2, per_doc: int = 5
) -> Path:
    """``directory/documents/part-*.parquet`` as pipelines.clean writes them (``per_doc`` sentences a
    document, small row groups so a file has several)."""
    docs_dir = directory / "documents"
    docs_dir.mkdir(parents=True, exist_ok=True)
    docs = []
    for n in range(0, len(sentences), per_doc):
        chunk = sentences[n : n + per_doc]
        lang = chunk[0][1]
        sep = "。" if lang == "zh" else ". "
        docs.append(
            {"id": f"d{n:06d}", "text": sep.join(t for t, _ in chunk), "source": "planted", "lang": lang}
        )
    for f in range(files):
        part = docs[f::files]
        table = documents_to_table(part)
        pq.write_table(table, docs_dir / f"part-{f:05d}-of-{files:05d}.parquet", row_group_size=50)
    return directory


# -- lmcore.words -------------------------------------------------------------------------------
def test_english_words_are_lowercased_without_numbers_or_punctuation():
    assert split_words("Don't run the Command-Line tool 2024, v3.14 UTF-8 x86_64!") == [
        "don't",
        "run",
        "the",
        "command-line",
        "tool",
        "v3",
        "utf-8",
        "x86_64",
    ]


def test_chinese_is_segmented_by_jieba():
    assert split_words("汽车轿车") == ["汽车", "轿车"]  # four characters, two words
    assert split_words("我喜欢汽车和轿车。", lang="zh") == ["我", "喜欢", "汽车", "和", "轿车"]


def test_mixed_text_splits_each_script_its_own_way_whatever_the_label():
    text = "Linux 内核使用 ls(1) 命令，1024 个"
    assert split_words(text, "zh") == split_words(text, None) == split_words(text, "en")
    assert split_words(text) == ["linux", "内核", "使用", "ls", "命令", "个"]


# -- lmcore.documents --------------------------------------------------------------------------
def test_documents_are_found_and_streamed_in_order(tmp_path):
    root = write_documents(tmp_path / "ds", planted_sentences(per_pair=20), files=2)
    files = find_document_files(str(root))
    assert [Path(f).name for f in files] == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
    assert find_document_files(str(root / "documents")) == files
    texts = [t for f in files for batch, _ in iter_texts(f, batch_rows=3) for t in batch]
    assert len(texts) == 80 // 5


def test_a_prepared_datasets_kept_documents_are_its_decoded_train_and_validation_shards(tmp_path):
    from lm_train.testing import write_text_dataset

    docs = [
        (f"d{i}", "zh" if i % 2 else "en", f"汽车和轿车 number {i}" if i % 2 else f"car {i} automobile")
        for i in range(10)
    ]
    data = write_text_dataset(tmp_path / "ds", docs, vocab_size=300, val_every=5, train_shards=1)
    files = find_document_files(str(data))
    assert [Path(f).name.split("-")[0] for f in files] == ["train", "validation"]
    texts = {t: lang for f in files for batch, langs in iter_texts(f) for t, lang in zip(batch, langs)}
    assert texts == {text: lang for _, lang, text in docs}  # decoded exactly, with their languages
    (data / "shards" / Path(files[0]).name).write_bytes(b"tampered")
    with pytest.raises(NoDocumentsError, match="sha256"):
        find_document_files(str(data))


def test_a_directory_without_documents_is_a_clear_error(tmp_path):
    (tmp_path / "shards").mkdir()
    with pytest.raises(NoDocumentsError, match=r"token shards without a manifest\.json"):
        find_document_files(str(tmp_path))
    with pytest.raises(NoDocumentsError, match="no such directory"):
        find_document_files(str(tmp_path / "nope"))

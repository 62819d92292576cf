"""``objective=seq2seq``: train an encoder–decoder (``model=seq2seq``) on paired text.

The dataset is a pairs task dataset (``python -m pipelines.prepare_task --task=pairs``):
the manifest's ``task.kind`` is ``pairs``, a shard's ``tokens`` are the source and its
``target`` column the target. Batches come from ``lm_train.data.pairs.PairLoader``.

Training is teacher forcing: the decoder reads ``start, y_1 .. y_{n-1}`` and predicts
``y_1 .. y_n`` (``y_n`` the eos); the loss is cross-entropy summed over the target tokens
only (source and padding count for nothing), ``count`` is the number of target tokens.
The start token is the tokenizer's beginning-of-sequence token when it has one (a
special token named ``<s>``, ``<bos>``, ``<|bos|>``, ``<|startoftext|>`` or
``<|begin_of_text|>``), else its eos (the eos then both starts and ends a target; the
decoder tells them apart by position).

Evaluation: ``loss`` (and ``perplexity``) per target token under teacher forcing, then each
source is decoded (``beam_size`` 1: greedy, else beam search with ``length_penalty``, at
most ``max_decode_len`` tokens, default ``model.max_target_len``) and compared with its
reference (the target as the loader cut it) after detokenizing both:

* ``exact_match``: share of examples whose text equals the reference (surrounding
  whitespace ignored);
* ``bleu`` and ``chrf`` (chrF, character 6-grams, β = 2): corpus scores computed by
  ``sacrebleu`` from its sufficient statistics (n-gram matches and totals), summed over
  batches and ranks, so they are the corpus scores of all the examples whatever the world
  size. BLEU's tokenizer is ``bleu_tokenize``; ``auto`` picks ``zh`` (sacrebleu's Chinese
  tokenizer: every CJK character a token, the rest as ``13a``) when at least 30 % of the
  non-space characters of a sample of the dataset's targets are CJK ideographs, else
  ``13a`` (the WMT standard). The choice is reported as ``bleu_tokenize``. chrF works on
  characters and needs no tokenizer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_train.data.config import LoaderError
from lm_train.data.pairs import IGNORE
from lm_train.decoding import DecodeConfig, decode
from lm_train.objectives.base import AutocastFactory, Batch, Objective
from lmcore.config import ConfigError

BOS_TOKENS = ("<s>", "<bos>", "<|bos|>", "<|startoftext|>", "<|begin_of_text|>")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]")
CJK_SHARE = 0.3  # targets at least this CJK (of non-space characters) are scored with tokenize=zh
LANGUAGE_SAMPLE = 256  # targets read to decide
BLEU_STATS, CHRF_STATS = 10, 18  # sacrebleu's sufficient statistics: BLEU 4-gram, chrF 6 char n-grams
HEAD_SUMS = 4  # loss, target tokens, examples, exact matches


# -- pure pieces -------------------------------------------------------------------------------
def pairs_task(manifest: Any, data: str) -> Any:
    """The manifest's pairs task, refused for any other dataset."""
    task = getattr(manifest, "task", None)
    kind = None if task is None else (task["kind"] if isinstance(task, dict) else task.kind)
    if kind != "pairs":
        what = "has no task in its manifest" if task is None else f"is a {kind!r} task"
        raise ConfigError(
            f"objective=seq2seq needs a paired-text task dataset, but {data} {what}; make one with "
            "python -m pipelines.prepare_task --task=pairs"
        )
    return task


def start_token_id(special_tokens: dict[str, int], eos_id: int) -> int:
    """The decoder's start token: the tokenizer's bos when it has one, else its eos."""
    for name in BOS_TOKENS:
        if name in special_tokens:
            return int(special_tokens[name])
    return int(eos_id)


def cjk_share(texts: Sequence[str]) -> float:
    """CJK ideographs over non-space characters."""
    chars = sum(len(t) - sum(c.isspace() for c in t) for t in texts)
    return sum(len(CJK.findall(t)) for t in texts) / chars if chars else 0.0


def choose_bleu_tokenize(setting: str, targets: Sequence[str]) -> str:
    """``setting`` unless ``auto``: then ``zh`` for mostly Chinese ``targets``, else ``13a``."""
    if setting != "auto":
        return setting
    return "zh" if cjk_share(targets) >= CJK_SHARE else "13a"


def _metrics(tokenize: str):
    from sacrebleu.metrics import BLEU, CHRF

    return BLEU(tokenize=tokenize), CHRF()


def text_stats(hyps: Sequence[str], refs: Sequence[str], tokenize: str) -> np.ndarray:
    """sacrebleu's BLEU then chrF sufficient statistics of ``hyps`` against ``refs``, summed."""
    bleu, chrf = _metrics(tokenize)
    out = np.zeros(BLEU_STATS + CHRF_STATS, np.float64)
    if hyps:
        out[:BLEU_STATS] = np.sum(bleu._extract_corpus_statistics(list(hyps), [list(refs)]), axis=0)
        out[BLEU_STATS:] = np.sum(chrf._extract_corpus_statistics(list(hyps), [list(refs)]), axis=0)
    return out


def text_scores(stats: Sequence[float], tokenize: str) -> tuple[float, float]:
    """Corpus BLEU and chrF from summed ``text_stats``, as ``corpus_score`` computes them."""
    bleu, chrf = _metrics(tokenize)
    ints = [round(float(x)) for x in stats]
    return (
        float(bleu._compute_score_from_stats(ints[:BLEU_STATS]).score),
        float(chrf._compute_score_from_stats(ints[BLEU_STATS:]).score),
    )


def strip_eos(ids: Sequence[int], eos_id: int) -> list[int]:
    ids = list(ids)
    return ids[: ids.index(eos_id)] if eos_id in ids else ids


def seq2seq_metrics(totals: Sequence[float], tokenize: str) -> dict[str, Any]:
    """Metrics from the summed ``[loss, target tokens, examples, exact matches, BLEU and chrF stats]``."""
    loss_sum, tokens, examples, exact = (float(x) for x in totals[:HEAD_SUMS])
    if tokens <= 0 or examples <= 0:
        nan = float("nan")
        loss = perplexity = exact_match = bleu = chrf = nan
    else:
        bleu, chrf = text_scores(totals[HEAD_SUMS:], tokenize)
        loss, exact_match = loss_sum / tokens, exact / examples
        perplexity = math.exp(min(loss, 80.0))
    return {
        "loss": loss,
        "perplexity": perplexity,
        "exact_match": exact_match,
        "bleu": bleu,
        "chrf": chrf,
        "num_tokens": int(tokens),
        "num_examples": int(examples),
        "bleu_tokenize": tokenize,
    }


def unwrap(model: nn.Module) -> nn.Module:
    """The seq2seq network under DDP / torch.compile wrappers."""
    while not hasattr(model, "decode_step"):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            raise TypeError("objective=seq2seq needs a model with encode/decode_step (model=seq2seq)")
        model = inner
    return model


# -- the objective ----------------------------------------------------------------------------
class Seq2Seq(Objective):
    name = "seq2seq"

    def __init__(self, cfg, manifest) -> None:
        super().__init__(cfg, manifest)
        self.task = pairs_task(manifest, getattr(manifest, "base_dir", None) or "the dataset")
        tok = manifest.tokenizer
        self.eos_id = int(tok.eos_id)
        self.pad_id = int(tok.pad_id) if tok.pad_id is not None else self.eos_id
        self.start_id = start_token_id(dict(tok.special_tokens), self.eos_id)
        self.max_target_len = int(cfg.model.max_target_len)
        obj = cfg.objective
        self.decoding = DecodeConfig(
            obj.max_decode_len or self.max_target_len, obj.beam_size, obj.length_penalty
        )
        self.bleu_tokenize = obj.bleu_tokenize if obj.bleu_tokenize != "auto" else "13a"
        self.tokenizer: Any = None  # for detokenizing; check_dataset or set_tokenizer

    # -- data ------------------------------------------------------------------------------
    def check_dataset(self, data: str) -> None:
        """Load the tokenizer (to detokenize for BLEU) and decide BLEU's tokenization."""
        from lm_train.inputs import read_tokenizer
        from lm_train.tokenizer_file import load_tokenizer_bytes

        self.set_tokenizer(load_tokenizer_bytes(read_tokenizer(self.manifest, data), f"{data} tokenizer"))
        self.bleu_tokenize = choose_bleu_tokenize(self.cfg.objective.bleu_tokenize, self.sample_targets(data))

    def set_tokenizer(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def sample_targets(self, data: str) -> list[str]:
        """The first ``LANGUAGE_SAMPLE`` targets of the train split (else the first split listed)."""
        from lm_train.data.pairs import read_pairs

        splits = [s.split for s in self.manifest.shards]
        split = "train" if "train" in splits else (splits[0] if splits else None)
        if split is None or self.cfg.objective.bleu_tokenize != "auto":
            return []
        examples = read_pairs(self.manifest, split, data)
        n = min(len(examples), LANGUAGE_SAMPLE)
        return self.detokenize([strip_eos(examples.target(i).tolist(), self.eos_id) for i in range(n)])

    def make_loader(self, data: str, split: str, rank: int, world_size: int, epochs: int | None) -> Any:
        from lm_train.data.pairs import PairLoader

        return PairLoader(
            data,
            split,
            max_target_len=self.max_target_len,
            start_id=self.start_id,
            **self.example_loader_settings(split, rank, world_size, epochs),
        )

    def count(self, batch: Batch) -> Tensor:
        return (batch["tgt_out"] != IGNORE).double().sum()

    # -- loss ------------------------------------------------------------------------------
    @staticmethod
    def target_logits(model: nn.Module, batch: Batch) -> Tensor:
        return model(batch["src_ids"], batch["src_lengths"], batch["tgt_in"])

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        logits = self.target_logits(model, batch)
        targets = batch["tgt_out"]
        loss_sum = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE,
            reduction="sum",
        )
        return loss_sum, (targets != IGNORE).to(loss_sum.dtype).sum()

    # -- decoding and metrics ---------------------------------------------------------------
    def detokenize(self, ids: Sequence[Sequence[int]]) -> list[str]:
        if self.tokenizer is None:
            raise LoaderError(
                "objective=seq2seq: call check_dataset(data) (or set_tokenizer) before decoding text"
            )
        return self.tokenizer.decode_batch([list(map(int, x)) for x in ids], skip_special_tokens=True)

    def generate(self, model: nn.Module, batch: Batch, config: DecodeConfig | None = None) -> list[list[int]]:
        """Decoded target ids (no eos) of every row of ``batch``."""
        config = config or self.decoding
        return decode(
            unwrap(model), batch["src_ids"], batch["src_lengths"], self.start_id, self.eos_id, config
        )

    def num_eval_sums(self) -> int:
        return HEAD_SUMS + BLEU_STATS + CHRF_STATS

    def eval_sums(self, model: nn.Module, batch: Batch, autocast: AutocastFactory) -> Tensor:
        with autocast():
            logits = self.target_logits(model, batch)
        targets = batch["tgt_out"]
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE,
            reduction="sum",
        )
        real = (batch["tgt_lengths"] > 0).nonzero().squeeze(1)  # padding rows past the split's end: none
        rows = {k: v.index_select(0, real) for k, v in batch.items()}
        with autocast():
            hyp_ids = self.generate(model, rows) if len(real) else []
        ref_ids = [
            strip_eos([t for t in row if t != IGNORE], self.eos_id) for row in rows["tgt_out"].tolist()
        ]
        hyps, refs = self.detokenize(hyp_ids), self.detokenize(ref_ids)
        exact = sum(h.strip() == r.strip() for h, r in zip(hyps, refs))
        head = [float(loss), float((targets != IGNORE).sum()), float(len(real)), float(exact)]
        stats = np.concatenate([np.array(head), text_stats(hyps, refs, self.bleu_tokenize)])
        return torch.from_numpy(stats).to(loss.device)

    def eval_metrics(self, totals: Tensor) -> dict[str, Any]:
        return seq2seq_metrics(totals.tolist(), self.bleu_tokenize)

    # -- --init-from -----------------------------------------------------------------------
    def init_from(self, model: nn.Module, source: str, tokenizer_sha256: str | None, data: str) -> int | None:
        """The pretrained run's token embedding into the encoder and/or decoder embedding
        (``init_embeddings``); with shared embeddings (the default) both sides get it."""
        from lm_train.restore import pretrained_embedding

        net = unwrap(model)
        weight, step = pretrained_embedding(source, tokenizer_sha256, data, tuple(net.embed.weight.shape))
        where = self.cfg.objective.init_embeddings
        targets = {"encoder": [net.embed], "decoder": [net.tgt_embed], "both": [net.embed, net.tgt_embed]}
        with torch.no_grad():
            for emb in targets[where]:
                emb.weight.copy_(weight.to(emb.weight.dtype))
        return step

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What predict needs beside the weights: the start token and the input/output fields."""
        return {
            "start_id": self.start_id,
            "bleu_tokenize": self.bleu_tokenize,
            "source_field": getattr(self.task, "source_field", "source"),
            "target_field": getattr(self.task, "target_field", "target"),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        start = state.get("start_id") if isinstance(state, dict) else None
        if start is not None and start != self.start_id:
            raise LoaderError(f"the checkpoint's start token {start} is not this dataset's {self.start_id}")


__all__ = [
    "Seq2Seq",
    "choose_bleu_tokenize",
    "cjk_share",
    "pairs_task",
    "seq2seq_metrics",
    "start_token_id",
    "text_scores",
    "text_stats",
]

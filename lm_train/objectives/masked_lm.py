"""``objective=masked_lm``: predict hidden tokens from both sides (BERT-style pretraining, ``model=bert``).

``collate`` masks each row of the packed loader's batch (``masking.py``: 15 % of the
ordinary tokens by default, 80/10/10 mask/random/keep, optionally whole words). The batch
that reaches the loss carries the masked ``input_ids``, the original token as ``targets``
and ``loss_mask`` = 1 exactly where a token is to be predicted; only those positions go
through the vocabulary head. Evaluation reports the masked-token loss and accuracy on the
validation split.

The dataset's tokenizer must have the mask token; older datasets were tokenized without
one and are refused, with how to make a new one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_train.objectives import masking
from lm_train.objectives.base import AutocastFactory, Batch, Objective
from lm_train.objectives.causal_lm import model_logits
from lm_train.tokenizer_file import TokenizerError

if TYPE_CHECKING:
    from lm_train.config import TrainConfig
    from schemas import Manifest, TokenizerInfo

MASK_TOKEN = "<|mask|>"  # the tokenize stage's TokenizeConfig.mask_token
RECORD_NAMES = {
    "loss": "val_loss",
    "masked_accuracy": "val_masked_accuracy",
    "num_masked": "val_masked_tokens",
}


def mask_token_id(info: TokenizerInfo, data: str) -> int:
    """The id of ``<|mask|>`` in the dataset's tokenizer; a ``TokenizerError`` saying how to get one."""
    if MASK_TOKEN in info.special_tokens:
        return int(info.special_tokens[MASK_TOKEN])
    raise TokenizerError(
        f"objective=masked_lm needs the mask token {MASK_TOKEN!r}, but the tokenizer of dataset {data} "
        f"has none (its special tokens: {sorted(info.special_tokens)}). It was tokenized before "
        f"lmforge added the token: tokenize the corpus again into a new dataset directory "
        f"(python -m pipelines.tokenize or python -m pipelines.prepare with a new --output); "
        f"new tokenizers include {MASK_TOKEN!r}"
    )


def special_ids(info: TokenizerInfo) -> np.ndarray:
    """Every id that is never masked: the special tokens, end of document and padding."""
    ids = {*info.special_tokens.values(), info.eos_id}
    if info.pad_id is not None:
        ids.add(info.pad_id)
    return np.array(sorted(ids), np.int64)


def word_table(tokenizer_json: bytes) -> masking.WordTable:
    """The byte-level pieces of every id of the dataset's tokenizer, for whole-word masking."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    pieces = [tok.id_to_token(i) for i in range(tok.get_vocab_size(with_added_tokens=True))]
    return masking.WordTable.from_pieces(masking.piece_bytes(pieces))


def masked_metrics(loss_sum: float, num_masked: float, num_correct: float) -> dict[str, Any]:
    """Summed nats, predicted tokens and correct argmax predictions -> the reported metrics."""
    if num_masked <= 0:
        return {"loss": math.nan, "masked_accuracy": math.nan, "num_masked": 0}
    return {
        "loss": loss_sum / num_masked,
        "masked_accuracy": num_correct / num_masked,
        "num_masked": int(num_masked),
    }


def masked_logits(model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
    """Logits ``[N, vocab]`` of the N positions to predict, and their targets ``[N]``."""
    hidden = model(batch["input_ids"], batch.get("position_ids"), batch.get("segment_ids"))
    picked = batch["loss_mask"] > 0
    return model_logits(model, hidden[picked]).float(), batch["targets"][picked]


class MaskedLM(Objective):
    name = "masked_lm"

    def __init__(self, cfg: TrainConfig, manifest: Manifest) -> None:
        super().__init__(cfg, manifest)
        self.masking = masking.MaskingConfig(
            mask_prob=getattr(cfg.objective, "mask_prob", 0.15),
            whole_word=getattr(cfg.objective, "whole_word", False),
        )
        info = manifest.tokenizer
        self.special_ids = special_ids(info)
        self.vocab_size = info.vocab_size
        self.mask_id: int | None = info.special_tokens.get(MASK_TOKEN)
        self.words: masking.WordTable | None = None
        self.segmenter: masking.Segmenter | None = None

    def check_dataset(self, data: str) -> None:
        """Refuse a tokenizer without the mask token; load what whole-word masking needs."""
        self.mask_id = mask_token_id(self.manifest.tokenizer, data)
        if self.masking.whole_word:
            from lm_train.inputs import read_tokenizer

            self.words = word_table(read_tokenizer(self.manifest, data))
            self.segmenter = masking.load_segmenter()

    # -- batches ----------------------------------------------------------------------------
    def collate(self, batch: Batch) -> Batch:
        return self.mask(batch, masking.TRAIN_STREAM)

    def mask(self, batch: Batch, stream: int) -> Batch:
        """``batch`` with its rows masked by the generators of their stream positions."""
        if self.mask_id is None:
            raise TokenizerError("masked_lm: call check_dataset(data) before masking (it finds the mask id)")
        if "sample_positions" not in batch:
            raise KeyError(
                "masked_lm needs the loader's 'sample_positions' (each row's global stream position)"
            )
        ids = batch["input_ids"].numpy()
        segments = batch["segment_ids"].numpy()
        starts = None
        if self.masking.whole_word:
            if self.words is None:
                raise TokenizerError("masked_lm: whole-word masking needs check_dataset(data) first")
            starts = masking.word_starts(ids, segments, self.words, self.segmenter)
        rows = masking.mask_rows(
            ids,
            segments,
            batch["sample_positions"].numpy(),
            seed=self.cfg.runtime.seed,
            stream=stream,
            config=self.masking,
            mask_id=self.mask_id,
            special_ids=self.special_ids,
            vocab_size=self.vocab_size,
            word_start=starts,
        )
        picked = rows.labels != masking.IGNORE
        out = {k: v for k, v in batch.items() if k != "token_bytes"}  # bytes per token: causal LM only
        out["input_ids"] = torch.from_numpy(rows.input_ids)
        out["targets"] = torch.from_numpy(np.where(picked, rows.labels, ids))
        out["loss_mask"] = torch.from_numpy(picked.astype(np.float32))
        return out

    # -- loss and metrics -------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        """Cross-entropy summed over the masked positions; ``(loss_sum, num_masked)``."""
        logits, targets = masked_logits(model, batch)
        loss_sum = F.cross_entropy(logits, targets, reduction="sum")
        return loss_sum, torch.tensor(float(targets.numel()), device=loss_sum.device)

    def eval_batch(self, batch: Batch) -> Batch:
        return self.mask(batch, masking.EVAL_STREAM)

    def num_eval_sums(self) -> int:
        return 3  # loss, masked tokens, correct predictions

    def eval_sums(self, model: nn.Module, batch: Batch, autocast: AutocastFactory) -> Tensor:
        with autocast():
            logits, targets = masked_logits(model, batch)
        loss_sum = F.cross_entropy(logits, targets, reduction="sum").double()
        correct = (logits.argmax(-1) == targets).double().sum()
        return torch.stack(
            [loss_sum, torch.tensor(targets.numel(), device=loss_sum.device).double(), correct]
        )

    def eval_metrics(self, totals: Tensor) -> dict[str, Any]:
        return masked_metrics(*totals.tolist())


__all__ = ["MASK_TOKEN", "MaskedLM", "mask_token_id", "masked_metrics", "special_ids", "word_table"]

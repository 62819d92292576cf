"""Loading an export back with ``transformers`` and checking it computes what our model computes.

"Verified, not hoped": the same texts (English, Chinese, emoji) go through our tokenizer and
model and through ``AutoTokenizer`` and the ``Auto`` model class from the exported
directory; the token ids must be equal, the logits equal within float tolerance and, for a
causal LM, greedy ``generate`` must give the same tokens as our greedy decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "In the beginning God created the heaven and the earth.",
    "床前明月光，疑是地上霜。",
    "lmforge 训练语言模型 🚀 — naïve café, 東京",
    "two documents<|endoftext|>  spaced\tout\n\nlines 👩‍💻",
)
ATOL = 1e-4  # float32 logits: different kernels, same maths
GREEDY_TOKENS = 12


class VerifyError(RuntimeError):
    """The export does not reproduce the run; the message says which check failed and by how much."""


@dataclass
class Verification:
    texts: int = 0
    max_abs_logit_diff: float = 0.0
    greedy_tokens_checked: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "max_abs_logit_diff": self.max_abs_logit_diff,
            "greedy_tokens_checked": self.greedy_tokens_checked,
            "tolerance": ATOL,
            "notes": self.notes,
        }


def check_tokenizer(ours: Any, theirs: Any, texts: Sequence[str]) -> list[list[int]]:
    """Our ids for ``texts``, refused unless ``AutoTokenizer`` gives the same ones and decodes them back."""
    ids = [enc.ids for enc in ours.encode_batch(list(texts))]
    for text, mine in zip(texts, ids):
        got = theirs(text, add_special_tokens=False)["input_ids"]
        if got != mine:
            raise VerifyError(f"AutoTokenizer encodes {text!r} as {got[:12]}..., ours as {mine[:12]}...")
        if theirs.decode(got) != ours.decode(mine, skip_special_tokens=False):
            raise VerifyError(f"AutoTokenizer decodes {text!r} differently from our tokenizer")
    return ids


def load_and_compare(
    directory: str,
    tokenizer: Any,
    auto_class: str,
    ours: Callable[[Tensor], Tensor],
    rows_of: Callable[[list[list[int]]], list[list[int]]],
) -> tuple[Verification, Any, list[list[int]]]:
    """Load ``directory`` with ``AutoTokenizer`` and ``transformers.<auto_class>``, check the token ids
    of the probe texts, and compare logits on ``rows_of(ids)``; (report, the loaded model, the rows)."""
    import transformers

    report = Verification()
    hf_tok = transformers.AutoTokenizer.from_pretrained(directory)
    hf = getattr(transformers, auto_class).from_pretrained(directory, dtype="float32").eval()
    rows = rows_of(check_tokenizer(tokenizer, hf_tok, PROBE_TEXTS))
    verify_logits(ours, lambda x: hf(x).logits, rows, report)
    return report, hf, rows


def verify_default_encoding(directory: str, rows: Sequence[list[int]]) -> None:
    """A classifier's ``AutoTokenizer(text)`` gives the ids it was trained on: the text, then eos."""
    import transformers

    hf_tok = transformers.AutoTokenizer.from_pretrained(directory)
    for text, row in zip(PROBE_TEXTS, rows):
        got = hf_tok(text)["input_ids"]
        if len(got) <= len(row) and got != row:  # rows are cut to the context; longer ones are not compared
            raise VerifyError(
                f"AutoTokenizer({text!r}) gives {got[-6:]} at its end, the classifier read {row[-6:]}"
            )


def fit(ids: Sequence[list[int]], max_len: int) -> list[list[int]]:
    """Each text cut so that it and ``GREEDY_TOKENS`` generated after its first half fit the context."""
    keep = max(2, min(max_len, 2 * (max_len - GREEDY_TOKENS)))
    return [row[:keep] for row in ids]


def greedy_ours(
    logits_of: Callable[[Tensor], Tensor], prompt: list[int], n: int, eos: int | None
) -> list[int]:
    ids = list(prompt)
    new: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            token = int(logits_of(torch.tensor([ids]))[0, -1].argmax())
            if token == eos:
                break
            ids.append(token)
            new.append(token)
    return new


def verify_logits(
    ours: Callable[[Tensor], Tensor],
    theirs: Callable[[Tensor], Tensor],
    ids: Sequence[list[int]],
    report: Verification,
) -> None:
    with torch.no_grad():
        for row in ids:
            x = torch.tensor([row])
            a, b = ours(x).float(), theirs(x).float()
            diff = float((a - b).abs().max())
            report.max_abs_logit_diff = max(report.max_abs_logit_diff, diff)
            if not diff <= ATOL:
                raise VerifyError(f"logits differ by {diff:.3g} (> {ATOL}) on a {len(row)}-token text")
            report.texts += 1


def verify_greedy(
    ours: Callable[[Tensor], Tensor],
    hf_model: Any,
    ids: Sequence[list[int]],
    eos: int | None,
    pad: int | None,
    report: Verification,
) -> None:
    for row in ids:
        prompt = row[: max(1, len(row) // 2)]  # ``fit`` leaves room for GREEDY_TOKENS more
        mine = greedy_ours(ours, prompt, GREEDY_TOKENS, eos)
        with torch.no_grad():
            out = hf_model.generate(
                torch.tensor([prompt]),
                attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                max_length=len(prompt)
                + GREEDY_TOKENS,  # not max_new_tokens: the export's own max_length stays
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=pad if pad is not None else eos,
            )
        got = out[0, len(prompt) :].tolist()
        if eos in got:
            got = got[: got.index(eos)]
        if got != mine:
            raise VerifyError(f"greedy generate gives {got} from transformers, {mine} from lmforge")
        report.greedy_tokens_checked += len(mine)

"""Training settings: one flat dataclass, defaults in code, a YAML file, then ``key=value`` overrides.

Flat on purpose: every key is a command-line override away (``lr=3e-4 model=lstm``), and
the effective configuration is written to ``RUNDIR/config.yaml`` so a run can be repeated
from its own directory. Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml

from lmcore.config import ConfigError, from_dict, load_yaml, parse_override

MODELS = ("gpt", "rnn", "lstm", "gru")
SCHEDULES = ("cosine", "wsd", "constant")
DTYPES = ("auto", "float32", "bfloat16")
ATTENTION = ("auto", "sdpa", "flex")


@dataclass
class TrainConfig:
    # model
    model: str = "gpt"  # gpt | rnn | lstm | gru
    n_layer: int = 4  # transformer blocks, or stacked recurrent layers
    n_head: int = 4  # attention heads (gpt)
    d_model: int = 128  # width of the residual stream / hidden state
    d_ff: int = 0  # 0: 4 × d_model
    dropout: float = 0.0  # dropout probability while training (0: off)
    rope_theta: float = 10000.0  # RoPE base frequency (gpt)
    tie_embeddings: bool = True  # output head shares the input embedding matrix
    attention: str = "auto"  # auto | sdpa (block-diagonal mask) | flex (FlexAttention, CUDA)
    # data
    seq_len: int = 256  # tokens per sample (packed)
    batch_size: int = 8  # per rank, per micro-step
    grad_accum: int = 1  # micro-steps per optimizer step; global batch = batch_size × grad_accum × ranks
    packing: str = "concat"  # concat | best_fit (see lm_train.data)
    data_workers: int = 0  # DataLoader processes building batches (0: in the trainer)
    dataset_version: int = 0  # 0: whatever DIR/manifest.json is; n: refuse any other version
    # optimisation
    lr: float = 3e-4  # peak learning rate
    min_lr_ratio: float = 0.1  # final lr = lr × min_lr_ratio
    schedule: str = "cosine"  # cosine | wsd | constant (all after linear warmup)
    warmup_steps: int = 100  # linear warmup to lr over these steps
    decay_frac: float = 0.2  # wsd: fraction of max_steps spent decaying at the end
    weight_decay: float = 0.1  # AdamW, on matrices only (not norms, biases, embeddings)
    beta1: float = 0.9  # AdamW
    beta2: float = 0.95  # AdamW
    eps: float = 1e-8  # AdamW
    grad_clip: float = 1.0  # 0: no clipping (the norm is still logged)
    max_steps: int = 1000  # optimizer steps; the schedule ends here
    # evaluation, checkpoints, logging
    eval_every: int = 200  # 0: never (except at the end)
    eval_steps: int = 20  # validation batches (of the global batch size) per evaluation
    ckpt_every: int = 200  # 0: only at the end
    keep_ckpts: int = 3  # newest checkpoints kept in RUNDIR/checkpoints
    log_every: int = 10  # steps per metrics.jsonl record and console line
    tensorboard: bool = True  # also write RUNDIR/tensorboard/ (tensorboard --logdir RUNDIR/tensorboard)
    # runtime
    seed: int = 0  # weights, data order and dropout
    compile: bool = False  # torch.compile the model
    dtype: str = "auto"  # auto: bfloat16 on GPUs that support it, else float32
    device: str = "auto"  # auto | cpu | cuda
    peak_flops: float = 0.0  # per device, for MFU; 0: known GPU table, or a measured matmul on CPU

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"config: {f.name} must be a finite number, got {value!r}")
        checks = [
            (self.model in MODELS, f"model must be one of {MODELS}, got {self.model!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}"),
            (self.attention in ATTENTION, f"attention must be one of {ATTENTION}, got {self.attention!r}"),
            (self.device in ("auto", "cpu", "cuda"), f"device must be auto|cpu|cuda, got {self.device!r}"),
            (self.n_layer >= 1 and self.d_model >= 1, "n_layer and d_model must be >= 1"),
            (self.n_head >= 1 and self.d_ff >= 0, "n_head must be >= 1 and d_ff >= 0"),
            (
                self.model != "gpt" or self.n_head < 1 or self.d_model % self.n_head == 0,
                "d_model must be divisible by n_head",
            ),
            (
                self.model != "gpt" or (self.d_model // max(self.n_head, 1)) % 2 == 0,
                "head size must be even (RoPE)",
            ),
            (self.seq_len >= 2, "seq_len must be >= 2"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be >= 1"),
            (self.max_steps >= 1, "max_steps must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio must be in [0, 1]"),
            (0.0 <= self.decay_frac <= 1.0, "decay_frac must be in [0, 1]"),
            (self.warmup_steps >= 0 and self.eval_steps >= 1, "warmup_steps >= 0 and eval_steps >= 1"),
            (self.keep_ckpts >= 1 and self.log_every >= 1, "keep_ckpts and log_every must be >= 1"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.rope_theta > 0 and self.eps > 0, "rope_theta and eps must be > 0"),
            (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0, "beta1 and beta2 must be in [0, 1)"),
            (self.weight_decay >= 0 and self.grad_clip >= 0, "weight_decay and grad_clip must be >= 0"),
            (self.peak_flops >= 0, "peak_flops must be >= 0"),
            (
                min(self.eval_every, self.ckpt_every, self.data_workers, self.dataset_version) >= 0,
                "eval_every, ckpt_every, data_workers and dataset_version must be >= 0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"config: {message}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> TrainConfig:
        return from_dict(cls, data, where)


class KeyInfo(NamedTuple):
    section: str
    name: str
    type: str
    default: Any
    help: str


_FIELD_LINE = re.compile(r"^\s+(\w+): [\w.| ]+ = .*?(?:#\s*(.*))?$")
_SECTION_LINE = re.compile(r"^\s+#\s*(.+)$")


def describe_keys() -> list[KeyInfo]:
    """Every ``TrainConfig`` key with type, default and the comment beside it in the source.

    The comments in the class body are the documentation, so ``--help`` reads them here
    rather than keeping a second copy that could drift.
    """
    comments, sections, section = {}, {}, "settings"
    try:
        source = inspect.getsource(TrainConfig).splitlines()
    except (OSError, TypeError):  # no source (frozen app): names, types and defaults only
        source = []
    for line in source:
        if m := _SECTION_LINE.match(line):
            section = m.group(1).strip()
        elif m := _FIELD_LINE.match(line):
            comments[m.group(1)], sections[m.group(1)] = (m.group(2) or "").strip(), section
    hints = typing.get_type_hints(TrainConfig)
    return [
        KeyInfo(
            sections.get(f.name, "settings"),
            f.name,
            hints[f.name].__name__,
            f.default,
            comments.get(f.name, ""),
        )
        for f in dataclasses.fields(TrainConfig)
    ]


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-3", "compile=true"]`` → ``{"lr": 0.001, "compile": True}`` (values parsed as YAML)."""
    return dict(parse_override(item) for item in items)


def load_yaml_file(path: str) -> dict[str, Any]:
    """The ``--config`` file (local path or fsspec URL) as a dict."""
    return load_yaml(path)


def load_config(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (later wins)."""
    data: dict[str, Any] = load_yaml_file(path) if path else {}
    data.update(overrides or {})
    return TrainConfig.from_dict(data, f"config ({path})" if path else "config")

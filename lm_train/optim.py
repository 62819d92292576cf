"""AdamW with decay/no-decay parameter groups, and learning-rate schedules as pure functions.

Weight decay pulls matmul weights towards zero; applied to norms' gains, biases or
embedding rows it only hurts (a rare token's embedding would shrink every step it is not
seen), so those go to a group without decay.

Schedules, all with a linear warmup from 0 to ``lr`` over ``warmup_steps``:

* ``cosine``: cosine decay to ``lr × min_lr_ratio`` at ``max_steps``;
* ``wsd`` (warmup-stable-decay): constant ``lr``, then a linear decay to the minimum over
  the last ``decay_frac × max_steps`` steps (a run can be extended from a stable-phase
  checkpoint and decayed later);
* ``constant``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lm_train.config import OptimConfig, TrainConfig


def optim_section(cfg: TrainConfig | OptimConfig) -> OptimConfig:
    """The ``optim`` section of a whole config, or the section itself."""
    return cfg.optim if isinstance(cfg, TrainConfig) else cfg


def param_groups(model: nn.Module, weight_decay: float, head_lr_scale: float = 1.0) -> list[dict]:
    """AdamW groups: matrices of linear layers (decayed) and everything else (not); with a
    task head (``model.task_head``) and ``head_lr_scale != 1``, the head gets its own two
    groups whose learning rate is the schedule's times ``head_lr_scale``. Frozen weights
    (``requires_grad`` False) are left out."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    head = getattr(model, "task_head", None)
    head_ids = {id(p) for p in head.parameters()} if head is not None and head_lr_scale != 1.0 else set()
    groups = {(d, h): [] for d in (True, False) for h in (False, True)}
    seen: set[int] = set()
    for _, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))  # tied weights appear once
        groups[(p.dim() >= 2 and id(p) not in embeddings, id(p) in head_ids)].append(p)
    out = [
        {"params": groups[(True, False)], "weight_decay": weight_decay},
        {"params": groups[(False, False)], "weight_decay": 0.0},
    ]
    if head_ids:
        out += [
            {"params": groups[(True, True)], "weight_decay": weight_decay, "lr_scale": head_lr_scale},
            {"params": groups[(False, True)], "weight_decay": 0.0, "lr_scale": head_lr_scale},
        ]
    return [g for g in out if g["params"]]  # a frozen body leaves its groups empty


def fused_supported(model: nn.Module) -> bool:
    """The fused AdamW kernel (one pass per tensor instead of a dozen ops) takes CPU and CUDA
    floating-point parameters; the same update in maths as the per-tensor loop."""
    params = list(model.parameters())
    return bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.bfloat16, torch.float16)
        for p in params
    )


def build_optimizer(model: nn.Module, cfg: TrainConfig | OptimConfig) -> torch.optim.AdamW:
    cfg = optim_section(cfg)
    fused = fused_supported(model)
    head_scale = cfg.head_lr / cfg.lr if cfg.head_lr > 0 else 1.0
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay, head_scale),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=fused or None,
    )


def lr_at(step: int, cfg: TrainConfig | OptimConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of a ``max_steps`` schedule."""
    cfg = optim_section(cfg)
    peak, floor = cfg.lr, cfg.lr * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return peak
    if cfg.schedule == "cosine":
        span = max(cfg.max_steps - cfg.warmup_steps, 1)
        progress = min((step - cfg.warmup_steps) / span, 1.0)
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    decay_steps = max(round(cfg.decay_frac * cfg.max_steps), 1)
    decay_start = cfg.max_steps - decay_steps
    if step < decay_start:
        return peak
    progress = min((step - decay_start + 1) / decay_steps, 1.0)
    return peak + (floor - peak) * progress


class Scheduler:
    """Sets each group's lr from ``lr_at``; its whole state is the step counter."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig | OptimConfig) -> None:
        self.optimizer, self.cfg, self.step_num = optimizer, optim_section(cfg), 0
        self.apply()

    def apply(self) -> float:
        lr = lr_at(self.step_num, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def step(self) -> float:
        self.step_num += 1
        return self.apply()

    @property
    def lr(self) -> float:
        return lr_at(self.step_num, self.cfg)

    def state_dict(self) -> dict:
        return {"step": self.step_num}

    def load_state_dict(self, state: dict) -> None:
        self.step_num = int(state["step"])
        self.apply()

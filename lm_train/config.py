"""Training settings: sections of dataclasses, defaults in code, a YAML file, then ``key=value`` overrides.

``TrainConfig`` has the sections ``model`` (the model's own settings class, see
``lm_train.models``), ``data``, ``optim``, ``objective``, ``run`` (evaluation,
checkpoints, logging) and ``runtime``. Settings are given in any of three forms, mixed
freely and applied in order (later wins):

* flat: ``lr=3e-4`` (every key except ``name`` belongs to one section only);
* a section name with a scalar sets its ``name``: ``model=lstm``, ``objective=causal_lm``;
* dotted or nested: ``optim.lr=1e-3``, or ``optim: {lr: 1.0e-3}`` in YAML.

Flat files, flat overrides and the flat ``config.yaml`` of older runs therefore keep
loading. A flat key of another model (``n_head`` with ``model=lstm``) is ignored, as it
always was; an unknown key is one ``ConfigError`` naming it and the known keys.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml

from lm_train.models import MODEL_REGISTRY
from lm_train.models.config import ModelConfig
from lm_train.objectives.names import OBJECTIVE_NAMES
from lmcore.config import ConfigError, from_dict, in_range, load_yaml, one_of, parse_override, require

__all__ = [
    "DataConfig",
    "KeyInfo",
    "ObjectiveConfig",
    "OptimConfig",
    "RunConfig",
    "RuntimeConfig",
    "TrainConfig",
    "describe_keys",
    "flatten",
    "load_config",
    "parse_overrides",
]

MODELS = tuple(MODEL_REGISTRY)
OBJECTIVES = OBJECTIVE_NAMES  # the classes of lm_train.objectives.OBJECTIVES
POOLS = ("auto", "first", "mean", "last")
CLASSIFY_HEADS = ("linear", "dense_gelu")  # lm_train.objectives.heads.HEADS
FREEZE = re.compile(r"none|body|all_but_top_(\d+)")
SCHEDULES = ("cosine", "wsd", "constant")
DTYPES = ("auto", "float32", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")
BLEU_TOKENIZERS = ("auto", "13a", "zh", "intl", "char", "none")  # sacrebleu's tokenize= choices we offer


@dataclass
class DataConfig:
    seq_len: int = 256  # tokens per sample (packed)
    batch_size: int = 8  # per rank, per micro-step
    grad_accum: int = 1  # micro-steps per optimizer step; global batch = batch_size × grad_accum × ranks
    packing: str = "concat"  # concat | best_fit (see lm_train.data)
    data_workers: int = 0  # DataLoader processes building batches (0: in the trainer)
    dataset_version: int = 0  # 0: whatever DIR/manifest.json is; n: refuse any other version
    bucket_by_length: bool = False  # classify: batch examples of similar length, padded to the longest

    def __post_init__(self) -> None:
        require(self.seq_len >= 2, "seq_len must be >= 2")
        require(self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be >= 1")
        one_of(self.packing, ("concat", "best_fit"), "packing")
        require(
            self.data_workers >= 0 and self.dataset_version >= 0,
            "data_workers and dataset_version must be >= 0",
        )


@dataclass
class OptimConfig:
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
    head_lr: float = 0.0  # classify: peak learning rate of the task head (0: lr)

    def __post_init__(self) -> None:
        one_of(self.schedule, SCHEDULES, "schedule")
        require(self.head_lr >= 0, "head_lr must be >= 0")
        require(self.max_steps >= 1, "max_steps must be >= 1")
        require(self.lr > 0, "lr must be > 0")
        in_range(self.min_lr_ratio, "min_lr_ratio", 0.0, 1.0)
        in_range(self.decay_frac, "decay_frac", 0.0, 1.0)
        require(self.warmup_steps >= 0, "warmup_steps must be >= 0")
        require(self.eps > 0, "eps must be > 0")
        require(0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0, "beta1 and beta2 must be in [0, 1)")
        require(self.weight_decay >= 0 and self.grad_clip >= 0, "weight_decay and grad_clip must be >= 0")


@dataclass
class ObjectiveConfig:
    name: str = "causal_lm"  # causal_lm (next token) | masked_lm | classify (labels) | seq2seq (pairs)
    mask_prob: float = 0.15  # masked_lm: share of eligible tokens masked
    whole_word: bool = False  # masked_lm: mask whole words, not single tokens
    pool: str = "auto"  # classify: first | mean | last (auto: bert first, others last non-pad token)
    freeze: str = "none"  # classify: none | body | all_but_top_N (train the head and the top N layers)
    head_bias: bool = (
        True  # classify: the label head has a bias (false: exports as LlamaForSequenceClassification)
    )
    head: str = "linear"  # classify: linear | dense_gelu (d→d dense + GELU first; bert exports as EuroBERT's)
    beam_size: int = 1  # seq2seq: beams when decoding for evaluation (1: greedy)
    length_penalty: float = 0.6  # seq2seq: beam search ranks by log p / ((5 + len) / 6) ** this (GNMT)
    max_decode_len: int = 0  # seq2seq: most tokens decoded per example (0: model.max_target_len)
    bleu_tokenize: str = "auto"  # seq2seq: sacrebleu tokenizer (auto: zh for Chinese targets, else 13a)
    init_embeddings: str = "both"  # seq2seq --init-from: pretrained embedding to encoder | decoder | both

    def __post_init__(self) -> None:
        one_of(self.name, OBJECTIVES, "objective")
        require(
            self.beam_size >= 1 and self.max_decode_len >= 0, "beam_size must be >= 1, max_decode_len >= 0"
        )
        require(self.length_penalty >= 0, "length_penalty must be >= 0")
        one_of(self.bleu_tokenize, BLEU_TOKENIZERS, "bleu_tokenize")
        one_of(self.init_embeddings, ("encoder", "decoder", "both"), "init_embeddings")
        require(0.0 < self.mask_prob < 1.0, "mask_prob must be in (0, 1)")
        one_of(self.pool, POOLS, "pool")
        one_of(self.head, CLASSIFY_HEADS, "head")
        require(
            FREEZE.fullmatch(self.freeze) is not None,
            f"freeze must be none, body or all_but_top_N (N layers left trainable), not {self.freeze!r}",
        )

    @property
    def train_top_layers(self) -> int | None:
        """Layers left trainable below the head: None (all), 0 (body frozen) or N."""
        if self.freeze == "none":
            return None
        m = FREEZE.fullmatch(self.freeze)
        return int(m.group(1)) if m and m.group(1) else 0


@dataclass
class RunConfig:
    eval_every: int = 200  # 0: never (except at the end)
    eval_steps: int = 20  # validation batches (of the global batch size) per evaluation
    ckpt_every: int = 200  # 0: only at the end
    keep_ckpts: int = 3  # newest checkpoints kept in RUNDIR/checkpoints
    log_every: int = 10  # steps per metrics.jsonl record and console line
    tensorboard: bool = True  # also write RUNDIR/tensorboard/ (tensorboard --logdir RUNDIR/tensorboard)

    def __post_init__(self) -> None:
        require(self.eval_every >= 0 and self.ckpt_every >= 0, "eval_every and ckpt_every must be >= 0")
        require(self.eval_steps >= 1, "eval_steps must be >= 1")
        require(self.keep_ckpts >= 1 and self.log_every >= 1, "keep_ckpts and log_every must be >= 1")


@dataclass
class RuntimeConfig:
    seed: int = 0  # weights, data order and dropout
    compile: bool = False  # torch.compile the model
    dtype: str = "auto"  # auto: bfloat16 on GPUs that support it, else float32
    device: str = "auto"  # auto | cpu | cuda
    peak_flops: float = 0.0  # per device, for MFU; 0: known GPU table, or a measured matmul on CPU

    def __post_init__(self) -> None:
        one_of(self.dtype, DTYPES, "dtype")
        one_of(self.device, DEVICES, "device")
        require(self.peak_flops >= 0, "peak_flops must be >= 0")


# Sections other than ``model`` (whose class depends on its name), in the order of config.yaml.
SECTION_CLASSES: dict[str, type] = {
    "data": DataConfig,
    "optim": OptimConfig,
    "objective": ObjectiveConfig,
    "run": RunConfig,
    "runtime": RuntimeConfig,
}
SECTIONS = ("model", *SECTION_CLASSES)
NAMED_SECTIONS = ("model", "objective")  # a scalar given for these sets their ``name``
# Dotted prefixes that name the objective section by its objective (``classify.pool=mean``).
SECTION_ALIASES = {"classify": "objective", "masked_lm": "objective", "seq2seq": "objective"}


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _model_keys() -> dict[str, None]:
    """Every key of every registered model (ordered, without ``name``)."""
    keys = (k for cls in dict.fromkeys(MODEL_REGISTRY.values()) for k in _field_names(cls))
    return {k: None for k in keys if k != "name"}


def _flat_index() -> dict[str, tuple[str, ...]]:
    """Flat key -> the sections that have it (more than one: the key is ambiguous)."""
    index: dict[str, list[str]] = {k: ["model"] for k in _model_keys()}
    index["name"] = list(NAMED_SECTIONS)
    for section, cls in SECTION_CLASSES.items():
        for key in _field_names(cls):
            if key != "name":
                index.setdefault(key, []).append(section)
    return {k: tuple(v) for k, v in index.items()}


FLAT_KEYS = _flat_index()


def _known_keys() -> list[str]:
    return sorted(set(FLAT_KEYS) - {"name"} | set(SECTIONS))


def _settings_pairs(settings: Mapping[Any, Any], where: str) -> list[tuple[str, str, Any]]:
    """``(section, key, value)`` for every setting, in order; unknown/ambiguous keys raise."""
    pairs: list[tuple[str, str, Any]] = []
    unknown: list[str] = []
    for raw_key, value in settings.items():
        key = str(raw_key)
        if key in SECTIONS:
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            if isinstance(value, Mapping):
                pairs += [(key, str(k), v) for k, v in value.items()]
            elif key in NAMED_SECTIONS:
                pairs.append((key, "name", value))
            else:
                raise ConfigError(f"{where}.{key}: expected a mapping of {key} keys, got {value!r}")
        elif "." in key:
            section, _, field = key.partition(".")
            section = SECTION_ALIASES.get(section, section)
            if section not in SECTIONS:
                unknown.append(key)
            else:
                pairs.append((section, field, value))
        elif key not in FLAT_KEYS:
            unknown.append(key)
        elif len(FLAT_KEYS[key]) > 1:
            options = " or ".join(f"{s}.{key}" for s in FLAT_KEYS[key])
            raise ConfigError(f"{where}: key {key!r} is in several sections; write {options}")
        else:
            pairs.append((FLAT_KEYS[key][0], key, value))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {_known_keys()}")
    return pairs


def _build_sections(layers: Iterable[Mapping[Any, Any]], where: str) -> dict[str, Any]:
    """Every section object from layers of settings (each in any accepted form; later wins)."""
    given: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for settings in layers:
        for section, key, value in _settings_pairs(settings, where):
            given[section][key] = value
    model = given.pop("model")
    name = model.get("name", "gpt")
    if name not in MODEL_REGISTRY:
        one_of(name, MODELS, f"{where}: model")
    cls = MODEL_REGISTRY[name]
    own, other_models = set(_field_names(cls)), set(_model_keys())
    model = {k: v for k, v in model.items() if k in own or k not in other_models}
    out: dict[str, Any] = {"model": _section(cls, {**model, "name": name}, where)}
    for section, section_cls in SECTION_CLASSES.items():
        out[section] = _section(section_cls, given[section], where)
    return out


def _section(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """``from_dict`` with every message starting at ``where`` (range checks name only the key)."""
    try:
        return from_dict(cls, values, where)
    except ConfigError as exc:
        if str(exc).startswith(where):
            raise
        raise ConfigError(f"{where}: {exc}") from None


@dataclass(init=False)
class TrainConfig:
    """The trainer's settings; ``TrainConfig(lr=1e-3, model="lstm")`` takes every form."""

    model: ModelConfig
    data: DataConfig
    optim: OptimConfig
    objective: ObjectiveConfig
    run: RunConfig
    runtime: RuntimeConfig

    def __init__(self, **settings: Any) -> None:
        self._set_sections([settings], "config")

    def _set_sections(self, layers: Iterable[Mapping[Any, Any]], where: str) -> None:
        for section, value in _build_sections(layers, where).items():
            setattr(self, section, value)

    def __getattr__(self, key: str) -> Any:
        """``cfg.seq_len`` reads the flat key (unambiguous keys only) like ``cfg.data.seq_len``."""
        sections = FLAT_KEYS.get(key, ())
        if len(sections) == 1 and key not in SECTIONS:
            section = self.__dict__.get(sections[0])
            if section is not None and hasattr(section, key):
                return getattr(section, key)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    @classmethod
    def from_dict(cls, data: Any, where: str = "config") -> TrainConfig:
        """From a flat, nested or mixed mapping (a YAML file, overrides, an old ``config.yaml``)."""
        if isinstance(data, cls):
            return data
        return cls.from_layers([data], where)

    @classmethod
    def from_layers(cls, layers: Iterable[Any], where: str = "config") -> TrainConfig:
        """From several mappings applied in order, key by key: ``model=lstm`` over a file's
        ``model:`` section changes the name and keeps the section's other keys."""
        layers = list(layers)
        for data in layers:
            if not isinstance(data, Mapping):
                raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        self = cls.__new__(cls)
        self._set_sections(layers, where)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Nested: ``{"model": {"name": "gpt", ...}, "data": {...}, ...}``."""
        return {section: dataclasses.asdict(getattr(self, section)) for section in SECTIONS}

    def flat_dict(self) -> dict[str, Any]:
        """One level: ``{"model": "gpt", "n_layer": 4, ..., "objective": "causal_lm", ...}``."""
        return flatten(self.to_dict())

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """A nested (or already flat) config mapping as flat keys; a section's ``name`` becomes the
    section's key (``model: {name: gpt}`` -> ``model: gpt``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, Mapping):
            for field, inner in value.items():
                flat[key if field == "name" else field] = inner
        else:
            flat[key] = value
    return flat


# -- --help: every key with its type, default and the comment beside it ------------------------


class KeyInfo(NamedTuple):
    section: str
    name: str
    type: str
    default: Any
    help: str


_FIELD_LINE = re.compile(r"^\s+(\w+): [\w.| ]+ = .*?(?:#\s*(.*))?$")


def _comments(cls: type) -> dict[str, str]:
    """Field name -> the comment after it in the class body: the documentation, kept in one place."""
    try:
        source = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):  # no source (frozen app): names, types and defaults only
        return {}
    return {m.group(1): (m.group(2) or "").strip() for line in source if (m := _FIELD_LINE.match(line))}


def _describe(section: str, cls: type, skip: Iterable[str] = ()) -> list[KeyInfo]:
    hints, comments, skipped = typing.get_type_hints(cls), _comments(cls), set(skip)
    rows = []
    for f in dataclasses.fields(cls):
        if f.name in skipped:
            continue
        key = section if f.name == "name" else f.name
        rows.append(KeyInfo(section, key, hints[f.name].__name__, f.default, comments.get(f.name, "")))
    return rows


def describe_keys() -> list[KeyInfo]:
    """Every key a config takes, flat as it is typed on the command line, grouped by section.

    The model section lists the default model's keys, then, per other model class, the keys
    the default model does not have.
    """
    classes = list(dict.fromkeys(MODEL_REGISTRY.values()))
    default_cls = MODEL_REGISTRY["gpt"]
    rows = _describe("model", default_cls)
    listed = set(_field_names(default_cls))
    for cls in classes:
        names = [n for n, c in MODEL_REGISTRY.items() if c is cls]
        if cls is not default_cls and set(_field_names(cls)) - listed:
            rows += _describe(f"model ({' | '.join(names)})", cls, skip=listed)
            listed |= set(_field_names(cls))
    for section, cls in SECTION_CLASSES.items():
        rows += _describe(section, cls)
    return rows


# -- files and overrides -------------------------------------------------------------------------


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-3", "optim.eps=1e-9"]`` → ``{"lr": 0.001, "optim.eps": 1e-09}`` (values parsed as YAML).

    Keys stay as typed (dotted keys are resolved by ``TrainConfig``), in order, so that
    ``model=lstm`` after a YAML ``model:`` section changes only the name.
    """
    return dict(parse_override(item) for item in items)


def load_yaml_file(path: str) -> dict[str, Any]:
    """The ``--config`` file (local path or fsspec URL) as a dict."""
    return load_yaml(path)


def load_config(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (later wins, key by key)."""
    data: dict[str, Any] = load_yaml_file(path) if path else {}
    return TrainConfig.from_layers([data, overrides or {}], f"config ({path})" if path else "config")

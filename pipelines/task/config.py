"""Settings of ``prepare_task``: the ``read`` section of the pipelines and a ``task`` section.

    read: {id_field: uid, chunk_docs: 500}
    task: {labels: [negative, positive], validation_fraction: 0.1, test_fraction: 0.1, max_tokens: 512}
    task: {kind: pairs, source_field: en, target_field: zh, max_tokens: 128}

Command-line flags (``--task``, ``--text-field``, ``--label-field``, ``--source-field``,
``--target-field``, ``--split-field``) override the file. The readers take the text from
``task.text_field`` (classification) or ``task.source_field`` (pairs); the other fields
travel in the document's ``meta``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lmcore.config import at_least, in_range, load, one_of, parse_overrides, require
from pipelines.io.config import ReadConfig
from schemas import TASK_KINDS

SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class TaskConfig:
    kind: str = "classification"  # TASK_KINDS: classification (text -> label) or pairs (source -> target)
    text_field: str = "text"  # classification: the input field holding the text (read.text_field follows it)
    label_field: str = "label"  # classification: the input field holding the label (a string or an integer)
    source_field: str = (
        "source"  # pairs: the input field holding the source text (read.text_field follows it)
    )
    target_field: str = "target"  # pairs: the input field holding the target text
    split_field: str | None = None  # an input field naming each record's split; None: split here
    labels: list[str] | None = None  # the label names in id order; None: the sorted names found
    validation_fraction: float = (
        0.1  # of each label's examples (pairs: of the sources), without a split field
    )
    test_fraction: float = 0.1  # of each label's examples (pairs: of the sources); train gets the rest
    split_seed: int = 31  # seeds the stable hash that orders (pairs: places) the normalised texts
    max_tokens: int | None = (
        None  # longer texts (pairs: either side; end-of-document included) are quarantined
    )
    max_piece_chars: int = 16_384  # longer texts are cut at whitespace before encoding (as in tokenize)
    target_shard_tokens: int = 100_000_000  # shards per split = ceil(split tokens / this)

    def __post_init__(self) -> None:
        one_of(self.kind, TASK_KINDS, "task.kind")
        for name in ("text_field", "label_field", "source_field", "target_field"):
            require(bool(getattr(self, name)), f"task.{name} must be a non-empty field name")
        require(self.split_field is None or bool(self.split_field), "task.split_field must be a name or null")
        fields = self.input_fields()
        require(
            len(set(fields)) == len(fields),
            f"task.{', task.'.join(self.input_field_keys())} must be different fields",
        )
        if self.is_pairs:
            require(self.labels is None, "task.labels is for classification; a pairs task has no labels")
        if self.labels is not None:
            require(len(self.labels) >= 2, f"task.labels must name at least 2 labels, not {self.labels}")
            require(
                all(isinstance(x, str) and x for x in self.labels), "task.labels must be non-empty strings"
            )
            require(
                len(set(self.labels)) == len(self.labels), f"task.labels lists a label twice: {self.labels}"
            )
        in_range(self.validation_fraction, "task.validation_fraction", 0.0, 1.0, high_open=True)
        in_range(self.test_fraction, "task.test_fraction", 0.0, 1.0, high_open=True)
        require(
            self.validation_fraction + self.test_fraction < 1.0,
            "task.validation_fraction + task.test_fraction must be below 1 (train needs examples), not "
            f"{self.validation_fraction + self.test_fraction:g}",
        )
        if self.max_tokens is not None:
            at_least(self.max_tokens, "task.max_tokens", 2)
        at_least(self.max_piece_chars, "task.max_piece_chars", 64)
        in_range(self.target_shard_tokens, "task.target_shard_tokens", 1, 2**30)

    @property
    def is_pairs(self) -> bool:
        return self.kind == "pairs"

    @property
    def input_text_field(self) -> str:
        """The field the readers take a document's text from: the text, or the source side."""
        return self.source_field if self.is_pairs else self.text_field

    def input_field_keys(self) -> tuple[str, ...]:
        """The settings naming the input fields this kind reads (split_field when set)."""
        own = ("source_field", "target_field") if self.is_pairs else ("text_field", "label_field")
        return own + (("split_field",) if self.split_field else ())

    def input_fields(self) -> tuple[str, ...]:
        return tuple(getattr(self, key) for key in self.input_field_keys())

    def recorded(self) -> dict[str, Any]:
        """The settings a manifest records: this kind's, without the other kind's fields, so a
        classification manifest keeps the bytes it had before pairs existed."""
        other = ("text_field", "label_field", "labels") if self.is_pairs else ("source_field", "target_field")
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in other}

    def fractions(self) -> dict[str, float]:
        """Each split's share of a label's examples (pairs: of the sources)."""
        return {
            "train": 1.0 - self.validation_fraction - self.test_fraction,
            "validation": self.validation_fraction,
            "test": self.test_fraction,
        }


@dataclass
class TaskPipelineConfig:
    read: ReadConfig = dataclasses.field(default_factory=ReadConfig)
    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)

    def __post_init__(self) -> None:
        # the readers take the text from read.text_field: one setting (task.text_field, or
        # task.source_field for pairs) names it
        if self.read.text_field != self.task.input_text_field:
            self.read = dataclasses.replace(self.read, text_field=self.task.input_text_field)

    def recorded(self) -> dict[str, Any]:
        """The settings as a manifest records them (``TaskConfig.recorded`` for the task)."""
        return {"read": dataclasses.asdict(self.read), "task": self.task.recorded()}


def load_task_config(
    path: str | None = None, overrides: Mapping[str, Any] | Iterable[str] | None = None
) -> TaskPipelineConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (``["task.max_tokens=512"]``
    or a nested mapping)."""
    if overrides is not None and not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    return load(TaskPipelineConfig, path, overrides, where="config")

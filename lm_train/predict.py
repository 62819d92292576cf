"""Label texts with a fine-tuned classification run, or decode targets with a seq2seq run.

    python -m lm_train.predict --checkpoint RUN --input in.jsonl --output out.jsonl \\
        [--text-field text] [--batch-size N] [--device auto]
    python -m lm_train.predict --checkpoint SEQ2SEQ_RUN --input in.jsonl --output out.jsonl \\
        [--source-field source] [--beam-size 4] [--length-penalty 0.6] [--max-length 64]

``--checkpoint`` is a run directory (its newest checkpoint) or a ``step-*.pt`` file of an
``objective=classify`` or ``objective=seq2seq`` run; any other run is refused. Every input
line is one JSON object; its ``--text-field`` (a seq2seq run: ``--source-field``, by
default the field its pairs dataset read sources from, else ``source``) is tokenized with
the run's ``tokenizer.json`` exactly as the task dataset was (the text's ids, then the
end-of-document id) and cut to the run's ``seq_len``.

Output: line *n* of ``out.jsonl`` answers line *n* of the input, so the two files zip
together. A good line gives ``{"id": <the input's id, or null>, "label": <predicted
label name>, "probs": {label: probability}}`` (classify) or ``{"id": ..., "target":
<decoded text>}`` (seq2seq: greedy unless ``--beam-size`` > 1, see ``lm_train.decoding``;
the run's own decoding settings are the defaults); a bad line (not JSON, not an object, the
text field missing, not a string or empty) gives ``{"line": n, "error": <reason>}`` and
the same on stderr, and the rest goes on. The output is written to a temporary sibling
and renamed at the end, so a killed run never leaves a half file under the real name.
Progress (lines/s, ETA) goes to stderr while it runs, and a summary (labelled, bad,
truncated, the count per predicted label) at the end. Exit 0 even with bad lines; 1 if
the run cannot be loaded or the input cannot be read; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from lm_train import cli
from lm_train.evaluate import OneLineParser, add_decoding_arguments, positive_int
from lmcore.text import normalize_text

if TYPE_CHECKING:  # torch is imported where it is used, so that --help answers at once
    import torch

PROG = "python -m lm_train.predict"


class PredictError(ValueError):
    """A run or input that cannot be predicted with; the message says why."""


# -- input lines -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """A good input line: its number (1-based), the input's id and its text."""

    line: int
    id: Any
    text: str


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str


def parse_line(line_no: int, raw: str, text_field: str) -> Example | BadLine:
    """One input line as an example, or the reason it cannot be one."""
    try:
        record = json.loads(raw)
    except ValueError as exc:
        return BadLine(line_no, f"not JSON: {exc}")
    if not isinstance(record, dict):
        return BadLine(line_no, f"not a JSON object but a {type(record).__name__}")
    if text_field not in record:
        return BadLine(line_no, f"no {text_field!r} field")
    text = record[text_field]
    if not isinstance(text, str):
        return BadLine(line_no, f"{text_field!r} is a {type(text).__name__}, not a string")
    if not text.strip():
        return BadLine(line_no, f"{text_field!r} is empty")
    return Example(line_no, record.get("id"), text)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- tokens ------------------------------------------------------------------------------------------
def encode_texts(tokenizer: Any, texts: Sequence[str], eos_id: int | None) -> list[list[int]]:
    """The ids a task dataset stores for each text: the normalised text's (as
    ``pipelines.prepare_task`` normalises it), then the end-of-document id."""
    encoded = tokenizer.encode_batch([normalize_text(t) for t in texts], add_special_tokens=False)
    tail = [eos_id] if eos_id is not None else []
    return [[*e.ids, *tail] for e in encoded]


# -- output records ----------------------------------------------------------------------------------
def prediction_record(example_id: Any, probs: Sequence[float], labels: Sequence[str]) -> dict[str, Any]:
    """``{"id", "label", "probs"}``: the most probable label (first on ties) and every label's probability."""
    best = max(range(len(labels)), key=lambda i: (probs[i], -i))
    return {
        "id": example_id,
        "label": labels[best],
        "probs": {label: float(p) for label, p in zip(labels, probs)},
    }


def error_record(bad: BadLine) -> dict[str, Any]:
    return {"line": bad.line, "error": bad.error}


# -- progress ----------------------------------------------------------------------------------------
@dataclass
class Progress:
    """Lines done, their rate and the time left, on stderr at most every ``every_s`` seconds."""

    total: int
    every_s: float = 2.0
    out: IO[str] = field(default_factory=lambda: sys.stderr)
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    last_report: float = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last_report >= self.every_s or self.done >= self.total:
            self.last_report = now
            print(self.line(now), file=self.out, flush=True)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{left:,.0f} s" if left != float("inf") else "?"
        share = self.done / self.total if self.total else 1.0
        return f"predict: {self.done:,}/{self.total:,} lines ({share:.0%}), {rate:,.1f} lines/s, ETA {eta}"


@dataclass
class Summary:
    labelled: int = 0
    bad: int = 0
    truncated: int = 0
    per_label: Counter = field(default_factory=Counter)

    def text(self, output: str, seconds: float) -> str:
        counts = ", ".join(f"{label} {n:,}" for label, n in sorted(self.per_label.items()))
        return (
            f"predict: wrote {output}: {self.labelled + self.bad:,} lines, {self.labelled:,} labelled "
            f"({counts or 'none'}), {self.bad:,} bad, {self.truncated:,} cut to seq_len; {seconds:,.1f} s"
        )


# -- the model ---------------------------------------------------------------------------------------
@dataclass
class Classifier:
    """A classification run ready to label texts: network, objective, tokenizer and its ids."""

    model: Any
    objective: Any
    tokenizer: Any
    labels: list[str]
    seq_len: int
    eos_id: int | None
    pad_id: int
    step: int


def run_labels(state: dict[str, Any], path: str) -> list[str]:
    """The label names a classification checkpoint recorded (its objective state)."""
    from lm_train.checkpoint import CheckpointError

    labels = (
        (state.get("objective") or {}).get("labels") if isinstance(state.get("objective"), dict) else None
    )
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise CheckpointError(f"checkpoint {path} records no label names (objective state); it is damaged")
    return labels


def load_classifier(path: str, text_field: str) -> Classifier:
    """The run's network with its head, refused unless the run is ``objective=classify``."""
    from lm_train.evaluate import read_trained

    state, cfg, ckpt_path = read_trained(path)
    check_predictable(cfg, path, ("classify",))
    return classifier_from(state, cfg, ckpt_path, text_field)


def check_predictable(cfg: Any, path: str, objectives: Sequence[str] = ("classify", "seq2seq")) -> None:
    if cfg.objective.name not in objectives:
        raise PredictError(
            f"{path} is an objective={cfg.objective.name} run; lm_train.predict labels texts with an "
            "objective=classify run or decodes targets with an objective=seq2seq run (fine-tune one: "
            "lm_train.train --data TASK_DIR objective=classify)"
        )


def classifier_from(state: dict[str, Any], cfg: Any, ckpt_path: str, text_field: str) -> Classifier:
    from types import SimpleNamespace

    from lm_train.evaluate import build_trained
    from lm_train.generate import load_tokenizer, read_run_json, run_dir_of
    from lm_train.objectives import OBJECTIVES
    from schemas import TaskInfo

    labels = run_labels(state, ckpt_path)
    rundir = run_dir_of(ckpt_path)
    # The objective reads its labels from a task manifest; the checkpoint's stand in for it.
    task = SimpleNamespace(task=TaskInfo("classification", labels, {}, text_field), base_dir=rundir)
    objective = OBJECTIVES["classify"](cfg, task)
    model = build_trained(state, cfg, objective, ckpt_path)
    tokenizer = load_tokenizer(rundir, state)
    info = read_run_json(rundir).get("tokenizer", {})
    eos = info.get("eos_id", tokenizer.token_to_id("<|endoftext|>"))
    pad = info.get("pad_id")
    pad = pad if isinstance(pad, int) else eos
    return Classifier(model, objective, tokenizer, labels, cfg.data.seq_len, eos, pad, int(state["step"]))


def label_probabilities(clf: Classifier, token_ids: Sequence[Sequence[int]], device: torch.device) -> Any:
    """``[len(token_ids), num_labels]`` probabilities; rows are built (cut to ``seq_len``,
    padded) by the task loader's own function, so the model sees what it was trained on."""
    import numpy as np
    import torch

    from lm_train.data.task import TaskExamples, build_rows

    lengths = np.array([len(ids) for ids in token_ids], np.int64)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((t for ids in token_ids for t in ids), np.int64, count=int(offsets[-1]))
    examples = TaskExamples(flat, offsets, np.zeros(len(lengths), np.int64))
    rows = build_rows(examples, np.arange(len(lengths)), clf.seq_len, clf.pad_id, None)
    batch = clf.objective.collate({k: torch.from_numpy(v) for k, v in rows.items()})
    batch = {k: v.to(device) for k, v in batch.items()}
    with torch.no_grad():
        logits = clf.objective.label_logits(clf.model, batch)
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()


# -- seq2seq -------------------------------------------------------------------------------------------
@dataclass
class Translator:
    """A seq2seq run ready to decode: network, objective (start token, decoding settings), tokenizer."""

    model: Any
    objective: Any
    tokenizer: Any
    seq_len: int
    eos_id: int | None
    pad_id: int
    source_field: str
    step: int


def translator_from(state: dict[str, Any], cfg: Any, ckpt_path: str, source_field: str | None) -> Translator:
    """The run's encoder-decoder with its objective built over what the run recorded (the
    tokenizer in ``run.json``, the start token and source field in the objective state)."""
    from types import SimpleNamespace

    from lm_train.evaluate import build_trained
    from lm_train.generate import load_tokenizer, read_run_json, run_dir_of
    from lm_train.objectives import OBJECTIVES
    from schemas import TaskInfo, TokenizerInfo

    rundir = run_dir_of(ckpt_path)
    recorded = state.get("objective") if isinstance(state.get("objective"), dict) else {}
    fields = {k: recorded[k] for k in ("source_field", "target_field") if isinstance(recorded.get(k), str)}
    task = TaskInfo("pairs", [], {}, **fields)
    tokenizer_info = TokenizerInfo.from_dict(read_run_json(rundir).get("tokenizer", {}))
    manifest = SimpleNamespace(task=task, tokenizer=tokenizer_info, base_dir=rundir)
    objective = OBJECTIVES["seq2seq"](cfg, manifest)
    if isinstance(recorded.get("start_id"), int):
        objective.start_id = recorded["start_id"]
    tokenizer = load_tokenizer(rundir, state)
    objective.set_tokenizer(tokenizer)
    model = build_trained(state, cfg, objective, ckpt_path)
    return Translator(
        model,
        objective,
        tokenizer,
        cfg.data.seq_len,
        objective.eos_id,
        objective.pad_id,
        source_field or task.source_field,
        int(state["step"]),
    )


def decode_targets(tr: Translator, token_ids: Sequence[Sequence[int]], device: torch.device) -> list[str]:
    """The decoded target text of every source (rows built by the pair loader's own function)."""
    import numpy as np
    import torch

    from lm_train.data.pairs import PairExamples, build_pair_rows

    examples = PairExamples.from_lists([list(x) for x in token_ids])
    ids = np.arange(len(examples))
    rows = build_pair_rows(
        examples, ids, tr.seq_len, tr.objective.max_target_len, tr.pad_id, tr.objective.start_id, None
    )
    batch = {k: torch.from_numpy(v).to(device) for k, v in rows.items()}
    with torch.no_grad():
        hyps = tr.objective.generate(tr.model, batch)
    return tr.objective.detokenize(hyps)


@dataclass
class DecodeSummary:
    decoded: int = 0
    bad: int = 0
    truncated: int = 0

    def text(self, output: str, seconds: float) -> str:
        return (
            f"predict: wrote {output}: {self.decoded + self.bad:,} lines, {self.decoded:,} decoded, "
            f"{self.bad:,} bad, {self.truncated:,} sources cut to seq_len; {seconds:,.1f} s"
        )


def translate_file(tr: Translator, args: argparse.Namespace, device: torch.device) -> DecodeSummary:
    """Decode every line of ``args.input`` into ``args.output`` (renamed into place at the end)."""
    summary = DecodeSummary()

    def answer(good: list[Example], ids: list[list[int]]) -> list[dict[str, Any]]:
        summary.decoded += len(good)
        return [{"id": e.id, "target": t} for e, t in zip(good, decode_targets(tr, ids, device), strict=True)]

    answer_file(args, tr.source_field, tr.tokenizer, tr.eos_id, tr.seq_len, answer, summary)
    return summary


def load_predictor(args: argparse.Namespace) -> Classifier | Translator:
    """A classify run's ``Classifier`` or a seq2seq run's ``Translator`` (the checkpoint read once)."""
    from lm_train.evaluate import decoding_overrides, read_trained

    state, cfg, ckpt_path = read_trained(args.checkpoint, decoding_overrides(args))
    check_predictable(cfg, args.checkpoint)
    if cfg.objective.name == "seq2seq":
        return translator_from(state, cfg, ckpt_path, args.source_field)
    return classifier_from(state, cfg, ckpt_path, args.text_field)


# -- the command -------------------------------------------------------------------------------------
def count_lines(path: str) -> int:
    from lmcore import storage

    fs, fs_path = storage.get_fs(path)
    with fs.open(fs_path, "rb") as f:
        return sum(1 for _ in f)


def open_input(path: str) -> IO[bytes]:
    from lmcore import storage

    fs, fs_path = storage.get_fs(path)
    return fs.open(fs_path, "rb")


def read_input(stream: IO[bytes], text_field: str) -> Iterator[Example | BadLine]:
    """Every line of the input; one that is not UTF-8 is a bad line, not the end of the file."""
    for line_no, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadLine(line_no, f"not UTF-8: {exc.reason} at byte {exc.start}")
            continue
        yield parse_line(line_no, text.rstrip("\n").rstrip("\r"), text_field)


def predict_file(clf: Classifier, args: argparse.Namespace, device: torch.device) -> Summary:
    """Label every line of ``args.input`` into ``args.output`` (renamed into place at the end)."""
    summary = Summary()

    def answer(good: list[Example], ids: list[list[int]]) -> list[dict[str, Any]]:
        records = [
            prediction_record(e.id, p.tolist(), clf.labels)
            for e, p in zip(good, label_probabilities(clf, ids, device), strict=True)
        ]
        summary.labelled += len(records)
        summary.per_label.update(r["label"] for r in records)
        return records

    answer_file(args, args.text_field, clf.tokenizer, clf.eos_id, clf.seq_len, answer, summary)
    return summary


def answer_file(
    args: argparse.Namespace,
    text_field: str,
    tokenizer: Any,
    eos_id: int | None,
    seq_len: int,
    answer: Callable[[list[Example], list[list[int]]], list[dict[str, Any]]],
    summary: Summary | DecodeSummary,
) -> None:
    """Line *n* of ``args.output`` answers line *n* of ``args.input``: a batch's good lines are
    encoded as the task data was and ``answer``ed together, a bad line is an error record (and a
    line on stderr); the output is renamed into place at the end."""
    from lmcore import storage

    progress = Progress(count_lines(args.input))
    with open_input(args.input) as source, storage.atomic_open(args.output, "w") as out:
        for chunk in chunks(read_input(source, text_field), args.batch_size):
            good = [item for item in chunk if isinstance(item, Example)]
            ids = encode_texts(tokenizer, [e.text for e in good], eos_id)
            summary.truncated += sum(len(x) > seq_len for x in ids)
            answers = iter(answer(good, ids) if good else [])
            for item in chunk:
                if isinstance(item, BadLine):
                    print(f"{PROG}: line {item.line}: {item.error}", file=sys.stderr)
                    record, summary.bad = error_record(item), summary.bad + 1
                else:
                    record = next(answers)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            progress.advance(len(chunk))


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog=PROG, description=__doc__, formatter_class=cli.HelpFormatter)
    ap.add_argument(
        "--checkpoint",
        required=True,
        help="run directory of an objective=classify or seq2seq run (its newest checkpoint) or a step-N.pt file",
    )
    ap.add_argument("--input", required=True, help="JSONL file of texts (local path or fsspec URL)")
    ap.add_argument("--output", required=True, help="JSONL file to write, one line per input line")
    ap.add_argument("--text-field", default="text", help="the field of each input object holding the text")
    ap.add_argument(
        "--source-field",
        help="seq2seq: the field holding the source text (default: the run's dataset source_field, else source)",
    )
    ap.add_argument("--batch-size", type=positive_int, default=32, help="texts per forward pass")
    ap.add_argument(
        "--device", default="auto", help="auto (cuda when available, else cpu), cpu, cuda or cuda:N"
    )
    add_decoding_arguments(ap)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        print(f"{PROG}: error: --output is the --input file; give another path", file=sys.stderr)
        return 2
    import torch

    from lm_train.evaluate import EvaluateError, resolve_device
    from lm_train.trainer import user_errors

    torch.set_num_threads(min(torch.get_num_threads(), int(os.environ.get("OMP_NUM_THREADS", "4"))))
    started = time.perf_counter()
    try:
        device = resolve_device(args.device)
        predictor = load_predictor(args)
        predictor.model.to(device)
    except (EvaluateError, PredictError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except user_errors() as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    try:
        if isinstance(predictor, Translator):
            summary = translate_file(predictor, args, device)
        else:
            summary = predict_file(predictor, args, device)
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(summary.text(args.output, time.perf_counter() - started), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fine-tuning benchmark: what pretraining buys on a real labelled task, in English and Chinese.

    python -m bench.bench_finetune [--quick] [--models gpt,lstm,bert] [--baseline-only]

The task is "which man-page section is this page from" (``data/sample/tasks/README.md``;
the larger set is generated into ``bench/data/tasks/man-sections`` by
``scripts/make_task_sample.py``). Per language, on one fixed stratified split:

(a) TF-IDF + logistic regression (scikit-learn; word 1-2-grams for English, character
    1-3-grams for Chinese): the bar a fine-tuned model has to reach;
(b) every model type fine-tuned from scratch (``objective=classify``);
(c) the same, fine-tuned from a model pretrained on the real-text corpus
    (``bench/data/realtext``, ``make bench-data``) prepared by ``pipelines.prepare`` with
    the task's validation and test texts decontaminated out (``dedup.decontaminate``),
at equal fine-tuning budget (steps, batch, sequence length, learning rate), with wall time.
Everything runs through the commands a user types (``pipelines.prepare``,
``pipelines.prepare_task``, ``lm_train.train``, ``lm_train.evaluate``).

Writes ``bench/results/finetune.json`` and rebuilds ``bench/results/SUMMARY.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from lmcore.hashing import stable_hash64

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "data" / "finetune"
TASK_SET = ROOT / "bench" / "data" / "tasks" / "man-sections"
BUNDLED_SET = ROOT / "data" / "sample" / "tasks" / "man-sections"
REALTEXT = ROOT / "bench" / "data" / "realtext"
LANGS = ("en", "zh")
SPLIT_SEED = 17
FRACTIONS = {"validation": 0.1, "test": 0.2}  # of each label's examples; train gets the rest
# Real-text sources the models are pretrained on: the same domain as the task (man pages,
# kernel documentation), English and Chinese. zh_TW man pages are left out: they are
# Traditional-script versions of the zh_CN pages the task is made of, which n-gram
# decontamination cannot see.
PRETRAIN_SOURCES = ("man-en", "man-zh", "kernel-en", "kernel-zh")


@dataclass(frozen=True)
class Budget:
    """One size for every model, so that only the initialisation differs between (b) and (c)."""

    pretrain_steps: int
    finetune_steps: int
    seq_len: int = 128
    batch_size: int = 16
    lr: float = 1e-3
    pretrain_lr: float = 3e-3
    n_layer: int = 2
    d_model: int = 128
    pretrain_docs_per_source: int | None = None  # None: every document of the source


FULL = Budget(pretrain_steps=600, finetune_steps=300)
QUICK = Budget(pretrain_steps=150, finetune_steps=100, pretrain_docs_per_source=150)
MODEL_ARGS = {
    "gpt": ["model=gpt", "model.n_head=4"],
    "bert": ["model=bert", "model.n_head=4"],
    "lstm": ["model=lstm"],
}
PRETRAIN_OBJECTIVE = {"gpt": "causal_lm", "lstm": "causal_lm", "bert": "masked_lm"}


# -- the labelled set and its split ---------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def text_key(text: str) -> str:
    """What makes two examples the same text: NFC, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def dedup_by_text(records: list[dict]) -> tuple[list[dict], int]:
    """Exact-text duplicates removed (the first by id kept), so that no text is in two
    splits and ``prepare_task`` finds nothing more to drop; returns (kept, removed)."""
    seen: set[str] = set()
    kept = []
    for r in sorted(records, key=lambda r: r["id"]):
        key = text_key(r["text"])
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept, len(records) - len(kept)


def assign_splits(records: list[dict], fractions: dict[str, float], seed: int) -> list[dict]:
    """Each label's examples ordered by a stable hash of the id; the first ``fractions``
    of them go to test, then validation, the rest to train. Deterministic, stratified."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_label[r["label"]].append(r)
    out = []
    for label in sorted(by_label):
        rows = sorted(by_label[label], key=lambda r: (stable_hash64(r["id"], seed), r["id"]))
        n_test = round(len(rows) * fractions["test"])
        n_val = round(len(rows) * fractions["validation"])
        for i, r in enumerate(rows):
            split = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
            out.append({**r, "split": split})
    return sorted(out, key=lambda r: r["id"])


def split_counts(records: list[dict]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        counts[r["split"]][r["label"]] += 1
    return {s: dict(sorted(c.items())) for s, c in sorted(counts.items())}


# -- (a) TF-IDF + logistic regression ---------------------------------------------------------------
def classification_scores(y_true: list[str], y_pred: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
    }


def tfidf_baseline(train: list[dict], test: list[dict], lang: str) -> dict:
    """Word 1-2-grams (English) or character 1-3-grams (Chinese: no spaces between words),
    sublinear tf, logistic regression; fitted on train, scored on test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if lang == "zh":
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    else:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    model = make_pipeline(vectorizer, LogisticRegression(C=10.0, max_iter=2000))
    started = time.perf_counter()
    model.fit([r["text"] for r in train], [r["label"] for r in train])
    predicted = list(model.predict([r["text"] for r in test]))
    seconds = time.perf_counter() - started
    return {**classification_scores([r["label"] for r in test], predicted), "wall_s": round(seconds, 2)}


def majority_baseline(train: list[dict], test: list[dict]) -> dict:
    """Always the most frequent training label: the floor every number is read against."""
    top = Counter(r["label"] for r in train).most_common(1)[0][0]
    return classification_scores([r["label"] for r in test], [top] * len(test))


# -- (b), (c): the trainer through its commands ---------------------------------------------------
def run(argv: list[str], log: Path) -> float:
    """Run one command (output to ``log``); its wall time. A failure names the command and log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.call(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=os.environ)
    if rc != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"exit {rc}: {' '.join(argv)}\n(log {log})\n{tail}")
    return time.perf_counter() - started


def trainer_supports_classify() -> bool:
    try:
        from lm_train.objectives.names import OBJECTIVE_NAMES
    except ImportError:
        return False
    import importlib.util

    return (
        "classify" in OBJECTIVE_NAMES and importlib.util.find_spec("lm_train.objectives.classify") is not None
    )


def write_pretrain_inputs(
    out: Path, sources: Iterable[str] = PRETRAIN_SOURCES, max_docs: int | None = None
) -> list[Path]:
    """The real-text sources the models are pretrained on, without zh_TW man pages, the
    first ``max_docs`` documents of each (all when None)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sources:
        src = REALTEXT / f"{source}.jsonl.gz"
        if not src.exists():
            raise SystemExit(f"{src} is missing: run `make bench-data`")
        dst = out / f"{source}.jsonl.gz"
        with gzip.open(src, "rt", encoding="utf-8") as fin, gzip.open(dst, "wt", encoding="utf-8") as fout:
            written = 0
            for line in fin:
                if max_docs is not None and written >= max_docs:
                    break
                if "/zh_TW/" not in json.loads(line)["id"]:
                    fout.write(line)
                    written += 1
        paths.append(dst)
    return paths


def write_heldout(path: Path, records: list[dict]) -> None:
    """Validation and test texts of every language: what pretraining must not have seen."""
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            if r["split"] != "train":
                f.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")


def train_args(budget: Budget, model: str, steps: int, lr: float) -> list[str]:
    return [
        *MODEL_ARGS[model],
        f"model.n_layer={budget.n_layer}",
        f"model.d_model={budget.d_model}",
        f"seq_len={budget.seq_len}",
        f"batch_size={budget.batch_size}",
        f"max_steps={steps}",
        f"lr={lr}",
        f"warmup_steps={max(steps // 10, 1)}",
        f"eval_every={max(steps // 3, 1)}",
        "eval_steps=8",
        "ckpt_every=0",
        f"log_every={max(steps // 10, 1)}",
        "tensorboard=false",
        "dtype=float32",
        "seed=0",
    ]


def read_eval(run_dir: Path, split: str = "test") -> dict:
    metrics = json.loads((run_dir / f"eval-{split}.json").read_text())
    return {k: round(float(metrics[k]), 4) for k in ("accuracy", "macro_f1", "loss") if k in metrics}


def finetune_and_evaluate(
    budget: Budget, model: str, task_dir: Path, out: Path, init_from: Path | None
) -> dict:
    py = sys.executable
    argv = [py, "-m", "lm_train.train", "--data", str(task_dir), "--out", str(out), "objective=classify"]
    argv += train_args(budget, model, budget.finetune_steps, budget.lr)
    if init_from is not None:
        argv += ["--init-from", str(init_from)]
    seconds = run(argv, out.with_suffix(".train.log"))
    evaluate = [
        py,
        "-m",
        "lm_train.evaluate",
        "--checkpoint",
        str(out),
        "--data",
        str(task_dir),
        "--split",
        "test",
    ]
    run(evaluate, out.with_suffix(".eval.log"))
    return {**read_eval(out), "train_wall_s": round(seconds, 1)}


def pretrain_and_finetune(
    budget: Budget, model: str, pretrain_data: Path, task_dirs: dict[str, Path], work: Path
) -> tuple[dict, dict]:
    """Pretrain ``model`` once on both languages, then fine-tune it from scratch and from the
    pretrained run on each language's task."""
    py = sys.executable
    pre_run = work / "runs" / f"pretrain-{model}"
    argv = [py, "-m", "lm_train.train", "--data", str(pretrain_data), "--out", str(pre_run)]
    argv += [f"objective={PRETRAIN_OBJECTIVE[model]}"]
    argv += train_args(budget, model, budget.pretrain_steps, budget.pretrain_lr)
    seconds = run(argv, pre_run.with_suffix(".log"))
    pretrain = {"objective": PRETRAIN_OBJECTIVE[model], "wall_s": round(seconds, 1)}
    finetune = {}
    for lang, task_dir in task_dirs.items():
        runs = work / "runs"
        finetune[lang] = {
            "scratch": finetune_and_evaluate(budget, model, task_dir, runs / f"{lang}-{model}-scratch", None),
            "pretrained": finetune_and_evaluate(
                budget, model, task_dir, runs / f"{lang}-{model}-pretrained", pre_run
            ),
        }
        print(f"{lang} {model}: {json.dumps(finetune[lang])}", flush=True)
    return pretrain, finetune


def model_runs(
    budget: Budget, models: list[str], splits: dict[str, list[dict]], work: Path, save: Callable[[dict], None]
) -> dict:
    """Prepare the pretraining corpus and the task datasets, pretrain each model once (both
    languages), fine-tune each from scratch and from its pretrained run, per language."""
    py = sys.executable
    out: dict = {"pretrain": {}, "finetune": {}}
    inputs = write_pretrain_inputs(work / "pretrain-input", max_docs=budget.pretrain_docs_per_source)
    heldout = work / "heldout.jsonl"
    write_heldout(heldout, [r for recs in splits.values() for r in recs])
    pretrain_data = work / "pretrain-dataset"
    argv = [py, "-m", "pipelines.prepare", *(f"--input={p}" for p in inputs), f"--output={pretrain_data}"]
    argv += ["--set", f"dedup.decontaminate={heldout}", "--set", "tokenize.min_validation_docs=20"]
    out["pretrain"]["prepare_wall_s"] = round(run(argv, work / "logs" / "prepare.log"), 1)
    counts = json.loads((pretrain_data / "stats.json").read_text())["counts"]
    shards = json.loads((pretrain_data / "manifest.json").read_text())["shards"]
    out["pretrain"]["corpus"] = {
        "sources": list(PRETRAIN_SOURCES),
        "documents_in": counts.get("input"),
        "kept_documents": counts.get("kept"),
        "dropped_contaminated": counts.get("dropped", {}).get("contaminated", 0),
        "train_tokens": sum(s["num_tokens"] for s in shards if s["split"] == "train"),
    }
    task_dirs = {}
    for lang, recs in splits.items():
        task_input = work / f"task-input-{lang}.jsonl"
        with open(task_input, "w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        task_dirs[lang] = work / f"task-{lang}"
        argv = [py, "-m", "pipelines.prepare_task", "--task=classification", f"--input={task_input}"]
        argv += [f"--output={task_dirs[lang]}", f"--tokenizer={pretrain_data}", "--split-field=split"]
        run(argv, work / "logs" / f"prepare_task-{lang}.log")
    for model in models:
        try:
            out["pretrain"][model], out_ft = pretrain_and_finetune(
                budget, model, pretrain_data, task_dirs, work
            )
        except RuntimeError as exc:  # one model's failure is recorded, the others still run
            out["pretrain"][model] = {"error": str(exc)[:2000]}
            print(f"{model}: FAILED {str(exc)[:500]}", flush=True)
            continue
        for lang, res in out_ft.items():
            out["finetune"].setdefault(lang, {})[model] = res
        save(out)  # a long benchmark leaves the models it finished
    return out


# -- results ---------------------------------------------------------------------------------------
NOTES = [
    "TF-IDF reads the whole example; the models read its first seq_len tokens only.",
    "The models are tiny (n_layer, d_model in budget) and pretrained on few tokens on shared CPUs; "
    "more pretraining tokens, a larger model and longer sequences are what would close a gap to TF-IDF.",
    "The Chinese set is small (every qualifying zh_CN page): its test split has only a few "
    "examples of file_format and administration, so its macro-F1 moves a lot with one example.",
    "Pretraining data: man pages and kernel documentation (the task's domain) with the task's "
    "validation and test texts removed by dedup.decontaminate; the training examples' pages may remain.",
]


def headline(result: dict) -> str:
    """One line per language: the baseline, and each model's scratch -> pretrained accuracy."""
    parts = []
    for lang in LANGS:
        lang_res = result["languages"].get(lang)
        if not lang_res:
            continue
        text = f"{lang}: tfidf {lang_res['tfidf']['accuracy']:.2f}"
        for model, res in result.get("models", {}).get("finetune", {}).get(lang, {}).items():
            text += f", {model} {res['scratch']['accuracy']:.2f}->{res['pretrained']['accuracy']:.2f}"
        parts.append(text)
    return "test accuracy (scratch->pretrained): " + "; ".join(parts)


def write_result(result: dict) -> None:
    """``bench/results/finetune.json`` with its headline and notes; SUMMARY.md rebuilt."""
    from bench.run_all import main as run_all

    result = {**result, "notes": NOTES, "headline": headline(result)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "finetune.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    run_all(["--summary-only"])


def load_task_set(quick: bool) -> tuple[Path, dict[str, list[dict]]]:
    """The benchmark's labelled set (built on first use); ``--quick`` uses the bundled one."""
    source = BUNDLED_SET if quick else TASK_SET
    if not quick and not (TASK_SET / "zh.jsonl").exists():
        from scripts.make_task_sample import build

        build(TASK_SET, per_label=400, max_chars=1000)
    return source, {lang: read_jsonl(source / f"{lang}.jsonl") for lang in LANGS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="bundled set, short runs")
    ap.add_argument("--models", default="gpt,lstm,bert", help="comma-separated model types")
    ap.add_argument("--baseline-only", action="store_true", help="only the TF-IDF baseline (a)")
    ap.add_argument("--work", type=Path, default=WORK)
    args = ap.parse_args(argv)
    budget = QUICK if args.quick else FULL
    source, sets = load_task_set(args.quick)
    result: dict = {"quick": args.quick, "task_set": str(source.relative_to(ROOT)), "languages": {}}
    splits = {}
    for lang, records in sets.items():
        kept, removed = dedup_by_text(records)
        split = assign_splits(kept, FRACTIONS, SPLIT_SEED)
        splits[lang] = split
        train = [r for r in split if r["split"] == "train"]
        test = [r for r in split if r["split"] == "test"]
        result["languages"][lang] = {
            "examples": len(kept),
            "duplicates_removed": removed,
            "split_counts": split_counts(split),
            "majority": majority_baseline(train, test),
            "tfidf": tfidf_baseline(train, test, lang),
        }
        print(f"{lang}: {json.dumps(result['languages'][lang]['tfidf'])}", flush=True)
    if not args.baseline_only:
        if trainer_supports_classify():
            models = [m for m in args.models.split(",") if m]
            result["budget"] = asdict(budget)
            work = args.work / ("quick" if args.quick else "full")
            shutil.rmtree(work, ignore_errors=True)  # every run starts from nothing

            def save(models_result: dict) -> None:
                write_result({**result, "models": models_result})

            result["models"] = model_runs(budget, models, splits, work, save)
        else:
            result["models_skipped"] = "lm_train has no objective=classify yet (lm_train.objectives.classify)"
    write_result(result)
    print(headline(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

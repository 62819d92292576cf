"""``make demo``: the whole product on the bundled sample, end to end, with real commands.

Runs exactly what a user would type (each step is printed before it runs):
prepare (collect → clean → dedup → tokenize → shard, one Beam pipeline), verify, the
dataset report, a short 2-process ``torchrun`` training run, generation from English and
Chinese prompts, and the training report. Then the task loop: the bundled labelled set
(``data/sample/tasks/``, "which man-page section is this page from", English and
Chinese) becomes a task dataset with the pretraining tokenizer, the demo model is
fine-tuned on it, a model of the same size is trained on it from scratch with the same
budget, and both are evaluated on the test split, side by side. Then the rest of the model
family: a small GRU encoder–decoder with attention learns to translate the bundled paired
set (``data/sample/tasks/ui-messages``: English user-interface messages and their Chinese
translations from Debian's gettext catalogues) and prints a few held-out translations,
and skip-gram word vectors are trained on the demo corpus and print the nearest neighbours
of an English and a Chinese word. Everything lands in
``runs/demo/`` (wiped at the start so the demo always shows a fresh run); override with
``DEMO_DIR``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TORCHRUN = [PY, "-m", "torch.distributed.run"]
TASK_INPUT = "data/sample/tasks/man-sections/*.jsonl"
PAIRS_INPUT = "data/sample/tasks/ui-messages/pairs.jsonl"
SEQ2SEQ_ARGS = [
    "model=seq2seq",
    "objective=seq2seq",
    "cell=gru",
    "n_layer=1",
    "d_model=192",
    "seq_len=32",
    "max_target_len=32",
    "batch_size=32",
    "bucket_by_length=true",  # batches of similar lengths: the attention decoder steps only that far
    "max_steps=400",
    "lr=3e-3",
    "warmup_steps=20",
    "eval_every=200",
    "eval_steps=4",
    "ckpt_every=200",
    "log_every=50",
    "tensorboard=false",
]
SHOWN_TRANSLATIONS = 6
NEIGHBOUR_WORDS = ("god", "山")  # one English and one Chinese word of the demo corpus
# Fine-tuning budget, the same for the pretrained and the from-scratch model; the model's
# shape comes from the same tiny.yaml as the pretraining run, so --init-from fits.
FINETUNE_ARGS = [
    "objective=classify",
    "max_steps=120",
    "lr=1e-3",
    "warmup_steps=10",
    "eval_every=60",
    "ckpt_every=60",
    "log_every=20",
]


def step(title: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    print(f"\n=== {title}\n$ {shlex.join(str(a) for a in argv)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise SystemExit(f"demo: step '{title}' failed with exit code {result.returncode}")
    print(f"=== {title}: done in {time.monotonic() - started:.1f}s", flush=True)


def torchrun_train(nproc: str, data: Path, out: Path, extra: list[str]) -> list[str]:
    return [
        *TORCHRUN,
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "lm_train.train",
        f"--data={data}",
        f"--out={out}",
        "--config=lm_train/configs/tiny.yaml",
        *extra,
    ]


def test_metrics(run: Path) -> dict:
    """What ``lm_train.evaluate --split test`` wrote for a run."""
    return json.loads((run / "eval-test.json").read_text())


def side_by_side(results: dict[str, dict]) -> str:
    """Test accuracy and macro-F1 of each run, one row each."""
    lines = [f"  {'run':<34} {'accuracy':>9} {'macro-F1':>9}"]
    for name, m in results.items():
        lines.append(f"  {name:<34} {m['accuracy']:>9.3f} {m['macro_f1']:>9.3f}")
    return "\n".join(lines)


def task_loop(demo: Path, data: Path, pretrained: Path, nproc: str) -> dict[str, dict]:
    """Labelled set -> task dataset -> fine-tune (from the demo model and from scratch) -> test."""
    task, finetune, scratch = demo / "task", demo / "finetune", demo / "scratch"
    step(
        "prepare the labelled task set (man-page sections, en + zh) with the pretraining tokenizer",
        [
            PY,
            "-m",
            "pipelines.prepare_task",
            "--task=classification",
            f"--input={TASK_INPUT}",
            f"--output={task}",
            f"--tokenizer={data}",
        ],
    )
    env = {"OMP_NUM_THREADS": "1"}
    step(
        "fine-tune the demo model on the task",
        torchrun_train(nproc, task, finetune, [*FINETUNE_ARGS, f"--init-from={pretrained}"]),
        env=env,
    )
    step(
        "train the same model on the task from scratch (same budget)",
        torchrun_train(nproc, task, scratch, FINETUNE_ARGS),
        env=env,
    )
    for run in (finetune, scratch):
        step(
            f"evaluate {run.name} on the test split",
            [PY, "-m", "lm_train.evaluate", f"--checkpoint={run}", f"--data={task}", "--split=test"],
        )
    return {
        "fine-tuned from the demo model": test_metrics(finetune),
        "from scratch, same budget": test_metrics(scratch),
    }


def test_pairs(task: Path, n: int) -> list[tuple[str, str]]:
    """``n`` (source, target) texts spread over the pairs dataset's test split, decoded from its shards."""
    from tokenizers import Tokenizer

    from schemas import read_shard_table

    manifest = json.loads((task / "manifest.json").read_text())
    tok = Tokenizer.from_file(str(task / "tokenizer.json"))
    eos = manifest["tokenizer"].get("eos_id")
    pairs: list[tuple[str, str]] = []
    for shard in sorted((s for s in manifest["shards"] if s["split"] == "test"), key=lambda s: s["path"]):
        table = read_shard_table(str(task / shard["path"]))
        for src, tgt in zip(table.column("tokens").to_pylist(), table.column("target").to_pylist()):
            pairs.append((tok.decode([t for t in src if t != eos]), tok.decode([t for t in tgt if t != eos])))
    return pairs[:: max(1, len(pairs) // n)][:n]


def seq2seq_loop(demo: Path, data: Path, nproc: str) -> list[dict]:
    """Paired set -> pairs dataset -> a GRU encoder-decoder -> test metrics and a few translations."""
    pairs, run = demo / "pairs", demo / "seq2seq"
    step(
        "prepare the paired set (English -> Chinese UI messages) with the pretraining tokenizer",
        [
            PY,
            "-m",
            "pipelines.prepare_task",
            "--task=pairs",
            f"--input={PAIRS_INPUT}",
            f"--output={pairs}",
            f"--tokenizer={data}",
        ],
    )
    step(
        f"train a GRU encoder-decoder with attention ({nproc} processes)",
        [
            *TORCHRUN,
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "lm_train.train",
            f"--data={pairs}",
            f"--out={run}",
            *SEQ2SEQ_ARGS,
        ],
        env={"OMP_NUM_THREADS": "1"},
    )
    step(
        "evaluate it on the test split (loss, exact match, BLEU, chrF)",
        [PY, "-m", "lm_train.evaluate", f"--checkpoint={run}", f"--data={pairs}", "--split=test"],
    )
    shown = test_pairs(pairs, SHOWN_TRANSLATIONS)
    given, got = demo / "translate-input.jsonl", demo / "translate-output.jsonl"
    given.write_text(
        "".join(
            json.dumps({"id": i, "source": s}, ensure_ascii=False) + "\n" for i, (s, _) in enumerate(shown)
        ),
        encoding="utf-8",
    )
    step(
        "translate held-out messages (beam search)",
        [
            PY,
            "-m",
            "lm_train.predict",
            f"--checkpoint={run}",
            f"--input={given}",
            f"--output={got}",
            "--beam-size=4",
        ],
    )
    outputs = [json.loads(line) for line in got.read_text(encoding="utf-8").splitlines()]
    return [{"source": s, "reference": t, "output": o.get("target")} for (s, t), o in zip(shown, outputs)]


def word_vectors(demo: Path, data: Path) -> None:
    """Skip-gram vectors on the demo corpus, and the neighbours of an English and a Chinese word."""
    vectors = demo / "word2vec"
    step(
        "train skip-gram word vectors on the demo corpus (gensim)",
        [
            PY,
            "-m",
            "lm_train.word2vec",
            f"--documents={data}",
            f"--out={vectors}",
            "--algorithm=skipgram",
            "--dim=64",
            "--min-count=3",
            "--epochs=5",
        ],
    )
    step(
        "nearest neighbours of an English and a Chinese word",
        [
            PY,
            "-m",
            "lm_train.embeddings",
            f"--checkpoint={vectors}",
            "--topn=8",
            "--neighbours",
            *NEIGHBOUR_WORDS,
        ],
    )


def main() -> None:
    demo = Path(os.environ.get("DEMO_DIR", ROOT / "runs" / "demo"))
    shutil.rmtree(demo, ignore_errors=True)
    data, run = demo / "dataset", demo / "train"
    nproc = os.environ.get("DEMO_NPROC", "2")
    started = time.monotonic()

    step(
        "prepare: collect, clean, dedup, tokenize, shard (Apache Beam)",
        [PY, "-m", "pipelines.prepare", "--input=data/sample/raw", f"--output={data}", "--keep-dropped"],
    )
    step("verify the dataset", [PY, "-m", "pipelines.verify", str(data)])
    step("dataset report", [PY, "-m", "pipelines.report", str(data)])
    step(
        f"train a tiny GPT with torchrun ({nproc} processes, CPU/gloo)",
        [
            *TORCHRUN,
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "lm_train.train",
            f"--data={data}",
            f"--out={run}",
            "--config=lm_train/configs/tiny.yaml",
        ],
        env={"OMP_NUM_THREADS": "1"},
    )
    for prompt in ("In the beginning God", "天下"):
        step(
            f"generate from {prompt!r}",
            [
                PY,
                "-m",
                "lm_train.generate",
                f"--checkpoint={run}",
                f"--prompt={prompt}",
                "--max-new-tokens=60",
                "--temperature=0.8",
                "--top-k=40",
            ],
        )
    step("training report", [PY, "-m", "lm_train.report", str(run)])
    results = task_loop(demo, data, run, nproc)
    translations = seq2seq_loop(demo, data, nproc)
    word_vectors(demo, data)

    print(f"\nDemo finished in {time.monotonic() - started:.0f}s.")
    print(f"  dataset:         {data}  (manifest.json, stats.json, shards/)")
    print(f"  dataset report:  {data / 'report.html'}")
    print(f"  training run:    {run}  (metrics.jsonl, checkpoints)")
    print(f"  training report: {run / 'report.html'}")
    print(f"  task dataset:    {demo / 'task'}  (manifest.json: labels and counts per split)")
    print(f"  fine-tuned runs: {demo / 'finetune'}, {demo / 'scratch'}  (eval-test.json)")
    print("\nTest accuracy on the man-page section task (4 labels, English and Chinese):")
    print(side_by_side(results))
    print(
        "  (the demo model was pretrained for a minute on Bible chapters and Chinese poems, not on\n"
        "   man pages; bench/bench_finetune.py measures pretraining on the task's own domain)"
    )
    metrics = json.loads((demo / "seq2seq" / "eval-test.json").read_text())
    print(
        f"\nEnglish -> Chinese UI messages, GRU encoder-decoder, test split: chrF {metrics['chrf']:.1f}, "
        f"BLEU {metrics['bleu']:.1f}, exact match {metrics['exact_match']:.3f}"
    )
    for t in translations:
        print(f"  {t['source']!r}\n    -> {t['output']!r}   (translator: {t['reference']!r})")
    print(
        f"  word vectors:    {demo / 'word2vec'}  (vectors.kv, vectors.txt, eval-embeddings.json, report.html)"
    )


if __name__ == "__main__":
    main()

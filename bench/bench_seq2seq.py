"""Encoder–decoders on real paired text: GRU, LSTM and Transformer at equal budget, against copying.

The paired set is the bundled one (``data/sample/tasks/ui-messages``): English user-interface
messages and their Simplified-Chinese translations from the gettext catalogs of Debian
packages, written by translators, not by us. With the commands a user runs:

* a tokenizer from ``pipelines.prepare`` on real English and Chinese documentation
  (``make bench-data``), so the pairs are tokenized like any downstream task;
* ``python -m pipelines.prepare_task --task=pairs`` (normalise, dedup, split);
* ``python -m lm_train.train model=seq2seq model.cell=gru|lstm|transformer objective=seq2seq``,
  the same steps, batch and width for each cell;
* ``python -m lm_train.evaluate --split=test``: loss, exact match, BLEU and chrF (sacrebleu,
  ``zh`` tokenisation for the Chinese targets).

The floor is copying the source: an untranslated message scores what its shared digits,
placeholders (``%s``) and untranslated names give. A few test translations are kept for a
person to read.

    python -m bench.bench_seq2seq [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench.bench_embeddings import run_measured
from bench.bench_finetune import write_pretrain_inputs
from schemas import read_shard_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "data" / "seq2seq"
PAIRS = ROOT / "data" / "sample" / "tasks" / "ui-messages" / "pairs.jsonl"
CELLS = ("gru", "lstm", "transformer")
FULL = {"steps": 1000, "docs_per_source": 300}
QUICK = {"steps": 200, "docs_per_source": 150}
MODEL_ARGS = [
    "model=seq2seq",
    "objective=seq2seq",
    "model.n_layer=1",
    "model.d_model=192",
    "model.n_head=4",
    "seq_len=32",
    "max_target_len=32",
    "batch_size=64",
    "bucket_by_length=true",
    "lr=3e-3",
    "eval_steps=4",
    "ckpt_every=0",
    "tensorboard=false",
    "dtype=float32",
    "seed=0",
]
SHOWN = 8  # test translations kept in the results


def test_pairs(task_dir: Path) -> list[tuple[str, str]]:
    """(source, target) texts of the test split, decoded from the shards with the dataset's tokenizer."""
    from tokenizers import Tokenizer

    manifest = json.loads((task_dir / "manifest.json").read_text())
    tok = Tokenizer.from_file(str(task_dir / "tokenizer.json"))
    eos = manifest["tokenizer"].get("eos_id")
    pairs = []
    for shard in sorted(manifest["shards"], key=lambda s: s["path"]):
        if shard["split"] != "test":
            continue
        table = read_shard_table(str(task_dir / shard["path"]))
        src = [[t for t in row if t != eos] for row in table.column("tokens").to_pylist()]
        tgt = [[t for t in row if t != eos] for row in table.column("target").to_pylist()]
        pairs += list(zip(tok.decode_batch(src), tok.decode_batch(tgt)))
    return pairs


def copy_baseline(pairs: list[tuple[str, str]]) -> dict:
    """BLEU and chrF of the source itself as the translation (zh tokenisation, as evaluate uses)."""
    import sacrebleu

    hyps, refs = [s for s, _ in pairs], [t for _, t in pairs]
    return {
        "bleu": round(sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh").score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
        "exact_match": round(sum(h == r for h, r in zip(hyps, refs)) / max(len(pairs), 1), 4),
        "num_examples": len(pairs),
    }


def translations(run: Path, pairs: list[tuple[str, str]], work: Path) -> list[dict]:
    """The first test sources through ``lm_train.predict`` (beam 4), beside their references."""
    inp, out = work / f"{run.name}-in.jsonl", work / f"{run.name}-out.jsonl"
    inp.write_text(
        "".join(
            json.dumps({"id": i, "source": s}, ensure_ascii=False) + "\n"
            for i, (s, _) in enumerate(pairs[:SHOWN])
        ),
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "lm_train.predict", "--checkpoint", str(run), "--input", str(inp)]
    argv += ["--output", str(out), "--beam-size", "4"]
    run_measured(argv, work / "logs" / f"{run.name}-predict.log")
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return [{"source": s, "reference": t, "output": g.get("target")} for (s, t), g in zip(pairs, got)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    budget = QUICK if args.quick else FULL
    work = WORK / ("quick" if args.quick else "full")
    shutil.rmtree(work, ignore_errors=True)
    py = sys.executable
    inputs = write_pretrain_inputs(work / "input", max_docs=budget["docs_per_source"])
    dataset, task = work / "tokenizer-dataset", work / "pairs"
    prep = run_measured(
        [py, "-m", "pipelines.prepare", *(f"--input={p}" for p in inputs), f"--output={dataset}"],
        work / "logs" / "prepare.log",
    )
    prep_task = run_measured(
        [
            py,
            "-m",
            "pipelines.prepare_task",
            "--task=pairs",
            f"--input={PAIRS}",
            f"--output={task}",
            f"--tokenizer={dataset}",
        ],
        work / "logs" / "prepare_task.log",
    )
    manifest = json.loads((task / "manifest.json").read_text())
    pairs = test_pairs(task)
    result: dict = {
        "quick": args.quick,
        "paired_set": str(PAIRS.relative_to(ROOT)),
        "example_counts": manifest["task"]["example_counts"],
        "prepare": prep,
        "prepare_task": prep_task,
        "budget": {"steps": budget["steps"], "args": MODEL_ARGS},
        "copy_source": copy_baseline(pairs),
        "models": {},
    }
    steps = budget["steps"]
    for cell in CELLS:
        run = work / "runs" / cell
        argv = [
            py,
            "-m",
            "lm_train.train",
            "--data",
            str(task),
            "--out",
            str(run),
            *MODEL_ARGS,
            f"model.cell={cell}",
        ]
        argv += [
            f"max_steps={steps}",
            f"warmup_steps={steps // 10}",
            f"eval_every={steps // 3}",
            f"log_every={steps // 10}",
        ]
        train_cost = run_measured(argv, work / "logs" / f"{cell}-train.log")
        eval_cost = run_measured(
            [py, "-m", "lm_train.evaluate", "--checkpoint", str(run), "--data", str(task), "--split=test"],
            work / "logs" / f"{cell}-eval.log",
        )
        metrics = json.loads((run / "eval-test.json").read_text())
        result["models"][cell] = {
            "num_params": json.loads((run / "run.json").read_text()).get("num_params"),
            **{
                k: round(float(metrics[k]), 4)
                for k in ("loss", "exact_match", "bleu", "chrf")
                if k in metrics
            },
            "train": train_cost,
            "evaluate": eval_cost,
            "translations": translations(run, pairs, work),
        }
        print(f"{cell}: {json.dumps(result['models'][cell], ensure_ascii=False)[:600]}", flush=True)
    result["headline"] = headline(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "seq2seq.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(result["headline"])
    return 0


def headline(result: dict) -> str:
    copy = result["copy_source"]
    parts = [f"copy-source chrF {copy['chrf']} / BLEU {copy['bleu']}"]
    for cell, m in result["models"].items():
        parts.append(f"{cell} chrF {m.get('chrf')} / BLEU {m.get('bleu')} ({m['train']['wall_s']}s)")
    return f"en→zh UI messages, {result['budget']['steps']} steps: " + "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())

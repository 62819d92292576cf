"""Export, query and evaluate the embeddings of a trained run.

    python -m lm_train.embeddings --checkpoint RUN [--export [DIR]] [--evaluate] [--report]
        [--neighbours WORD [WORD ...]] [--topn 10] [--json]

RUN is a word-embedding run of ``lm_train.word2vec`` (``vectors.kv``), a run of
``lm_train.train`` (its newest checkpoint's input token embedding) or one checkpoint file
``RUN/checkpoints/step-N.pt``. Actions (without any of them: export, evaluate and report):

--export [DIR]   gensim ``vectors.kv`` and word2vec-text ``vectors.txt`` (default DIR:
                 RUN/embeddings for a trainer run; a word run already holds them in RUN)
--evaluate       Spearman on WordSim-353 and SimLex-999, analogy accuracy and coverage,
                 written to RUN/eval-embeddings.json
--report         RUN/report.html with a PCA plot of the most frequent words (a trainer run's
                 training report, regenerated with a token-embeddings section)
--neighbours W   the --topn nearest keys of each word or token W by cosine

A token's key is its text (a space as ``▁``, stray bytes as ``<0xHH>``); in a trainer run a
word is the mean of its tokenizer pieces (`` word`` encoded), so every English word of the
sets has a vector. See docs/word-embeddings.md. A missing or damaged RUN and a word without
a vector exit 2 with one line; a write that fails exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from lm_train import cli

PROG = "python -m lm_train.embeddings"
SAMPLE_TOKENS = 64  # as lm_train.report's default


class ReportError(RuntimeError):
    """The report cannot be written (a damaged file of the run): exit 1."""


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog=PROG, description=__doc__, formatter_class=cli.HelpFormatter)
    ap.add_argument(
        "--checkpoint",
        required=True,
        metavar="RUN",
        help="word-embedding run (vectors.kv), trainer run directory or checkpoint file step-N.pt",
    )
    ap.add_argument(
        "--export",
        nargs="?",
        const="",
        metavar="DIR",
        help="write vectors.kv and vectors.txt to DIR (default: RUN/embeddings for a trainer run, RUN for a word run)",
    )
    ap.add_argument(
        "--evaluate", action="store_true", help="word similarity and analogies -> RUN/eval-embeddings.json"
    )
    ap.add_argument("--report", action="store_true", help="RUN/report.html with the PCA plot")
    ap.add_argument(
        "--neighbours", nargs="+", metavar="WORD", help="print the nearest keys of these words or tokens"
    )
    ap.add_argument("--topn", type=positive_int, default=10, help="neighbours per word")
    ap.add_argument(
        "--words", type=positive_int, default=100, help="most frequent words drawn in the PCA plot"
    )
    ap.add_argument(
        "--samples",
        type=int,
        default=3,
        help="trainer runs: texts the regenerated training report generates (0: none)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    return ap


def actions(args: argparse.Namespace) -> set[str]:
    """What to do: the flags given, or export + evaluate + report when none is."""
    chosen = {
        name
        for name, on in (
            ("export", args.export is not None),
            ("evaluate", args.evaluate),
            ("report", args.report),
            ("neighbours", bool(args.neighbours)),
        )
        if on
    }
    return chosen or {"export", "evaluate", "report"}


# -- the steps ------------------------------------------------------------------------------------------
def export_step(emb: Any, target: str) -> dict[str, Any]:
    """Write the vectors; a word run's own folder gets only the files it lacks."""
    from lm_train.embeddings.export import export_vectors, save_text
    from lm_train.embeddings.source import WORDS
    from lmcore import storage
    from lmcore.layout import EMBEDDINGS_DIR, VECTORS_KV_FILENAME, VECTORS_TXT_FILENAME

    if not target:
        target = (
            emb.run_dir
            if emb.kind == WORDS and not emb.trainer_run
            else storage.join(emb.run_dir, EMBEDDINGS_DIR)
        )
    written: dict[str, str] = {}
    if target == emb.run_dir and not emb.trainer_run:  # the run's own files: complete them only
        txt = storage.join(target, VECTORS_TXT_FILENAME)
        if not storage.exists(txt):
            save_text(emb.kv, txt)
            written["txt"] = txt
        kept = storage.join(target, VECTORS_KV_FILENAME)
        return {
            "dir": target,
            "written": written,
            "kept": kept,
            "keys": len(emb.kv),
            "dim": emb.kv.vector_size,
        }
    written = export_vectors(emb.kv, target, emb.meta or None)
    return {"dir": target, "written": written, "keys": len(emb.kv), "dim": emb.kv.vector_size}


def evaluate_step(emb: Any) -> tuple[dict[str, Any], str]:
    """Score the vectors (token runs: through their pieces, with the random-embedding floor)."""
    from lm_train.embeddings.evaluation import evaluate_keyed_vectors, piece_baseline, write_eval

    metrics = evaluate_keyed_vectors(emb.kv, emb.word_vector)
    if emb.word_vector is not None:
        metrics["piece_baseline"] = piece_baseline(emb.word_vector)
    metrics["source"] = emb.meta.get("checkpoint") or emb.run_dir
    return metrics, write_eval(emb.run_dir, metrics)


def report_step(emb: Any, metrics: dict[str, Any] | None, words: int, samples: int) -> str:
    """The word run's page, or the trainer's report with the token-embeddings section."""
    from lm_train.embeddings.evaluation import read_eval
    from lm_train.embeddings.report import trainer_part, write_report
    from lmcore import storage
    from lmcore.layout import REPORT_HTML

    if metrics is None:
        metrics = read_eval(emb.run_dir)
    if not emb.trainer_run:
        return write_report(emb.run_dir, emb.kv, metrics, emb.meta, words=words)
    from lm_train import report as train_report
    from lm_train.checkpoint import CheckpointError

    part = trainer_part(emb.kv, metrics, emb.special_keys, words)
    try:
        train_report.write_report(emb.run_dir, samples, SAMPLE_TOKENS, embeddings=part)
    except (CheckpointError, ValueError, KeyError, TypeError) as exc:  # a damaged file of the run
        raise ReportError(f"the training report of {emb.run_dir} cannot be written: {exc}") from exc
    return storage.join(emb.run_dir, REPORT_HTML)


def neighbours_step(emb: Any, words: Sequence[str], topn: int) -> list[Any]:
    from lm_train.embeddings.neighbours import nearest

    return [nearest(emb.kv, word, topn, emb.word_vector) for word in words]


def summary_line(metrics: dict[str, Any]) -> str:
    """The scores and their coverage in one line."""

    def part(name: str, label: str, key: str, pct: bool) -> str:
        d = metrics.get(name) or {}
        value = d.get(key)
        shown = "n/a" if value is None else (f"{100 * value:.2f}%" if pct else f"{value:.4f}")
        return f"{label} {shown} ({d.get('covered', 0):,}/{d.get('items', 0):,})"

    coverage = metrics.get("coverage")
    return ", ".join(
        [
            part("wordsim353", "WordSim-353 Spearman", "spearman", False),
            part("simlex999", "SimLex-999 Spearman", "spearman", False),
            part("analogy", "analogy accuracy", "accuracy", True),
        ]
    ) + (f"; coverage {100 * coverage:.2f}%" if coverage is not None else "; coverage n/a")


# -- the command -------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> tuple[int, dict[str, Any], list[str]]:
    """Do the chosen actions; (exit code, JSON record, lines for the terminal)."""
    from lm_train.embeddings.neighbours import format_neighbours
    from lm_train.embeddings.source import load_embeddings

    todo = actions(args)
    emb = load_embeddings(args.checkpoint)
    record: dict[str, Any] = {
        "run": emb.run_dir,
        "kind": emb.kind,
        "keys": len(emb.kv),
        "dim": emb.kv.vector_size,
    }
    lines: list[str] = []
    code = 0
    if "export" in todo:
        done = export_step(emb, args.export or "")
        record["export"] = done
        files = ", ".join(done["written"].values()) or "nothing new"
        lines.append(
            f"export: {done['keys']:,} vectors of dimension {done['dim']} in {done['dir']} (wrote {files})"
        )
    metrics = None
    if "evaluate" in todo:
        metrics, path = evaluate_step(emb)
        record["evaluation"] = metrics
        lines += [summary_line(metrics), f"wrote {path}"]
    if "report" in todo:
        path = report_step(emb, metrics, args.words, args.samples)
        record["report"] = path
        lines.append(f"wrote {path}")
    if "neighbours" in todo:
        answers = neighbours_step(emb, args.neighbours, args.topn)
        record["neighbours"] = [a.to_dict() for a in answers]
        lines += [format_neighbours(a) for a in answers]
        if any(a.found_as is None for a in answers):
            code = 2
    return code, record, lines


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lm_train.embeddings.export import ExportError
    from lm_train.embeddings.source import SourceError

    try:
        code, record, lines = run(args)
    except (SourceError, ExportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ReportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        print("\n".join(lines))
    if code == 2:
        missing = [n["query"] for n in record.get("neighbours", []) if n["found_as"] is None]
        print(f"{PROG}: error: no vector for {', '.join(missing)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

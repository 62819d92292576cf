"""``python -m lm_train.word2vec --documents DIR --out RUN``: word vectors (skip-gram, CBOW or GloVe).

skip-gram and CBOW are gensim's ``Word2Vec`` over the documents streamed from Parquet
(``lm_train.wordvec_corpus``); GloVe counts co-occurrences with the Beam pipeline
``python -m pipelines.cooccur`` (run here as a subprocess into ``RUN/cooccurrence/``, or
given with ``--cooccurrence``) and trains GloVe's weighted least squares in torch
(``lm_train.glove``). Words are ``lmcore.words.split_words`` (jieba for Chinese). At the
end the vectors are scored on the gensim sets (``lm_train.embeddings.evaluation``) into
``RUN/eval-embeddings.json`` and drawn into ``RUN/report.html``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lm_train.wordvec_run import TRAINED_BY, clear_previous, refuse_run_dir
from lmcore import storage
from lmcore.documents import NoDocumentsError, find_document_files
from lmcore.layout import COOCCURRENCE_DIR, EMBEDDINGS_EVAL_FILENAME, VECTORS_KV_FILENAME

ALGORITHMS = ("skipgram", "cbow", "glove")
DEFAULT_WINDOW = {"skipgram": 5, "cbow": 5, "glove": 10}
DEFAULT_EPOCHS = {"skipgram": 5, "cbow": 5, "glove": 25}
DEFAULT_LR = {"skipgram": 0.025, "cbow": 0.025, "glove": 0.05}
EXIT_BAD_OPTIONS = 2
EXIT_COOCCUR_FAILED = 4
log = logging.getLogger("lmforge.word2vec")

EPILOG = """\
Writes RUN/:
  embeddings.json        algorithm, settings, corpus (documents, words), vocabulary, seconds, words/s
  vectors.kv             gensim KeyedVectors (KeyedVectors.load)
  vectors.txt            the word2vec text format
  eval-embeddings.json   WordSim-353 / SimLex-999 Spearman, analogy accuracy, coverage
  report.html            the scores, nearest neighbours and a PCA plot
  cooccurrence/          (glove) the counts pipelines.cooccur wrote

Words: lowercased; Chinese (any run of CJK characters) segmented with jieba; words without a
letter (numbers, punctuation) dropped. See lmcore/words.py.

Reproducible: the same documents and options give byte-identical vectors (skip-gram/CBOW
with --workers 1, the default; GloVe always on a CPU). --workers N > 1 trains gensim on N
threads, faster but not reproducible (the threads race on shared vectors).

RUN must be new or empty; a previous word2vec run is replaced only with --overwrite.
Exit status: 0 ok, 2 bad options or inputs, 4 the co-occurrence pipeline failed.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lm_train.word2vec",
        description="Train word vectors on document Parquet (pipelines.clean/dedup output).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "--documents",
        help="directory with documents/*.parquet (a clean or dedup output), or a prepared dataset (its train "
        "and validation shards, decoded)",
    )
    p.add_argument("--out", required=True, help="the run directory to write")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="skipgram", help="default: skipgram")
    p.add_argument("--dim", type=int, default=100, help="vector size (default 100)")
    p.add_argument("--window", type=int, default=None, help="context words each side (default 5; glove 10)")
    p.add_argument("--min-count", type=int, default=5, help="drop words seen fewer times (default 5)")
    p.add_argument("--max-vocab", type=int, default=None, help="keep at most this many words (most frequent)")
    p.add_argument("--negative", type=int, default=5, help="negative samples (skipgram/cbow; default 5)")
    p.add_argument("--epochs", type=int, default=None, help="passes (default 5; glove 25)")
    p.add_argument(
        "--lr", type=float, default=None, help="learning rate (default 0.025; glove 0.05, AdaGrad)"
    )
    p.add_argument(
        "--sample", type=float, default=1e-3, help="skipgram/cbow: downsample words above this frequency"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="skipgram/cbow threads (default 1; >1 is faster, not reproducible)",
    )
    g = p.add_argument_group("glove")
    g.add_argument("--cooccurrence", help="use these counts (a pipelines.cooccur output) instead of counting")
    g.add_argument("--num-parts", type=int, default=8, help="co-occurrence files/merge buckets (default 8)")
    g.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="a flag for the co-occurrence pipeline, e.g. --beam-arg=--direct_num_workers=2 (repeatable)",
    )
    g.add_argument("--batch-size", type=int, default=8192, help="co-occurrence rows per step (default 8192)")
    g.add_argument("--x-max", type=float, default=100.0, help="f(x) = min(1, (x/x_max)^alpha) (default 100)")
    g.add_argument("--alpha", type=float, default=0.75, help="(default 0.75)")
    g.add_argument(
        "--glove-vectors",
        choices=("sum", "word"),
        default="sum",
        help="the vectors written: sum = W + W̃ (the paper's and glove.c's -model 2), word = W only "
        "(-model 1: less weight on words that co-occur, more on words that share contexts)",
    )
    g.add_argument("--device", default="cpu", help="torch device for GloVe (default cpu)")
    g.add_argument("--threads", type=int, default=1, help="torch CPU threads for GloVe (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous word2vec run in --out")
    return p


def check_args(args: argparse.Namespace) -> str | None:
    """Fill the per-algorithm defaults; the first bad option as one line, or None."""
    algo = args.algorithm
    args.window = DEFAULT_WINDOW[algo] if args.window is None else args.window
    args.epochs = DEFAULT_EPOCHS[algo] if args.epochs is None else args.epochs
    args.lr = DEFAULT_LR[algo] if args.lr is None else args.lr
    checks = [
        (args.dim >= 1, f"--dim must be at least 1, got {args.dim}"),
        (
            1 <= args.window <= (20 if algo == "glove" else 1000),
            f"--window must be 1..20 (glove) or 1..1000, got {args.window}",
        ),
        (args.min_count >= 1, f"--min-count must be at least 1, got {args.min_count}"),
        (
            args.max_vocab is None or args.max_vocab >= 1,
            f"--max-vocab must be at least 1, got {args.max_vocab}",
        ),
        (args.negative >= 1, f"--negative must be at least 1, got {args.negative}"),
        (args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}"),
        (args.lr > 0, f"--lr must be positive, got {args.lr}"),
        (args.sample >= 0, f"--sample must be 0 or more, got {args.sample}"),
        (args.workers >= 1, f"--workers must be at least 1, got {args.workers}"),
        (args.threads >= 1, f"--threads must be at least 1, got {args.threads}"),
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}"),
        (args.x_max > 0 and args.alpha > 0, "--x-max and --alpha must be positive"),
        (1 <= args.num_parts <= 65536, f"--num-parts must be 1..65536, got {args.num_parts}"),
        (
            args.documents or (algo == "glove" and args.cooccurrence),
            "--documents is required (glove: or --cooccurrence)",
        ),
        (algo == "glove" or not args.cooccurrence, "--cooccurrence is for --algorithm=glove"),
    ]
    return next((message for ok, message in checks if not ok), None)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("gensim").setLevel(logging.INFO)  # its progress lines: % done, words/s
    for quiet in ("gensim.utils", "gensim.models.keyedvectors", "gensim.corpora", "smart_open"):
        logging.getLogger(quiet).setLevel(logging.WARNING)


# -- skip-gram / CBOW ------------------------------------------------------------------------------
def train_word2vec(files: list[str], args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """gensim Word2Vec over the streamed documents: (KeyedVectors, what embeddings.json records)."""
    from gensim.models import Word2Vec

    from lm_train.wordvec_corpus import WordCorpus, make_epoch_logger, stable_word_hash

    corpus = WordCorpus(files)
    model = Word2Vec(
        vector_size=args.dim,
        window=args.window,
        min_count=args.min_count,
        max_final_vocab=args.max_vocab,
        sg=1 if args.algorithm == "skipgram" else 0,
        negative=args.negative,
        hs=0,
        sample=args.sample,
        alpha=args.lr,
        min_alpha=args.lr * 1e-4,
        seed=args.seed,
        workers=args.workers,
        hashfxn=stable_word_hash,
    )
    started = time.monotonic()
    model.build_vocab(corpus, progress_per=100_000)
    counts = corpus.counts
    vocab_seconds = time.monotonic() - started
    if not model.wv.index_to_key:
        raise ValueError(
            f"no word occurs {args.min_count} times in {counts.words:,} words: lower --min-count"
        )
    log.info(
        "vocabulary: %s words of %s, from %s documents (%s words) in %.1fs",
        f"{len(model.wv):,}",
        f"{counts.words:,}",
        f"{counts.documents:,}",
        f"{counts.words:,}",
        vocab_seconds,
    )
    train_started = time.monotonic()
    _, raw_words = model.train(
        corpus,
        total_examples=model.corpus_count,
        epochs=args.epochs,
        report_delay=10.0,
        callbacks=[make_epoch_logger(args.epochs, counts.words)],
    )
    train_seconds = time.monotonic() - train_started
    settings = {
        k: getattr(args, k)
        for k in (
            "dim",
            "window",
            "min_count",
            "max_vocab",
            "negative",
            "epochs",
            "lr",
            "sample",
            "seed",
            "workers",
        )
    }
    meta = {
        "corpus": {"documents": counts.documents, "words": counts.words, "pieces": counts.pieces},
        "settings": settings,
        "seconds": {"vocabulary": round(vocab_seconds, 3), "train": round(train_seconds, 3)},
        "words_per_second": round(raw_words / train_seconds, 1) if train_seconds > 0 else None,
        "reproducible": args.workers == 1,
    }
    return model.wv, meta


# -- GloVe -----------------------------------------------------------------------------------------
def pipelines_available() -> bool:
    """Whether ``python -m pipelines.cooccur`` can run here (without importing the pipelines)."""
    try:
        if importlib.util.find_spec("apache_beam") is None:
            return False
        spec = importlib.util.find_spec("pipelines")
    except (ImportError, ValueError):  # a finder that refuses the name, a broken install
        return False
    locations = list(spec.submodule_search_locations or []) if spec else []
    return any((Path(loc) / "cooccur" / "__main__.py").exists() for loc in locations)


def cooccur_command(args: argparse.Namespace, output: str) -> list[str]:
    cmd = [sys.executable, "-m", "pipelines.cooccur", "--documents", args.documents, "--output", output]
    cmd += [
        "--window",
        str(args.window),
        "--min-count",
        str(args.min_count),
        "--num-parts",
        str(args.num_parts),
    ]
    if args.max_vocab:
        cmd += ["--max-vocab", str(args.max_vocab)]
    return cmd + list(args.beam_arg)


def count_cooccurrences(args: argparse.Namespace, run: str) -> tuple[str, float]:
    """Run the Beam pipeline into RUN/cooccurrence/; (its directory, seconds)."""
    output = storage.join(run, COOCCURRENCE_DIR)
    cmd = cooccur_command(args, output)
    if not pipelines_available():
        raise CooccurFailed(
            "--algorithm=glove counts co-occurrences with the Beam pipeline, which is not installed here: "
            f"run python -m pipelines.cooccur --documents {args.documents} --output DIR --window {args.window} "
            f"--min-count {args.min_count} where lmforge[pipelines] is, then pass --cooccurrence DIR",
            EXIT_BAD_OPTIONS,
        )
    log.info("counting co-occurrences: %s", " ".join(cmd[1:]))
    started = time.monotonic()
    done = subprocess.run(cmd, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        raise CooccurFailed(
            f"the co-occurrence pipeline failed (exit {done.returncode}, its messages are above): "
            + " ".join(cmd[1:]),
            done.returncode if done.returncode == EXIT_BAD_OPTIONS else EXIT_COOCCUR_FAILED,
        )
    return output, time.monotonic() - started


class CooccurFailed(RuntimeError):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def train_glove_vectors(cooc_dir: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from gensim.models import KeyedVectors

    from lm_train.glove import GloveConfig, open_cooccurrence, train_glove

    cooc = open_cooccurrence(cooc_dir)
    m = cooc.manifest
    for flag, given, used in (
        ("--window", args.window, m.window),
        ("--min-count", args.min_count, m.min_count),
    ):
        if args.cooccurrence and given != used:
            log.warning("%s %s is ignored: the counts in %s were made with %s", flag, given, cooc_dir, used)
    config = GloveConfig(
        dim=args.dim,
        epochs=args.epochs,
        lr=args.lr,
        x_max=args.x_max,
        alpha=args.alpha,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        output=args.glove_vectors,
    )
    log.info(
        "glove: %s words, %s nonzeros, %d epochs of %s rows",
        f"{m.vocab_size:,}",
        f"{m.nonzeros:,}",
        config.epochs,
        f"{config.batch_size:,}",
    )
    result = train_glove(cooc, config)
    kv = KeyedVectors(vector_size=args.dim)
    kv.add_vectors(result.words, result.vectors)
    for word, count in zip(result.words, result.counts, strict=True):
        kv.set_vecattr(word, "count", count)
    meta = {
        "corpus": {"documents": m.documents, "words": m.tokens, "vocabulary_words": m.vocab_tokens},
        "settings": {
            "dim": args.dim,
            "window": m.window,
            "min_count": m.min_count,
            "max_vocab": m.max_vocab,
            "epochs": config.epochs,
            "lr": config.lr,
            "x_max": config.x_max,
            "alpha": config.alpha,
            "batch_size": config.batch_size,
            "glove_vectors": config.output,
            "seed": config.seed,
            "device": config.device,
            "threads": config.threads,
            "optimizer": "adagrad",
        },
        "cooccurrence": {"directory": cooc_dir, "nonzeros": m.nonzeros, "parts": len(m.parts)},
        "losses": [round(x, 6) for x in result.losses],
        "seconds": {"train": round(result.seconds, 3)},
        "pairs_per_second": round(result.pairs_per_second, 1),
        "reproducible": config.device == "cpu",
    }
    return kv, meta


# -- evaluation ------------------------------------------------------------------------------------
def evaluate_and_report(kv: Any, run: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Scores on the gensim sets into RUN/eval-embeddings.json, and RUN/report.html."""
    from lm_train.embeddings.evaluation import evaluate_keyed_vectors, write_eval
    from lm_train.embeddings.report import write_report

    metrics = evaluate_keyed_vectors(kv)
    write_eval(run, metrics)
    write_report(run, kv, metrics, meta)
    return metrics


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    problem = check_args(args)
    run = args.out.rstrip("/") or args.out
    if problem is None:
        problem = refuse_run_dir(run, args.overwrite)
    files: list[str] = []
    if problem is None and args.documents and not args.cooccurrence:
        try:
            files = find_document_files(args.documents)
        except NoDocumentsError as exc:
            problem = str(exc)
    if problem is None and args.cooccurrence and not storage.exists(args.cooccurrence):
        problem = f"--cooccurrence {args.cooccurrence}: no such directory"
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_OPTIONS
    setup_logging()
    from lm_train.embeddings.export import export_vectors

    started = time.monotonic()
    if args.overwrite:
        clear_previous(run, keep=args.cooccurrence)
    storage.makedirs(run)
    try:
        if args.algorithm == "glove":
            cooc_seconds = None
            cooc_dir = args.cooccurrence
            if cooc_dir is None:
                cooc_dir, cooc_seconds = count_cooccurrences(args, run)
            kv, meta = train_glove_vectors(cooc_dir, args)
            meta["seconds"]["cooccurrence"] = round(cooc_seconds, 3) if cooc_seconds is not None else None
        else:
            kv, meta = train_word2vec(files, args)
    except CooccurFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except ValueError as exc:  # an empty vocabulary, damaged counts: one line
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_OPTIONS
    meta = {
        "trained_by": TRAINED_BY,
        "kind": "words",
        "algorithm": args.algorithm,
        "documents": args.documents,
        "vocab_size": len(kv),
        "dim": args.dim,
        **meta,
    }
    meta["seconds"]["total_before_eval"] = round(time.monotonic() - started, 3)
    # gensim pickles a "lifecycle" log with the date and host into vectors.kv; without it the
    # file is a function of the vectors alone (byte-identical reruns)
    kv.lifecycle_events = None
    export_vectors(kv, run, meta)
    metrics = evaluate_and_report(kv, run, meta)
    seconds = time.monotonic() - started
    rate = meta.get("words_per_second") or meta.get("pairs_per_second")
    unit = "words/s" if "words_per_second" in meta else "pairs/s"
    print(
        f"word2vec {args.algorithm} finished in {seconds:.1f}s: {len(kv):,} words x {args.dim}, "
        f"{meta['corpus']['words']:,} corpus words, {rate:,.0f} {unit}; "
        f"wordsim353 {_fmt(metrics.get('wordsim353_spearman'))}, simlex999 {_fmt(metrics.get('simlex999_spearman'))}, "
        f"analogy {_fmt(metrics.get('analogy_accuracy'))}, coverage {_fmt(metrics.get('coverage'))}; "
        f"{storage.join(run, VECTORS_KV_FILENAME)}, {storage.join(run, EMBEDDINGS_EVAL_FILENAME)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

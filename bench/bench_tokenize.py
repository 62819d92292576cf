"""Tokenize-stage benchmark: in-pipeline throughput vs a plain ``encode_batch`` loop, and end to end.

    python -m bench.bench_tokenize [--quick]

1. *Practical limit*: ``Tokenizer.encode_batch`` (and ``encode_batch_fast``) over the
   chunks' texts in a plain loop, with the same tokenizer.
2. *Inside the pipeline*: the same chunks through ``TokenizeFn`` in a Beam pipeline on
   the default runner (Create -> TokenizeFn -> count tokens), wall clock; and
   ``TokenizeFn.process`` called directly (the DoFn's own overhead, no Beam).
3. *Long-text guard*: one text without whitespace, encoded whole vs split into pieces.
4. *End to end*: ``python -m pipelines.tokenize`` (train the BPE, tokenize, write shards,
   stats, manifest) on the sample corpus and on a generated corpus of >= 100 MB (quick:
   10 MB), as a subprocess: MB/s of document text and peak RSS.
5. *Real text*: 1-2 on English and Chinese documents of the real-text corpus (``make
   bench-data``; skipped with a message when it is missing), with a BPE trained on part of
   them: the goal (pipeline >= 80 % of ``encode_batch_fast``) is measured here too, since
   generated text repeats a few paragraphs and real text does not.

The generated corpus is built deterministically from the sample texts (documents are
seeded shuffles of sample paragraphs) in a temporary directory, never committed.
Results: ``bench/results/tokenize.json``; ``--only real`` (etc.) re-measures some sections
and keeps the others from the file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from bench.realtext.build_corpus import DEFAULT_OUT, shown
from pipelines.io.config import ReadConfig
from pipelines.io.readers import ReadDocuments
from pipelines.stage.runner import make_pipeline
from pipelines.tokenize import bpe, encode
from pipelines.tokenize.config import TokenizeConfig
from pipelines.tokenize.tokenize_docs import TokenizeFn

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "raw" / "jsonl"
RESULTS = ROOT / "bench" / "results"
SECTIONS = ("throughput", "long_text", "end_to_end", "real")
SAMPLE_FILES = ("kjv-old-testament.jsonl.gz", "kjv-new-testament.jsonl.gz", "fortunes-zh.jsonl.gz")


def sample_records() -> list[dict]:
    recs = []
    for name in SAMPLE_FILES:
        with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if isinstance(rec.get("text"), str) and rec["text"]:
                    recs.append({"id": f"{name}:{rec.get('id', len(recs))}", "text": rec["text"]})
    return recs


def generate_corpus(path: Path, target_bytes: int, seed: int = 0) -> int:
    """JSONL documents made of seeded shuffles of sample paragraphs until ``target_bytes`` of text."""
    paragraphs = [p for r in sample_records() for p in r["text"].split("\n") if p.strip()]
    rng = random.Random(seed)
    total = 0
    with path.open("w", encoding="utf-8") as f:
        i = 0
        while total < target_bytes:
            text = "\n".join(rng.choice(paragraphs) for _ in range(rng.randint(5, 60)))
            f.write(json.dumps({"id": f"gen-{i:08d}", "text": text}, ensure_ascii=False) + "\n")
            total += len(text.encode("utf-8"))
            i += 1
    return total


def chunks_of(recs: list[dict], size: int = 1000) -> list[tuple[str, list[dict]]]:
    docs = [{"id": r["id"], "text": r["text"], "source": "bench", "lang": None} for r in recs]
    return [(f"c{i:06d}", docs[i : i + size]) for i in range(0, len(docs), size)]


def mb(n: int) -> float:
    return n / 1e6


def plain_loop(tok_json: str, chunks: list, fast: bool) -> float:
    tok = bpe.load_tokenizer(tok_json)
    start = time.perf_counter()
    for _, docs in chunks:
        texts = [d["text"] for d in docs]
        if fast:
            tok.encode_batch_fast(texts, add_special_tokens=False)
        else:
            tok.encode_batch(texts, add_special_tokens=False)
    return time.perf_counter() - start


def dofn_direct(tok_json: str, chunks: list, cfg: TokenizeConfig) -> float:
    fn = TokenizeFn(cfg)
    fn.setup()
    fn._ensure_tokenizer(tok_json)
    start = time.perf_counter()
    for chunk in chunks:
        for _ in fn.process(chunk, tok_json):
            pass
    return time.perf_counter() - start


def in_pipeline(
    tok_json: str, path: Path | None, cfg: TokenizeConfig, tokenize: bool = True
) -> tuple[float, int]:
    """Wall clock of ReadDocuments(JSONL) -> TokenizeFn -> sum of tokens (no tokenizing: -> sum of docs).

    The documents come from a file, as in a real run: ``beam.Create`` over megabytes of
    chunks would mostly measure Beam pickling (and bz2-compressing) the data itself.
    """
    result: list[int] = []
    pipeline = make_pipeline(PipelineOptions([]))
    if path is None:
        docs = pipeline | "NoChunks" >> beam.Create([])
    else:
        docs = (pipeline | "Read" >> ReadDocuments([str(path)], ReadConfig())).docs
    if tokenize:
        tok = pipeline | "Tok" >> beam.Create([tok_json])
        counted = (
            docs
            | "Tokenize" >> beam.ParDo(TokenizeFn(cfg), beam.pvalue.AsSingleton(tok))
            | "Tokens" >> beam.Map(lambda kv: kv[1].num_tokens())
        )
    else:
        counted = docs | "Docs" >> beam.Map(lambda kv: len(kv[1]))
    counted | "Sum" >> beam.CombineGlobally(sum) | "Collect" >> beam.Map(result.append)
    start = time.perf_counter()
    pipeline.run().wait_until_finish()
    return time.perf_counter() - start, result[0] if result else 0


def throughput(tok_json: str, path: Path, cfg: TokenizeConfig, rounds: int) -> dict:
    """Plain loops vs ``TokenizeFn`` vs a Beam pipeline on the documents of the JSONL ``path``:
    interleaved rounds, best of each (the machine is shared, so single timings are noisy)."""
    bench_recs = [json.loads(line) for line in path.open(encoding="utf-8")]
    chunks = chunks_of(bench_recs)
    nbytes = sum(len(r["text"].encode("utf-8")) for r in bench_recs)
    times: dict[str, list[float]] = {"plain": [], "fast": [], "dofn": [], "pipe": [], "read_only": []}
    pipe_tokens = 0
    load = [round(os.getloadavg()[0], 2)]
    for _ in range(rounds):
        times["plain"].append(plain_loop(tok_json, chunks, fast=False))
        times["fast"].append(plain_loop(tok_json, chunks, fast=True))
        times["dofn"].append(dofn_direct(tok_json, chunks, cfg))
        t, pipe_tokens = in_pipeline(tok_json, path, cfg)
        times["pipe"].append(t)
        times["read_only"].append(in_pipeline(tok_json, path, cfg, tokenize=False)[0])
    load.append(round(os.getloadavg()[0], 2))
    best = {k: min(v) for k, v in times.items()}
    steady = max(best["pipe"] - best["read_only"], 1e-9)
    return {
        "text_mb": round(mb(nbytes), 2),
        "docs": len(bench_recs),
        "tokens": pipe_tokens,
        "plain_encode_batch_mb_s": round(mb(nbytes) / best["plain"], 3),
        "plain_encode_batch_fast_mb_s": round(mb(nbytes) / best["fast"], 3),
        "tokenize_fn_direct_mb_s": round(mb(nbytes) / best["dofn"], 3),
        "beam_pipeline_mb_s": round(mb(nbytes) / best["pipe"], 3),
        "beam_read_only_pipeline_s": round(best["read_only"], 2),
        "beam_pipeline_steady_mb_s": round(mb(nbytes) / steady, 3),
        "pipeline_vs_encode_batch": round(best["plain"] / best["pipe"], 3),
        "pipeline_steady_vs_encode_batch": round(best["plain"] / steady, 3),
        "pipeline_vs_encode_batch_fast": round(best["fast"] / best["pipe"], 3),
        "dofn_vs_encode_batch": round(best["plain"] / best["dofn"], 3),
        "all_times_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "load_avg_1min": load,
        "goal": ">= 0.8 of encode_batch_fast",
        "goal_met": best["fast"] / best["pipe"] >= 0.8,
    }


REAL_LANGS = ("en", "zh")
REAL_MB = 36  # of real text measured (without --quick)


def real_text_sample(docs: list[dict], target_bytes: int) -> list[dict]:
    """Every k-th document (sorted by id) so that about ``target_bytes`` of text remain: the
    same documents on every run, spread over all sources."""
    docs = sorted(docs, key=lambda d: d["id"])
    total = sum(len(d["text"].encode("utf-8")) for d in docs)
    every = max(1, round(total / max(target_bytes, 1)))
    return docs[::every]


def real_text_throughput(corpus: Path, cfg: TokenizeConfig, quick: bool) -> dict | None:
    """Section 5: the throughput comparison on the corpus' English and Chinese documents."""
    from bench.bench_clean_real import read_inputs, realtext_manifest

    manifest = realtext_manifest(corpus, "tokenize real text")
    if manifest is None:
        return None
    docs = [
        {"id": doc_id, "text": d["text"], "lang": manifest["sources"][name]["lang"]}
        for name, by_id in read_inputs(corpus, manifest).items()
        if manifest["sources"][name]["lang"] in REAL_LANGS and manifest["sources"][name]["kind"] != "junk"
        for doc_id, d in by_id.items()
        if d["text"].strip()
    ]
    # real text encodes ~10x faster than the generated text: more of it, so that each timing
    # runs for seconds and the pipeline's start-up does not decide the ratio
    picked = real_text_sample(docs, 3_000_000 if quick else REAL_MB * 1_000_000)
    by_lang = {
        lang: round(mb(sum(len(d["text"].encode("utf-8")) for d in picked if d["lang"] == lang)), 2)
        for lang in REAL_LANGS
    }
    measured = {d["id"] for d in picked}
    train = real_text_sample([d for d in docs if d["id"] not in measured], 2_000_000 if quick else 6_000_000)
    print(f"real text: training a BPE on {len(train)} documents, measuring on {len(picked)} ...", flush=True)
    tok_json = bpe.train_bpe([d["text"] for d in train], cfg)
    with tempfile.TemporaryDirectory(prefix="bench-tokenize-real-") as tmp:
        path = Path(tmp) / "real.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for d in picked:
                f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
        tp = throughput(tok_json, path, cfg, 1 if quick else 3)
    return {
        "corpus": shown(corpus),
        "mode": "quick" if quick else "full",
        "mb_by_lang": by_lang,
        "train_docs": len(train),
        "vocab_size": cfg.vocab_size,
        "throughput": tp,
        "command": "python -m bench.bench_tokenize --only real" + (" --quick" if quick else ""),
    }


def long_text_guard(tok_json: str, n_chars: int, piece: int) -> dict:
    tok = bpe.load_tokenizer(tok_json)
    text = "".join(random.Random(1).choice("abcdefghij天地玄黄") for _ in range(n_chars))
    start = time.perf_counter()
    whole = tok.encode(text, add_special_tokens=False).ids
    t_whole = time.perf_counter() - start
    start = time.perf_counter()
    [split] = encode.encode_texts(tok, [text], 0, piece)
    t_split = time.perf_counter() - start
    assert encode.decode_document(tok, split, 0) == text
    return {
        "chars": n_chars,
        "max_piece_chars": piece,
        "whole_s": round(t_whole, 3),
        "split_s": round(t_split, 3),
        "tokens_whole": len(whole),
        "tokens_split": len(split) - 1,
        "round_trip": True,
    }


def run_stage(inp: Path, out: Path, text_bytes: int, config: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "pipelines.tokenize",
        f"--input={inp}",
        f"--output={out}",
        f"--config={config}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"tokenize failed:\n{proc.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    tokens = sum(s["num_tokens"] for s in manifest["shards"])
    return {
        "text_mb": round(mb(text_bytes), 2),
        "docs": manifest["counts"]["kept"],
        "tokens": tokens,
        "shards": len(manifest["shards"]),
        "wall_s": round(elapsed, 2),
        "mb_per_s": round(mb(text_bytes) / elapsed, 3),
        "tokens_per_s": round(tokens / elapsed),
        "bytes_per_token": round(text_bytes / max(tokens, 1), 3),
        "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small version (< 1 min)")
    ap.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections (default: all of {','.join(SECTIONS)})",
    )
    ap.add_argument("--corpus", type=Path, default=DEFAULT_OUT, help="the real-text corpus (make bench-data)")
    args = ap.parse_args(argv)
    quick = args.quick
    sections = set(args.only.split(","))
    if sections - set(SECTIONS):
        ap.error(f"unknown sections {sorted(sections - set(SECTIONS))}; known: {', '.join(SECTIONS)}")
    results: dict = {"cpu_count": os.cpu_count(), "note": "2 shared cores; other jobs ran"}
    if sections & {"throughput", "long_text", "end_to_end"}:
        results["quick"] = quick
    if sections == {"real"}:
        cfg = TokenizeConfig(vocab_size=8192)
        return finish({"real_text": real} if (real := real_text_throughput(args.corpus, cfg, quick)) else {})

    recs = sample_records()
    cfg = TokenizeConfig(vocab_size=8192)
    print(f"training an {cfg.vocab_size}-token BPE on {len(recs)} sample documents ...", flush=True)
    start = time.perf_counter()
    tok_json = bpe.train_bpe([r["text"] for r in recs], cfg)
    results["train_sample_s"] = round(time.perf_counter() - start, 2)

    if "throughput" in sections:
        # 1-2: same texts, plain loop vs in the pipeline
        with tempfile.TemporaryDirectory(prefix="bench-tokenize-") as tmp:
            gen = Path(tmp) / "gen.jsonl"
            generate_corpus(gen, 3_000_000 if quick else 12_000_000, seed=7)
            results["throughput"] = throughput(tok_json, gen, cfg, 1 if quick else 2)

    if "long_text" in sections:
        # 3: long text without whitespace
        results["long_text_guard"] = long_text_guard(
            tok_json, 200_000 if quick else 2_000_000, cfg.max_piece_chars
        )

    if "real" in sections:
        # 5: the same comparison on real English and Chinese text
        real = real_text_throughput(args.corpus, cfg, quick)
        if real is not None:
            results["real_text"] = real

    if "end_to_end" not in sections:
        return finish(results)
    # 4: end to end
    with tempfile.TemporaryDirectory(prefix="bench-tokenize-") as tmp:
        tmpd = Path(tmp)
        sample_in = tmpd / "sample.jsonl"
        with sample_in.open("w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        sample_bytes = sum(len(r["text"].encode("utf-8")) for r in recs)
        conf = tmpd / "tok.yaml"
        conf.write_text("tokenize:\n  vocab_size: 8192\n")
        print("end to end on the sample ...", flush=True)
        results["end_to_end_sample"] = run_stage(sample_in, tmpd / "out-sample", sample_bytes, conf)

        target = 10_000_000 if quick else 110_000_000
        big_in = tmpd / "generated.jsonl"
        big_bytes = generate_corpus(big_in, target)
        conf_big = tmpd / "tok-big.yaml"
        conf_big.write_text("tokenize:\n  vocab_size: 8192\n  sample_fraction: 0.05\n")
        print(f"end to end on a generated {mb(big_bytes):.0f} MB corpus ...", flush=True)
        results["end_to_end_generated"] = {
            **run_stage(big_in, tmpd / "out-big", big_bytes, conf_big),
            "tokenizer_sample_fraction": 0.05,
        }

    return finish(results)


def finish(results: dict) -> int:
    """Write the results (sections not re-measured kept from the file) and print them."""
    path = RESULTS / "tokenize.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    merged = {**previous, **results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    results = merged
    if "real_text" in results:
        r = results["real_text"]
        tp = r["throughput"]
        print(
            f"real text {tp['text_mb']} MB ({r['mb_by_lang']}): encode_batch_fast "
            f"{tp['plain_encode_batch_fast_mb_s']} MB/s, pipeline {tp['beam_pipeline_mb_s']} MB/s "
            f"= {tp['pipeline_vs_encode_batch_fast']:.0%} (goal >= 80 %)"
        )
    if "throughput" not in results:
        return 0
    tp = results["throughput"]
    print(
        f"\ntokenize throughput on {tp['text_mb']} MB ({tp['docs']} docs):\n"
        f"  plain encode_batch loop   {tp['plain_encode_batch_mb_s']:8.3f} MB/s\n"
        f"  plain encode_batch_fast   {tp['plain_encode_batch_fast_mb_s']:8.3f} MB/s\n"
        f"  TokenizeFn.process direct {tp['tokenize_fn_direct_mb_s']:8.3f} MB/s ({tp['dofn_vs_encode_batch']:.0%})\n"
        f"  inside a Beam pipeline    {tp['beam_pipeline_mb_s']:8.3f} MB/s ({tp['pipeline_vs_encode_batch']:.0%} "
        f"of encode_batch, {tp['pipeline_vs_encode_batch_fast']:.0%} of encode_batch_fast; goal >= 80%)\n"
        f"  ... minus the {tp['beam_read_only_pipeline_s']}s of a read-only pipeline (start-up + JSONL): "
        f"{tp['beam_pipeline_steady_mb_s']:.3f} MB/s ({tp['pipeline_steady_vs_encode_batch']:.0%})"
    )
    g = results.get("long_text_guard", {"chars": 0, "whole_s": None, "split_s": None})
    print(f"long text ({g['chars']:,} chars, no spaces): whole {g['whole_s']}s, split {g['split_s']}s")
    for key in ("end_to_end_sample", "end_to_end_generated"):
        if key not in results:
            continue
        r = results[key]
        print(
            f"{key}: {r['text_mb']} MB, {r['docs']:,} docs, {r['tokens']:,} tokens, {r['shards']} shards: "
            f"{r['wall_s']}s = {r['mb_per_s']} MB/s, peak RSS {r['peak_rss_mb']} MB"
        )
    print(f"results in {RESULTS / 'tokenize.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Pipeline-side hostile cases: bad inputs, wrong settings, concurrency and leftovers.

Most cases call the readers or a pure function on a few small files (fast); CLI cases whose
error comes before Beam starts run ``main()`` in process; the few that need a whole run
(``slow=True``) start the real CLI in a subprocess. ``CASES`` lists them all.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gzip
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import inputs as mk
from .cases import Case, Expected, Observed

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "raw" / "jsonl"
TOKENIZE_CONFIG = "tokenize:\n  vocab_size: 600\n  validation_fraction: 0.1\n  target_shard_tokens: 30000\n"
E2E_TIMEOUT = 240
Files = dict[str, Callable[[], bytes]]


# -- helpers -------------------------------------------------------------------------------------
def write_files(d: Path, files: Files) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, build in files.items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build())


def read_files(
    d: Path, names: list[str], cfg: dict[str, Any], check: Callable[[dict], bool] | None
) -> Observed:
    """Every file through ``FileReader``: documents (that pass ``check``) and quarantine reasons."""
    from pipelines.io.config import ReadConfig
    from pipelines.io.file_reader import FileReader

    reader = FileReader(ReadConfig(**cfg))
    obs = Observed(docs=0)
    for name in names:
        for item in reader.read(str(d / name)):
            if "text" not in item:
                obs.reasons.append(item["reason"])
                obs.output = item["error"]
            elif check is None or check(item):
                obs.docs = (obs.docs or 0) + 1
            else:
                obs.violations.append(
                    f"{name}: a document came out with the wrong text {item['text'][:40]!r}"
                )
    return obs


def reader_case(
    name: str,
    files: Files,
    expected: Expected,
    description: str,
    cfg: dict[str, Any] | None = None,
    check: Callable[[dict], bool] | None = None,
    error: str | None = None,
) -> Case:
    """A case that writes ``files`` and reads them; ``error``: a regex the last quarantine error must match."""

    def make(d: Path) -> None:
        write_files(d, files)

    def run(d: Path) -> Observed:
        make(d)
        obs = read_files(d, sorted(files), cfg or {}, check)
        if error is not None and obs.reasons and not _search(error, obs.output):
            obs.note = f"error text does not say /{error}/: {obs.output[:80]!r}"
            obs.reasons = [*obs.reasons, "(unclear message)"]
        return obs

    return Case(name, "read", expected, run, description, make=make)


def _search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


@contextlib.contextmanager
def captured() -> Any:
    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
        yield out


def call_main(main: Callable[[list[str]], int | None], argv: list[str]) -> Observed:
    """A CLI ``main`` in process: its exit code and everything it printed."""
    with captured() as out:
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (1 if exc.code else 0)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
    return Observed(exit_code=int(rc or 0), output=out.getvalue())


def cli(stage: str) -> Callable[[list[str]], int]:
    """The ``main(argv)`` of ``python -m pipelines.<stage>``."""
    if stage == "prepare":
        from pipelines.prepare import run

        return run
    module = __import__(f"pipelines.{stage}.__main__", fromlist=["main"])
    return module.main


def run_cli(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m pipelines...`` in a subprocess (a whole Beam run)."""
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=E2E_TIMEOUT,
    )


def observed_run(result: subprocess.CompletedProcess) -> Observed:
    return Observed(exit_code=result.returncode, output=result.stderr + result.stdout)


@functools.cache
def sample_texts(name: str = "kjv-new-testament.jsonl.gz", n: int = 200) -> tuple[str, ...]:
    """Real, distinct texts from the bundled sample (they pass the clean rules and dedup)."""
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
        return tuple(json.loads(line)["text"] for _, line in zip(range(n), f, strict=False))


def sample_jsonl(
    start: int, n: int, ids: Callable[[int], str] | None = None, name: str = "kjv-new-testament.jsonl.gz"
) -> bytes:
    texts = sample_texts(name, start + n)[start : start + n]
    return mk.jsonl(
        [{"id": ids(i) if ids else f"{name}-{start + i}", "text": t} for i, t in enumerate(texts)]
    )


def stats_of(out: Path) -> dict:
    path = out / "stats.json"
    return json.loads(path.read_text()) if path.exists() else {}


def reasons_of(counts: dict, buckets: tuple[str, ...] = ("quarantined", "dropped")) -> list[str]:
    return [r for b in buckets for r, n in counts.get(b, {}).items() for _ in range(n)]


def verify_violation(out: Path) -> list[str]:
    from pipelines.dataset import verify

    obs = call_main(verify.main, [str(out)])
    return [] if obs.exit_code == 0 else [f"verify fails: {obs.output.strip().splitlines()[-1][:160]}"]


# -- reader cases ----------------------------------------------------------------------------------
def reader_cases() -> list[Case]:
    q = functools.partial(Expected, "quarantine")
    ok = functools.partial(Expected, "ok")
    trunc_gz, trunc_zst = mk.gzip_truncated(), mk.zstd_truncated(0.5)
    return [
        reader_case("lone_surrogate_text", {"a.jsonl": mk.lone_surrogate_jsonl}, q(docs=2, reasons=("lone_surrogate",)),
                    "a \\ud800 escape in a JSON string: one record quarantined, not a crashed run", error="surrogate"),
        reader_case("lone_surrogate_id", {"a.jsonl": mk.lone_surrogate_id_jsonl}, q(docs=1, reasons=("lone_surrogate",)),
                    "a lone surrogate in a document id (ids are hashed as UTF-8)"),
        reader_case("json_100k_deep_array", {"a.jsonl": mk.deep_json_jsonl}, q(docs=2, reasons=("json_too_deep",)),
                    "a 100k-deep JSON array: that line quarantined, the record after it still read"),
        reader_case("gzip_trailing_garbage", {"a.jsonl.gz": mk.gzip_trailing_garbage}, q(docs=10, reasons=("corrupt_file",)),
                    "garbage after an intact gzip member: all 10 records of the member kept", error="garbage"),
        reader_case("gz_name_plain_content", {"a.jsonl.gz": lambda: mk.jsonl([{"text": "plain"}])}, q(docs=0, reasons=("corrupt_file",)),
                    "a plain file named .gz: says it is not gzip", error="not a gzip file"),
        reader_case("gzip_multi_member_zero_padding", {"a.jsonl.gz": mk.gzip_multi_member}, ok(docs=20, reasons=()),
                    "two gzip members and zero padding: 20 records, nothing quarantined"),
        reader_case("gzip_truncated", {"a.jsonl.gz": lambda: trunc_gz}, q(docs=mk.complete_lines_gzip(trunc_gz), reasons=("truncated_file",)),
                    "a gzip file cut in half: every complete record kept, one truncated_file", error="EOFError"),
        reader_case("zstd_truncated_tiny", {"a.jsonl.zst": lambda: mk.zstd_truncated(0.001)}, q(docs=0, reasons=("truncated_file",)),
                    "a .zst cut inside its first block: truncated_file, not empty_file"),
        reader_case("zstd_truncated_half", {"a.jsonl.zst": lambda: trunc_zst}, q(docs=mk.complete_lines_zstd(trunc_zst), reasons=("truncated_file",)),
                    "a .zst cut in half: complete records kept, one truncated_file"),
        reader_case("utf16_jsonl_with_bom", {"a.jsonl": mk.utf16_jsonl}, ok(docs=3, reasons=()),
                    "a UTF-16 .jsonl (BOM): decoded, 3 records, no invalid_utf8/bad_json noise",
                    check=lambda d: "中" in d["text"]),
        reader_case("utf16le_jsonl_without_bom", {"a.jsonl": lambda: mk.utf16_jsonl(bom=False)}, ok(docs=3, reasons=()),
                    "UTF-16LE without BOM (NUL in every other byte): decoded", check=lambda d: "é" in d["text"]),
        reader_case("json_array_file", {"a.json": lambda: json.dumps([*mk.good_records(4), {"body": "x"}], indent=2).encode()},
                    q(docs=4, reasons=("missing_text",)),
                    "a pretty-printed .json array of records (not JSONL): its records read, not one bad_json per line"),
        reader_case("jsonl_starting_with_an_array_record", {"a.jsonl": lambda: b"[1, 2]\n" + mk.jsonl(mk.good_records(2))},
                    q(docs=2, reasons=("wrong_type",)), "JSONL whose first record is an array: still read line by line"),
        reader_case("utf8_bom_jsonl", {"a.jsonl": mk.utf8_bom_jsonl}, ok(docs=3, reasons=()),
                    "a UTF-8 BOM before the first record: that record is not lost as bad_json"),
        reader_case("parquet_one_corrupt_row_group", {"a.parquet": mk.parquet_one_bad_row_group}, q(docs=180, reasons=("corrupt_row_group",)),
                    "one damaged row group of ten: its 20 rows one record, the other 180 read", error="row group"),
        reader_case("parquet_gz", {"a.parquet.gz": mk.parquet_gz}, q(docs=0, reasons=("unsupported_format",)),
                    "compressed Parquet: says so, not 'missing Parquet magic'", error="compressed Parquet"),
        reader_case("parquet_cut", {"b.parquet": mk.parquet_cut}, q(docs=0, reasons=("corrupt_file",)),
                    "a Parquet file cut short (no footer)"),
        reader_case("parquet_document_rule_breakers", {"d.parquet": mk.document_parquet_rule_breakers},
                    q(docs=2, reasons=("too_large", "wrong_type", "wrong_type", "wrong_type")),
                    "document Parquet rows with a big text, bad meta, no source, NaN score", cfg={"max_doc_bytes": 50}),
        reader_case("html_gbk_meta_charset", {"p.html": mk.gbk_html}, ok(docs=1, reasons=()),
                    "GBK HTML declaring <meta charset=gb2312>: decoded, not invalid_utf8",
                    check=lambda d: "中文内容" in d["text"] and d["meta"].get("charset") == "gb2312"),
        reader_case("html_unknown_charset", {"p.html": lambda: mk.gbk_html("x-mystery-8")}, q(docs=0, reasons=("unsupported_charset",)),
                    "a declared charset with no decoder: says which", error="x-mystery-8"),
        reader_case("warc_gbk_http_header", {"a.warc.gz": mk.warc_gbk}, ok(docs=1, reasons=()),
                    "a WARC response with Content-Type charset=gb2312", check=lambda d: "中文内容" in d["text"]),
        reader_case("warc_truncated_record", {"a.warc": lambda: mk.warc_truncated(gz=False)}, q(docs=1, reasons=("truncated_record",)),
                    "an uncompressed WARC whose last record is shorter than its Content-Length", error="Content-Length"),
        reader_case("warc_gz_truncated_member", {"a.warc.gz": lambda: mk.warc_truncated(gz=True)}, q(docs=1, reasons=("truncated_file",)),
                    "a .warc.gz whose last record's gzip member is cut: not silently dropped"),
        # the malformed inputs of tests/test_readers.py
        reader_case("broken_json_line", {"a.jsonl": mk.broken_json_line}, q(docs=2, reasons=("bad_json",)), "an unterminated JSON line"),
        reader_case("invalid_utf8_line", {"a.jsonl": mk.invalid_utf8_line}, q(docs=2, reasons=("invalid_utf8",)), "Latin-1 bytes in a UTF-8 file"),
        reader_case("huge_single_line", {"a.jsonl": lambda: mk.huge_line(64 * 1024)}, q(docs=2, reasons=("line_too_long",)),
                    "a line over max_line_bytes, skipped in pieces", cfg={"max_line_bytes": 64 * 1024}),
        reader_case("empty_jsonl", {"empty.jsonl": lambda: b""}, q(docs=0, reasons=("empty_file",)), "an empty file"),
        reader_case("blank_txt", {"blank.txt": lambda: b"  \n\n"}, q(docs=0, reasons=("empty_file",)), "a text file of blank lines"),
        reader_case("wrong_field_types", {"a.jsonl": mk.wrong_types}, q(docs=1, reasons=("wrong_type", "missing_text", "wrong_type", "wrong_type")),
                    "int text, no text field, an array record, an object id"),
        reader_case("oversized_document", {"a.jsonl": lambda: mk.oversized_doc(1000)}, q(docs=1, reasons=("too_large",)),
                    "a document over max_doc_bytes", cfg={"max_doc_bytes": 1000}),
        reader_case("unknown_extension", {"x.bin": lambda: b"\x00"}, q(docs=0, reasons=("unsupported_format",)), "a file with no known extension"),
        reader_case("warc_non_text_payload", {"c.warc.gz": mk.warc_mixed}, q(docs=2, reasons=("not_text",)), "an image response among HTML ones"),
        reader_case("warc_binary_payload", {"a.warc.gz": mk.warc_binary_payload}, q(docs=2, reasons=("binary_content",)), "NUL bytes in an HTML payload"),
        reader_case("warc_garbage_after_record", {"b.warc": mk.warc_garbage_after}, q(docs=1, reasons=("corrupt_file",)), "garbage where a record should start"),
    ]  # fmt: skip


def non_utf8_file_name_case() -> Case:
    """A file whose name is not valid UTF-8 (``caf\\xe9.jsonl``): its documents and quarantine
    records must still be writable (Parquet, JSON, hashes), not crash the run."""

    def make(d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        with open(os.path.join(os.fsencode(d), b"caf\xe9.jsonl"), "wb") as f:
            f.write(mk.jsonl(mk.good_records(3)))
        with open(os.path.join(os.fsencode(d), b"bad\xff.bin"), "wb") as f:
            f.write(b"x")

    def run(d: Path) -> Observed:
        from lmcore.storage import expand_inputs
        from pipelines.dataset.versions import inputs_record
        from pipelines.io.config import ReadConfig
        from pipelines.io.documents import documents_to_parquet_bytes
        from pipelines.io.file_reader import FileReader

        make(d)
        files = expand_inputs([str(d)])
        reader = FileReader(ReadConfig())
        items = [item for f in files for item in reader.read(f.path)]
        docs = [i for i in items if "text" in i]
        obs = Observed(docs=len(docs), reasons=[i["reason"] for i in items if "text" not in i])
        documents_to_parquet_bytes(docs)
        "".join(json.dumps(i, ensure_ascii=False) for i in items).encode("utf-8")
        inputs_record(files).encode("utf-8")
        return obs

    return Case("non_utf8_file_name", "read", Expected("quarantine", docs=3, reasons=("unsupported_format",)), run,
                "file names that are not valid UTF-8: documents, quarantine records and inputs.json still written",
                make=make)  # fmt: skip


# -- input listing -----------------------------------------------------------------------------------
def listing_case(
    name: str, files: Files, patterns: Callable[[Path], list[str]], n: int, description: str
) -> Case:
    """``expand_inputs`` over ``patterns``: ``docs`` = files found (more than ``n``: read twice)."""

    def make(d: Path) -> None:
        write_files(d, files)

    def run(d: Path) -> Observed:
        from lmcore.storage import expand_inputs

        make(d)
        cwd = os.getcwd()
        os.chdir(d)
        try:
            found = expand_inputs(patterns(d))
        except FileNotFoundError as exc:
            return Observed(docs=0, output=str(exc))
        finally:
            os.chdir(cwd)
        return Observed(docs=len(found), note=", ".join(Path(f.path).name for f in found))

    return Case(name, "inputs", Expected("ok", docs=n), run, description, make=make)


def listing_cases() -> list[Case]:
    one = {"d/f.jsonl": lambda: mk.jsonl([{"text": "x"}])}
    hidden = {
        "d/_x.jsonl": lambda: mk.jsonl([{"text": "x"}]),
        "d/.x.jsonl": lambda: mk.jsonl([{"text": "y"}]),
    }
    tree = {
        **one,
        **hidden,
        "d/._tmp-run-abc/documents/part-00000-of-00001.parquet": lambda: b"PAR1",
        "d/.cache/other.jsonl": lambda: b"{}\n",
    }
    only_hidden = {"d/_SUCCESS": lambda: b"", "d/.x.jsonl": lambda: mk.jsonl([{"text": "y"}])}

    def hidden_only(d: Path) -> Observed:
        write_files(d, only_hidden)
        return call_main(cli("prepare"), [f"--input={d / 'd'}", f"--output={d / 'out'}"])

    return [
        Case("directory_of_hidden_files_only", "inputs",
             Expected("error", error=r"matches no file: only directories or hidden files", exit_code=2), hidden_only,
             "a directory holding only hidden files: an error that says why, not a silent empty run",
             make=lambda d: write_files(d, only_hidden)),
        listing_case("same_file_three_spellings", one, lambda d: ["d/f.jsonl", "d//f.jsonl", "d/../d/f.jsonl", "./d/f.jsonl"], 1,
                     "d/f.jsonl, d//f.jsonl, d/../d/f.jsonl and ./d/f.jsonl are one file, read once"),
        listing_case("hidden_files_named_explicitly", hidden, lambda d: ["d/_x.jsonl", "d/.x.jsonl"], 2,
                     "_x.jsonl and .x.jsonl named on the command line are read"),
        listing_case("directory_listing_skips_hidden", tree, lambda d: ["d"], 1,
                     "a directory: hidden files and whatever is inside hidden/staging directories are skipped"),
    ]  # fmt: skip


# -- HTML -------------------------------------------------------------------------------------------
def html_case(
    name: str,
    depth: int,
    closed: bool,
    expected: Expected,
    description: str,
    budget_s: float = 10.0,
    page: Callable[[], bytes] | None = None,
) -> Case:
    files = {"p.html": page or (lambda: mk.nested_html(depth, closed))}

    def run(d: Path) -> Observed:
        from pipelines.clean.html import HtmlTooDeep, extract_text

        write_files(d, files)
        html = (d / "p.html").read_text()
        started = time.monotonic()
        obs = Observed(docs=0)
        try:
            extract_text(html)
            obs.docs = 1
        except HtmlTooDeep as exc:
            obs.reasons.append(exc.reason)
            obs.output = str(exc)
        elapsed = time.monotonic() - started
        obs.note = f"{elapsed:.2f}s"
        if elapsed > budget_s:
            obs.violations.append(f"extraction took {elapsed:.1f}s (unbounded work per document)")
        return obs

    return Case(name, "html", expected, run, description, make=lambda d: write_files(d, files))


def html_cases() -> list[Case]:
    return [
        html_case("html_200k_unclosed_divs", 200_000, False, Expected("quarantine", docs=0, reasons=("html_too_deep",)),
                  "200k unclosed <div>: refused at once (html_too_deep), never hangs"),
        html_case("html_30k_nested_divs", 30_000, True, Expected("quarantine", docs=0, reasons=("html_too_deep",)),
                  "30k nested <div> (44 s before): refused at once"),
        html_case("html_50k_select_options", 0, True, Expected("quarantine", docs=0, reasons=("html_too_complex",)),
                  "50k <option> in a <select> (8 s in the parser, quadratic): refused at once",
                  page=lambda: ("<html><body><select>" + "<option>x" * 50_000 + "</select></body></html>").encode()),
        html_case("html_500_nested_divs", 500, True, Expected("ok", docs=1, reasons=()),
                  "500 nested <div>: deep but fine, extracted", budget_s=2.0),
    ]  # fmt: skip


# -- settings a user gets wrong (in process: they fail before Beam starts) ---------------------------
def config_case(name: str, stage: str, yaml_text: str | None, pattern: str, description: str,
                code: int = 2, input_pattern: str | None = None) -> Case:  # fmt: skip
    def make(d: Path) -> None:
        (d / "a.jsonl").write_bytes(mk.jsonl(mk.good_records(3)))
        if yaml_text is not None:
            (d / "config.yaml").write_text(yaml_text)

    def run(d: Path) -> Observed:
        make(d)
        argv = [f"--input={d / (input_pattern or 'a.jsonl')}", f"--output={d / 'out'}"]
        if yaml_text is not None:
            argv.append(f"--config={d / 'config.yaml'}")
        return call_main(cli(stage), argv)

    return Case(name, "config", Expected("error", error=pattern, exit_code=code), run, description, make=make)


def config_cases() -> list[Case]:
    return [
        config_case("glob_matches_nothing_clean", "clean", None, r"--input .*nothing-\*\.jsonl.* matches no file",
                    "clean --input with a glob that matches nothing", input_pattern="nothing-*.jsonl"),
        config_case("missing_file_prepare", "prepare", None, r"--input .*missing\.jsonl.* matches no file",
                    "prepare --input naming a file that does not exist", input_pattern="missing.jsonl"),
        config_case("missing_file_dedup", "dedup", None, r"matches no file", "dedup --input missing", input_pattern="missing.jsonl"),
        config_case("missing_file_tokenize", "tokenize", None, r"matches no file", "tokenize --input missing", input_pattern="missing.jsonl"),
        config_case("dedup_threshold_2", "dedup", "dedup: {threshold: 2}\n", r"dedup\.threshold must be in \(0, 1\]",
                    "dedup.threshold out of range"),
        config_case("tokenize_vocab_size_100", "tokenize", "tokenize: {vocab_size: 100}\n", r"tokenize\.vocab_size must be at least 259",
                    "tokenize.vocab_size below the byte alphabet (standalone tokenize)"),
        config_case("prepare_vocab_size_100", "prepare", "tokenize: {vocab_size: 100}\n", r"tokenize\.vocab_size must be at least 259",
                    "tokenize.vocab_size below the byte alphabet (prepare: was a 22-line traceback)"),
        config_case("read_text_mode_paragraphs", "clean", "read: {text_mode: paragraphs}\n", r"read\.text_mode must be 'document' or 'paragraph', not 'paragraphs'",
                    "read.text_mode misspelt: refused, not silently ignored"),
        config_case("read_chunk_docs_zero", "clean", "read: {chunk_docs: 0}\n", r"read\.chunk_docs must be a positive integer",
                    "read.chunk_docs: 0"),
        config_case("tokenize_compression_unknown", "tokenize", "tokenize: {compression: gzip}\n", r"tokenize\.compression must be null, 'zstd' or 'lz4'",
                    "tokenize.compression: gzip"),
        config_case("unknown_config_key", "clean", "clean: {languagse: [en]}\n", r"unknown key\(s\) \['languagse'\]", "a typo in a key"),
    ]  # fmt: skip


# -- concurrency, leftovers, commits -----------------------------------------------------------------
def lock_case(stage: str) -> Case:
    def run(d: Path) -> Observed:
        from pipelines.dataset.lock import DatasetLock

        (d / "a.jsonl").write_bytes(mk.jsonl(mk.good_records(3)))
        out = d / "out"
        with DatasetLock(str(out)):
            return call_main(cli(stage), [f"--input={d / 'a.jsonl'}", f"--output={out}"])

    return Case(f"second_run_refused_{stage}", "lock", Expected("refusal", error=r"being written by another run", exit_code=3),
                run, f"a second {stage} on an output another live run holds: refused (exit 3)")  # fmt: skip


def tokenize_on_prepare_dataset() -> Case:
    def run(d: Path) -> Observed:
        (d / "a.jsonl").write_bytes(mk.jsonl(mk.good_records(3)))
        out = d / "out"
        out.mkdir()
        (out / "manifest-v00001.json").write_text("{}")
        return call_main(cli("tokenize"), [f"--input={d / 'a.jsonl'}", f"--output={out}"])

    return Case("tokenize_over_prepare_dataset_refused", "lock",
                Expected("refusal", error=r"versioned dataset written by prepare", exit_code=2), run,
                "standalone tokenize into a prepare dataset would replace its latest version: refused")  # fmt: skip


def stale_temporaries_case() -> Case:
    files = {
        "out/shards/._tmp-0123456789ab-train-00000-of-00001.arrow": lambda: b"partial",
        "out/._tmp-run-abc/documents/part-00000-of-00001.parquet": lambda: b"partial",
        "out/._tmp-old-1234-documents/part-00000-of-00001.parquet": lambda: b"old",
        "out/shards/train-00000-of-00001.arrow": lambda: b"kept",
        "out/runs/checkpoints/._tmp-0123-step-1.pt": lambda: b"a live training run's file, not ours",
    }
    ours_kept = ("shards/train-00000-of-00001.arrow", "runs/checkpoints/._tmp-0123-step-1.pt")

    def run(d: Path) -> Observed:
        from lmcore.storage import remove_stale_temporaries
        from pipelines.dataset.commit import OWN_DIRS

        write_files(d, files)
        removed = remove_stale_temporaries(str(d / "out"), OWN_DIRS)  # what a standalone stage does
        left = [str(p.relative_to(d)) for p in (d / "out").rglob("._tmp-*") if "checkpoints" not in p.parts]
        obs = Observed(docs=sum((d / "out" / rel).exists() for rel in ours_kept), note=f"{removed} removed")
        obs.violations += [f"left behind: {p}" for p in left]
        return obs

    return Case("stale_temporaries_removed", "leftovers", Expected("ok", docs=2), run,
                "._tmp-* files and staging directories of a killed run are removed by the next run; "
                "files outside the stage's own directories are left alone",
                make=lambda d: write_files(d, files))  # fmt: skip


def relative_tokenizer_path_case() -> Case:
    def run(d: Path) -> Observed:
        from pipelines.config import PipelineConfig
        from pipelines.tokenize.transform import recorded_config

        config = PipelineConfig()
        out = str(d / "dataset")
        config.tokenize.tokenizer_path = f"{out}/tokenizer.json"  # what prepare sets from version 2 on
        recorded = recorded_config(config, out)["tokenize"]["tokenizer_path"]
        obs = Observed(docs=1, note=recorded)
        if recorded != "tokenizer.json":
            obs.violations.append(f"manifest records {recorded!r}, not a path relative to the dataset")
        return obs

    return Case("manifest_tokenizer_path_relative", "manifest", Expected("ok", docs=1), run,
                "manifests from version 2 on record tokenizer_path relative to the dataset")  # fmt: skip


def disk_full_prepare_case() -> Case:
    """A full disk while prepare writes a token shard: one line naming the shard, exit 5."""

    def run(d: Path) -> Observed:
        import fsspec.implementations.local as local

        (d / "a.jsonl").write_bytes(sample_jsonl(0, 20))
        (d / "config.yaml").write_text(TOKENIZE_CONFIG)
        original = local.LocalFileOpener.write

        def full(self: Any, data: Any) -> int:
            if str(getattr(self, "path", "")).endswith(".arrow"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(self, data)

        local.LocalFileOpener.write = full
        try:
            argv = [f"--input={d / 'a.jsonl'}", f"--output={d / 'out'}", f"--config={d / 'config.yaml'}"]
            obs = call_main(cli("prepare"), argv)
        finally:
            local.LocalFileOpener.write = original
        if (d / "out" / "manifest.json").exists():
            obs.violations.append("a version was committed although a shard could not be written")
        return obs

    return Case("disk_full_prepare", "disk",
                Expected("error", error=r"disk full: writing .*/shards/v00001/\w+-\d+-of-\d+\.arrow needed [\d,]+ bytes", exit_code=5),
                run, "ENOSPC while prepare writes a shard: which file and how much space, nothing committed",
                slow=True)  # fmt: skip


def disk_full_case() -> Case:
    """A full disk while writing documents (the write raises ENOSPC): one line, exit 5."""

    def run(d: Path) -> Observed:
        import fsspec.implementations.local as local

        (d / "a.jsonl").write_bytes(sample_jsonl(0, 20))
        original = local.LocalFileOpener.write

        def full(self: Any, data: Any) -> int:
            if "part-" in str(getattr(self, "path", "")):
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(self, data)

        local.LocalFileOpener.write = full
        try:
            obs = call_main(cli("clean"), [f"--input={d / 'a.jsonl'}", f"--output={d / 'out'}"])
        finally:
            local.LocalFileOpener.write = original
        lines = [ln for ln in obs.output.splitlines() if ln.strip() and "apitools" not in ln]
        if len(lines) > 3:
            obs.violations.append(f"{len(lines)} lines of output for one error")
        return obs

    return Case("disk_full_clean", "disk",
                Expected("error", error=r"disk full: writing .*/out/documents/part-\d+-of-\d+\.parquet needed [\d,]+ bytes", exit_code=5),
                run, "ENOSPC while writing a document file: which file, how much space; not a 103-line traceback",
                slow=True)  # fmt: skip


# -- end to end (subprocess CLI runs) ----------------------------------------------------------------
def e2e_surrogate_clean() -> Case:
    def make(d: Path) -> None:
        (d / "in").mkdir(parents=True, exist_ok=True)
        bad = b'{"id": "bad", "text": "' + json.dumps(sample_texts()[0])[1:-1].encode() + b' \\ud800"}\n'
        (d / "in/a.jsonl").write_bytes(sample_jsonl(1, 20) + bad)

    def run(d: Path) -> Observed:
        make(d)
        obs = observed_run(run_cli(["pipelines.clean", f"--input={d / 'in'}", f"--output={d / 'out'}"]))
        counts = stats_of(d / "out").get("counts", {})
        obs.reasons = [r for r in reasons_of(counts, ("quarantined",))]
        obs.docs = counts.get("kept", 0) + sum(counts.get("dropped", {}).values())
        return obs

    return Case("e2e_clean_lone_surrogate", "e2e", Expected("quarantine", docs=20, reasons=("lone_surrogate",)), run,
                "clean over a file with one \\ud800 record: runs, 20 records accounted, 1 quarantined", slow=True, make=make)  # fmt: skip


def e2e_deep_html_clean() -> Case:
    def make(d: Path) -> None:
        write_files(d / "in", {"deep.html": lambda: mk.nested_html(200_000, closed=False),
                               "good.html": lambda: f"<html><body><p>{sample_texts()[3]}</p></body></html>".encode()})  # fmt: skip

    def run(d: Path) -> Observed:
        make(d)
        started = time.monotonic()
        obs = observed_run(run_cli(["pipelines.clean", f"--input={d / 'in'}", f"--output={d / 'out'}"]))
        counts = stats_of(d / "out").get("counts", {})
        obs.reasons = reasons_of(counts, ("dropped", "quarantined"))
        obs.docs = counts.get("kept", 0)
        obs.note = f"{time.monotonic() - started:.1f}s"
        return obs

    return Case("e2e_clean_deep_html", "e2e", Expected("quarantine", docs=1, reasons=("html_too_deep",)), run,
                "clean over 200k unclosed <div> and a good page: finishes, the page kept, the deep one dropped as html_too_deep",
                slow=True, make=make)  # fmt: skip


def _prepare(d: Path, out: Path, *inputs: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    config = d / "config.yaml"
    config.write_text(TOKENIZE_CONFIG)
    return run_cli(
        ["pipelines.prepare", *(f"--input={i}" for i in inputs), f"--output={out}", f"--config={config}"],
        cwd=cwd,
    )


def e2e_id_collision() -> Case:
    def make(d: Path) -> None:
        write_files(
            d / "in",
            {
                "a.jsonl": lambda: sample_jsonl(0, 60, ids=str),
                "b.jsonl": lambda: sample_jsonl(60, 60, ids=str),
            },
        )
        write_files(
            d / "more", {"c.jsonl": lambda: sample_jsonl(0, 30, ids=str, name="kjv-old-testament.jsonl.gz")}
        )

    def run(d: Path) -> Observed:
        make(d)
        out = d / "out"
        first = _prepare(d, out, str(d / "in"))
        obs = observed_run(first)
        if first.returncode != 0:
            return obs
        second = _prepare(d, out, str(d / "in"), str(d / "more"))  # version 2 reuses ids of version 1
        obs = observed_run(second)
        from schemas import load_manifest

        total = load_manifest(str(out)).counts
        obs.docs = total.kept + sum(total.dropped.values())
        obs.violations += verify_violation(out)
        return obs

    return Case("e2e_equal_ids_across_files_and_versions", "e2e", Expected("ok", docs=150), run,
                "two files numbering their records 0..59, then a version 2 file reusing 0..29: all 150 kept "
                "(none merged as duplicates), verify passes", slow=True, make=make)  # fmt: skip


def e2e_same_file_spellings() -> Case:
    def make(d: Path) -> None:
        write_files(d / "d", {"f.jsonl": lambda: sample_jsonl(0, 20)})

    def run(d: Path) -> Observed:
        make(d)
        out = d / "out"
        first = _prepare(d, out, "d/f.jsonl", "d//f.jsonl", "d/../d/f.jsonl", cwd=d)
        obs = observed_run(first)
        obs.docs = stats_of(out).get("counts", {}).get("input")
        again = _prepare(d, out, "./d/f.jsonl", cwd=d)
        if (out / "manifest-v00002.json").exists():
            obs.violations.append("./d/f.jsonl in a later run was ingested again as version 2")
        if again.returncode != 0 or "nothing new" not in again.stderr:
            obs.violations.append(
                f"second run: exit {again.returncode}, {again.stderr.strip().splitlines()[-1:]}"
            )
        return obs

    return Case("e2e_one_file_three_spellings", "e2e", Expected("ok", docs=20), run,
                "prepare --input d/f.jsonl d//f.jsonl d/../d/f.jsonl reads 20 records once; ./d/f.jsonl later is nothing new",
                slow=True, make=make)  # fmt: skip


def e2e_killed_tokenize() -> Case:
    def make(d: Path) -> None:
        write_files(d / "in", {"docs.jsonl": lambda: sample_jsonl(0, 150)})

    def run(d: Path) -> Observed:
        make(d)
        out, config = d / "out", d / "config.yaml"
        config.write_text(TOKENIZE_CONFIG)
        base = ["pipelines.tokenize", f"--input={d / 'in'}", f"--output={out}", f"--config={config}"]
        first = run_cli(base)
        if first.returncode != 0:
            return observed_run(first)
        config.write_text(TOKENIZE_CONFIG.replace("600", "700").replace("0.1", "0.3"))
        killed = run_cli(base, env={"LMFORGE_CRASH_AT": "shards"})
        obs = Observed(exit_code=0, note=f"killed run exit {killed.returncode}")
        obs.violations += verify_violation(out)
        from schemas import load_manifest

        obs.docs = load_manifest(str(out)).counts.kept
        rerun = run_cli(base)
        if rerun.returncode != 0:
            obs.violations.append(f"the next run fails: {rerun.stderr.strip().splitlines()[-1:]}")
        left = [str(p.relative_to(out)) for p in out.rglob("._tmp-*")] + [
            str(p.relative_to(out)) for p in out.glob(".lmforge-next")
        ]
        obs.violations += [f"left behind after the next run: {p}" for p in left]
        obs.violations += verify_violation(out)
        return obs

    return Case("e2e_killed_tokenize_keeps_old_dataset", "e2e", Expected("ok", docs=150), run,
                "kill -9 a standalone tokenize over an existing dataset while it writes shards: the old dataset "
                "still verifies; the next run finishes and leaves no temporaries", slow=True, make=make)  # fmt: skip


def e2e_hidden_named_file() -> Case:
    def make(d: Path) -> None:
        write_files(d, {"_x.jsonl": lambda: sample_jsonl(0, 20)})

    def run(d: Path) -> Observed:
        make(d)
        result = _prepare(d, d / "out", str(d / "_x.jsonl"))
        obs = observed_run(result)
        obs.docs = stats_of(d / "out").get("counts", {}).get("input", 0)
        return obs

    return Case("e2e_hidden_file_named_explicitly", "e2e", Expected("ok", docs=20), run,
                "prepare --input=_x.jsonl reads it (was: input 0, exit 0, no warning)", slow=True, make=make)  # fmt: skip


# -- all ----------------------------------------------------------------------------------------------
def all_cases() -> list[Case]:
    return [
        *reader_cases(),
        non_utf8_file_name_case(),
        *listing_cases(),
        *html_cases(),
        *config_cases(),
        *(lock_case(stage) for stage in ("clean", "dedup", "tokenize", "prepare")),
        tokenize_on_prepare_dataset(),
        stale_temporaries_case(),
        relative_tokenizer_path_case(),
        disk_full_case(),
        disk_full_prepare_case(),
        e2e_surrogate_clean(),
        e2e_deep_html_clean(),
        e2e_id_collision(),
        e2e_same_file_spellings(),
        e2e_killed_tokenize(),
        e2e_hidden_named_file(),
    ]


CASES: list[Case] = all_cases()

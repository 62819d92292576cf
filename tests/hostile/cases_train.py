"""Trainer-side hostile cases (lm_train, schemas): a list of ``Case`` objects in ``CASES``.

``tests/hostile/test_hostile.py`` and ``bench/bench_hostile.py`` run them with the pipeline
cases. Each case copies a small real dataset (byte-level BPE, English and Chinese) or a
two-step run of it into its own directory, breaks one thing, and calls the command in
process (``lm_train.train.main``, ``generate.main``, ``report.main``, ``pipelines.verify.main``)
with stdout and stderr captured. Only the forged index cache runs in a subprocess: if the
loader ever trusted it again, the batch kernel would read outside the shard and kill the
process, which must not take the test runner with it.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .cases import Case, Expected, Observed

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "seq_len=32",
    "batch_size=4",
    "n_layer=1",
    "n_head=2",
    "d_model=32",
    "warmup_steps=1",
    "eval_steps=1",
    "eval_every=0",
    "log_every=1",
    "peak_flops=1e11",
    "tensorboard=false",
    "max_steps=2",
]


# -- shared inputs, built once per process ------------------------------------------------------
@functools.cache
def _scratch() -> Path:
    path = Path(tempfile.mkdtemp(prefix="lmforge-hostile-train-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def _base_dataset() -> Path:
    from lm_train.testing import sample_texts, write_text_dataset

    return write_text_dataset(
        _scratch() / "ds", sample_texts(n_en=16, n_zh=16, max_chars=600), vocab_size=300
    )


@functools.cache
def _base_run() -> Path:
    """A finished two-step run of the base dataset (checkpoint, run.json, tokenizer.json)."""
    import torch

    from lm_train.train import main

    torch.set_num_threads(1)
    run = _scratch() / "run"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["--data", str(_base_dataset()), "--out", str(run), *TINY])
    if rc != 0:
        raise RuntimeError(f"the base run of the hostile cases failed (exit {rc})")
    return run


def _dataset(tmp: Path) -> Path:
    copy = tmp / "ds"
    shutil.copytree(_base_dataset(), copy, ignore=shutil.ignore_patterns(".lmforge-index"))
    return copy


def _run_copy(tmp: Path) -> Path:
    copy = tmp / "run"
    shutil.copytree(_base_run(), copy)
    return copy


def _checkpoint(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step-*.pt"))[-1]


def _rewrite_manifest(ds: Path, edit: Callable[[dict], None], refingerprint: bool = True) -> None:
    """Edit manifest.json; with ``refingerprint`` the recorded fingerprint is recomputed (a
    careful forger), else it is left as it was (fields outside the fingerprint)."""
    from schemas import Manifest

    path = ds / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    if refingerprint:
        data.pop("fingerprint", None)
        data["fingerprint"] = Manifest.from_dict(data).fingerprint
    path.write_text(json.dumps(data))


def _sha(path: Path) -> str:
    from schemas import sha256_file

    return sha256_file(str(path))


# -- running a command in process -------------------------------------------------------------------
def _call(fn: Callable[[Sequence[str]], int], argv: Sequence[str]) -> Observed:
    """Exit status and output of a command's ``main``; an exception escapes (a crash for ``run_case``)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = fn(list(argv))
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 1
    return Observed(exit_code=rc, output=out.getvalue() + err.getvalue())


def _train(*argv: str) -> Observed:
    from lm_train.train import main

    return _call(main, [*TINY, *argv])  # the case's own settings win over TINY


def _train_on(ds: Path, tmp: Path, *extra: str) -> Observed:
    return _train("--data", str(ds), "--out", str(tmp / "out"), *extra)


def _generate(run: Path) -> Observed:
    from lm_train.generate import main

    return _call(main, ["--checkpoint", str(run), "--prompt", "And", "--max-new-tokens", "3"])


def _resume(run: Path) -> Observed:
    return _train("--data", str(_base_dataset()), "--out", str(run), "--resume", "auto", "max_steps=3")


def _with_reason(observed: Observed, reason: str, present: bool) -> Observed:
    """``reason`` in ``observed.reasons`` when the product said so (an ``ok`` case's evidence)."""
    if present:
        observed.reasons.append(reason)
    return observed


# -- security: the index cache -------------------------------------------------------------------------
def _forge_index(ds: Path, start: int, length: int) -> None:
    """Point every piece of every cached index at ``start`` for ``length`` tokens, and forge the
    checksum too, so that only the bounds checks stand between the numbers and the kernel."""
    import numpy as np

    from lm_train.data import index

    for meta_path in (ds / ".lmforge-index").glob("*/meta.json"):
        d = meta_path.parent
        arrays = {name: np.load(d / f"{name}.npy") for name in index._ARRAYS}
        arrays["piece_start"][:] = start
        arrays["piece_len"][:] = length
        for name in ("piece_start", "piece_len"):
            np.save(d / f"{name}.npy", arrays[name])
        if hasattr(index, "index_checksum"):  # (a cache without one, as lmforge wrote before, needs none)
            meta = json.loads(meta_path.read_text())
            settings = _settings_of(ds, d.name)
            meta["checksum"] = index.index_checksum(settings, arrays, meta["group_names"], meta["stats"])
            meta_path.write_text(json.dumps(meta))


def _settings_of(ds: Path, key: str) -> bytes:
    """The settings blob whose key is ``key`` (the forger knows the loader's code)."""
    from lm_train.data import index
    from schemas import load_manifest

    fp = load_manifest(str(ds)).fingerprint
    for split in ("train", "validation"):
        for packing in ("concat", "best_fit"):
            spec = (fp, split, 32, packing, "source", ["ds"])
            if index.index_key(*spec) == key:
                return index.index_settings(*spec)
    return b""


def run_forged_index_cache(tmp: Path) -> Observed:
    ds = _dataset(tmp)
    first = _train_on(ds, tmp / "a")
    if first.exit_code != 0:
        return first
    _forge_index(ds, 2**40, 10**6)
    argv = [sys.executable, "-m", "lm_train.train", "--data", str(ds), "--out", str(tmp / "b"), *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    observed = Observed(
        exit_code=proc.returncode, output=proc.stdout + proc.stderr, crashed=proc.returncode < 0
    )
    return _with_reason(observed, "index_cache_refused", "refused (piece" in proc.stderr)


def run_damaged_index_cache(tmp: Path) -> Observed:
    """Flipped bytes in a cached array (checksum left as it was): refused and rebuilt, in process."""
    from lm_train.data import LoaderConfig, PackedLoader

    ds = _dataset(tmp)
    cfg = LoaderConfig(seq_len=32, global_batch_size=4)
    PackedLoader(str(ds), "train", cfg)
    target = next((ds / ".lmforge-index").glob("*/piece_start.npy"))
    data = bytearray(target.read_bytes())
    data[-3] ^= 0x40
    data[-11] ^= 0x01
    target.write_bytes(bytes(data))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        loader = PackedLoader(str(ds), "train", cfg)
        loader.batch_at(0)
    observed = Observed(exit_code=0, output=out.getvalue() + err.getvalue())
    refused = bool(getattr(loader, "index_refused", None)) and "checksum" in err.getvalue()
    return _with_reason(observed, "index_cache_refused", refused)


# -- security: symlinks out of the dataset ---------------------------------------------------------------
def _outside(tmp: Path, source: Path) -> Path:
    """A copy of ``source`` outside the dataset directory."""
    target = tmp / "elsewhere" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target


def _symlink_shard(tmp: Path) -> Path:
    ds = _dataset(tmp)
    shard = sorted((ds / "shards").glob("train-*.arrow"))[0]
    outside = _outside(tmp, shard)
    shard.unlink()
    shard.symlink_to(outside)
    return ds


def _symlink_shards_dir(tmp: Path) -> Path:
    ds = _dataset(tmp)
    shutil.move(str(ds / "shards"), str(tmp / "elsewhere-shards"))
    (ds / "shards").symlink_to(tmp / "elsewhere-shards")
    return ds


def run_train_symlinked_shard(tmp: Path) -> Observed:
    return _train_on(_symlink_shard(tmp), tmp)


def run_train_symlinked_shards_dir(tmp: Path) -> Observed:
    return _train_on(_symlink_shards_dir(tmp), tmp)


def run_verify_symlinked_shard(tmp: Path) -> Observed:
    from pipelines.dataset.verify import main

    return _call(main, [str(_symlink_shard(tmp))])


def run_train_symlinked_tokenizer(tmp: Path) -> Observed:
    ds = _dataset(tmp)
    outside = _outside(tmp, ds / "tokenizer.json")
    (ds / "tokenizer.json").unlink()
    (ds / "tokenizer.json").symlink_to(outside)
    return _train_on(ds, tmp)


# -- security: the tokenizer file -----------------------------------------------------------------------
def run_train_swapped_tokenizer(tmp: Path) -> Observed:
    from lm_train.testing import train_tokenizer

    ds = _dataset(tmp)
    train_tokenizer(["completely different text", "another corpus"], 300).save(str(ds / "tokenizer.json"))
    return _train_on(ds, tmp)


def run_train_garbage_tokenizer(tmp: Path) -> Observed:
    """Garbage bytes with a manifest rewritten to match them (sha256 and fingerprint)."""
    ds = _dataset(tmp)
    (ds / "tokenizer.json").write_bytes(b"\x00\xffnot a tokenizer")
    sha = _sha(ds / "tokenizer.json")
    _rewrite_manifest(ds, lambda d: d["tokenizer"].update(sha256=sha))
    return _train_on(ds, tmp)


def run_generate_swapped_tokenizer(tmp: Path) -> Observed:
    from lm_train.testing import train_tokenizer

    run = _run_copy(tmp)
    train_tokenizer(["a much larger vocabulary " * 50, "of other words"], 2000).save(
        str(run / "tokenizer.json")
    )
    return _generate(run)


# -- security: token ids and what a manifest claims --------------------------------------------------------
def run_train_ids_beyond_vocab(tmp: Path) -> Observed:
    """A shard rewritten with an id >= vocab_size, its sha256 and the fingerprint updated to match."""
    import numpy as np

    from schemas import build_token_shard_table, open_token_shard, token_shard_to_bytes

    ds = _dataset(tmp)
    rel = "shards/train-00000-of-00002.arrow"
    shard = open_token_shard(str(ds / rel))
    table = shard.table
    docs = [shard.document(i).astype(np.int64) for i in range(shard.num_docs)]
    docs[0] = docs[0].copy()
    docs[0][0] = 60000  # the vocabulary has 300 ids; uint16 holds it
    cols = [table.column(c).to_pylist() for c in ("doc_id", "source", "lang", "num_bytes")]
    (ds / rel).write_bytes(token_shard_to_bytes(build_token_shard_table(*cols, docs, "uint16", "train")))
    sha = _sha(ds / rel)
    _rewrite_manifest(ds, lambda d: next(s for s in d["shards"] if s["path"] == rel).update(sha256=sha))
    return _train_on(ds, tmp)


def run_train_huge_vocab(tmp: Path) -> Observed:
    ds = _dataset(tmp)
    _rewrite_manifest(ds, lambda d: d["tokenizer"].update(vocab_size=10**12), refingerprint=False)
    return _train_on(ds, tmp)


def run_train_vocab_not_the_tokenizers(tmp: Path) -> Observed:
    ds = _dataset(tmp)
    _rewrite_manifest(ds, lambda d: d["tokenizer"].update(vocab_size=2**31), refingerprint=False)
    return _train_on(ds, tmp)


def run_train_tokens_beyond_file(tmp: Path) -> Observed:
    ds = _dataset(tmp)

    def edit(data: dict) -> None:
        next(s for s in data["shards"] if s["split"] == "train").update(num_tokens=10**9)

    _rewrite_manifest(ds, edit, refingerprint=False)
    return _train_on(ds, tmp)


# -- settings and files a user gets wrong -------------------------------------------------------------------
def run_yaml_lr_without_dot(tmp: Path) -> Observed:
    config = tmp / "c.yaml"
    config.write_text("lr: 1e-3\nmax_steps: 1e3\n")
    from lm_train.train import main

    observed = _call(main, ["--config", str(config), "--print-config"])
    observed.docs = int("lr: 0.001" in observed.output and "max_steps: 1000" in observed.output)
    return observed


def run_train_cuda_without_cuda(tmp: Path) -> Observed:
    import torch

    original = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        return _train_on(_base_dataset(), tmp, "device=cuda")
    finally:
        torch.cuda.is_available = original


def run_override_without_equals(tmp: Path) -> Observed:
    return _train("--data", str(_base_dataset()), "--out", str(tmp / "out"), "lr")


def run_override_bad_yaml(tmp: Path) -> Observed:
    return _train("--data", str(_base_dataset()), "--out", str(tmp / "out"), "lr=[1")


def run_data_is_a_file(tmp: Path) -> Observed:
    (tmp / "notes.txt").write_text("hello")
    return _train("--data", str(tmp / "notes.txt"), "--out", str(tmp / "out"))


def run_data_not_a_dataset(tmp: Path) -> Observed:
    (tmp / "empty").mkdir()
    return _train("--data", str(tmp / "empty"), "--out", str(tmp / "out"))


def run_out_is_a_file(tmp: Path) -> Observed:
    (tmp / "out").write_text("a file")
    return _train("--data", str(_base_dataset()), "--out", str(tmp / "out"))


# -- checkpoints -----------------------------------------------------------------------------------------------
def _edit_checkpoint(run: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Load, edit and save the newest checkpoint with a matching checksum file (damage the
    checksum cannot see: it was written that way)."""
    import hashlib

    import torch

    path = _checkpoint(run)
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)
    data = path.read_bytes()
    record = {"file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (path.parent / f"{path.name}.json").write_text(json.dumps(record))


def _resume_after(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Observed]:
    def run(tmp: Path) -> Observed:
        copy = _run_copy(tmp)
        _edit_checkpoint(copy, edit)
        return _resume(copy)

    return run


def _drop_tensor(state: dict[str, Any]) -> None:
    state["model"].pop(sorted(state["model"])[-1])


def _reshape_tensor(state: dict[str, Any]) -> None:
    name = next(k for k, v in state["model"].items() if v.ndim == 2)
    state["model"][name] = state["model"][name][:, :-1].clone()


def _garbage_rng(state: dict[str, Any]) -> None:
    state["rng"][0]["python"] = ["not", "an", "rng"]


def _nan_weights(state: dict[str, Any]) -> None:
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name][0] = float("nan")


def run_flipped_checkpoint_bytes(tmp: Path) -> Observed:
    run = _run_copy(tmp)
    path = _checkpoint(run)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    return _resume(run)


def run_checkpoint_disk_full(tmp: Path) -> Observed:
    """The checkpoint write fails with ENOSPC (the file object's write, as a full disk does)."""
    from fsspec.implementations.local import LocalFileOpener

    original = LocalFileOpener.write

    def full(self: Any, data: Any) -> int:
        if "step-" in str(getattr(self, "path", "")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, data)

    LocalFileOpener.write = full
    try:
        observed = _train_on(_base_dataset(), tmp)
    finally:
        LocalFileOpener.write = original
    leftovers = (
        [p.name for p in (tmp / "out" / "checkpoints").glob("*")]
        if (tmp / "out" / "checkpoints").exists()
        else []
    )
    if leftovers:
        observed.note = f"left behind: {leftovers}"
        observed.exit_code = 0  # a temporary left on a full disk is the bug this case is about
    return observed


# -- run directories ---------------------------------------------------------------------------------------------
def run_generate_broken_tokenizer(tmp: Path) -> Observed:
    run = _run_copy(tmp)
    (run / "tokenizer.json").write_text('{"model": ')
    return _generate(run)


def run_generate_broken_run_json(tmp: Path) -> Observed:
    run = _run_copy(tmp)
    (run / "run.json").write_text("{not json")
    return _generate(run)


def run_report_broken_run_json(tmp: Path) -> Observed:
    from lm_train.report import main

    run = _run_copy(tmp)
    (run / "run.json").write_text("{not json")
    return _call(main, [str(run), "--samples", "0"])


def run_report_broken_tokenizer(tmp: Path) -> Observed:
    from lm_train.report import main

    run = _run_copy(tmp)
    (run / "tokenizer.json").write_text("garbage")
    return _call(main, [str(run), "--samples", "1", "--sample-tokens", "2"])


def run_init_from_another_model(tmp: Path) -> Observed:
    """--init-from a checkpoint of another width: refused naming the tensor (was a long RuntimeError)."""
    return _train_on(_base_dataset(), tmp, "--init-from", str(_base_run()), "d_model=64")


def run_resume_broken_run_files(tmp: Path) -> Observed:
    """Resume rewrites run.json and tokenizer.json from the dataset: damage there is harmless."""
    run = _run_copy(tmp)
    (run / "run.json").write_text("{not json")
    (run / "tokenizer.json").write_text("garbage")
    observed = _resume(run)
    observed.docs = int(json.loads((run / "run.json").read_text() or "{}").get("world_size") == 1)
    return observed


def run_stale_temporaries_removed(tmp: Path) -> Observed:
    run = _run_copy(tmp)
    stale = run / "checkpoints" / "._tmp-0123456789ab-step-00000009.pt"
    stale.write_bytes(b"\0" * 4096)
    observed = _resume(run)
    return _with_reason(
        observed, "stale_temporaries_removed", not stale.exists() and "stale temporary" in observed.output
    )


def _error(pattern: str, code: int = 1) -> Expected:
    return Expected("error", error=pattern, exit_code=code)


CASES: list[Case] = [
    Case(
        "train_forged_index_cache",
        "train",
        Expected("ok", reasons=("index_cache_refused",)),
        run_forged_index_cache,
        "index cache with piece_start 2**40, piece_len 10**6 and a forged checksum: refused and rebuilt",
        slow=True,
    ),
    Case(
        "train_damaged_index_cache",
        "train",
        Expected("ok", reasons=("index_cache_refused",)),
        run_damaged_index_cache,
        "two flipped bytes in a cached index array: the checksum refuses it, the loader rebuilds",
    ),
    Case(
        "train_symlinked_shard",
        "train",
        _error(r"shard .* leads outside the dataset directory"),
        run_train_symlinked_shard,
        "a shard replaced by a symlink to a copy outside the dataset",
    ),
    Case(
        "train_symlinked_shards_dir",
        "train",
        _error(r"shard .* leads outside the dataset directory"),
        run_train_symlinked_shards_dir,
        "the shards directory replaced by a symlink outside the dataset",
    ),
    Case(
        "verify_symlinked_shard",
        "train",
        _error(r"verify: FAILED: .*leads outside the dataset directory", 2),
        run_verify_symlinked_shard,
        "pipelines.verify on a dataset whose shard is a symlink out of it",
    ),
    Case(
        "train_symlinked_tokenizer",
        "train",
        _error(r"tokenizer file .* leads outside the dataset directory"),
        run_train_symlinked_tokenizer,
        "tokenizer.json is a symlink to a file outside the dataset",
    ),
    Case(
        "train_swapped_tokenizer",
        "train",
        _error(r"is not the tokenizer that was recorded: sha256"),
        run_train_swapped_tokenizer,
        "tokenizer.json replaced by another tokenizer (the manifest's sha256 unchanged)",
    ),
    Case(
        "train_garbage_tokenizer",
        "train",
        _error(r"tokenizer 'tokenizer.json' .* is not a tokenizer file"),
        run_train_garbage_tokenizer,
        "garbage tokenizer bytes, manifest sha256 and fingerprint forged to match",
    ),
    Case(
        "generate_swapped_tokenizer",
        "train",
        _error(r"lm_train.generate: error: .*tokenizer.json is not the tokenizer that was recorded"),
        run_generate_swapped_tokenizer,
        "the run directory's tokenizer.json replaced by a larger vocabulary (was an IndexError)",
    ),
    Case(
        "train_ids_beyond_vocab",
        "train",
        _error(r"holds token id 60000, not below the manifest's vocab_size 300"),
        run_train_ids_beyond_vocab,
        "a shard (sha256 and fingerprint updated) holds an id beyond the vocabulary",
    ),
    Case(
        "train_huge_vocab",
        "train",
        _error(r"tokenizer.vocab_size' = 1000000000000 must be in \[1, 4294967296\]"),
        run_train_huge_vocab,
        "a manifest claiming 10**12 tokens of vocabulary (was an attempt to allocate terabytes)",
    ),
    Case(
        "train_vocab_not_the_tokenizers",
        "train",
        _error(r"has 300 ids, but the manifest says tokenizer.vocab_size 2,147,483,648"),
        run_train_vocab_not_the_tokenizers,
        "a manifest vocab_size (2**31, within the bound) that is not the tokenizer file's",
    ),
    Case(
        "train_tokens_beyond_file",
        "train",
        _error(r"the manifest says 1,000,000,000 uint16 tokens .* but the file has only"),
        run_train_tokens_beyond_file,
        "a shard's num_tokens larger than its file could hold",
    ),
    Case(
        "config_yaml_lr_without_dot",
        "config",
        Expected("ok", docs=1),
        run_yaml_lr_without_dot,
        "lr: 1e-3 and max_steps: 1e3 in a YAML file (PyYAML reads them as strings)",
    ),
    Case(
        "train_cuda_without_cuda",
        "config",
        _error(r"device=cuda, but this machine has no usable CUDA device"),
        run_train_cuda_without_cuda,
        "device=cuda on a machine without CUDA",
    ),
    Case(
        "train_override_without_equals",
        "config",
        _error(r"argument 'lr' is neither an option nor a key=value override", 2),
        run_override_without_equals,
        "a bare word among the overrides",
    ),
    Case(
        "train_override_bad_yaml",
        "config",
        _error(r"override 'lr=\[1': the value is not valid YAML", 2),
        run_override_bad_yaml,
        "an override whose value is not YAML",
    ),
    Case(
        "train_data_is_a_file",
        "config",
        _error(r"notes.txt is a file, not a dataset directory"),
        run_data_is_a_file,
        "--data names a file",
    ),
    Case(
        "train_data_not_a_dataset",
        "config",
        _error(r"no manifest at .*empty/manifest.json"),
        run_data_not_a_dataset,
        "--data names a directory without a manifest",
    ),
    Case(
        "train_out_is_a_file",
        "config",
        _error(r"--out .* is a file: give a directory"),
        run_out_is_a_file,
        "--out names an existing file",
    ),
    Case(
        "resume_checkpoint_missing_tensor",
        "checkpoint",
        _error(r"checkpoint .*: model tensor '.*' is missing \(1 such\)"),
        _resume_after(_drop_tensor),
        "a checkpoint without one of the model's tensors",
    ),
    Case(
        "resume_checkpoint_misshaped_tensor",
        "checkpoint",
        _error(r"checkpoint .*: model tensor '.*' has shape \[\d+, \d+\], this model needs"),
        _resume_after(_reshape_tensor),
        "a checkpoint whose tensor has the wrong shape",
    ),
    Case(
        "resume_checkpoint_missing_key",
        "checkpoint",
        _error(r"checkpoint .* has no 'optimizer' entry"),
        _resume_after(lambda s: s.pop("optimizer")),
        "a checkpoint without its optimizer state",
    ),
    Case(
        "resume_checkpoint_garbage_rng",
        "checkpoint",
        _error(r"checkpoint .*: the RNG state of rank 0 is damaged"),
        _resume_after(_garbage_rng),
        "a checkpoint whose RNG state is garbage",
    ),
    Case(
        "resume_checkpoint_nan_weights",
        "checkpoint",
        _error(r"checkpoint .*: model tensor '.*' holds NaN or infinite values"),
        _resume_after(_nan_weights),
        "NaN weights are refused on resume",
    ),
    Case(
        "resume_checkpoint_flipped_bytes",
        "checkpoint",
        _error(r"checkpoint .*step-00000002.pt is corrupted: .* recorded .* when it was written"),
        run_flipped_checkpoint_bytes,
        "two flipped bytes in a checkpoint: its checksum file refuses it",
    ),
    Case(
        "train_checkpoint_disk_full",
        "disk",
        _error(r"no space left on the device for .*step-00000002.pt: it needs [\d.,]+ MB"),
        run_checkpoint_disk_full,
        "ENOSPC while writing a checkpoint: which file, how much space, no temporary left",
    ),
    Case(
        "generate_broken_tokenizer",
        "train",
        _error(r"lm_train.generate: error: .*tokenizer.json is not the tokenizer that was recorded"),
        run_generate_broken_tokenizer,
        "a run directory with a truncated tokenizer.json",
    ),
    Case(
        "generate_broken_run_json",
        "train",
        _error(r"lm_train.generate: error: .*run.json is damaged"),
        run_generate_broken_run_json,
        "a run directory with a broken run.json",
    ),
    Case(
        "report_broken_run_json",
        "train",
        _error(r"lm_train.report: error: .*run.json is damaged"),
        run_report_broken_run_json,
        "lm_train.report on a run directory with a broken run.json",
    ),
    Case(
        "report_broken_tokenizer",
        "train",
        _error(
            r"lm_train.report: error: no samples: .*tokenizer.json is not the tokenizer that was recorded"
        ),
        run_report_broken_tokenizer,
        "lm_train.report (with samples) on a run directory whose tokenizer.json is garbage",
    ),
    Case(
        "train_init_from_another_model",
        "checkpoint",
        _error(r"model tensor '.*' has shape \[\d+, 32\], this model needs \[\d+, 64\]"),
        run_init_from_another_model,
        "--init-from a checkpoint written with another d_model",
    ),
    Case(
        "resume_broken_run_files",
        "train",
        Expected("ok", docs=1),
        run_resume_broken_run_files,
        "resume with a broken run.json and tokenizer.json in the run directory (rewritten)",
    ),
    Case(
        "train_stale_temporaries_removed",
        "disk",
        Expected("ok", reasons=("stale_temporaries_removed",)),
        run_stale_temporaries_removed,
        "a checkpoints/._tmp-*.pt left by a killed run is removed at the next start",
    ),
]

"""The pipelines on a real ``dask.distributed`` cluster (``--runner=DaskRunner``).

One ``LocalCluster`` for the module: 2 worker processes with one thread each, on loopback,
started and stopped here, and a moto S3 server on a free loopback port for the ``s3://``
runs (the workers inherit its endpoint through ``AWS_ENDPOINT_URL``). Every cluster run is
compared byte for byte with the default in-process FnApiRunner on the same inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.stage import partitions
from pipelines.stage.options import is_dask_runner

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "sample" / "raw"
# Every input format of the bundled sample, about 0.5 MB, so that a run takes seconds.
SLICE = ("text", "html", "warc", "jsonl/junk.jsonl.gz", "jsonl/scraped.jsonl", "jsonl/mirror-site.jsonl.gz")
CONFIG = """
tokenize:
  vocab_size: 600
  validation_fraction: 0.1
  target_shard_tokens: 30000
dedup:
  index_files: 2
"""
ENV = {"SOURCE_DATE_EPOCH": "1767225600", "OMP_NUM_THREADS": "1"}
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# ---- without a cluster --------------------------------------------------------------------


def test_runner_names():
    assert is_dask_runner("DaskRunner") and is_dask_runner("daskrunner")
    assert is_dask_runner("apache_beam.runners.dask.dask_runner.DaskRunner")
    assert not is_dask_runner(None) and not is_dask_runner("PortableRunner")


def test_splits_are_pure_and_lose_nothing():
    items = list(range(11))
    dealt = partitions.round_robin(items, 3, offset=1)
    assert dealt == partitions.round_robin(items, 3, offset=1)
    assert sorted(partitions.concat(*dealt)) == items and [len(b) for b in dealt] == [3, 4, 4]
    pairs = [(k % 4, k) for k in items] + [((1, "a"), -1)]
    split = partitions.split_by_key(pairs, 3, lambda k: repr(k).encode())
    grouped = [g for bucket in split for g in partitions.group_encoded(bucket)]
    assert sorted(map(repr, grouped)) == sorted(
        map(repr, [(0, [0, 4, 8]), (1, [1, 5, 9]), (2, [2, 6, 10]), (3, [3, 7]), ((1, "a"), [-1])])
    )
    assert partitions.default_partitions(2) == 8 and partitions.default_partitions(0) == 2
    assert partitions.default_partitions(2, requested=7) == 7


def test_bench_attributes_task_time_to_stages_and_names_serial_steps():
    from bench.bench_dask import task_breakdown

    def rec(key, worker, seconds):
        return {
            "key": key,
            "worker": worker,
            "startstops": [{"action": "compute", "start": 0, "stop": seconds}],
        }

    records = [
        rec(("Clean/Clean/ParDo(CleanChunkFn) run_dofn", "r", 1), "tcp://a", 3.0),
        rec(("Clean/Clean/ParDo(CleanChunkFn) run_dofn", "r", 2), "tcp://b", 2.0),
        rec(("TokenDataset/Tokenizer/TrainBPE run_dofn", "r", 3), "tcp://b", 1.5),
        rec(("TokenDataset/Tokenizer/TrainBPE run_dofn", "r", 4), "tcp://a", 0.01),
        rec("getitem-0123", "tcp://a", 0.001),
    ]
    out = task_breakdown(records, {"tcp://a": "worker0", "tcp://b": "worker1"})
    assert out["task_compute_s"]["Clean"] == {"worker0": 3.0, "worker1": 2.0}
    assert out["serial_steps_s"] == {"TokenDataset/Tokenizer/TrainBPE": 1.51} and out["tasks"] == 5


# ---- the cluster ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server; its endpoint and fake credentials in the environment (workers inherit them)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in (*S3_ENV, *ENV, "AWS_ENDPOINT_URL")}
    os.environ.update({**S3_ENV, **ENV, "AWS_ENDPOINT_URL": endpoint})
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def cluster(s3_endpoint):
    """(scheduler address, a client of it): 2 worker processes, 1 thread each, loopback only."""
    from distributed import Client, LocalCluster

    local = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = Client(local)
    try:
        yield local.scheduler_address, client
    finally:
        client.close()
        local.close()


def _prepare(argv: list[str]) -> int:
    from pipelines.prepare import run

    return run(argv)


def _flags(address: str) -> list[str]:
    return ["--runner=DaskRunner", f"--dask_client_address={address}"]


def comparable(name: str, data: bytes) -> bytes:
    """The bytes, but a manifest's ``code_version`` (the git commit, which moves when anyone
    commits between two runs) left out."""
    if Path(name).name.startswith("manifest") and name.endswith(".json"):
        manifest = json.loads(data)
        manifest.pop("code_version", None)
        return json.dumps(manifest, indent=2, sort_keys=True).encode()
    return data


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): comparable(p.name, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lmforge.lock"
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory, s3_endpoint):
    """(input flags, config path, the FnApiRunner's output of the slice)."""
    base = tmp_path_factory.mktemp("sample")
    config = base / "config.yaml"
    config.write_text(CONFIG)
    inputs = [f"--input={RAW / part}" for part in SLICE]
    reference = base / "fn"
    assert _prepare([*inputs, f"--output={reference}", f"--config={config}"]) == 0
    return inputs, config, reference


@pytest.mark.slow
def test_beam_semantics_on_the_cluster(cluster):
    """Tagged outputs kept apart, finish_bundle output, side inputs, GroupByKey, metrics; state refused."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.util import assert_that, equal_to
    from apache_beam.transforms.userstate import BagStateSpec
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.windowed_value import WindowedValue

    from pipelines.stage.dask_runner import DaskRunner, Unsupported

    class Split(beam.DoFn):
        def process(self, x):
            Metrics.counter("t", "seen").inc()
            yield beam.pvalue.TaggedOutput("odd", x) if x % 2 else x

        def finish_bundle(self):
            yield WindowedValue(-1, 0, (GlobalWindow(),))

    class Keep(beam.DoFn):
        state = BagStateSpec("s", beam.coders.VarIntCoder())

        def process(self, kv, state=beam.DoFn.StateParam(state)):  # noqa: B008 (Beam declares state so)
            yield kv

    address, _ = cluster
    options = PipelineOptions([f"--dask_client_address={address}", "--dask_npartitions=3"])
    p = beam.Pipeline(runner=DaskRunner(), options=options)
    out = p | beam.Create(range(10)) | beam.Reshuffle() | beam.ParDo(Split()).with_outputs("odd", main="even")
    evens = out.even | beam.Filter(lambda x: x >= 0)
    total = evens | "Sum" >> beam.CombineGlobally(sum)
    assert_that(evens | beam.Map(lambda x, t: (x, t), beam.pvalue.AsSingleton(total)),
                equal_to([(x, 20) for x in (0, 2, 4, 6, 8)]), label="Evens")  # fmt: skip
    bundles = out.even | beam.Filter(lambda x: x < 0) | "Bundles" >> beam.combiners.Count.Globally()
    assert_that(bundles, equal_to([3]), label="OneFinishPerBundle")  # 3 partitions after the Reshuffle
    grouped = (
        out.odd
        | beam.Map(lambda x: (x % 3, x))
        | beam.GroupByKey()
        | beam.MapTuple(lambda k, v: (k, sorted(v)))
    )
    assert_that(grouped, equal_to([(0, [3, 9]), (1, [1, 7]), (2, [5])]), label="Odds")
    result = p.run()
    result.wait_until_finish()
    assert [m.committed for m in result.metrics().query(MetricsFilter().with_name("seen"))["counters"]] == [
        10
    ]

    p = beam.Pipeline(runner=DaskRunner(), options=options)
    p | beam.Create([("a", 1)]) | beam.ParDo(Keep())
    with pytest.raises(Unsupported, match="stateful DoFn"):
        p.run()


@pytest.mark.slow
def test_prepare_on_the_cluster_is_byte_identical(cluster, sample, tmp_path):
    address, _ = cluster
    inputs, config, reference = sample
    out = tmp_path / "dask"
    assert _prepare([*inputs, f"--output={out}", f"--config={config}", *_flags(address)]) == 0
    expected = tree_bytes(reference)
    assert any(name.startswith("shards/") for name in expected) and "tokenizer.json" in expected
    assert tree_bytes(out) == expected  # shards, tokenizer, manifests, stats.json (counts) and state


@pytest.mark.slow
def test_stages_one_by_one_on_the_cluster(cluster, tmp_path):
    from pipelines.clean.__main__ import main as clean
    from pipelines.dedup.__main__ import main as dedup
    from pipelines.tokenize.__main__ import main as tokenize

    address, _ = cluster
    inputs = [
        f"--input={RAW / 'text'}",
        f"--input={RAW / 'html'}",
        f"--input={RAW / 'jsonl' / 'junk.jsonl.gz'}",
    ]
    tok = ["--set=tokenize.vocab_size=400", "--set=tokenize.validation_fraction=0.2"]
    # each stage on both runners, reading the same input: the default runner's previous output
    stages = (
        ("clean", clean, [*inputs, "--keep-dropped"]),
        ("dedup", dedup, [f"--input={tmp_path / 'fn' / 'clean' / 'documents'}", "--keep-dropped"]),
        ("tokenize", tokenize, [f"--input={tmp_path / 'fn' / 'dedup' / 'documents'}", *tok]),
    )
    for name, main, argv in stages:
        fn, dask = tmp_path / "fn" / name, tmp_path / "dask" / name
        assert main([*argv, f"--output={fn}"]) == 0
        assert main([*argv, f"--output={dask}", *_flags(address)]) == 0
        assert tree_bytes(dask) == tree_bytes(fn), name


@pytest.mark.slow
def test_incremental_runs_on_the_cluster_match_the_default_runner(cluster, tmp_path):
    address, _ = cluster
    src = RAW / "jsonl"
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(src / "scraped.jsonl", inputs / "a.jsonl")
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    common = [f"--input={inputs}", f"--config={config}"]
    fn, dask = tmp_path / "fn", tmp_path / "dask"
    assert _prepare([*common, f"--output={fn}"]) == 0
    assert _prepare([*common, f"--output={dask}", *_flags(address)]) == 0
    assert tree_bytes(dask) == tree_bytes(fn)
    shutil.copy(src / "junk.jsonl.gz", inputs / "b.jsonl.gz")
    shutil.copy(RAW / "html" / "kjv_Isaiah_25.html", inputs / "c.html")
    assert _prepare([*common, f"--output={fn}"]) == 0
    assert _prepare([*common, f"--output={dask}", *_flags(address)]) == 0
    second = tree_bytes(dask)
    assert "manifest-v00002.json" in second and "state/v00002/inputs.json" in second
    consumed = json.loads(second["state/v00002/inputs.json"])
    assert sorted(Path(r["path"]).name for r in consumed) == ["b.jsonl.gz", "c.html"]
    assert second == tree_bytes(fn)


def _kill_a_busy_worker(client, done: threading.Event, timeout: float = 120) -> int:
    """kill -9 the process of a worker while it runs a task of the pipeline; its pid."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline and not done.is_set():
        busy = [w for w, keys in client.processing().items() if keys]
        seen += bool(busy)
        if busy and seen >= 20:  # well into the run, not its first task
            pid = pids[busy[0]]
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.05)
    raise AssertionError("the run finished before a worker could be killed")


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, sample, tmp_path):
    address, client = cluster
    inputs, config, reference = sample
    out = tmp_path / "killed"
    argv = [*inputs, f"--output={out}", f"--config={config}", *_flags(address)]
    result: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            result["rc"] = _prepare(argv)
        except BaseException as exc:  # a KilledWorker after too many losses: then rerun
            result["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    pid = _kill_a_busy_worker(client, done)
    assert not done.is_set(), "the kill came after the run"
    thread.join(timeout=300)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    if result.get("rc") != 0:  # the run failed: a rerun completes identically
        client.wait_for_workers(2, timeout=60)
        assert _prepare(argv) == 0, result
    print(f"after kill -9 of worker pid {pid}: {'completed' if result.get('rc') == 0 else 'failed, rerun'}")
    assert tree_bytes(out) == tree_bytes(reference)


def _s3_tree(fs, root: str) -> dict[str, bytes]:
    return {
        path.removeprefix(root + "/"): comparable(path, fs.cat_file(path))
        for path in sorted(fs.find(root))
        if not path.endswith(".lmforge.lock")
    }


@pytest.mark.slow
def test_prepare_and_train_through_s3(cluster, s3_endpoint, tmp_path):
    import fsspec

    address, _ = cluster
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("lmforge")
    for part in ("text", "jsonl/scraped.jsonl", "jsonl/junk.jsonl.gz"):
        fs.put(str(RAW / part), f"lmforge/raw/{part}", recursive=True)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    common = ["--input=s3://lmforge/raw/", f"--config={config}"]
    assert _prepare([*common, "--output=s3://lmforge/datasets/fn"]) == 0
    assert _prepare([*common, "--output=s3://lmforge/datasets/dask", *_flags(address)]) == 0
    fs.invalidate_cache()
    fn, dask = _s3_tree(fs, "lmforge/datasets/fn"), _s3_tree(fs, "lmforge/datasets/dask")
    assert any(name.startswith("shards/") for name in fn)
    assert dask == fn

    # the trainer streams the shards from S3 (its remote cache, checksums verified)
    from lm_train.testing import TINY_TRAIN_ARGS

    run_dir = tmp_path / "run"
    home = tmp_path / "home"  # the shard cache is ~/.cache/lmforge/shards
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    cmd = [sys.executable, "-m", "lm_train.train", "--data=s3://lmforge/datasets/dask", f"--out={run_dir}"]
    done = subprocess.run(
        [*cmd, *TINY_TRAIN_ARGS, "max_steps=3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(m.get("step") == 3 for m in metrics)
    assert any(home.rglob("*.arrow")), "the shards did not come through the remote cache"

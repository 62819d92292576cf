"""Running a Beam pipeline on a ``dask.distributed`` cluster, with Beam's semantics intact.

Beam 2.77's own ``apache_beam.runners.dask.DaskRunner`` loses data on the pipelines here:
it puts every tagged output of a ParDo into one collection (so ``docs`` and ``counts``
mix), drops what ``finish_bundle`` emits, computes only the last transform's collection
(other sinks never run), evaluates side inputs by recomputing their branch inside each
task, has no metrics, and its ``Reshuffle`` keys are random (a task recomputed after a
worker loss reshuffles differently). So ``--runner=DaskRunner`` and Beam's full name both
land here: the same ``--dask_*`` options (Beam's ``DaskOptions``), a translation of our own.

The translation: a collection is a list of Dask tasks, one per partition, each holding a
list of ``WindowedValue``. Impulse is one partition; a ParDo runs ``DoFnRunner`` over each
partition (setup, start, process, finish, teardown; every tagged output kept apart), its
side inputs one task each that every partition depends on; GroupByKey splits each partition
by its key's deterministic encoding and groups bucket by bucket: up to
``partitions.MAX_PLANNED_KEYS`` keys are placed heaviest first from every partition's
key weights (a few keys of very different size would otherwise hash unevenly), more by the
key's stable hash. Reshuffle deals elements over the partitions by weight, planned from all
partitions at once, and so does the ParDo right after it with its outputs (the fan-out:
one input file yields chunks of very different size). Flatten concatenates partition lists.
Partition j of a dealt or grouped collection, and the ParDos on it, prefer worker thread
j mod threads (a loose restriction: stolen when idle, moved when the worker dies). Every
split and plan is a pure function of its input (``pipelines.stage.partitions``), so Dask
may recompute any task after a worker dies and the result is the same. Global windows
only; any other primitive, windowing or a stateful DoFn is refused with its name, never
run differently.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import operator
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import coders
from apache_beam.internal import pickler
from apache_beam.metrics.execution import MetricsContainer
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor, PTransformOverride
from apache_beam.runners.common import DoFnRunner, DoFnSignature, Receiver
from apache_beam.runners.dask.dask_runner import DaskOptions
from apache_beam.runners.direct.direct_metrics import DirectMetrics
from apache_beam.runners.runner import PipelineResult, PipelineRunner, PipelineState
from apache_beam.runners.worker import statesampler
from apache_beam.transforms import ptransform
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.util import Reshuffle
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils import counters
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.stage import partitions
from pipelines.stage.listings import forget_listings

log = logging.getLogger("lmforge")
# The code a worker must share with the client: a different version would write other bytes.
CODE_PACKAGES = ("pipelines", "lmcore", "schemas")

_END_OF_GLOBAL = GlobalWindow().max_timestamp()
METRICS = "__lmforge_metrics__"  # the entry of a bundle's result that holds its Beam metrics


class _Rebalance(beam.PTransform):
    """Stands in for ``Reshuffle``: deal the elements over the partitions, deterministically."""

    def expand(self, pcoll: pvalue.PCollection) -> pvalue.PCollection:
        return pvalue.PCollection.from_(pcoll)


class _RebalanceOverride(PTransformOverride):
    def matches(self, applied: AppliedPTransform) -> bool:
        return isinstance(applied.transform, Reshuffle)

    def get_replacement_transform_for_applied_ptransform(
        self, applied: AppliedPTransform
    ) -> ptransform.PTransform:
        return _Rebalance()


class _ListReceiver(Receiver):
    def __init__(self) -> None:
        self.values: list[WindowedValue] = []

    def receive(self, windowed_value: WindowedValue) -> None:
        self.values.append(windowed_value)


class _Discard(Receiver):
    """Outputs to a tag the ParDo did not declare are dropped, as on every Beam runner."""

    def receive(self, windowed_value: WindowedValue) -> None:
        pass


class _Receivers(dict):
    def __missing__(self, tag: Any) -> Receiver:
        return _Discard()


# ---- the tasks (run on the workers) ----------------------------------------------------


def _impulse() -> list[WindowedValue]:
    return [GlobalWindows.windowed_value(b"")]


def _run_dofn(payload: bytes, part: Sequence[WindowedValue], *side_values: list[WindowedValue]) -> dict:
    """One bundle: the DoFn's whole lifecycle over one partition; outputs by tag."""
    forget_listings()
    fn, args, kwargs, views, windowing, tags, label = pickler.loads(payload)
    sides = [SideInputMap(view, options, values) for (view, options), values in zip(views, side_values)]
    receivers = _Receivers({tag: _ListReceiver() for tag in tags})
    runner = DoFnRunner(fn, args, kwargs, sides, windowing, tagged_receivers=receivers, step_name=label)
    container = MetricsContainer(label)
    sampler = statesampler.StateSampler(label, counters.CounterFactory())
    statesampler.set_current_tracker(sampler)  # Beam's Metrics.counter(...) reports to ``container``
    try:
        with sampler.scoped_state(label, "process", metrics_container=container):
            runner.setup()
            try:
                runner.start()
                for windowed in part:
                    runner.process(windowed)
                runner.finish()
            finally:
                runner.teardown()
    finally:
        statesampler.set_current_tracker(None)
    return {**{tag: receivers[tag].values for tag in tags}, METRICS: container.get_cumulative()}


def _weigh(part: Sequence[WindowedValue]) -> list[int]:
    return partitions.weights_of([wv.value for wv in part])


def _plan_deal(buckets: int, *weights: list[int]) -> list[list[int]]:
    return partitions.plan_deal(weights, buckets)


def _key_weights(part: Sequence[WindowedValue], coder: coders.Coder) -> dict[bytes, int] | None:
    return partitions.key_weights((wv.value for wv in part), coder.encode)


def _plan_keys(buckets: int, *summaries: dict[bytes, int] | None) -> dict[bytes, int] | None:
    return partitions.plan_keys(summaries, buckets)


def _split_keys(
    part: Sequence[WindowedValue], buckets: int, coder: coders.Coder, plan: dict[bytes, int] | None
) -> tuple[list, ...]:
    return partitions.split_by_plan((wv.value for wv in part), buckets, coder.encode, plan)


def _group(*buckets: list) -> list[WindowedValue]:
    return [
        WindowedValue((key, values), _END_OF_GLOBAL, (GlobalWindow(),))
        for key, values in partitions.group_encoded(*buckets)
    ]


def _discard(*_: Any) -> None:
    """The end of a branch nothing reads: run it, bring nothing back."""
    return None


# ---- the translation (runs on the client) ----------------------------------------------


class Unsupported(NotImplementedError):
    """A pipeline feature this runner cannot execute exactly; the message names the transform."""


class _Translate(PipelineVisitor):
    """Builds the Dask task graph of a pipeline, transform by transform."""

    def __init__(self, num_partitions: int, slots: Sequence[str] = ()):
        import dask

        self.dask = dask
        self.delayed = dask.delayed
        self.n = num_partitions
        self.slots = list(slots)  # one worker address per worker thread
        self.homes: dict[Any, str] = {}  # task key -> the worker its partition was placed on
        self.parts: dict[pvalue.PCollection, list[Any]] = {}
        self.nodes: dict[Any, Any] = {}
        self.used: set[Any] = set()
        self.label = ""
        self.metrics: list[Any] = []  # one per bundle: its MetricUpdates, brought back at the end
        self.run = os.urandom(4).hex()  # a run's keys never meet another run's on a shared cluster

    def _node(self, fn: Any, *args: Any, nout: int | None = None, home: str | None = None) -> Any:
        """A task; its key names the transform, so Dask's dashboard and task stream show the steps.

        ``home``: the worker it should run on (loosely: another one takes it when that one is
        gone, or steals it when idle).
        """
        for arg in args:
            key = getattr(arg, "key", None)
            if key is not None:
                self.used.add(key)
        name = f"{self.label} {getattr(fn, '__name__', 'task').strip('_')}"
        key = (name, self.run, len(self.nodes))
        if home is None:
            node = self.delayed(fn, pure=False, nout=nout)(*args, dask_key_name=key)
        else:
            with self.dask.annotate(workers=[home], allow_other_workers=True):
                node = self.delayed(fn, pure=False, nout=nout)(*args, dask_key_name=key)
        for one in node if nout else (node,):
            self.nodes[one.key] = one
            if home is not None:
                self.homes[one.key] = home
        return node

    def _home(self, j: int) -> str | None:
        """Where partition ``j`` of a dealt or grouped collection runs: partitions round the worker
        threads. Left to Dask, every partition goes where most of its input lies; after a read
        that ran on one worker (short tasks), that is one worker for all of them."""
        return partitions.home_of(j, self.slots)

    def terminals(self) -> list[Any]:
        """One small task per branch end, so the whole graph runs and little comes back."""
        metrics = {m.key for m in self.metrics}
        ends = [node for key, node in self.nodes.items() if key not in self.used and key not in metrics]
        return [
            self.delayed(_discard, pure=False)(node, dask_key_name=("end", self.run, i))
            for i, node in enumerate(ends)
        ]

    def visit_transform(self, applied: AppliedPTransform) -> None:
        transform = applied.transform
        self.label = applied.full_label
        for out in applied.outputs.values():
            if isinstance(out, pvalue.PCollection):
                _check_windowing(out, applied)
        inputs = [p for p in applied.main_inputs.values() if isinstance(p, pvalue.PCollection)]
        if isinstance(transform, beam.Impulse):
            self._emit(applied, [self._node(_impulse)])
        elif isinstance(transform, _Rebalance):
            self._emit(applied, self._rebalance(self.parts[inputs[0]]))
        elif isinstance(transform, beam.GroupByKey):
            self._emit(applied, self._group_by_key(applied, self.parts[inputs[0]]))
        elif isinstance(transform, beam.Flatten):
            self._emit(applied, [part for p in applied.inputs for part in self.parts[p]])
        elif isinstance(transform, beam.ParDo):
            self._par_do(applied, self.parts[inputs[0]])
        else:
            raise Unsupported(
                f"{type(transform).__name__} ({applied.full_label}) is not supported by lmforge's Dask runner"
            )

    def _emit(self, applied: AppliedPTransform, parts: list[Any]) -> None:
        (out,) = applied.outputs.values()
        self.parts[out] = parts

    def _rebalance(self, parts: list[Any]) -> list[Any]:
        if not parts:
            return []
        plan = self._node(_plan_deal, self.n, *(self._node(_weigh, part) for part in parts))
        dealt = [
            self._node(partitions.deal, part, self.n, plan, i, nout=self.n) for i, part in enumerate(parts)
        ]
        return [
            self._node(partitions.concat, *(d[j] for d in dealt), home=self._home(j)) for j in range(self.n)
        ]

    def _group_by_key(self, applied: AppliedPTransform, parts: list[Any]) -> list[Any]:
        coder = coders.FastPrimitivesCoder().as_deterministic_coder(applied.full_label)
        if not parts:
            return []
        plan = self._node(_plan_keys, self.n, *(self._node(_key_weights, part, coder) for part in parts))
        split = [self._node(_split_keys, part, self.n, coder, plan, nout=self.n) for part in parts]
        return [self._node(_group, *(s[j] for s in split), home=self._home(j)) for j in range(self.n)]

    def _par_do(self, applied: AppliedPTransform, parts: list[Any]) -> None:
        transform = applied.transform
        fn = transform.fn
        if DoFnSignature(fn).is_stateful_dofn():
            raise Unsupported(
                f"stateful DoFn {applied.full_label}: lmforge's Dask runner has no state or timers"
            )
        if DoFnSignature(fn).is_splittable_dofn():
            raise Unsupported(f"splittable DoFn {applied.full_label}: not supported by lmforge's Dask runner")
        views = [(type(si), si._view_options()) for si in transform.side_inputs]
        tags = list(applied.outputs)
        payload = pickler.dumps(
            (
                fn,
                transform.args,
                transform.kwargs,
                views,
                _main_input(applied).windowing,
                tags,
                applied.full_label,
            )
        )
        sides = [self._node(partitions.concat, *self.parts[si.pvalue]) for si in transform.side_inputs]
        results = [
            self._node(_run_dofn, payload, part, *sides, home=self.homes.get(part.key)) for part in parts
        ]
        self.metrics += [self._node(operator.getitem, r, METRICS) for r in results]
        fan_out = isinstance(_main_input(applied).producer.transform, _Rebalance)
        for tag, out in applied.outputs.items():
            outs = [self._node(operator.getitem, r, tag, home=self.homes.get(r.key)) for r in results]
            # After a Reshuffle comes the fan-out (a file read yields its chunks): deal what it
            # yields over the partitions, or every later step of a big file stays on one worker.
            self.parts[out] = self._rebalance(outs) if fan_out else outs


def _main_input(applied: AppliedPTransform) -> pvalue.PCollection:
    return next(p for p in applied.main_inputs.values() if isinstance(p, pvalue.PCollection))


def _check_windowing(pcoll: pvalue.PCollection, applied: AppliedPTransform) -> None:
    if not isinstance(pcoll.windowing.windowfn, GlobalWindows):
        raise Unsupported(
            f"{applied.full_label}: windowing {type(pcoll.windowing.windowfn).__name__} "
            "(lmforge's Dask runner runs global windows only)"
        )


class DaskPipelineResult(PipelineResult):
    """Waits on the branch ends; closes the client (and a cluster it started) when done."""

    def __init__(
        self, client: Any, futures: list[Any], cluster: Any = None, metric_futures: Sequence[Any] = ()
    ):
        super().__init__(PipelineState.RUNNING)
        self.client = client
        self.futures = futures
        self.cluster = cluster
        self.metric_futures = list(metric_futures)
        self._metrics = DirectMetrics()

    def wait_until_finish(self, duration: int | None = None) -> str:
        from distributed import wait

        try:
            wait([*self.futures, *self.metric_futures], timeout=None if duration is None else duration / 1000)
            self.client.gather(self.futures)  # raises the first task's error, with its traceback
            for updates in self.client.gather(self.metric_futures):
                self._metrics.commit_logical(None, updates)  # each bundle's final result, once
                self._metrics.commit_physical(None, updates)
            self._state = PipelineState.DONE
            forget_listings()
        except BaseException:
            self._state = PipelineState.FAILED
            self.cancel()
            raise
        finally:
            self._close()
        return self._state

    def cancel(self) -> str:
        self.client.cancel([*self.futures, *self.metric_futures])
        return PipelineState.CANCELLED

    def _close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def metrics(self) -> DirectMetrics:
        """Beam metrics of the finished run (counters, distributions, gauges), summed over bundles."""
        return self._metrics


class CodeMismatch(RuntimeError):
    """The workers run other lmforge code than the client: their outputs would differ."""


def code_state(
    packages: Sequence[str] = CODE_PACKAGES, started: float | None = None
) -> tuple[str, list[str]]:
    """(sha256 of the packages' source files, the modules loaded before their file last changed).

    A worker that imported a module and kept running while the file was edited or
    reinstalled still runs the old code, which the file hash alone would not show.
    """
    digest = hashlib.sha256()
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    since = time.time() if started is None else started
    stale = [
        mod_name
        for mod_name, module in list(sys.modules.items())
        if mod_name.split(".")[0] in packages
        and getattr(module, "__file__", None)
        and os.path.exists(module.__file__)
        and os.path.getmtime(module.__file__) > since
    ]
    return digest.hexdigest(), sorted(stale)


def _worker_code_state() -> tuple[str, list[str]]:
    import psutil

    return code_state(started=psutil.Process().create_time())


def check_workers_code(client: Any) -> None:
    """Refuse to run when a worker's lmforge code is not the client's (``CodeMismatch``)."""
    mine, _ = code_state(started=time.time())
    problems = []
    for worker, (theirs, stale) in sorted(client.run(_worker_code_state).items()):
        if theirs != mine:
            problems.append(f"{worker} has other source files for {', '.join(CODE_PACKAGES)}")
        elif stale:
            problems.append(f"{worker} imported {stale[0]} before the file changed ({len(stale)} module(s))")
    if problems:
        raise CodeMismatch(
            "the Dask workers do not run this lmforge code: "
            + "; ".join(problems)
            + ". Install the same lmforge on every worker and restart them (client.restart() or the worker processes)"
        )


class DaskRunner(PipelineRunner):
    """Executes a pipeline on a ``dask.distributed`` cluster (``--dask_client_address``)."""

    def run_pipeline(self, pipeline: beam.Pipeline, options: PipelineOptions) -> DaskPipelineResult:
        dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        pipeline.replace_all([_RebalanceOverride()])
        client, cluster = _connect(dask_options)
        try:
            check_workers_code(client)
            nthreads = client.nthreads()
            threads = sum(nthreads.values())
            n = partitions.default_partitions(threads, bag_kwargs.get("npartitions"))
            translate = _Translate(n, partitions.worker_slots(nthreads))
            pipeline.visit(translate)
            ends = translate.terminals()
            computed = client.compute([*ends, *translate.metrics])  # one graph: shared steps run once
            futures, metric_futures = computed[: len(ends)], computed[len(ends) :]
        except BaseException:
            DaskPipelineResult(client, [], cluster)._close()
            raise
        log.info("dask: %d worker thread(s), %d partitions, %d tasks", threads, n, len(translate.nodes))
        return DaskPipelineResult(client, futures, cluster, metric_futures)


def _connect(dask_options: dict[str, Any]) -> tuple[Any, Any]:
    """A client of the cluster the options name, or of a local one on loopback started for this run."""
    from distributed import Client, LocalCluster

    if dask_options.get("address") or dask_options.get("scheduler_file"):
        return Client(**dask_options), None
    cluster = LocalCluster(host="127.0.0.1", dashboard_address=None, processes=True)
    return Client(cluster, **dask_options), cluster

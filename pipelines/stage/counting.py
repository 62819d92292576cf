"""Counting inside a DoFn: one call emits the counts as data and mirrors them as Beam metrics.

Counts are data (summed into ``stats.json``, exact on every runner); the ``beam.metrics``
counters only feed live runner UIs. A DoFn that counts does both in one line::

    def process(self, chunk):
        counts = Counter()
        ...  # counts["dropped/too_short"] += 1
        yield from emit_counts(self.stage, counts)
        yield chunk_key, kept

and its ParDo is built with ``.with_outputs(COUNTS, ..., main=DOCS)``. Keys that are
annotations rather than live-worthy numbers can stay out of the metrics with
``metric_skip=("source_", ...)`` (prefixes); they are still emitted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import apache_beam as beam
from apache_beam import pvalue

COUNTS = "counts"  # the tagged output every stage sends its flat count dicts to


def bump(namespace: str, flat_counts: Mapping[str, int]) -> None:
    """Mirror flat counts into ``beam.metrics`` counters (for runner UIs)."""
    for key, n in flat_counts.items():
        if n:
            beam.metrics.Metrics.counter(namespace, key).inc(n)


def emit_counts(
    namespace: str, flat_counts: Mapping[str, int], metric_skip: tuple[str, ...] = ()
) -> Iterator[pvalue.TaggedOutput]:
    """Bump the metrics and yield the counts on ``COUNTS`` (nothing when there are none).

    Zero-valued keys are emitted as given: ``stats.json`` lists every key a stage counted.
    """
    if not flat_counts:
        return
    bump(namespace, {k: n for k, n in flat_counts.items() if not k.startswith(metric_skip)})
    yield pvalue.TaggedOutput(COUNTS, dict(flat_counts))

"""GloVe's weighted least squares (Pennington et al., 2014) in torch, on ``pipelines.cooccur`` output.

    J = Σ_ij f(x_ij) (w_i·w̃_j + b_i + b̃_j − log x_ij)²,   f(x) = min(1, (x / x_max)^α)

with x_max = 100, α = 0.75 and AdaGrad at lr 0.05, as the paper; the vectors returned are
W + W̃. The AdaGrad step is the reference implementation's (``glove.c``), which differs from
the textbook one: the squared-gradient sums start at 1 and accumulate the squares of the
*learning-rate-scaled* gradients, and a step divides by the sum from before it. The sums
therefore grow by lr² per unit of squared gradient, and the step size stays near lr for a
long time; textbook AdaGrad on the same sums shrinks it so fast that 15 epochs on a
7-million-word corpus left WordSim-353 at 0.09 (measured). The co-occurrence rows are streamed part by part (``schemas.cooccurrence``): each
epoch visits the parts in a seeded order and each part's rows in a seeded permutation, so
only one part is in memory and a run is a pure function of (counts, settings, seed).
Embeddings are sparse (only the rows in a batch are touched), so a step costs the batch,
not the vocabulary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import torch

from lmcore import storage
from schemas.cooccurrence import (
    COOCCURRENCE_MANIFEST_FILENAME,
    VOCAB_FILENAME,
    CooccurrenceError,
    CooccurrenceManifest,
    check_rows,
    parse_vocab_tsv,
    read_table,
)

log = logging.getLogger("lmforge.glove")


@dataclass(frozen=True)
class GloveConfig:
    dim: int = 100
    epochs: int = 25
    lr: float = 0.05  # AdaGrad's learning rate (the paper's)
    x_max: float = 100.0
    alpha: float = 0.75
    batch_size: int = 8192
    seed: int = 0
    device: str = "cpu"
    output: str = "sum"  # the vectors returned: sum (W + W̃, glove.c -model 2) | word (W, -model 1)
    threads: int = 1  # torch CPU threads: a step is a few small ops, where 1 thread is fastest (and
    # the sums cannot depend on a machine's core count); 2 threads were 13x slower in a process that
    # had run Beam before


@dataclass
class GloveResult:
    words: list[str]
    counts: list[int]
    vectors: np.ndarray  # float32 [vocab, dim]: W + W̃
    losses: list[float] = field(default_factory=list)  # mean weighted loss per epoch
    seconds: float = 0.0
    pairs_per_second: float = 0.0


@dataclass(frozen=True)
class Cooccurrence:
    """An opened co-occurrence directory: its manifest and vocabulary."""

    directory: str
    manifest: CooccurrenceManifest
    words: list[str]
    counts: list[int]

    def part(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(i int64, j int64, x float64)`` of one part, checked."""
        path = storage.join(self.directory, self.manifest.parts[index]["path"])
        table = read_table(pa.py_buffer(storage.read_bytes(path)))
        i = table.column("i").to_numpy().astype(np.int64)
        j = table.column("j").to_numpy().astype(np.int64)
        x = table.column("x").to_numpy()
        check_rows(i, j, x, len(self.words))
        return i, j, x


def open_cooccurrence(directory: str) -> Cooccurrence:
    """Read ``manifest.json`` and ``vocab.tsv``; a missing or inconsistent one is a CooccurrenceError."""
    directory = directory.rstrip("/") or directory
    manifest_path = storage.join(directory, COOCCURRENCE_MANIFEST_FILENAME)
    if not storage.exists(manifest_path):
        raise CooccurrenceError(
            f"{directory}: no {COOCCURRENCE_MANIFEST_FILENAME} (not a finished python -m pipelines.cooccur output)"
        )
    manifest = CooccurrenceManifest.from_json(storage.read_text(manifest_path))
    words, counts = parse_vocab_tsv(storage.read_text(storage.join(directory, VOCAB_FILENAME)))
    if len(words) != manifest.vocab_size:
        raise CooccurrenceError(
            f"{directory}: {VOCAB_FILENAME} has {len(words)} words, the manifest says {manifest.vocab_size}"
        )
    return Cooccurrence(directory, manifest, words, counts)


def weighting(x: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:
    """f(x) = (x / x_max)^α, capped at 1."""
    return torch.clamp(x / x_max, max=1.0).pow(alpha)


class GloveModel:
    """Word and context vectors and biases with their AdaGrad sums, as plain tensors.

    The gradient of J is three lines (``g = f(x)·diff``; ``∂w_i = g·w̃_j``, ``∂w̃_j = g·w_i``,
    ``∂b_i = ∂b̃_j = g``), so the step is written out, without autograd's sparse tensors (which
    cost ~20x more per step on a CPU). The reference updates one pair at a time; here a batch's
    pairs update at once (as its threads do, Hogwild): each row moves by the sum of its pairs'
    scaled gradients over the square root of its sum before the batch, and that sum grows by
    the sum of their squares, so a batch whose rows do not repeat is exactly the reference's
    sequence of updates. Initialised uniform in ±0.5/dim with every sum at 1, as the reference.
    """

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator, device: torch.device):
        def init(*shape: int) -> torch.Tensor:
            return ((torch.rand(shape, generator=generator) - 0.5) / dim).to(device)

        self.w, self.wt = init(vocab_size, dim), init(vocab_size, dim)
        self.b, self.bt = init(vocab_size), init(vocab_size)
        self.sums = [torch.ones_like(t) for t in (self.w, self.wt, self.b, self.bt)]

    def predict(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """The prediction of ``log x_ij``."""
        return (self.w[i] * self.wt[j]).sum(-1) + self.b[i] + self.bt[j]

    def step(self, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor, config: GloveConfig) -> float:
        """One AdaGrad step on a batch; returns the batch's loss Σ ½ f(x) diff²."""
        wi, wj = self.w[i], self.wt[j]
        diff = (wi * wj).sum(-1) + self.b[i] + self.bt[j] - torch.log(x)
        fdiff = weighting(x, config.x_max, config.alpha) * diff
        loss = 0.5 * float((fdiff * diff).sum())
        g = config.lr * fdiff  # the reference scales the gradient before it is squared and summed
        for ids, vec_grad, vec, bias, (vec_sum, bias_sum) in (
            (i, g[:, None] * wj, self.w, self.b, self.sums[0::2]),
            (j, g[:, None] * wi, self.wt, self.bt, self.sums[1::2]),
        ):
            rows, inverse = torch.unique(ids, return_inverse=True)
            _reference_adagrad(vec, vec_sum, rows, *_row_sums(inverse, len(rows), vec_grad))
            _reference_adagrad(bias, bias_sum, rows, *_row_sums(inverse, len(rows), g))
        return loss

    def vectors(self, output: str = "sum") -> np.ndarray:
        """W + W̃ (``sum``) or W alone (``word``)."""
        vectors = self.w + self.wt if output == "sum" else self.w
        return vectors.cpu().numpy().astype(np.float32)


def _row_sums(inverse: torch.Tensor, n_rows: int, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per touched row: the sum of its pairs' gradients and the sum of their squares."""
    total = torch.zeros((n_rows, *grad.shape[1:]), dtype=grad.dtype, device=grad.device)
    squares = torch.zeros_like(total)
    return total.index_add_(0, inverse, grad), squares.index_add_(0, inverse, grad * grad)


def _reference_adagrad(
    param: torch.Tensor, sums: torch.Tensor, rows: torch.Tensor, grad: torch.Tensor, squares: torch.Tensor
) -> None:
    """``glove.c``'s step: divide by the sum from before, then add the squares."""
    before = sums[rows]
    param[rows] -= grad / before.sqrt()
    sums[rows] = before + squares


def epoch_batches(
    cooc: Cooccurrence, epoch: int, seed: int, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One epoch's batches: parts in a seeded order, each part's rows in a seeded permutation."""
    rng = np.random.default_rng([seed, epoch])
    for index in rng.permutation(len(cooc.manifest.parts)):
        i, j, x = cooc.part(int(index))
        order = rng.permutation(len(i))
        for start in range(0, len(order), batch_size):
            sel = order[start : start + batch_size]
            yield i[sel], j[sel], x[sel]


def train_glove(
    cooc: Cooccurrence,
    config: GloveConfig,
    report: Callable[[str], None] | None = None,
    every_s: float = 10.0,
) -> GloveResult:
    """Train and return the vectors (W + W̃) with the loss of every epoch."""
    report = report or log.info
    vocab = len(cooc.words)
    if vocab == 0:
        raise CooccurrenceError(f"{cooc.directory}: the vocabulary is empty (lower --min-count)")
    if cooc.manifest.nonzeros == 0:
        raise CooccurrenceError(f"{cooc.directory}: no co-occurrences (documents of one word?)")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(cooc, config, report, every_s)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    cooc: Cooccurrence, config: GloveConfig, report: Callable[[str], None], every_s: float
) -> GloveResult:
    vocab = len(cooc.words)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = torch.device(config.device)
    model = GloveModel(vocab, config.dim, generator, device)
    total = cooc.manifest.nonzeros * config.epochs
    done = 0
    losses: list[float] = []
    started = last = time.monotonic()
    for epoch in range(config.epochs):
        epoch_loss = 0.0
        for bi, bj, bx in epoch_batches(cooc, epoch, config.seed, config.batch_size):
            i = torch.from_numpy(bi).to(device)
            j = torch.from_numpy(bj).to(device)
            x = torch.from_numpy(bx).to(device=device, dtype=torch.float32)
            epoch_loss += model.step(i, j, x, config)
            done += len(bi)
            now = time.monotonic()
            if now - last >= every_s:
                last = now
                rate = done / (now - started)
                report(
                    f"glove epoch {epoch + 1}/{config.epochs}: {100 * done / total:.0f}%, {rate:,.0f} pairs/s, "
                    f"ETA {_fmt(max(total - done, 0) / max(rate, 1e-9))}"
                )
        losses.append(epoch_loss / cooc.manifest.nonzeros)
        elapsed = time.monotonic() - started
        report(
            f"glove epoch {epoch + 1}/{config.epochs} done: loss {losses[-1]:.5f}, "
            f"{done / max(elapsed, 1e-9):,.0f} pairs/s, {_fmt(elapsed)} elapsed, "
            f"ETA {_fmt(elapsed / (epoch + 1) * (config.epochs - epoch - 1))}"
        )
    seconds = time.monotonic() - started
    return GloveResult(
        cooc.words,
        cooc.counts,
        model.vectors(config.output),
        losses,
        seconds,
        done / seconds if seconds > 0 else 0.0,
    )


def _fmt(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def config_dict(config: GloveConfig) -> dict:
    return asdict(config)


__all__ = ["Cooccurrence", "GloveConfig", "GloveModel", "GloveResult", "open_cooccurrence", "train_glove"]

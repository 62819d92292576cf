"""lm_train.data: packing, order, determinism, resume, remote access and checksums."""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import threading
import time

import fsspec
import numpy as np
import pytest
import torch

from lm_train.data import LoaderConfig, LoaderError, PackedLoader, write_synthetic_dataset
from lm_train.data.order import StreamOrder
from lm_train.data.packing import best_fit, best_fit_decreasing, concat_windows
from schemas import ChecksumError, load_manifest, open_token_shard

SEQ = 32


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("ds")
    write_synthetic_dataset(str(root), num_docs=400, mean_len=40, sigma=1.0, max_len=200, num_shards=3)
    return str(root)


def _loader(data: str, tmp_path, **kw) -> PackedLoader:
    rank = kw.pop("rank", 0)
    world = kw.pop("world_size", 1)
    split = kw.pop("split", "train")
    cfg = LoaderConfig(
        **{"seq_len": SEQ, "global_batch_size": 8, "index_cache_dir": str(tmp_path / "idx"), **kw}
    )
    return PackedLoader(data, split, cfg, rank=rank, world_size=world)


def _take(loader: PackedLoader, n: int) -> list[dict[str, torch.Tensor]]:
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            break
    return out


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- packing (pure numpy) -------------------------------------------------------------------------
def _reference_best_fit(sizes: list[int], capacity: int) -> int:
    rooms: list[int] = []
    for s in sorted(sizes, reverse=True):
        fits = [i for i, r in enumerate(rooms) if r >= s]
        if fits:
            best = min(fits, key=lambda i: rooms[i])
            rooms[best] -= s
        else:
            rooms.append(capacity - s)
    return len(rooms)


@pytest.mark.parametrize("seed", range(5))
def test_best_fit_matches_one_by_one_best_fit_and_respects_capacity(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 33, 300)
    bins = best_fit_decreasing(sizes, 33)
    assert np.bincount(bins, weights=sizes).max() <= 33
    assert bins.max() + 1 == _reference_best_fit(sizes.tolist(), 33)


def test_best_fit_keeps_every_token_and_splits_long_documents():
    lengths = np.array([5, 100, 33, 1, 17, 2])
    packed = best_fit(lengths, SEQ)
    # each doc is covered exactly: pieces share one token at each cut
    for d, n in enumerate(lengths.tolist()):
        mine = np.flatnonzero(packed.doc == d)
        if n < 2:
            assert len(mine) == 0
            continue
        offs, lens = packed.offset[mine], packed.length[mine]
        assert offs[0] == 0 and offs[-1] + lens[-1] == n
        assert int((lens - 1).sum()) == n - 1  # every prediction inside the document once
    assert packed.dropped_tokens == 1 and packed.split_docs == 1  # the 1-token doc; the 100-token doc


def test_concat_windows_are_stride_seq_len_slices_of_the_stream():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, 200)
    stream = np.arange(lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    packed = concat_windows(lengths, SEQ)
    for s in range(packed.num_samples):
        sl = slice(packed.ptr[s], packed.ptr[s + 1])
        got = np.concatenate(
            [stream[a : a + n] for a, n in zip(starts[packed.doc[sl]] + packed.offset[sl], packed.length[sl])]
        )
        assert np.array_equal(got, stream[s * SEQ : s * SEQ + SEQ + 1])
    assert packed.dropped_tokens == len(stream) - packed.num_samples * SEQ - 1


# -- order -----------------------------------------------------------------------------------------
def test_mixing_keeps_every_prefix_close_to_the_weights():
    order = StreamOrder(np.array([0, 500, 700, 1000]), ["a", "b", "c"], seed=3, weights=[0.2, 0.5, 0.3])
    group_of = np.searchsorted(order.group_ptr, order.samples(np.arange(3000)), side="right") - 1
    counts = np.cumsum(np.eye(3, dtype=np.int64)[group_of], axis=0)
    expected = np.arange(1, 3001)[:, None] * np.array([0.2, 0.5, 0.3])
    assert np.abs(counts - expected).max() <= 2.0
    # the up-weighted small group repeats only after a full pass over its samples
    first_pass = order.samples(np.arange(1000))
    b = first_pass[(first_pass >= 500) & (first_pass < 700)]
    assert len(np.unique(b[:200])) == 200


# -- loader -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("packing", ["concat", "best_fit"])
def test_batches_match_source_documents(dataset, tmp_path, packing):
    loader = _loader(dataset, tmp_path, packing=packing, num_epochs=1)
    m = load_manifest(dataset)
    docs = []
    for s in sorted(m.shards_for("train"), key=lambda s: s.path):
        shard = open_token_shard(m.path_of(s.path))
        docs += [shard.document(i).astype(np.int64).tobytes() for i in range(shard.num_docs)]
    corpus = np.int64(-1).tobytes().join(docs)
    seen_loss = 0
    for batch in loader:
        assert batch["input_ids"].shape == (loader.micro_batch_size, SEQ)
        assert torch.equal(batch["input_ids"][:, 1:], batch["targets"][:, :-1])
        assert int(batch["cu_seqlens"][-1]) == batch["input_ids"].numel()
        for r in range(batch["input_ids"].shape[0]):
            seg, pos = batch["segment_ids"][r].numpy(), batch["position_ids"][r].numpy()
            row = np.append(batch["input_ids"][r].numpy(), batch["targets"][r, -1].item())
            mask = batch["loss_mask"][r].numpy()
            for k in np.unique(seg[seg >= 0]):
                idx = np.flatnonzero(seg == k)
                assert np.array_equal(pos[idx], np.arange(len(idx)))  # restart at 0 per document piece
                end = idx[-1] + 1 if mask[idx[-1]] else idx[-1]
                piece = row[idx[0] : end + 1]
                # the piece (inputs + its last target) is a contiguous run of one source document
                assert corpus.find(piece.tobytes()) % 8 == 0 or len(piece) == 1
                assert mask[idx[:-1]].all() and (mask[idx[-1]] == 0 or idx[-1] == SEQ - 1)
            assert (mask[seg < 0] == 0).all() and (batch["token_bytes"][r].numpy()[mask == 0] == 0).all()
        seen_loss += int(batch["loss_mask"].sum())
    assert seen_loss == loader.stats()["trained_positions"]  # every prediction of the epoch, once


def test_ranks_are_disjoint_and_cover_every_sample_once_per_epoch(dataset, tmp_path):
    world = 3
    loaders = [
        _loader(dataset, tmp_path, global_batch_size=6, world_size=world, rank=r, num_epochs=1)
        for r in range(world)
    ]
    n = loaders[0].samples_per_epoch
    ids = np.concatenate([ld.sample_ids(u) for u in range(len(loaders[0])) for ld in loaders])
    ids = ids[ids >= 0]
    assert len(ids) == n and np.array_equal(np.sort(ids), np.arange(n))
    # epoch 2 is a different order of the same samples
    e2 = np.concatenate([loaders[0].order.samples(np.arange(n, 2 * n))])
    assert np.array_equal(np.sort(e2), np.arange(n)) and not np.array_equal(
        e2, loaders[0].order.samples(np.arange(n))
    )
    assert len({len(list(ld)) for ld in loaders}) == 1  # same number of micro-batches on every rank


def test_resume_mid_epoch_with_new_world_size_and_workers(dataset, tmp_path):
    ref = _take(_loader(dataset, tmp_path, micro_batch_size=4), 12)  # world 1, accumulation 2
    first = _loader(dataset, tmp_path, micro_batch_size=4)
    _take(first, 4)
    state = first.state_dict()
    assert state["consumed_samples"] == 16
    resumed = [
        _loader(dataset, tmp_path, micro_batch_size=4, world_size=2, rank=r, num_workers=2 * r)
        for r in (0, 1)
    ]
    for ld in resumed:
        ld.load_state_dict(state)
    got = [_take(ld, 4) for ld in resumed]
    for u in range(4):  # micro-step u of world 2 == micro-steps 2u, 2u+1 of world 1
        for r in (0, 1):
            assert _same(got[r][u], ref[4 + 2 * u + r])


def test_worker_count_does_not_change_the_stream(dataset, tmp_path):
    base = _take(_loader(dataset, tmp_path, packing="best_fit"), 7)
    with_workers = _take(_loader(dataset, tmp_path, packing="best_fit", num_workers=2), 7)
    assert all(_same(a, b) for a, b in zip(base, with_workers))


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("workers", [1, 3])
def test_a_whole_epoch_is_the_same_with_workers_across_hand_over_chunks(dataset, tmp_path, workers):
    """An epoch spans several chunks per worker and ends in a partial one; a resume starts mid-chunk."""
    base = list(_loader(dataset, tmp_path, num_epochs=1))
    assert len(base) > 3 * 16  # more batches than three workers' first chunks
    got = list(_loader(dataset, tmp_path, num_epochs=1, num_workers=workers))
    assert len(got) == len(base) and all(_same(a, b) for a, b in zip(base, got))
    resumed = _loader(dataset, tmp_path, num_epochs=1, num_workers=workers)
    resumed.load_state_dict({**resumed.state_dict(), "consumed_samples": 5 * 8})
    rest = list(resumed)
    assert len(rest) == len(base) - 5 and all(_same(a, b) for a, b in zip(base[5:], rest))


def test_chunks_are_dealt_to_workers_in_the_order_they_are_handed_back():
    from lm_train.data.loader import chunk_starts

    for start, stop, chunk, workers in [(0, 50, 4, 3), (7, 61, 16, 2), (3, 4, 5, 4), (0, 0, 2, 1)]:
        per_worker = [list(chunk_starts(start, stop, chunk, w, workers)) for w in range(workers)]
        interleaved = [c for group in zip(*per_worker) for c in group]
        leftovers = [p[len(per_worker[-1]) :] for p in per_worker]
        interleaved += [c for p in leftovers for c in p]
        steps = [u for first in interleaved for u in range(first, min(first + chunk, stop))]
        assert steps == list(range(start, stop))


def test_handoff_keeps_order_bounds_the_buffer_and_releases_a_blocked_producer():
    from lm_train.data.ring import Handoff

    box = Handoff(depth=4)
    produced: list[int] = []

    def produce() -> None:
        for i in range(100):
            if not box.put(i):
                return
            produced.append(i)

    t = threading.Thread(target=produce)
    t.start()
    deadline = time.monotonic() + 5
    while len(produced) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert len(produced) == 4  # full: the producer waits
    assert [box.get() for _ in range(50)] == list(range(50))  # in order, waiting for items as needed
    box.close()  # the consumer stops early: the producer returns instead of waiting forever
    t.join(timeout=5)
    assert not t.is_alive() and len(box.items) <= 4


def test_state_from_another_dataset_or_setting_is_refused(dataset, tmp_path):
    other = tmp_path / "other"
    write_synthetic_dataset(str(other), num_docs=50, mean_len=40, seed=7)
    state = _loader(str(other), tmp_path).state_dict()
    loader = _loader(dataset, tmp_path)
    with pytest.raises(LoaderError, match="fingerprint"):
        loader.load_state_dict(state)
    with pytest.raises(LoaderError, match="seq_len"):
        loader.load_state_dict({**loader.state_dict(), "seq_len": 64})


def test_index_is_cached_and_gives_the_same_batches(dataset, tmp_path):
    a = _loader(dataset, tmp_path, packing="best_fit")
    b = _loader(dataset, tmp_path, packing="best_fit")
    assert not a.index_cached and b.index_cached
    assert all(_same(x, y) for x, y in zip(_take(a, 3), _take(b, 3)))
    assert 0 < a.stats()["padding_rate"] < 0.05 and a.stats()["truncation_rate"] < 0.05


def test_memory_filesystem_gives_the_same_batches(dataset, tmp_path):
    fs = fsspec.filesystem("memory")
    for dirpath, _, files in os.walk(dataset):
        for f in files:
            if ".lmforge-index" not in dirpath:
                rel = os.path.relpath(os.path.join(dirpath, f), dataset)
                with open(os.path.join(dirpath, f), "rb") as fh:
                    fs.pipe(f"/loader-ds/{rel}", fh.read())
    local = _take(_loader(dataset, tmp_path), 5)
    remote = _loader(
        "memory://loader-ds", tmp_path, remote_cache_dir=str(tmp_path / "cache"), remote_cache_bytes=10**9
    )
    assert all(_same(x, y) for x, y in zip(local, _take(remote, 5)))
    assert sorted(os.listdir(tmp_path / "cache")) == sorted(
        f"{s.sha256}.arrow" for s in load_manifest(dataset).shards_for("train")
    )
    # corrupt the remote copy: a fresh cache refuses it and names the shard
    name = sorted(s.path for s in load_manifest(dataset).shards_for("train"))[0]
    data = bytearray(fs.cat(f"/loader-ds/{name}"))
    data[len(data) // 2] ^= 0xFF
    fs.pipe(f"/loader-ds/{name}", bytes(data))
    with pytest.raises(ChecksumError, match=name):
        _loader("memory://loader-ds", tmp_path / "x", remote_cache_dir=str(tmp_path / "cache2"))
    fs.rm("/loader-ds", recursive=True)


def test_corrupted_local_shard_is_named_even_after_a_verified_start(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns(".lmforge-index"))
    _loader(str(copy), tmp_path)  # verifies and remembers every shard
    name = sorted(s.path for s in load_manifest(str(copy)).shards_for("train"))[1]
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=name):
        _loader(str(copy), tmp_path)


def _reference_batch(index, samples, seq_len, shards, pad_id):
    """The batch contract written row by row in plain Python, to check the vectorised builder."""
    width = seq_len + 1
    out = {k: [] for k in ("input_ids", "targets", "position_ids", "segment_ids", "loss_mask", "token_bytes")}
    cu = []
    for r, s in enumerate(samples):
        tok, seg, pos, bpt = [], [], [], []
        if s >= 0:
            for k, p in enumerate(range(index.sample_ptr[s], index.sample_ptr[s + 1])):
                n, st = int(index.piece_len[p]), int(index.piece_start[p])
                tok += shards[index.piece_shard[p]][st : st + n].tolist()
                seg += [k] * n
                pos += list(range(n))
                bpt += [float(index.piece_bpt[p])] * n
        pad = width - len(tok)
        tok, seg, pos, bpt = tok + [pad_id] * pad, seg + [-1] * pad, pos + [0] * pad, bpt + [0.0] * pad
        mask = [float(seg[c] >= 0 and seg[c] == seg[c + 1]) for c in range(seq_len)]
        cu += [r * seq_len + c for c in range(seq_len) if c == 0 or seg[c] != seg[c - 1]]
        out["input_ids"].append(tok[:-1])
        out["targets"].append(tok[1:])
        out["position_ids"].append(pos[:-1])
        out["segment_ids"].append(seg[:-1])
        out["loss_mask"].append(mask)
        out["token_bytes"].append([b * m for b, m in zip(bpt[1:], mask)])
    res = {k: np.asarray(v) for k, v in out.items()}
    res["cu_seqlens"] = np.asarray([*cu, len(samples) * seq_len])
    return res


@pytest.mark.parametrize("seed", range(20))
def test_batch_builder_matches_row_by_row_reference(seed):
    from lm_train.data.batch import SampleIndex, build_batch

    rng = np.random.default_rng(seed)
    seq = int(rng.integers(4, 40))
    shards = [rng.integers(0, 1000, size=5000).astype(np.uint16) for _ in range(3)]
    shard, start, length, ptr = [], [], [], [0]
    for _ in range(int(rng.integers(1, 20))):  # samples: full or partly padded rows of pieces
        room = seq + 1 if rng.random() < 0.5 else int(rng.integers(1, seq + 2))
        first = True
        while room > 0 and (first or rng.random() > 0.3):
            n, sh = int(rng.integers(1, room + 1)), int(rng.integers(3))
            contiguous = not first and rng.random() < 0.4 and shard[-1] == sh
            start.append(start[-1] + length[-1] if contiguous else int(rng.integers(0, 4000)))
            shard.append(sh)
            length.append(n)
            room -= n
            first = False
        ptr.append(len(shard))
    index = SampleIndex(
        np.asarray(shard, np.int32),
        np.asarray(start, np.int64),
        np.asarray(length, np.int32),
        rng.random(len(shard)).astype(np.float32),
        np.asarray(ptr, np.int64),
    )
    samples = rng.integers(-1, len(ptr) - 1, size=int(rng.integers(1, 6)))  # -1: an all-padding row
    got = build_batch(index, samples, seq, lambda i: shards[i], pad_id=7)
    want = _reference_batch(index, samples, seq, shards, 7)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=0, err_msg=k)
    assert got["input_ids"].dtype == got["targets"].dtype == got["position_ids"].dtype == np.int64


def test_worker_ring_hands_over_batches_and_refuses_an_overwritten_slot():
    from lm_train.data.ring import BatchRing, RingError

    ring = BatchRing(workers=2, slots=3, slot_bytes=1024)
    batch = {"a": np.arange(12, dtype=np.int64).reshape(3, 4), "b": np.full(5, -1, np.int32)}
    layout = ring.write(1, 7, batch)
    got = ring.read(1, 7, layout)
    assert torch.equal(got["a"], torch.from_numpy(batch["a"])) and torch.equal(
        got["b"], torch.from_numpy(batch["b"])
    )
    ring.write(1, 10, {"a": batch["a"] + 1, "b": batch["b"]})  # item 10 reuses item 7's slot
    assert torch.equal(got["a"], torch.from_numpy(batch["a"]))  # what was read is a copy
    with pytest.raises(RingError):
        ring.read(1, 7, layout)
    with pytest.raises(RingError, match="does not fit"):
        ring.write(0, 0, {"a": np.zeros(1000, np.int64)})


def _loader_leftovers() -> tuple[list, list[str], set[str]]:
    """Live worker processes, live reader threads and torch shared-memory files in /dev/shm."""
    shm = (
        {n for n in os.listdir("/dev/shm") if n.startswith("torch_")} if os.path.isdir("/dev/shm") else set()
    )
    readers = [t.name for t in threading.enumerate() if t.name == "lmforge-loader-reader"]
    return multiprocessing.active_children(), readers, shm


def _settled(shm_before: set[str], timeout_s: float = 20.0) -> tuple[list, list[str], set[str]]:
    """What is left of the loader once shutdown had ``timeout_s`` to finish."""
    deadline = time.monotonic() + timeout_s
    while True:
        gc.collect()
        children, readers, shm = _loader_leftovers()
        left = (children, readers, shm - shm_before)
        if not any(left) or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_workers_stop_cleanly_when_the_consumer_stops_early(dataset, tmp_path):
    assert not multiprocessing.active_children()
    shm_before = _loader_leftovers()[2]
    batches = iter(_loader(dataset, tmp_path, num_workers=2))
    first = [next(batches) for _ in range(3)]
    children, readers, _ = _loader_leftovers()
    assert len(children) == 2 and readers == ["lmforge-loader-reader"]  # the workers were running
    del batches  # a consumer that stops early: break out of the loop, drop the iterator
    assert _settled(shm_before) == ([], [], set())  # workers joined, reader thread ended, no shm left
    again = _take(_loader(dataset, tmp_path, num_workers=2), 3)
    assert all(_same(a, b) for a, b in zip(first, again))
    assert _settled(shm_before) == ([], [], set())


# -- hostile caches and shards: validated before the kernels index memory with them -------------
def _cache_dir(tmp_path) -> str:
    (d,) = [p for p in (tmp_path / "idx").iterdir() if not p.name.startswith(".") and p.is_dir()]
    return str(d)


def _rewrite_cache(loader: PackedLoader, tmp_path, edit, forge_checksum: bool = True) -> None:
    """Edit the cached arrays of ``loader``'s index; with ``forge_checksum`` recompute it too."""
    import json

    from lm_train.data.index import _ARRAYS, index_checksum, index_settings

    d = _cache_dir(tmp_path)
    arrays = {n: np.load(os.path.join(d, f"{n}.npy")) for n in _ARRAYS}
    edit(arrays)
    for n, a in arrays.items():
        np.save(os.path.join(d, f"{n}.npy"), a)
    if forge_checksum:
        meta_path = os.path.join(d, "meta.json")
        with open(meta_path) as f:
            meta = json.load(f)
        cfg = loader.config
        names = [n for n, _ in loader.datasets]
        settings = index_settings(
            loader.fingerprint, loader.split, cfg.seq_len, cfg.packing, cfg.mix_by, names
        )
        meta["checksum"] = index_checksum(settings, arrays, meta["group_names"], meta["stats"])
        with open(meta_path, "w") as f:
            json.dump(meta, f)


def _far(a):
    a["piece_start"][:] = 2**40
    a["piece_len"][:] = 10**6


def _shard_id(a):
    a["piece_shard"][3] = 7


def _negative(a):
    a["piece_start"][0] = -5


def _empty_piece(a):
    a["piece_len"][1] = 0


def _overfull(a):
    a["piece_len"][0] = SEQ + 1
    a["piece_start"][0] = 0


def _backwards(a):
    a["sample_ptr"][2], a["sample_ptr"][3] = a["sample_ptr"][3], a["sample_ptr"][2]


def _groups(a):
    a["group_ptr"][-1] += 1


def _dtype(a):
    a["piece_len"] = a["piece_len"].astype(np.int64)


def _nan(a):
    a["piece_bpt"][0] = np.nan


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_far, "covers tokens 1099511627776..+1000000"),
        (_shard_id, "names shard 7, the split has 3"),
        (_negative, "negative start"),
        (_empty_piece, "length below 1"),
        (_overfull, "more than seq_len + 1"),
        (_backwards, "sample_ptr must rise"),
        (_groups, "group_ptr must rise"),
        (_dtype, "piece_len.npy holds int64"),
        (_nan, "non-finite"),
    ],
)
def test_a_forged_index_cache_is_refused_and_rebuilt(dataset, tmp_path, capsys, edit, problem):
    fresh = _loader(dataset, tmp_path)
    expected = _take(fresh, 4)
    _rewrite_cache(fresh, tmp_path, edit)
    capsys.readouterr()
    again = _loader(dataset, tmp_path)
    assert not again.index_cached and problem in again.index_refused
    assert f"lmforge loader: warning: {again.index_refused}" in capsys.readouterr().err
    assert all(_same(x, y) for x, y in zip(expected, _take(again, 4)))  # rebuilt: the same stream
    assert _loader(dataset, tmp_path).index_cached  # and cached again


def test_a_damaged_index_cache_fails_its_checksum(dataset, tmp_path):
    fresh = _loader(dataset, tmp_path)

    def flip(a):
        a["piece_start"][5] ^= 1

    _rewrite_cache(fresh, tmp_path, flip, forge_checksum=False)
    again = _loader(dataset, tmp_path)
    assert "checksum does not match" in again.index_refused
    assert all(_same(x, y) for x, y in zip(_take(fresh, 2), _take(again, 2)))


def test_an_index_header_claiming_a_huge_array_allocates_nothing(dataset, tmp_path):
    _loader(dataset, tmp_path)
    path = os.path.join(_cache_dir(tmp_path), "piece_start.npy")
    with open(path, "wb") as f:  # a valid header for 2**40 int64 entries, and no data
        np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": (2**40,)})
    again = _loader(dataset, tmp_path)
    assert "piece_start.npy holds int64 (1099511627776,)" in again.index_refused


def test_an_index_root_symlinked_out_of_the_dataset_is_not_used(dataset, tmp_path):
    from lm_train.data.loader import _default_index_root

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns(".lmforge-index"))
    (tmp_path / "elsewhere").mkdir()
    (copy / ".lmforge-index").symlink_to(tmp_path / "elsewhere")
    assert _default_index_root([str(copy)]) == os.path.join(
        os.path.expanduser("~"), ".cache", "lmforge", "index"
    )
    (copy / ".lmforge-index").unlink()
    assert _default_index_root([str(copy)]) == str(copy / ".lmforge-index")


def _shrink_vocab(root, vocab: int) -> None:
    import json

    path = os.path.join(root, "manifest.json")
    with open(path) as f:
        data = json.load(f)
    data["tokenizer"]["vocab_size"] = vocab  # outside the fingerprint: the manifest still loads
    with open(path, "w") as f:
        json.dump(data, f)


def test_token_ids_beyond_the_vocabulary_are_refused_when_a_shard_is_first_opened(dataset, tmp_path):
    from schemas import TokenShardError

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns(".lmforge-index"))
    _loader(str(copy), tmp_path)  # the index is cached: the shards are not opened at start
    _shrink_vocab(str(copy), 100)
    cached = _loader(str(copy), tmp_path)
    assert cached.index_cached
    with pytest.raises(TokenShardError, match=r"holds token id \d+, not below the manifest's vocab_size 100"):
        cached.batch_at(0)
    with pytest.raises(TokenShardError, match="not below the manifest's vocab_size 100"):
        _loader(str(copy), tmp_path / "fresh")  # building the index opens every shard


@pytest.mark.parametrize(
    ("num_tokens", "message"),
    [
        (10**9, r"says 1,000,000,000 uint16 tokens \(2,000,000,000 bytes\), but the file has only"),
        (None, "holds"),
    ],
)
def test_a_token_count_the_shard_does_not_hold_is_refused(dataset, tmp_path, num_tokens, message):
    import json

    from schemas import TokenShardError

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns(".lmforge-index"))
    path = copy / "manifest.json"
    data = json.loads(path.read_text())
    shard = next(s for s in data["shards"] if s["split"] == "train")
    shard["num_tokens"] = num_tokens or shard["num_tokens"] - 1
    path.write_text(json.dumps(data))
    with pytest.raises(TokenShardError, match=message):
        _loader(str(copy), tmp_path)


def test_a_verified_record_that_is_not_an_object_is_ignored(dataset, tmp_path):
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "verified-shards.json").write_text("[1, 2]")
    assert _loader(dataset, tmp_path).samples_per_epoch > 0


def test_a_loader_state_that_is_not_one_is_refused(dataset, tmp_path):
    loader = _loader(dataset, tmp_path)
    for bad in ([1, 2], {**loader.state_dict(), "consumed_samples": "8"}, {"format": "lmforge.loader/1"}):
        with pytest.raises(LoaderError):
            loader.load_state_dict(bad)

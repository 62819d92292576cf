"""``lm_train.data``: memory-mapped token shards → packed, shuffled, exactly resumable DDP batches.

    from lm_train.data import LoaderConfig, PackedLoader
    loader = PackedLoader("DIR", "train", LoaderConfig(seq_len=256, global_batch_size=64), rank, world_size)

See docs/architecture.md ("the loader contract") for the batch keys and the guarantees.
"""

from lm_train.data.config import LoaderConfig, LoaderError
from lm_train.data.loader import PackedLoader
from lm_train.data.synthetic import SyntheticSpec, write_synthetic_dataset

__all__ = ["LoaderConfig", "LoaderError", "PackedLoader", "SyntheticSpec", "write_synthetic_dataset"]

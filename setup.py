"""lmforge: raw text in, a trained language model out.

One distribution, four packages: ``schemas`` (the data contract), ``lmcore`` (the core both
halves import), ``pipelines`` (Apache Beam data preparation, extra ``[pipelines]``) and
``lm_train`` (PyTorch trainer, extra ``[train]``); ``[all]`` installs both halves.
"""

from setuptools import find_namespace_packages, setup

# What both halves need: the shared core (lmcore, schemas), tokenizers, reports.
INSTALL_REQUIRES = [
    # Beam caps pyarrow (<26) and numpy (<2.5); stay inside its range.
    "pyarrow>=18,<26",
    "numpy>=1.26,<2.5",
    "fsspec>=2024.6",
    "xxhash>=3.4",
    "pyyaml>=6",
    "tokenizers>=0.21,<0.24",
    # compiled kernels of dedup's shingling and the loader's batch builder
    # (lm_train/data/batch.py); 0.61+ supports numpy 2.x
    "numba>=0.61,<0.70",
    # reports of both halves: pages from templates, figures as PNG
    "jinja2>=3.1",
    "matplotlib>=3.8",
    # lmcore.text: mojibake repair when normalising text (clean, prepare_task, predict)
    "ftfy>=6.1",
    # Chinese word segmentation (jieba's algorithm, in Rust): the cleaner's Chinese rules and
    # lmcore.words (word embeddings, GloVe co-occurrences)
    "rjieba>=0.2",
]

# The data side: `pip install -e '.[pipelines]'` (no torch).
PIPELINES_REQUIRE = [
    "apache-beam==2.77.*",
    "datasketch>=1.6,<3",
    "zstandard>=0.22",
    "warcio>=1.7",
    "resiliparse>=0.15",
    "trafilatura>=2.0",
    "py3langid>=0.3",
    "opencc>=1.4.2,<1.5",  # clean/chinese.py: Traditional -> Simplified; dictionaries are in the wheel
    # The dataset report's plots draw Chinese labels with the Noto Sans CJK collection this
    # package ships (fonts by Google, SIL Open Font License 1.1; ~15 MB wheel), so no system
    # font is needed. pipelines/report/plots.py registers it with matplotlib at plot time.
    "noto-cjk-sans-otc>=0.0.1",
]

# The trainer: `pip install -e '.[train]'` (no Apache Beam).
TRAIN_REQUIRE = [
    # A CPU wheel of exactly this version lies on disk; other versions download gigabytes.
    "torch==2.13.0",
    "tensorboard>=2.16",
    # word embeddings: skip-gram and CBOW (lm_train.word2vec), KeyedVectors export and the
    # word-similarity and analogy sets its wheel ships (lm_train.embeddings)
    "gensim>=4.3,<5",
    # seq2seq evaluation: BLEU and chrF as sacrebleu computes them (zh tokenisation included)
    "sacrebleu>=2.4,<3",
    # lm_train.export: weights as safetensors (no pickle) in a Hugging Face model directory
    "safetensors>=0.4",
]

EXTRAS_REQUIRE = {
    "pipelines": PIPELINES_REQUIRE,
    "train": TRAIN_REQUIRE,
    "all": PIPELINES_REQUIRE + TRAIN_REQUIRE,
    "dev": [
        "pytest>=8",
        "pytest-xdist>=3.5",
        "pytest-timeout>=2.3",
        "psutil>=5.9",  # bench/: peak memory of the reference tools
        "hypothesis>=6.100",
        "ruff>=0.8",
        # docs/datasets-hf.md is tested for real (tests/test_cli_pipelines_docs.py)
        "datasets>=5.2",
        # the DuckDB query over documents' meta.quality in `pipelines.report --help` is tested
        "duckdb>=1.1",
        # bench/bench_finetune.py: the TF-IDF + logistic-regression baseline fine-tuning is compared with
        "scikit-learn>=1.4",
        # lm_train.export loads its result back with the Auto classes (tests do too)
        "transformers>=5.0,<6",
        # docs/datasets-hf.md's Polars one-liner over document Parquet is tested
        "polars>=1.0",
        # the pipelines on Beam's Dask runner against a dask.distributed LocalCluster, reading
        # and writing s3:// on a loopback S3-compatible server (moto's server mode)
        "dask[distributed]>=2024.4.2",
        "moto[server]>=5",
        "s3fs>=2024.6",
    ],
    "s3": ["s3fs>=2024.6"],
    # Beam's Dask runner (apache_beam.runners.dask) on a dask.distributed cluster
    "dask": ["dask[distributed]>=2024.4.2"],
    "gcs": ["gcsfs>=2024.6"],
    "airflow": ["apache-airflow>=2.9", "apache-airflow-providers-apache-beam>=5.7"],
}

setup(
    name="lmforge",
    version="0.1.0",
    description="Beam pipelines that turn raw text into Arrow token shards, and a DDP trainer that streams them.",
    python_requires=">=3.11",
    # namespace discovery: data folders (lm_train/configs, pipelines/clean/languages) are
    # packages of their own, so setuptools ships them without a warning per folder
    packages=find_namespace_packages(
        include=[
            "schemas",
            "schemas.*",
            "lmcore",
            "lmcore.*",
            "pipelines",
            "pipelines.*",
            "lm_train",
            "lm_train.*",
        ],
        exclude=["*.__pycache__"],
    ),
    package_data={
        "pipelines": [
            "configs/*.yaml",
            "configs/**/*.yaml",
            "clean/languages/*.yaml",
            "report/templates/*.j2",
            "report/templates/sections/*.j2",
        ],
        "lmcore": ["report/templates/*.j2", "report/templates/*.css"],
        "schemas": ["README.md"],
        "lm_train": ["configs/*.yaml", "embeddings/templates/*.j2"],
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)

# lmforge: every target creates/updates the virtualenv it needs.
# The two commands a newcomer needs: `make demo` and `make test`.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lmforge-installed

# Variables for the thin wrappers (override on the command line).
INPUT  ?= data/sample/raw
OUT    ?= runs/dataset
DATA   ?= $(OUT)
RUN    ?= runs/train
NPROC  ?= 2
CONFIG ?=
TRAIN_ARGS ?=
PREPARE_ARGS ?=
DIR    ?= $(OUT)

.PHONY: setup test demo lint format bench bench-data prepare train report verify clean-venv cluster

setup: $(STAMP)

# Reinstall only when the packaging metadata changed; otherwise this is a no-op.
$(STAMP): setup.py
	@test -x $(PY) || { echo "setup: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "setup: installing lmforge and its dependencies into $(VENV) (the first time takes a few minutes)"
	@$(PY) -m pip install -qq --upgrade pip
	@PYTHONWARNINGS=ignore $(PY) -m pip install -qq --progress-bar off -e '.[all,dev]'
	@touch $(STAMP)
	@echo "setup: done ($$($(PY) -m pip list --format=freeze 2>/dev/null | wc -l) packages)"

test: setup
	$(PY) -m pytest -q -n 2 tests

demo: setup
	$(PY) scripts/demo.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup bench-data
	$(PY) -m bench.run_all $(BENCH_ARGS)

# Real-text corpus of the benchmarks (bench/realtext/README.md): Debian packages installed
# by setup.sh, documents written to bench/data/realtext/ (gitignored). Rebuilt only when
# missing or when the builder changed.
REALTEXT := bench/data/realtext/manifest.json
bench-data: setup $(REALTEXT)

$(REALTEXT): bench/realtext/build_corpus.py bench/realtext/setup.sh
	bash bench/realtext/setup.sh
	$(PY) -m bench.realtext.build_corpus

# A local dask.distributed cluster on loopback for --runner=DaskRunner (deploy/README.md):
# a scheduler and WORKERS worker processes of one thread each; Ctrl-C stops them all.
WORKERS   ?= 2
DASK_PORT ?= 8786
cluster: setup
	@echo "cluster: scheduler tcp://127.0.0.1:$(DASK_PORT), $(WORKERS) worker process(es); Ctrl-C stops them"
	@echo "cluster: $(PY) -m pipelines.prepare --input=... --output=... --runner=DaskRunner --dask_client_address=127.0.0.1:$(DASK_PORT)"
	@$(VENV)/bin/dask scheduler --host 127.0.0.1 --port $(DASK_PORT) --no-dashboard & s=$$!; \
	OMP_NUM_THREADS=1 $(VENV)/bin/dask worker tcp://127.0.0.1:$(DASK_PORT) --nworkers $(WORKERS) --nthreads 1 \
	  --host 127.0.0.1 --no-dashboard & w=$$!; \
	trap 'kill $$w 2>/dev/null; wait $$w; kill $$s 2>/dev/null; wait $$s' INT TERM EXIT; wait $$w

prepare: setup
	$(PY) -m pipelines.prepare $(foreach i,$(INPUT),--input=$(i)) --output=$(OUT) $(if $(CONFIG),--config=$(CONFIG)) $(PREPARE_ARGS)

verify: setup
	$(PY) -m pipelines.verify $(DIR)

train: setup
	$(VENV)/bin/torchrun --standalone --nproc-per-node=$(NPROC) -m lm_train.train --data=$(DATA) --out=$(RUN) $(if $(CONFIG),--config=$(CONFIG)) $(TRAIN_ARGS)

report: setup
	$(PY) -m pipelines.report $(DIR)
	@test ! -d $(RUN) || $(PY) -m lm_train.report $(RUN)

clean-venv:
	rm -rf $(VENV)

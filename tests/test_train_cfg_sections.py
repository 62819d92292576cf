"""The trainer's config by section: flat, dotted and nested keys mean the same, old flat run
directories still load and resume, and each model's settings come from its own class."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lm_train.config import OBJECTIVES, TrainConfig, flatten, load_config, parse_overrides
from lm_train.data import LoaderConfig, LoaderError
from lm_train.models import MODEL_REGISTRY, GPTConfig, RNNConfig
from lm_train.resume import checkpoint_batch_split, config_differences
from lmcore.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent

# A config.yaml as runs before the sections wrote it: every key flat, n_head and attention
# included for a recurrent model.
OLD_FLAT_LSTM = {
    "model": "lstm",
    "n_layer": 2,
    "n_head": 4,
    "d_model": 32,
    "d_ff": 0,
    "dropout": 0.0,
    "rope_theta": 10000.0,
    "tie_embeddings": True,
    "attention": "auto",
    "seq_len": 64,
    "batch_size": 4,
    "grad_accum": 2,
    "packing": "concat",
    "data_workers": 0,
    "dataset_version": 0,
    "lr": 0.001,
    "min_lr_ratio": 0.1,
    "schedule": "wsd",
    "warmup_steps": 10,
    "decay_frac": 0.2,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.95,
    "eps": 1e-08,
    "grad_clip": 1.0,
    "max_steps": 100,
    "eval_every": 50,
    "eval_steps": 4,
    "ckpt_every": 50,
    "keep_ckpts": 3,
    "log_every": 10,
    "tensorboard": False,
    "seed": 3,
    "compile": False,
    "dtype": "float32",
    "device": "cpu",
    "peak_flops": 0.0,
}


def test_flat_dotted_nested_and_section_names_mean_the_same():
    flat = TrainConfig(model="lstm", n_layer=2, lr=1e-3, seq_len=64, objective="causal_lm")
    dotted = TrainConfig.from_dict(
        {"model.name": "lstm", "model.n_layer": 2, "optim.lr": 1e-3, "data.seq_len": 64}
    )
    nested = TrainConfig.from_dict(
        {"model": {"name": "lstm", "n_layer": 2}, "optim": {"lr": 1e-3}, "data": {"seq_len": 64}}
    )
    assert flat == dotted == nested
    assert isinstance(flat.model, RNNConfig) and flat.model.name == "lstm"
    assert (flat.optim.lr, flat.data.seq_len, flat.objective.name) == (1e-3, 64, "causal_lm")
    assert flat.lr == flat.optim.lr and flat.seq_len == 64  # flat reads, for older callers


def test_the_written_config_is_nested_and_loads_back(tmp_path):
    cfg = TrainConfig(model="gpt", n_head=2, d_model=32, max_steps=7)
    text = cfg.to_yaml()
    data = yaml.safe_load(text)
    assert list(data) == ["model", "data", "optim", "objective", "run", "runtime"]
    assert data["model"]["name"] == "gpt" and data["optim"]["max_steps"] == 7
    (tmp_path / "config.yaml").write_text(text)
    assert load_config(str(tmp_path / "config.yaml")) == cfg
    assert TrainConfig.from_dict(cfg.flat_dict()) == cfg


def test_an_override_of_the_model_name_keeps_the_files_model_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: gpt\n  n_layer: 3\n  n_head: 8\noptim:\n  lr: 1.0e-3\n")
    cfg = load_config(str(path), parse_overrides(["model=gru", "optim.lr=2e-3", "d_model=64"]))
    assert cfg.model == RNNConfig(name="gru", n_layer=3, d_model=64)  # n_head: a gpt key, ignored
    assert cfg.optim.lr == 2e-3


def test_an_old_flat_config_loads_and_resumes_against_the_nested_one():
    cfg = TrainConfig.from_dict(OLD_FLAT_LSTM)
    assert cfg.model == RNNConfig(name="lstm", n_layer=2, d_model=32)
    assert (cfg.data.grad_accum, cfg.optim.schedule, cfg.run.tensorboard, cfg.runtime.seed) == (
        2,
        "wsd",
        False,
        3,
    )
    nested = cfg.to_dict()
    assert config_differences(OLD_FLAT_LSTM, nested) == {}
    assert config_differences(nested, OLD_FLAT_LSTM) == {}
    changed = {**nested, "optim": {**nested["optim"], "lr": 0.5, "max_steps": 900}}
    assert config_differences(OLD_FLAT_LSTM, changed) == {"lr": (0.001, 0.5)}  # max_steps may change
    split = checkpoint_batch_split({"config": nested, "world_size": 2})
    assert split == checkpoint_batch_split({"config": OLD_FLAT_LSTM, "world_size": 2})
    assert split.global_batch == 4 * 2 * 2


def test_shipped_nested_files_are_what_their_flat_keys_say():
    for name in ("tiny.yaml", "gpt2-small.yaml"):
        data = yaml.safe_load((ROOT / "lm_train" / "configs" / name).read_text())
        assert set(data) <= {"model", "data", "optim", "objective", "run", "runtime"}, name
        assert load_config(str(ROOT / "lm_train" / "configs" / name)) == TrainConfig.from_dict(flatten(data))


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"name": "gpt"}, "key 'name' is in several sections; write model.name or objective.name"),
        ({"n_layers": 2}, "unknown key(s) ['n_layers']; known keys: ['attention', "),
        ({"optimizer.lr": 1.0}, "unknown key(s) ['optimizer.lr']"),
        ({"optim.learning_rate": 1.0}, "unknown key(s) ['learning_rate']"),
        ({"data": 3}, "config.data: expected a mapping of data keys, got 3"),
        (
            {"objective": "translate"},
            "objective must be one of causal_lm, masked_lm, classify, seq2seq, not 'translate'",
        ),
        (
            {"model": "transformer"},
            "model must be one of gpt, rnn, lstm, gru, bert, seq2seq, not 'transformer'",
        ),
        ({"model": {"name": "gpt", "d_model": 30, "n_head": 4}}, "d_model must be divisible by n_head"),
        ({"min_lr_ratio": 2.0}, "min_lr_ratio must be in [0, 1], not 2.0"),
        ({"dtype": "float16"}, "dtype must be one of auto, float32, bfloat16, not 'float16'"),
    ],
)
def test_bad_keys_and_values_are_one_config_error_naming_the_key(settings, needle):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(settings)
    assert needle in str(info.value) and str(info.value).startswith("config")


def test_every_registered_model_has_settings_that_build_it():
    assert isinstance(TrainConfig().model, GPTConfig)
    for name, cls in MODEL_REGISTRY.items():
        cfg = TrainConfig(model=name, n_layer=1, d_model=16, n_head=2, seq_len=8)
        assert type(cfg.model) is cls and cfg.model.name == name
        model = cfg.model.build(vocab_size=50, max_seq_len=cfg.data.seq_len)
        assert model.num_params() > 0


def test_objective_names_are_the_registered_losses():
    from lm_train.objectives import OBJECTIVES as LOSSES

    assert tuple(LOSSES) == OBJECTIVES


def test_gpt_attention_auto_is_decided_for_the_device():
    gpt = GPTConfig()
    assert gpt.for_device("cuda", compiled=True).attention == "flex"
    assert gpt.for_device("cuda", compiled=False).attention == "sdpa"
    assert gpt.for_device("cpu", compiled=True).attention == "sdpa"
    assert GPTConfig(attention="sdpa").for_device("cuda", compiled=True).attention == "sdpa"
    assert RNNConfig().for_device("cuda", compiled=True) == RNNConfig()


def test_loader_settings_errors_are_config_errors():
    with pytest.raises(ConfigError, match="packing must be one of concat, best_fit"):
        LoaderConfig(packing="tight")
    with pytest.raises(ConfigError, match="seq_len must be >= 1"):
        LoaderConfig(seq_len=0)
    assert issubclass(LoaderError, ConfigError)


def test_the_config_and_the_model_registry_import_no_torch():
    code = (
        "import sys, lm_train.config, lm_train.models, lm_train.resume\n"
        "lm_train.config.load_config(None, {'model': 'lstm'})\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "False", result.stderr

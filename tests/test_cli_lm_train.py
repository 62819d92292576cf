"""The ``lm_train`` commands as a user starts them: ``--help`` is quick and complete, argument
order does not matter."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml

from lm_train.config import describe_keys

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = [
    "lm_train.train",
    "lm_train.generate",
    "lm_train.report",
    "lm_train.evaluate",
    "lm_train.predict",
    "lm_train.embeddings",
    "lm_train.export",
]


def _python(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    return result, time.perf_counter() - started


@pytest.mark.parametrize("module", COMMANDS)
def test_help_is_quick_and_names_the_module(module):
    result, seconds = _python("-m", module, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module} ")
    assert seconds < 3.0, f"{module} --help took {seconds:.2f} s"


def test_the_command_modules_do_not_import_torch_before_parsing():
    code = (
        "import sys, lm_train.train, lm_train.generate, lm_train.report, lm_train.evaluate, lm_train.predict\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'tokenizers'}))"
    )
    result, _ = _python("-c", code)
    assert result.stdout.strip() == "[]", result.stderr


def test_train_help_shows_defaults_and_every_config_key():
    result, _ = _python("-m", "lm_train.train", "--help")
    text = result.stdout
    assert "(default: never)" in text and "key=value" in text
    for key in describe_keys():
        assert f"    {key.name} " in text, key.name


def test_every_generate_option_has_help_and_shows_its_default():
    from lm_train.generate import build_parser

    ap = build_parser()
    for action in ap._actions:
        assert action.help, action.dest
    text = " ".join(ap.format_help().split())  # argparse wraps lines anywhere
    for default in ("(default: 0.8)", "(default: 40)", "(default: 100)", "(default: 0)"):
        assert default in text


def test_overrides_after_an_option_reach_the_trainer(tmp_path):
    # The reported command line: a plain nargs="*" positional would stop at "max_steps=40".
    missing = str(tmp_path / "no-dataset")
    result, _ = _python(
        "-m", "lm_train.train", "--data", missing, "model=gpt", "--out", str(tmp_path / "r"), "max_steps=40"
    )
    assert "unrecognized arguments" not in result.stderr
    assert result.returncode == 1 and "no-dataset" in result.stderr  # got as far as reading the dataset
    printed, _ = _python(
        "-m", "lm_train.train", "--data", "D", "model=lstm", "--out", "R", "max_steps=40", "--print-config"
    )
    assert printed.returncode == 0, printed.stderr
    config = yaml.safe_load(printed.stdout)  # nested by section
    assert (config["model"]["name"], config["optim"]["max_steps"]) == ("lstm", 40)


@pytest.mark.parametrize(
    ("argv", "env", "code", "needle"),
    [
        (["--data", "README.md", "--out", "x"], {}, 1, "README.md is a file, not a dataset directory"),
        (["--data", "D", "--out", "R", "lr=[1"], {}, 2, "override 'lr=[1': the value is not valid YAML"),
        (["--data", "D", "--out", "R", "lr"], {}, 2, "argument 'lr' is neither an option nor a key=value"),
        (
            ["--data", "data", "--out", "R", "device=cuda"],
            {"CUDA_VISIBLE_DEVICES": ""},
            1,
            "device=cuda, but this machine has no usable CUDA device",
        ),
    ],
)
def test_a_bad_command_line_is_one_line_and_an_exit_code(argv, env, code, needle):
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "lm_train.train", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr and time.perf_counter() - started < 60

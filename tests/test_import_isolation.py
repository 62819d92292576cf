"""The two halves install and run apart: the trainer without Apache Beam, the pipelines without torch.

A GPU node should not need Beam and a Beam worker should not need torch. The static checks
read every module's imports; the slow checks run each half end to end in a fresh
interpreter in which the other half's framework cannot be imported at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level modules it must never import
FORBIDDEN = {
    "schemas": {"apache_beam", "torch", "pipelines", "lm_train", "lmcore"},
    "lmcore": {"apache_beam", "torch", "pipelines", "lm_train"},
    "lm_train": {"apache_beam", "pipelines"},
    "pipelines": {"torch", "lm_train"},
}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every import statement in a file, including those inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_the_other_half(package):
    offenders = [
        f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if (bad := imported_top_levels(path) & FORBIDDEN[package])
    ]
    assert not offenders, "\n".join(offenders)


def _requirements() -> dict[str, set[str]]:
    """Installed lmforge's requirement names by extra ('' = always installed)."""
    out: dict[str, set[str]] = {}
    for req in metadata.requires("lmforge") or []:
        spec, _, marker = req.partition(";")
        name = spec.strip().split()[0]
        for sep in ("=", "<", ">", "!", "~", "[", "("):
            name = name.split(sep)[0]
        extra = marker.split("extra ==")[-1].strip().strip("'\"") if "extra" in marker else ""
        out.setdefault(extra, set()).add(name.lower().replace("_", "-"))
    return out


def test_the_extras_keep_torch_and_beam_apart():
    reqs = _requirements()
    assert not reqs[""] & {"torch", "apache-beam"}, "the base install must need neither half's framework"
    assert "apache-beam" in reqs["pipelines"] and "torch" not in reqs["pipelines"]
    assert "torch" in reqs["train"] and "apache-beam" not in reqs["train"]
    assert reqs["pipelines"] | reqs["train"] <= reqs["all"]


BLOCKER = """
import importlib.abc, sys

class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {blocked!r} or name.startswith({blocked!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed here)", name=name)
        return None

sys.meta_path.insert(0, _Blocked())
"""


def _run_without(blocked: str, body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    code = BLOCKER.format(blocked=blocked) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "SOURCE_DATE_EPOCH": "1700000000"},
    )


@pytest.mark.slow
def test_the_trainer_trains_generates_and_reports_without_apache_beam(tmp_path):
    proc = _run_without(
        "apache_beam",
        """
        import sys
        import lm_train.data, lm_train.train, lm_train.generate, lm_train.report
        from lm_train import generate, report
        from lm_train.testing import sample_texts, write_text_dataset
        from lm_train.train import main

        tmp = sys.argv[1]
        data = str(write_text_dataset(tmp + "/ds", sample_texts(n_en=8, n_zh=8, max_chars=600), vocab_size=300))
        run = tmp + "/run"
        args = ["--data", data, "--out", run, "seq_len=16", "batch_size=4", "n_layer=1", "n_head=2",
                "d_model=16", "max_steps=3", "eval_every=0", "eval_steps=1", "peak_flops=1e11",
                "tensorboard=false"]
        assert main(args) == 0
        assert generate.main(["--checkpoint", run, "--prompt", "The", "--max-new-tokens", "4"]) == 0
        assert report.main([run, "--samples", "1", "--sample-tokens", "4"]) == 0
        assert "apache_beam" not in sys.modules
        print("TRAINED WITHOUT BEAM")
        """,
        tmp_path,
    )
    assert proc.returncode == 0 and "TRAINED WITHOUT BEAM" in proc.stdout, proc.stderr[-3000:]
    assert (tmp_path / "run" / "metrics.jsonl").exists() and (tmp_path / "run" / "report.html").exists()


@pytest.mark.slow
def test_the_pipelines_prepare_verify_and_report_without_torch(tmp_path):
    proc = _run_without(
        "torch",
        """
        import sys
        from pipelines import prepare
        from pipelines.dataset import verify
        import pipelines.report

        out = sys.argv[1] + "/dataset"
        assert prepare.run(["--input=data/sample/raw", "--output=" + out]) == 0
        assert verify.main([out]) == 0
        assert pipelines.report.main([out]) == 0
        assert "torch" not in sys.modules
        print("PREPARED WITHOUT TORCH")
        """,
        tmp_path,
    )
    assert proc.returncode == 0 and "PREPARED WITHOUT TORCH" in proc.stdout, proc.stderr[-3000:]
    assert (tmp_path / "dataset" / "manifest.json").exists()


def test_the_beam_workers_requirements_file_is_the_pipelines_extra():
    listed = {
        line.strip().split("=")[0].split(">")[0].split("<")[0].lower()
        for line in (ROOT / "deploy" / "pipelines-requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed == _requirements()["pipelines"]

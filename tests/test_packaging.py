"""Installing lmforge is quiet and ships its data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_building_the_package_warns_about_nothing_and_ships_the_config_files(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "would be ignored" not in out.stdout + out.stderr
    (wheel,) = tmp_path.glob("lmforge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "lm_train/configs/tiny.yaml",
        "pipelines/clean/languages/default.yaml",
        "pipelines/clean/languages/preset-docs.yaml",
        "pipelines/report/templates/dataset.html.j2",
        "pipelines/report/templates/sections/bytes.html.j2",
        "lmcore/report/templates/page.html.j2",
        "lmcore/report/templates/report.css",
    ):
        assert data in names


def test_make_setup_says_what_it_is_doing():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("$(STAMP): setup.py") :].split("\n\n")[0]
    assert "echo" in recipe and "installing" in recipe and "PYTHONWARNINGS=ignore" in recipe

"""What the images install: a regular (not editable) build of each package holds every module and data file of
its src/ folder. An editable install would hide a missing __init__.py or a data file left out of the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = sorted(str(p.relative_to(REPO_ROOT)) for p in [*REPO_ROOT.glob("libs/*/pyproject.toml"),
                                                          *REPO_ROOT.glob("services/*/pyproject.toml")]
                  if p.parent.name != "proto")  # the proto package is generated code (make proto)


def shipped_files(source: Path) -> set[str]:
    """Every file of the package's import roots that belongs in a wheel (no caches, no build metadata)."""
    files = set()
    for root in (source / "src").iterdir():
        if root.suffix == ".egg-info" or not root.is_dir():
            continue
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(str(path.relative_to(source / "src")))
    return files


@pytest.mark.parametrize("pyproject", PACKAGES)
def test_the_wheel_holds_every_module_and_data_file(pyproject, tmp_path) -> None:
    source = REPO_ROOT / Path(pyproject).parent
    copy = tmp_path / source.name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                             str(copy), "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
    expected = shipped_files(source)
    assert expected, f"{pyproject}: nothing under src/"
    assert expected - names == set(), f"{pyproject}: left out of the wheel"

"""Test configuration shared by unit, integration and e2e tests.

Tests that read the workplace's shared data (clembench instances, parity fixtures) take its location from
one setting: $PLAYPEN_SHARED_DIR (default: ../shared next to the repository). Where it is absent they skip
with that reason — except under CI (CI=true), where a missing folder is an error, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> None:
    """Skip for a missing prerequisite — or, under CI (CI=true), fail: there, everything must be installed."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — under CI this must not be skipped", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def shared_dir() -> Path:
    return Path(os.environ.get("PLAYPEN_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "clembench").is_dir():
        unavailable(f"shared data not found at {path} (set PLAYPEN_SHARED_DIR to the folder holding "
                    f"clembench/ and parity/)")
    return path


@pytest.fixture(scope="session")
def clembench(shared: Path) -> Path:
    return shared / "clembench"

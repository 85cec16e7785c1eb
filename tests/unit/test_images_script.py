"""`make images` keeps the disk in check: every stage of every Dockerfile carries the project label (what the
prune after each build selects, so that it removes our build stages and replaced versions, never other images),
and a build that cannot fit stops before it starts, with a message that says where and how much."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def images():
    spec = importlib.util.spec_from_file_location("images_under_test", REPO / "scripts" / "images.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_stage_carries_the_project_label(images):
    key, value = images.PROJECT_LABEL.split("=")
    for name, (dockerfile, *_rest) in images.IMAGES.items():
        lines = (REPO / dockerfile).read_text().splitlines()
        stages = [index for index, line in enumerate(lines) if line.startswith("FROM ")]
        assert stages, f"{dockerfile}: no FROM"
        for start in stages:
            # The label must come before the stage's first step that makes a layer, so every cached step has it.
            following = [line for line in lines[start + 1:] if line and not line.startswith("#")]
            assert re.fullmatch(rf'LABEL {re.escape(key)}="?{re.escape(value)}"?', following[0]), (
                f"{name}: the stage at line {start + 1} of {dockerfile} does not start with "
                f"LABEL {images.PROJECT_LABEL}")


def test_a_build_that_cannot_fit_stops_first_and_says_where(images, monkeypatch, tmp_path):
    store, staging = tmp_path / "store", tmp_path / "staging"
    monkeypatch.setattr(images, "storage_folders", lambda engine: [store, staging])
    free = {store: 100.0, staging: 3.5}
    monkeypatch.setattr(images, "free_gb", lambda folder: free[folder])
    settings = images.parse_command_line(images.ImageSettings, [], "make images")

    images.check_disk(settings, "gamemaster")  # needs 2 GB: fits in both
    with pytest.raises(SystemExit) as refused:
        images.check_disk(settings, "policy")
    message = str(refused.value)
    assert f"needs about {images.IMAGES['policy'][3]} GB free in {staging}" in message
    assert "3.5 GB" in message and "--check-disk false" in message
    assert f"label={images.PROJECT_LABEL}" in message


def test_free_space_is_read_from_the_nearest_existing_folder(images, tmp_path):
    assert images.free_gb(tmp_path / "not" / "made" / "yet") > 0

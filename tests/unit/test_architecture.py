"""`make lint`'s import contracts (pyproject.toml, [tool.importlinter]) hold for the tree, and they catch what they
are for: a service importing another service, a library importing a service, the engine reaching up into the
games, and an import circle. Each is planted in a copy of the sources, never in the tree itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def copy_sources(target: Path) -> Path:
    """Every package's Python files (no data) under target/src, as one import root."""
    root = target / "src"
    for src in [*REPO_ROOT.glob("libs/*/src"), *REPO_ROOT.glob("services/*/src")]:
        for package in src.iterdir():
            if package.is_dir() and (package / "__init__.py").is_file():
                shutil.copytree(package, root / package.name, ignore=lambda folder, names: [
                    n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir()])
    return root


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(REPO_ROOT / "pyproject.toml")],
                          capture_output=True, text=True, timeout=120, cwd=root, env={"PYTHONPATH": str(root)})


def plant(root: Path, module: str, line: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    if not path.is_file():
        path = root / module.replace(".", "/") / "__init__.py"
    path.write_text(path.read_text() + f"\n{line}\n")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} missing: import-linter is in requirements-dev.txt (make setup)")
    return copy_sources(tmp_path_factory.mktemp("tree"))


def test_the_tree_keeps_every_contract(sources) -> None:
    result = lint(sources)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout
    assert "playpen_trainer" in (sources / "playpen_trainer" / "__init__.py").parent.name  # the trainer is checked


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("playpen_gamemaster.service", "import playpen_evaluator.store", "Services never import each other"),
    ("playpen_evaluator.scoring", "from playpen_gamemaster import players", "Services never import each other"),
    ("playpen_trainer.samples", "import playpen_selfplay.rounds", "Services never import each other"),
    ("playpen_games.clemscore", "import playpen_gamemaster.convert", "Libraries never import a service"),
    ("playpen_skills.scoring", "import playpen_evaluator.skills", "Libraries never import a service"),
    ("playpen_skills.text", "import playpen_games.clemscore", "Libraries stack"),
    ("playpen_games.clemscore", "import playpen_skills.text", "Libraries stack"),
    ("playpen_skills.constraints", "import playpen_report.statscore", "Libraries stack"),
    ("playpen_games.engine.resources", "from playpen_games.registry import GAMES", "Games library"),
    ("playpen_games.games.taboo.expert", "from playpen_games.games.wordle import feedback",
     "Each game package stands alone"),
    ("playpen_gamemaster.plan", "import playpen_gamemaster.service", "No import cycles anywhere"),
    ("playpen_games.games.wordle.feedback", "from playpen_games.games.wordle import game",
     "No import cycles anywhere"),
])
def test_a_planted_import_breaks_its_contract(tmp_path, module, line, contract) -> None:
    root = copy_sources(tmp_path)
    plant(root, module, line)
    result = lint(root)
    assert result.returncode != 0, f"{module}: {line!r} was not caught\n{result.stdout}"
    broken = [row for row in result.stdout.splitlines() if row.rstrip().endswith("BROKEN")]
    assert any(contract in row for row in broken) or contract in result.stdout.split("Broken contracts")[-1], \
        result.stdout

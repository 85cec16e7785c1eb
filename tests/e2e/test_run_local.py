"""`make run` as a new user meets it, on the plumbing: every phase of the closed loop runs through the real
services (game master, experts, evaluator, trainer, self-play, policies following checkpoints), the report is
written, Ctrl-C stops every process, and running the same command again resumes instead of starting over.

The policy is the scripted stand-in and the model a tiny random one, so that this runs in about a minute; the
real model's run is what `make run` does by default.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import unavailable

REPO = Path(__file__).resolve().parents[2]
TRAINER_PYTHON = REPO / ".venv-trainer" / "bin" / "python"
SERVICES = ("gamemaster", "eval-policy", "trainer", "rollout-policy", "evaluator")
SMALL = ["--policy", "scripted", "--minutes", "0.4", "--eval-instances", "2", "--demo-instances", "3",
         "--sft-steps", "2", "--sft-batch-size", "2", "--group-size", "2", "--groups-per-step", "1",
         "--checkpoint-every", "1", "--games", "taboo,wordle,referencegame", "--unseen-games", "guesswhat"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    if not TRAINER_PYTHON.exists():
        message = f"{TRAINER_PYTHON} is not installed; run `make setup`"
        unavailable(message)
    path = tmp_path_factory.mktemp("run-model") / "model"
    subprocess.run([str(TRAINER_PYTHON), "-c", "import sys; from pathlib import Path; "
                    "from tests.tiny_model import build_tiny_model; build_tiny_model(Path(sys.argv[1]))", str(path)],
                   cwd=REPO, check=True, capture_output=True, timeout=300)
    return path


def run_local(run_dir: Path, model: Path, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "run_local.py"), "--run-dir", str(run_dir),
                           "--model", str(model), *SMALL, *extra], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def stopped_gracefully(logs: Path) -> list[str]:
    """Services whose log ends without the server's "stopped" line (killed, or still running)."""
    return [log.name for log in logs.glob("*.log") if log.stem in SERVICES and '"stopped"' not in log.read_text()]


# Their own deadlines (run_local's 900 s, self-play's start within 600 s) bound these, not the 300 s default.
@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_make_run_goes_through_every_phase_and_writes_the_report(tmp_path: Path, tiny_model: Path) -> None:
    run_dir = tmp_path / "run"
    finished = run_local(run_dir, tiny_model)
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["done"] == ["baseline", "demonstrations", "warm-start", "grpo", "final-evaluation", "report"]
    report = run_dir / "report"
    for name in ("report.md", "verdict.json", "results.json", "config.json", "reward.png", "played.png",
                 "clemscore.png"):
        assert (report / name).is_file(), name
    text = (report / "report.md").read_text()
    assert "baseline" in text and "Unseen (guesswhat" in text
    verdict = json.dumps(json.loads((report / "verdict.json").read_text()))
    assert '"unseen"' in verdict and '"seen"' in verdict  # per group and metric: baseline, latest, diff, CI
    results = json.loads((report / "results.json").read_text())
    assert results
    # Every evaluated checkpoint: the baseline, the warm start (v1), and GRPO versions after it.
    with open(run_dir / "logs" / "trainer.log") as log:
        assert '"warm-start"' in log.read()
    assert list((report / "transcripts").glob("*.txt"))
    # Every group GRPO judged is in groups.jsonl, and the report says per game where it found signal.
    assert (run_dir / "trainer" / "groups.jsonl").read_text().strip()
    assert "## Where GRPO found signal" in text and results["training_signal"]
    # Expert demonstrations were played and learned from.
    demos = [json.loads(line) for line in (run_dir / "demonstrations" / "episodes.jsonl").read_text().splitlines()]
    assert {d["game"] for d in demos} == {"taboo", "wordle", "referencegame"}
    assert any(p["policy"] == "expert" for d in demos for p in d["players"])
    assert (run_dir / "warm-start" / "v00000001" / "manifest.json").is_file()
    assert stopped_gracefully(run_dir / "logs") == []
    # Done is done: running again only rewrites the report.
    again = run_local(run_dir, tiny_model)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "== baseline" not in again.stdout and "== GRPO" not in again.stdout


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_ctrl_c_stops_every_service_and_the_next_run_resumes(tmp_path: Path, tiny_model: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(REPO / "scripts" / "run_local.py"), "--run-dir", str(run_dir),
                                "--model", str(tiny_model), *SMALL, "--minutes", "5"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    selfplay_state = run_dir / "selfplay.json"
    deadline = time.monotonic() + 600
    try:
        while not selfplay_state.is_file():  # GRPO is under way once a round has been acknowledged
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "GRPO did not start"
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:  # a failed wait: still stop what it started (run_local stops its services)
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=120)
    assert process.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert "interrupted" in stderr
    assert stopped_gracefully(run_dir / "logs") == []
    state = json.loads((run_dir / "state.json").read_text())
    assert state["done"] == ["baseline", "demonstrations", "warm-start"]
    rounds_before = json.loads(selfplay_state.read_text())["next_round"]
    # Again, with a short budget: earlier phases are not repeated, self-play goes on from its next round.
    finished = run_local(run_dir, tiny_model, "--minutes", "0.4")
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    assert "== baseline" not in finished.stdout and "== warm start" not in finished.stdout
    assert json.loads(selfplay_state.read_text())["next_round"] > rounds_before
    assert json.loads((run_dir / "state.json").read_text())["done"][-1] == "report"


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_the_sft_and_dpo_recipes_run_in_their_own_folders_and_are_compared(tmp_path: Path, tiny_model: Path) -> None:
    runs = tmp_path / "runs"
    for recipe in ("sft", "dpo"):
        finished = run_local(runs / recipe, tiny_model, "--recipe", recipe, "--dpo-instances", "2", "--dpo-steps", "2")
        assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    sft_state = json.loads((runs / "sft" / "state.json").read_text())
    assert sft_state["done"] == ["baseline", "demonstrations", "warm-start", "final-evaluation", "report"]
    dpo_state = json.loads((runs / "dpo" / "state.json").read_text())
    assert dpo_state["done"] == ["baseline", "demonstrations", "warm-start", "preferences", "dpo",
                                 "final-evaluation", "report"]
    # The warm start played groups of training episodes for the preference pairs, as the learner.
    played = [json.loads(line) for line in (runs / "dpo" / "preferences" / "episodes.jsonl").read_text().splitlines()]
    assert len(played) == 3 * 2 * 2 and all(p["policy"] == "learner" for e in played for p in e["players"])
    for recipe in ("sft", "dpo"):
        assert json.loads((runs / recipe / "report" / "recipe.json").read_text())["recipe"] == recipe
    markdown = (runs / "dpo" / "report" / "report.md").read_text()
    section = markdown[markdown.index("## Recipes side by side"):]
    assert "| untrained | dpo | v0 (baseline) |" in section
    assert "| sft | sft | v1 (warm-start) |" in section and "| dpo | dpo |" in section
    assert stopped_gracefully(runs / "dpo" / "logs") == []

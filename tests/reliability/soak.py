"""A bounded soak of the closed loop on CPU with random SIGKILLs of the policy and the trainer.

The loop is the one `make run` drives, small: a trainer on a tiny random model (from .venv-trainer), a scripted
policy that follows its checkpoints, the game master, and `playpen-selfplay` streaming GRPO groups of taboo
into the trainer for `seconds`. Meanwhile a seeded schedule kills the policy or the trainer with SIGKILL every
`kill_every_s` seconds (uniformly drawn) and starts it again on the same port.

Figures, from self-play's round reports and the trainer's ledger (its SQLite store) read after the run:
- lost: episodes of rounds self-play reported as acknowledged that the ledger does not hold;
- duplicated: ledger rows beyond one per episode id, plus rounds reported twice;
- longest_stall_s: the longest time between two consecutive acknowledged rounds (kills included).

Run it alone with `python -m tests.reliability.soak --seconds 120` (one JSON line).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from playpen_common import launcher
from tests.reliability.support import REPO, TOOLS

TRAINER_BIN = REPO / ".venv-trainer" / "bin"
RUN_ID = "soak"
GROUP_SIZE = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Restartable:
    """A service on a fixed port that can be killed and started again there (self-play keeps its address)."""

    name: str
    argv: list[str]
    workdir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    starts: int = 0
    process: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"localhost:{self.port}"

    def start(self, timeout: float = 300.0) -> None:
        self.starts += 1
        log = open(self.workdir / f"{self.name}.log", "a")  # the child writes to it; our copy closes below
        self.process = subprocess.Popen(
            [*self.argv, "--port", str(self.port), "--metrics-port", "-1", "--log-format", "json"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, start_new_session=True)
        log.close()
        process = self.process
        launcher.wait_healthy(self.target, timeout=timeout, alive=lambda: process.poll() is None)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def build_model(path: Path) -> Path:
    """The tiny random model of the trainer tests, built in the trainer's environment (it has transformers)."""
    subprocess.run([str(TRAINER_BIN / "python"), "-c",
                    f"from tests.tiny_model import build_tiny_model; build_tiny_model(__import__('pathlib').Path("
                    f"{str(path)!r}))"], check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                   capture_output=True)
    return path


@dataclass
class Rounds:
    """Self-play's stdout, read as it comes: round reports with the time each arrived."""

    process: subprocess.Popen
    rounds: list[tuple[float, dict]] = field(default_factory=list)
    last: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("event") == "round":
                self.rounds.append((time.monotonic(), record))
            self.last = record

    def join(self) -> None:
        self._thread.join(30)


def ledger(data_dir: Path) -> tuple[int, dict[str, int]]:
    """(rows, episodes per round prefix) of the trainer's episode store."""
    with sqlite3.connect(f"file:{data_dir / 'episodes.db'}?mode=ro", uri=True) as db:
        ids = [row[0] for row in db.execute("SELECT episode_id FROM episodes")]
    per_round: dict[str, int] = {}
    for episode_id in set(ids):
        prefix = episode_id.split(":", 1)[0]
        per_round[prefix] = per_round.get(prefix, 0) + 1
    return len(ids) - len(set(ids)), per_round


def run_soak(workdir: Path, *, seconds: float, kill_every_s: tuple[float, float] = (15.0, 40.0),
             seed: int = 0) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    model = build_model(workdir / "model")
    data = workdir / "trainer-data"
    trainer = Restartable("trainer", [str(TRAINER_BIN / "playpen-trainer"), "--base-model", str(model), "--data-dir",
                                      str(data), "--group-size", str(GROUP_SIZE), "--groups-per-step", "1",
                                      "--torch-threads", "1", "--lr", "1e-3", "--max-staleness", "1000"],
                          workdir, env={"OMP_NUM_THREADS": "1"})
    trainer.start()
    policy = Restartable("policy", [str(TOOLS / "playpen-policy"), "--backend", "scripted", "--follow-trainer",
                                    trainer.target, "--follow-poll-s", "0.2"], workdir)
    policy.start()
    gamemaster = launcher.start("gamemaster", [str(TOOLS / "playpen-gamemaster")], workdir)
    selfplay = subprocess.Popen(
        [str(TOOLS / "playpen-selfplay"), "--gamemaster", gamemaster.target, "--trainer", trainer.target,
         "--policy", policy.target, "--games", "taboo", "--group-size", str(GROUP_SIZE), "--instances-per-game", "1",
         "--run-id", RUN_ID, "--seconds", str(seconds), "--state", str(workdir / "selfplay-state"),
         "--metrics-port", "-1", "--patience-s", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    rounds = Rounds(selfplay)
    rng = random.Random(seed)
    kills: list[dict] = []
    started = time.monotonic()
    exit_codes: dict[str, int | None] = {}
    try:
        while time.monotonic() - started < seconds and selfplay.poll() is None:
            time.sleep(rng.uniform(*kill_every_s))
            if time.monotonic() - started >= seconds or selfplay.poll() is not None:
                break
            victim = rng.choice([policy, trainer])
            victim.kill()
            down = time.monotonic()
            time.sleep(rng.uniform(0.0, 3.0))
            victim.start()
            kills.append({"service": victim.name, "down_s": round(time.monotonic() - down, 1)})
        selfplay.wait(seconds + 900)
        rounds.join()
    finally:
        if selfplay.poll() is None:
            selfplay.send_signal(signal.SIGTERM)
            selfplay.wait(60)
        exit_codes["selfplay"] = selfplay.returncode
        exit_codes["gamemaster"] = gamemaster.stop()
        exit_codes["policy"] = policy.stop()
        exit_codes["trainer"] = trainer.stop()
    duplicate_rows, per_round = ledger(data)
    reported = [record["round"] for _, record in rounds.rounds]
    lost = sum(max(0, record["episodes"] - per_round.get(f"{RUN_ID}-r{record['round']:06d}", 0))
               for _, record in rounds.rounds)
    times = [started] + [when for when, _ in rounds.rounds]
    return {"seconds": seconds, "rounds": len(reported), "episodes": sum(r["episodes"] for _, r in rounds.rounds),
            "ledger_episodes": sum(per_round.values()), "kills": kills, "lost": lost,
            "duplicated": duplicate_rows + len(reported) - len(set(reported)),
            "longest_stall_s": round(max(b - a for a, b in itertools.pairwise(times)) if len(times) > 1
                                     else seconds, 1),
            "exit_codes": exit_codes, "stopped_by": rounds.last.get("stopped_by", "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long self-play runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    options = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="playpen-soak-") as temporary:
        print(json.dumps(run_soak(options.workdir or Path(temporary), seconds=options.seconds, seed=options.seed)))


if __name__ == "__main__":
    main()

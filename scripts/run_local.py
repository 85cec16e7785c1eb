"""`make run`: the embedded default. Trains SmolLM2-135M-Instruct by self-play on this machine and reports
whether it learned.

Every service runs as a local process on free ports (logs in <run-dir>/logs/). The phases of the default recipe,
grpo:

1. **baseline** — the evaluator scores the untrained model (version 0) on held-out instances at temperature 0.
2. **demonstrations** — the game master's programmatic experts play training instances of every game.
3. **warm start** — SFT on the successful expert episodes (`playpen-trainer sft`), so the model learns the
   reply formats; the untrained model aborts every episode and GRPO alone would see no reward differences.
4. **GRPO** — the trainer starts from the warm start (committed as version 1); a rollout policy follows the
   trainer; `playpen-selfplay` streams groups of self-play (teacher-play where configured) episodes to it,
   asynchronously by default. With LoRA (the default) the merged warm start is the base and GRPO trains an
   adapter over it (version 1 is the untrained adapter, i.e. the warm start) on ONE vLLM engine. The engine
   plays only rollouts: an evaluation of every checkpoint as it commits (--eval-during-grpo) shares it, and in
   the 12-minute default it took the engine's time for one evaluation and left GRPO 2 steps. With
   --eval-during-grpo the evaluator follows the checkpoints and gates promotion, pinning the version it
   evaluates on every request of the same engine (with --no-lora, on an engine of its own: one engine serves
   one full version).
5. **final evaluation and report** — the warm start (when GRPO's evaluations did not) and the newest checkpoint
   are evaluated, each on an engine with every core but one, and <run-dir>/report/ gets the clemscore table
   (baseline vs latest vs best; seen vs unseen), learning curves, where GRPO found signal, sample transcripts,
   the configuration and the verdict with bootstrap confidence intervals.

Other recipes (`--recipe`), each in its own run folder (runs/<recipe>), so that they can be compared:
- **sft**: phases 1–3 and 5: the warm start is the final model (raise --sft-steps to give SFT more of the
  budget). It is what grpo and dpo start from, evaluated on its own.
- **dpo**: phases 1–3, then **preferences** (the warm start plays groups of training episodes at the self-play
  temperature; the evaluator evaluates it meanwhile) and **dpo** (`playpen-trainer dpo` on success-vs-failure
  pairs of the same instance and role, from the warm start), then 5.
Every report writes recipe.json, and shows the other recipes' runs found beside its run folder side by side.

Cores: each phase's engine gets the cores that phase does not need otherwise: all but one (for vLLM's scheduler,
the game master and the evaluator) when it evaluates or samples alone; during GRPO also not the trainer's
(--trainer-threads); at least one. No engine runs during SFT and DPO, which get every core.

Ctrl-C stops every process this script started; what was acknowledged is kept, and running the same command
again resumes the run where it stopped (finished phases are not repeated). `--fresh` starts over.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc
from google.protobuf.json_format import MessageToDict
from pydantic import Field, field_validator, model_validator
from pydantic_settings import CliImplicitFlag, SettingsConfigDict
from tqdm import tqdm

from playpen.common.v1 import chat_pb2, checkpoint_pb2, episode_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common import launcher
from playpen_common.checkpoints import MANIFEST, committed_checkpoints, read_manifest, version_dir
from playpen_common.defaults import default_model_dir
from playpen_common.settings import CommandSettings, parse_command_line, parse_role_assignment

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".venv" / "bin"
POLICY_BIN = REPO / ".venv-policy" / "bin"
TRAINER_BIN = REPO / ".venv-trainer" / "bin"
RECIPES = {
    "grpo": ("baseline", "demonstrations", "warm-start", "grpo", "final-evaluation", "report"),
    "sft": ("baseline", "demonstrations", "warm-start", "final-evaluation", "report"),
    "dpo": ("baseline", "demonstrations", "warm-start", "preferences", "dpo", "final-evaluation", "report"),
}
PHASES = RECIPES["grpo"]
# Knobs that change what a run means: a resumed run keeps the values it started with.
RUN_KNOBS = ("recipe", "model", "policy", "games", "unseen_games", "eval_split", "eval_instances", "eval_max_tokens",
             "demo_instances", "sft_steps", "sft_lr", "sft_batch_size", "group_size", "groups_per_step",
             "checkpoint_every", "lr", "kl_coef", "format_credit", "aborted_reward", "max_staleness",
             "temperature", "max_tokens", "teacher", "mode", "seed", "lora", "dpo_instances", "dpo_steps", "dpo_lr",
             "dpo_beta", "flat_groups", "eval_during_grpo", "curriculum")
# GRPO's learning rate when --lr is not given: an adapter's few weights take larger steps than all of them.
DEFAULT_LR = {True: 5e-5, False: 2e-6}
ADAPTERS_HELD = 4  # the one engine's LRU: the rollouts' current adapter and the versions being evaluated


class RunSettings(CommandSettings):
    """make run's knobs (flags, or PLAYPEN_RUN_* env)."""

    model_config = SettingsConfigDict(env_prefix="PLAYPEN_RUN_", cli_prog_name="make run")

    recipe: Literal["grpo", "sft", "dpo"] = Field(
        "grpo", description="grpo: warm start + GRPO; sft: the warm start alone; dpo: warm start + offline DPO on "
                            "pairs of the warm start's own scored episodes")
    run_dir: Path | None = Field(
        None, description="where the run lives; running again with the same folder resumes it (default: "
                          "runs/default for grpo, runs/<recipe> for the others)")
    fresh: CliImplicitFlag[bool] = Field(False, description="delete the run folder first and start over")
    minutes: float = Field(12.0, ge=0, description="GRPO budget, minutes (wall clock of the training phase)")
    model: Path = Field(default_factory=default_model_dir,
                        description="HF model directory (default: SmolLM2-135M-Instruct from make setup)")
    policy: Literal["vllm", "scripted"] = Field(
        "vllm", description="vLLM serving the model, or the rule-based stand-in (for tests of the plumbing)")
    games: list[str] = Field(default_factory=list, description="training games, comma-separated (default: the "
                                                               "game master's seven training games)")
    unseen_games: list[str] | None = Field(
        None, description="games only evaluated, never trained on, comma-separated (default: every other game of "
                          "the game master with held-out instances; [] for none)")
    eval_split: Literal["validation", "test"] = Field("validation", description="held-out split of evaluations")
    eval_instances: int = Field(8, ge=1, description="held-out instances per game, the same for every version")
    eval_max_tokens: int = Field(96, ge=1, description="tokens per reply in evaluations")
    demo_instances: int = Field(24, ge=1, description="training instances per game the experts play")
    sft_steps: int = Field(24, ge=0, description="warm-start SFT optimiser steps (0: no warm start)")
    sft_lr: float = Field(5e-5, gt=0, description="warm-start SFT learning rate")
    sft_batch_size: int = Field(4, ge=1, description="warm-start SFT examples per step")
    group_size: int = Field(4, ge=2, description="episodes per GRPO group")
    groups_per_step: int = Field(1, ge=1, description="groups per optimiser step; a self-play round is one "
                                                      "step's groups, the games rotate")
    checkpoint_every: int = Field(1, ge=1, description="optimiser steps per checkpoint")
    lr: float | None = Field(None, gt=0, description="GRPO learning rate (default: 5e-5 with LoRA, 2e-6 without)")
    kl_coef: float = Field(0.02, ge=0, description="weight of the KL term to the warm start")
    format_credit: float = Field(0.5, ge=0, description="shaping credit for well-formed turns (not in clemscore)")
    aborted_reward: float = Field(-0.5, description="game reward of an aborted episode")
    flat_groups: Literal["drop", "train"] = Field(
        "drop", description="groups whose rewards are all equal: drop (a step waits for groups with signal) or "
                            "train (their tokens dilute the step)")
    max_staleness: int = Field(2, ge=0, description="episodes more than this many versions old are dropped")
    temperature: float = Field(1.0, ge=0, description="sampling temperature of self-play")
    max_tokens: int = Field(64, ge=1, description="tokens per reply in self-play")
    teacher: list[str] | None = Field(
        None, description="teacher-play: a builtin player holds a role during GRPO, GAME:ROLE=PLAYER; repeatable "
                          "(default: DEFAULT_TEACHERS)")
    mode: Literal["async", "sync"] = Field("async", description="self-play schedule")
    curriculum: Literal["signal", "rotate"] = Field(
        "signal", description="which game each self-play round plays: signal (drawn, weighted by the share of the "
                              "game's groups so far whose episodes scored differently: where GRPO can learn) or "
                              "rotate (each in turn)")
    eval_during_grpo: CliImplicitFlag[bool] = Field(
        False, description="the evaluator follows GRPO's checkpoints while it trains (a curve, and promotion "
                           "gating) on the rollouts' engine (LoRA) or an engine of its own; off: the engine plays "
                           "only rollouts, and the warm start and the final version are evaluated after GRPO")
    seed: int = Field(0, ge=0, description="seed of instances, sampling and training")
    lora: CliImplicitFlag[bool] = Field(
        True, description="GRPO trains a LoRA adapter over the merged warm start (full SFT), and one engine serves "
                          "rollouts and evaluations; --no-lora: all weights, the evaluator gets its own engine")
    dpo_instances: int = Field(4, ge=1, description="dpo: training instances per game the warm start plays, "
                                                    "--group-size episodes each, for preference pairs")
    dpo_steps: int = Field(24, ge=1, description="dpo: optimiser steps")
    dpo_lr: float = Field(2e-6, gt=0, description="dpo: learning rate")
    dpo_beta: float = Field(0.1, gt=0, description="dpo: beta (strength of the pull towards the warm start)")
    trainer_threads: int = Field(1, ge=1, description="torch threads of the trainer")

    @field_validator("games", "unseen_games")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(n.strip() for n in value if n.strip()))

    @field_validator("teacher")
    @classmethod
    def _teachers(cls, value: list[str] | None) -> list[str] | None:
        for text in value or []:
            parse_role_assignment(text)
        return value

    @model_validator(mode="after")
    def _own_folder(self) -> RunSettings:
        if self.run_dir is None:
            self.run_dir = Path("runs") / ("default" if self.recipe == "grpo" else self.recipe)
        return self


def parse_args(argv: list[str] | None = None) -> RunSettings:
    return parse_command_line(RunSettings, sys.argv[1:] if argv is None else argv, "make run")


# Roles a programmatic expert holds during GRPO by default (teacher-play); the model holds every other role.
DEFAULT_TEACHERS: list[str] = []


# --------------------------------------------------------------------------------------------------- the run


class RunState:
    """<run-dir>/state.json: the configuration the run started with and the phases it finished."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {"done": [], "config": {}}

    def done(self, phase: str) -> bool:
        return phase in self.data["done"]

    def finish(self, phase: str) -> None:
        if phase not in self.data["done"]:
            self.data["done"].append(phase)
        self.save()

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data, indent=2))
        os.replace(temporary, self.path)


@dataclass
class Paths:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def demos(self) -> Path:
        return self.root / "demonstrations"

    @property
    def warm_start(self) -> Path:
        return self.root / "warm-start"

    @property
    def trainer(self) -> Path:
        return self.root / "trainer"

    @property
    def evaluator(self) -> Path:
        return self.root / "evaluator"

    @property
    def preferences(self) -> Path:
        return self.root / "preferences"

    @property
    def dpo(self) -> Path:
        return self.root / "dpo"

    @property
    def report(self) -> Path:
        return self.root / "report"


class Services:
    """The processes of the run; each stopped by its PID (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: dict[str, launcher.Service] = {}

    def start(self, name: str, command: list[str], *, env: dict[str, str] | None = None, timeout: float = 120,
              wait_ready: bool = True) -> launcher.Service:
        service = launcher.start(name, command, self.logs, env=env, timeout=timeout, wait_ready=wait_ready)
        self.running[name] = service
        return service

    def stop(self, name: str) -> None:
        service = self.running.pop(name, None)
        if service is not None:
            service.stop(timeout=60)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def engine_cores(busy: int = 0, *, only: int | None = None) -> str:
    """The cores a vLLM engine computes on, as --cpu-cores: every core this process may use but one for the
    engine's scheduler and frontend, the game master and the evaluator, and `busy` more (the trainer's); at least
    one. Or just the `only`-th core. bench-policy's engine phase measured, on this project's shared 2-core machine,
    the engine computing on both cores at 0.92x (0.80x, 1.07x) the speed of one: the others need that core."""
    cores = sorted(os.sched_getaffinity(0))
    if only is not None:
        return str(cores[only % len(cores)])
    return ",".join(str(core) for core in (cores[1 + busy:] or cores[-1:]))


class ClosedLoop:
    def __init__(self, options: RunSettings):
        self.options = options
        self.paths = Paths(options.run_dir)
        self.state = RunState(options.run_dir / "state.json")
        self.services = Services(self.paths.logs)
        self.config = self._config()

    # ------------------------------------------------------------------------------------------ setup

    def _config(self) -> dict:
        chosen = {knob: getattr(self.options, knob) for knob in RUN_KNOBS}
        chosen["teacher"] = self.options.teacher if self.options.teacher is not None else DEFAULT_TEACHERS
        chosen = json.loads(json.dumps(chosen, default=str))
        saved = self.state.data["config"]
        if saved:
            saved.setdefault("unseen_games", [])  # runs started before unseen games existed evaluated none
            saved.setdefault("recipe", "grpo")  # runs started before recipes existed
            # Runs started before these knobs existed rotated through the games and evaluated during GRPO.
            saved.setdefault("curriculum", "rotate")
            saved.setdefault("eval_during_grpo", True)
            defaults = json.loads(json.dumps(RunSettings.model_construct().model_dump(), default=str))
            given = {k: v for k, v in chosen.items() if k == "teacher" or v != defaults.get(k)}
            changed = {k: (saved.get(k), v) for k, v in given.items() if saved.get(k) != v}
            if changed:
                print(f"resuming {self.paths.root}: keeping the run's own settings; ignored: "
                      + ", ".join(f"{k}={new!r} (run has {old!r})" for k, (old, new) in changed.items()),
                      file=sys.stderr)
            return {**chosen, **saved, "minutes": self.options.minutes}
        self.state.data["config"] = chosen
        self.state.save()
        return {**chosen, "minutes": self.options.minutes}

    @property
    def phases(self) -> tuple[str, ...]:
        return RECIPES[self.config["recipe"]]

    @property
    def one_engine(self) -> bool:
        """GRPO over LoRA: one engine serves the rollouts and the evaluations (pinned versions)."""
        return self.config["recipe"] == "grpo" and self.config["lora"]

    def policy_command(self, *extra: str, model: str | Path | None = None, cores: str = "",
                       adapters_from: Path | None = None, kv_cache_gib: int = 2,
                       ) -> tuple[list[str], dict[str, str], float]:
        """A policy serving `model` (default: the untrained model) on `cores`; with `adapters_from`, LoRA adapters
        over it, and versions pinned by a request found in that checkpoint folder. Its KV cache holds the prefixes
        of the dialogues in flight for reuse on their next turn (2 GiB: ~45k tokens of SmolLM2-135M in fp32)."""
        if adapters_from is not None:
            extra = (*extra, "--enable-lora", "true", "--max-adapters", str(ADAPTERS_HELD),
                     "--checkpoint-roots", str(adapters_from))
        if self.config["policy"] == "scripted":
            return [str(TOOLS / "playpen-policy"), "--backend", "scripted", *extra], {}, 60
        command = [str(POLICY_BIN / "playpen-policy"), "--model", str(model or self.config["model"]),
                   "--max-model-len", "4096", *extra]
        if cores:
            command += ["--cpu-cores", cores]
        # The engine's worker sets its own thread count from its cores; this process needs no more than one.
        return command, {"VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib), "OMP_NUM_THREADS": "1"}, 600

    def start_policy(self, name: str, *extra: str, **options) -> launcher.Service:
        command, env, timeout = self.policy_command(*extra, **options)
        return self.services.start(name, command, env=env, timeout=timeout)

    @property
    def warm_ref(self) -> checkpoint_pb2.CheckpointRef | None:
        """The committed warm start (version 1), if the run has one."""
        directory = version_dir(self.paths.warm_start, 1)
        return read_manifest(directory) if (directory / MANIFEST).is_file() else None

    # ------------------------------------------------------------------------------------------ phases

    def run(self) -> int:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        (self.paths.root / "config.json").write_text(json.dumps(self.config, indent=2))
        print(f"run folder: {self.paths.root} (logs in {self.paths.logs}/); Ctrl-C stops, running again resumes")
        self._gamemaster: launcher.Service | None = None
        for phase in self.phases[:-1]:
            if not self.state.done(phase):
                getattr(self, "phase_" + phase.replace("-", "_"))()
        return self.phase_report()

    @property
    def gamemaster(self) -> launcher.Service:
        """Started on first use (a finished run only rewrites its report, and needs no service)."""
        if self._gamemaster is None:
            self._gamemaster = self.services.start("gamemaster", [str(TOOLS / "playpen-gamemaster"),
                                                                  "--policy-timeout-s", "900"])
        return self._gamemaster

    @property
    def games(self) -> list[str]:
        """Training games: as given, else the game master's training games (fixed for the run once known)."""
        self._resolve_games()
        return self.config["games"]

    @property
    def unseen_games(self) -> list[str]:
        """Evaluation-only games: as given, else the game master's other games with held-out instances."""
        self._resolve_games()
        return self.config["unseen_games"]

    def _resolve_games(self) -> None:
        if self.config["games"] and self.config["unseen_games"] is not None:
            return
        with grpc.insecure_channel(self.gamemaster.target) as channel:
            listing = gamemaster_pb2_grpc.GameMasterServiceStub(channel).ListGames(gm.ListGamesRequest(), timeout=30)
        if not self.config["games"]:
            self.config["games"] = [game.name for game in listing.games if game.training]
        if self.config["unseen_games"] is None:
            split = self.config["eval_split"]
            self.config["unseen_games"] = [
                game.name for game in listing.games
                if not game.training and game.name not in self.config["games"]
                and any(count.split == split and count.instances for count in game.instance_counts)]
        # Fixed for the rest of the run (a resumed run compares the same games as its baseline did).
        self.state.data["config"].update(games=self.config["games"], unseen_games=self.config["unseen_games"])
        self.state.save()

    def start_evaluator(self, policy: launcher.Service, *, follow: str = "", pin: bool = False) -> launcher.Service:
        """The evaluator over `policy`: it loads each evaluated version into it, or with `pin` pins the version on
        every request (the policy's current version, the rollouts', stays as it is)."""
        self.services.stop("evaluator")
        command = [str(TOOLS / "playpen-evaluator"), "--state-dir", str(self.paths.evaluator),
                   "--gamemaster-target", self.gamemaster.target, "--eval-policy-target", policy.target,
                   "--split", self.config["eval_split"], "--instances-per-game", str(self.config["eval_instances"]),
                   "--seen-games", ",".join(self.games), "--unseen-games", ",".join(self.unseen_games),
                   "--max-tokens", str(self.config["eval_max_tokens"]),
                   "--seed", str(self.config["seed"])]
        if follow:
            command += ["--follow-trainer", follow]
        if pin:
            command += ["--pin-versions", "true"]
        return self.services.start("evaluator", command, timeout=120)

    def evaluate(self, evaluator: launcher.Service, ref: checkpoint_pb2.CheckpointRef, label: str,
                 ) -> evaluator_pb2.EvaluationResult:
        with grpc.insecure_channel(evaluator.target) as channel, \
                tqdm(desc=f"evaluating v{ref.version} ({label})", unit="s", dynamic_ncols=True,
                     bar_format="{desc}: {elapsed}") as bar:
            stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
            future = stub.EvaluateCheckpoint.future(evaluator_pb2.EvaluateCheckpointRequest(
                checkpoint=ref, split=self.config["eval_split"], label=label), timeout=4 * 3600)
            while not future.done():
                time.sleep(1)
                bar.refresh()
            result = future.result().result
        print(f"  v{result.version} ({label}): {describe(result)}")
        return result

    def phase_baseline(self) -> None:
        print("== baseline: the untrained model on held-out instances")
        policy = self.start_policy("eval-policy", cores=engine_cores())
        evaluator = self.start_evaluator(policy)
        self.evaluate(evaluator, base_ref(Path(self.config["model"])), "baseline")
        self.services.stop("evaluator")
        self.services.stop("eval-policy")
        self.state.finish("baseline")

    def phase_demonstrations(self) -> None:
        print("== demonstrations: the game master's experts play training instances")
        self.paths.demos.mkdir(parents=True, exist_ok=True)
        sink_path = self.paths.demos / "episodes.jsonl"
        request = gm.PlayEpisodesRequest(
            games=self.games, split="train", instances_per_game=self.config["demo_instances"], group_size=1,
            seed=self.config["seed"], run_id="demo", default_player=gm.PlayerConfig(builtin="expert"))
        self._play(request, sink_path, "expert episodes")
        self.state.finish("demonstrations")

    def _play(self, request: gm.PlayEpisodesRequest, sink_path: Path, what: str) -> None:
        """Stream the episodes of `request` into a JSON-lines file; print the successful ones per game."""
        sink_path.parent.mkdir(parents=True, exist_ok=True)
        counts: dict[str, list[int]] = {}
        with grpc.insecure_channel(self.gamemaster.target) as channel, open(sink_path, "w") as sink, \
                tqdm(desc=what, unit="ep", dynamic_ncols=True) as bar:
            stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
            for response in stub.PlayEpisodes(request, timeout=3600):
                episode = response.episode
                sink.write(json.dumps(MessageToDict(episode, preserving_proto_field_name=True)) + "\n")
                success = episode.status == episode_pb2.EPISODE_STATUS_COMPLETED and episode.scores.success
                counts.setdefault(episode.game, [0, 0])[0] += int(success)
                counts[episode.game][1] += 1
                bar.update()
        print(f"  successful {what}: " + ", ".join(f"{g} {s}/{n}" for g, (s, n) in sorted(counts.items())))

    def phase_warm_start(self) -> None:
        if self.config["sft_steps"] <= 0:
            print("== warm start: skipped (--sft-steps 0)")
            self.state.finish("warm-start")
            return
        print(f"== warm start: SFT on the successful expert episodes ({self.config['sft_steps']} steps)")
        shutil.rmtree(self.paths.warm_start, ignore_errors=True)
        command = [str(TRAINER_BIN / "playpen-trainer"), "sft", "--episodes", str(self.paths.demos / "episodes.jsonl"),
                   "--learner", "expert", "--base-model", self.config["model"], "--out", str(self.paths.warm_start),
                   "--version", "1", "--max-steps", str(self.config["sft_steps"]), "--lr", str(self.config["sft_lr"]),
                   "--batch-size", str(self.config["sft_batch_size"]), "--max-length", "768",
                   "--seed", str(self.config["seed"])]
        log = self.paths.logs / "warm-start.log"
        returncode = self._offline("warm-start SFT", command, self.config["sft_steps"], log)
        if returncode != 0:
            raise RuntimeError(f"the warm-start SFT failed (exit {returncode}); see {log}")
        self.state.finish("warm-start")

    def _offline(self, title: str, command: list[str], steps: int, log: Path) -> int:
        """Run an offline training command (no engine runs meanwhile: it gets every core), with a progress bar."""
        threads = str(len(os.sched_getaffinity(0)))
        with open(log, "w") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**os.environ, "OMP_NUM_THREADS": threads})
            try:
                with tqdm(desc=title, total=steps, unit="step", dynamic_ncols=True) as bar:
                    while process.poll() is None:
                        time.sleep(1)
                        bar.n = min(sft_progress(log), steps)
                        bar.refresh()
            finally:
                stop_process(process)
        return process.returncode

    # ------------------------------------------------------------------------------------------ dpo recipe

    def phase_preferences(self) -> None:
        """The warm start (evaluated here first, as the stage DPO starts from) plays groups of training episodes."""
        config, start = self.config, self.warm_ref
        print(f"== preferences: the {'warm start' if start else 'untrained model'} plays {config['dpo_instances']} "
              f"training instances per game, {config['group_size']} episodes each")
        policy = self.start_policy("eval-policy", cores=engine_cores())
        if start is not None:  # the evaluation loads it into the policy, which then plays with it
            evaluator = self.start_evaluator(policy)
            self.evaluate(evaluator, start, "warm-start")
            self.services.stop("evaluator")
        sampling = chat_pb2.SamplingParams(temperature=config["temperature"], max_tokens=config["max_tokens"])
        request = gm.PlayEpisodesRequest(
            games=self.games, split="train", instances_per_game=config["dpo_instances"],
            group_size=config["group_size"], seed=config["seed"], run_id="preferences",
            default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=policy.target, name="learner"),
                                           sampling=sampling))
        self._play(request, self.paths.preferences / "episodes.jsonl", "warm-start episodes")
        self.services.stop("eval-policy")
        self.state.finish("preferences")

    def phase_dpo(self) -> None:
        config, start = self.config, self.warm_ref
        base = Path(start.uri) if start is not None else Path(config["model"])
        version = (start.version if start is not None else 0) + 1
        print(f"== DPO: success-vs-failure pairs of the same instance and role ({config['dpo_steps']} steps)")
        shutil.rmtree(self.paths.dpo, ignore_errors=True)
        command = [str(TRAINER_BIN / "playpen-trainer"), "dpo",
                   "--episodes", str(self.paths.preferences / "episodes.jsonl"), "--learner", "learner",
                   "--base-model", str(base), "--out", str(self.paths.dpo), "--version", str(version),
                   "--max-steps", str(config["dpo_steps"]), "--lr", str(config["dpo_lr"]),
                   "--beta", str(config["dpo_beta"]), "--batch-size", str(config["sft_batch_size"]),
                   "--max-length", "768", "--seed", str(config["seed"])]
        log = self.paths.logs / "dpo.log"
        returncode = self._offline("DPO", command, config["dpo_steps"], log)
        if returncode == 1 and '"examples": 0' in log.read_text(errors="replace"):
            # Every group won or lost alike: no pair to learn from. Said, and the warm start stays the final model.
            print(f"  no preference pairs (every instance's episodes scored alike); see {log}")
        elif returncode != 0:
            raise RuntimeError(f"DPO failed (exit {returncode}); see {log}")
        self.state.finish("dpo")

    def trainer_command(self) -> list[str]:
        config = self.config
        command = [str(TRAINER_BIN / "playpen-trainer"), "--base-model", config["model"],
                   "--data-dir", str(self.paths.trainer), "--learner", "learner",
                   "--group-size", str(config["group_size"]), "--groups-per-step", str(config["groups_per_step"]),
                   "--checkpoint-every", str(config["checkpoint_every"]), "--lr", str(self.grpo_lr),
                   "--kl-coef", str(config["kl_coef"]), "--format-credit", str(config["format_credit"]),
                   "--aborted-reward", str(config["aborted_reward"]), "--flat-groups", config["flat_groups"],
                   "--max-staleness", str(config["max_staleness"]), "--seed", str(config["seed"]),
                   "--torch-threads", str(self.options.trainer_threads), "--keep-last", "3",
                   # Small micro-batches: the logits of 1k tokens over a 49k vocabulary are ~200 MB, and this
                   # machine also holds a vLLM engine or two.
                   "--micro-batch-tokens", "1024"]
        warm = self.warm_ref
        if warm is not None:
            command += ["--init-from", warm.uri]  # with LoRA: the base the adapter trains over
        if config["lora"]:
            command += ["--lora", "true"]
        return command

    @property
    def grpo_lr(self) -> float:
        return self.config["lr"] if self.config["lr"] is not None else DEFAULT_LR[bool(self.config["lora"])]

    @property
    def adapter_base(self) -> str:
        """The full weights GRPO's adapters apply to: the merged warm start (else the untrained model)."""
        warm = self.warm_ref
        return warm.uri if warm is not None else self.config["model"]

    def phase_grpo(self) -> None:
        config = self.config
        print(f"== GRPO: {config['mode']} self-play for {config['minutes']:g} minutes")
        trainer = self.services.start("trainer", self.trainer_command(),
                                      env={"OMP_NUM_THREADS": str(self.options.trainer_threads)}, timeout=600)
        evaluator = None
        if self.one_engine:
            # One engine: it follows the trainer's adapters for the rollouts (and with eval_during_grpo the
            # evaluator pins the version it evaluates on each request). The trainer's threads keep their cores;
            # the engine gets the others.
            rollout = self.start_policy("rollout-policy", "--follow-trainer", trainer.target,
                                        model=self.adapter_base, cores=engine_cores(self.options.trainer_threads),
                                        adapters_from=self.paths.trainer / "checkpoints")
            if config["eval_during_grpo"]:
                evaluator = self.start_evaluator(rollout, follow=trainer.target, pin=True)
        elif not config["eval_during_grpo"]:
            rollout = self.start_policy("rollout-policy", "--follow-trainer", trainer.target,
                                        cores=engine_cores(self.options.trainer_threads), kv_cache_gib=1)
        else:
            # Full weights: one version per engine, so the evaluator loads each version into its own engine.
            rollout = self.start_policy("rollout-policy", "--follow-trainer", trainer.target,
                                        cores=engine_cores(only=0), kv_cache_gib=1)
            evaluator = self.start_evaluator(self.start_policy("eval-policy", cores=engine_cores(only=-1),
                                                               kv_cache_gib=1), follow=trainer.target)
        elapsed_before = self.state.data.get("grpo_seconds", 0.0)
        budget = max(0.0, config["minutes"] * 60 - elapsed_before)
        selfplay = [str(TOOLS / "playpen-selfplay"), "--gamemaster", self.gamemaster.target,
                    "--trainer", trainer.target, "--policy", rollout.target, "--policy-name", "learner",
                    "--games", ",".join(self.games), "--games-per-round", str(config["groups_per_step"]),
                    "--group-size", str(config["group_size"]), "--instances-per-game", "1",
                    "--curriculum", config["curriculum"],
                    "--temperature", str(config["temperature"]),
                    "--max-tokens", str(config["max_tokens"]), "--mode", config["mode"],
                    "--max-pending", str(config["group_size"] * config["groups_per_step"] * 2),
                    "--seconds", f"{budget:.0f}", "--run-id", f"grpo-s{config['seed']}", "--seed", str(config["seed"]),
                    "--state", str(self.paths.root / "selfplay.json"), "--metrics-port", "-1"]
        for teacher in config["teacher"]:
            selfplay += ["--teacher", teacher]
        started = time.monotonic()
        log = self.paths.logs / "selfplay.log"
        with open(log, "a") as sink:
            process = subprocess.Popen(selfplay, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self._watch_training(process, trainer, evaluator, budget)
            finally:
                stop_process(process)
                self.state.data["grpo_seconds"] = elapsed_before + time.monotonic() - started
                self.state.save()
        if process.returncode not in (0, None):
            raise RuntimeError(f"self-play failed (exit {process.returncode}); see {log}")
        # Let the trainer train what is complete, then stop it (it finishes its step and commits nothing half).
        self._drain(trainer)
        for name in ("evaluator", "eval-policy", "rollout-policy", "trainer"):
            self.services.stop(name)
        self.state.finish("grpo")

    def _watch_training(self, process: subprocess.Popen, trainer: launcher.Service,
                        evaluator: launcher.Service | None, budget: float) -> None:
        bars = {"time": tqdm(desc="GRPO time", total=round(budget), unit="s", position=0, dynamic_ncols=True),
                "episodes": tqdm(desc="episodes", unit="ep", position=1, dynamic_ncols=True),
                "steps": tqdm(desc="trainer steps", unit="step", position=2, dynamic_ncols=True)}
        if evaluator is not None:
            bars["evals"] = tqdm(desc="evaluations", unit="ckpt", position=3, dynamic_ncols=True)
        started = time.monotonic()
        try:
            with grpc.insecure_channel(trainer.target) as t_channel, \
                    (grpc.insecure_channel(evaluator.target) if evaluator else contextlib.nullcontext()) as e_channel:
                trainer_stub = trainer_pb2_grpc.TrainerServiceStub(t_channel)
                evaluator_stub = evaluator_pb2_grpc.EvaluatorServiceStub(e_channel) if e_channel else None
                asked_to_stop = False
                while process.poll() is None:
                    time.sleep(2)
                    elapsed = time.monotonic() - started
                    bars["time"].n = min(round(elapsed), bars["time"].total)
                    if elapsed > budget + 30 and not asked_to_stop:
                        # Past the budget (a round or a wait for the trainer ran over): stop self-play now;
                        # what the trainer acknowledged is kept.
                        process.send_signal(signal.SIGTERM)
                        asked_to_stop = True
                    try:
                        status = trainer_stub.GetStatus(trainer_pb2.GetStatusRequest(), timeout=10)
                        results = evaluator_stub.ListResults(evaluator_pb2.ListResultsRequest(
                            split=self.config["eval_split"]), timeout=10) if evaluator_stub else None
                    except grpc.RpcError:
                        continue
                    bars["episodes"].n = status.episodes_stored
                    bars["episodes"].set_postfix_str(f"dropped {status.episodes_dropped}, "
                                                     f"waiting {status.episodes_buffered}")
                    bars["steps"].n = status.step
                    bars["steps"].set_postfix_str(f"version {status.latest_version}")
                    if results is not None:
                        bars["evals"].n = len(results.results)
                    if results is not None and results.results:
                        newest = max(results.results, key=lambda r: r.version)
                        bars["evals"].set_postfix_str(f"v{newest.version} seen clemscore "
                                                      f"{group_clemscore(newest, 'seen'):.1f}, "
                                                      f"serving v{results.serving_version}")
                    for bar in bars.values():
                        bar.refresh()
        finally:
            for bar in bars.values():
                bar.close()

    def _drain(self, trainer: launcher.Service, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(trainer.target) as channel:
            stub = trainer_pb2_grpc.TrainerServiceStub(channel)
            last = None
            while time.monotonic() < deadline:
                status = stub.GetStatus(trainer_pb2.GetStatusRequest(), timeout=10)
                if status.step == last:  # no step in the last interval: what is left is incomplete groups
                    return
                last = status.step
                time.sleep(15)

    def final_version(self) -> tuple[checkpoint_pb2.CheckpointRef | None, str]:
        """The recipe's final model and its label: GRPO's newest checkpoint, DPO's, or the warm start."""
        recipe = self.config["recipe"]
        if recipe == "grpo":
            committed = committed_checkpoints(self.paths.trainer / "checkpoints")
            if committed:
                return committed[-1], "warm-start" if committed[-1].step == 0 else "grpo"
        if recipe == "dpo":
            committed = committed_checkpoints(self.paths.dpo)
            if committed:
                return committed[-1], "dpo"
        return self.warm_ref, "warm-start"

    def evaluated_labels(self) -> set[str]:
        """Labels of the results stored so far (read while no evaluator runs)."""
        from playpen_evaluator.store import ResultStore

        path = self.paths.evaluator / "evaluator.db"
        if not path.is_file():
            return set()
        store = ResultStore(path)
        try:
            return {r.label for r in store.results([], self.config["eval_split"], include_episodes=False)}
        finally:
            store.close()

    def phase_final_evaluation(self) -> None:
        latest, label = self.final_version()
        if latest is None:
            print("== final evaluation: no checkpoint was committed")
            self.state.finish("final-evaluation")
            return
        warm = self.warm_ref
        if label == "grpo" and warm is not None and "warm-start" not in self.evaluated_labels():
            # GRPO ended before the evaluator (sharing the engine with the rollouts) got through the warm start:
            # it is what "GRPO alone" is measured from, so it is evaluated now, from its own full weights.
            print(f"== final evaluation: the warm start (version {warm.version}) first")
            self.evaluate(self.start_evaluator(self.start_policy("eval-policy", cores=engine_cores())), warm,
                          "warm-start")
            self.services.stop("evaluator")
            self.services.stop("eval-policy")
        print(f"== final evaluation: version {latest.version} ({label})")
        if latest.kind == checkpoint_pb2.CHECKPOINT_KIND_LORA:
            policy = self.start_policy("eval-policy", model=self.adapter_base, cores=engine_cores(),
                                       adapters_from=Path(latest.uri).parent)
            evaluator = self.start_evaluator(policy, pin=True)
        else:
            evaluator = self.start_evaluator(self.start_policy("eval-policy", cores=engine_cores()))
        self.evaluate(evaluator, latest, label)
        self.services.stop("evaluator")
        self.services.stop("eval-policy")
        self.state.finish("final-evaluation")

    def phase_report(self) -> int:
        from playpen_evaluator.report import write_run_report

        # The evaluator has stopped; its store is read directly (ListResults serves the same while it runs).
        recipe = self.config["recipe"]
        # Other recipes' runs beside this one (runs/<recipe>), whose reports are already written.
        others = [path for path in sorted(self.paths.root.resolve().parent.glob("*/report/recipe.json"))
                  if path.parents[1] != self.paths.root.resolve()]
        write_run_report(self.paths.evaluator / "evaluator.db", self.paths.report, split=self.config["eval_split"],
                         steps_path=self.paths.trainer / "steps.jsonl", config=self.config, baseline_version=0,
                         stage_label="warm-start", stage_name={"grpo": "GRPO", "dpo": "DPO"}.get(recipe, "SFT"),
                         seed=self.config["seed"], recipe=recipe, compare=others)
        self.state.finish("report")
        print((self.paths.report / "report.md").read_text().split("\n## ")[0])
        print(f"report: {self.paths.report}/report.md (curves, transcripts, verdict.json, recipe.json alongside)")
        return 0


# --------------------------------------------------------------------------------------------------- helpers


def base_ref(model: Path) -> checkpoint_pb2.CheckpointRef:
    """Version 0: the base model the policies start with."""
    return checkpoint_pb2.CheckpointRef(version=0, uri=str(model), kind=checkpoint_pb2.CHECKPOINT_KIND_FULL,
                                        base_model=str(model))


def group_clemscore(result: evaluator_pb2.EvaluationResult, group: str) -> float:
    for entry in result.groups:
        if entry.group == group:
            return entry.score.clemscore
    return math.nan


def describe(result: evaluator_pb2.EvaluationResult) -> str:
    parts = [f"{g.group}: played {g.score.played:.1f}%, clemscore {g.score.clemscore:.1f}" for g in result.groups
             if g.score.episodes]
    promoted = "promoted" if result.promoted else "not promoted"
    return "; ".join(parts) + f" ({promoted})"


def sft_progress(log: Path) -> int:
    """Optimiser steps done so far, from the SFT log's "step N/M loss X" lines."""
    if not log.is_file():
        return 0
    found = re.findall(r"^step (\d+)/\d+ loss", log.read_text(errors="replace"), flags=re.MULTILINE)
    return int(found[-1]) if found else 0


def stop_process(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def require(path: Path, hint: str) -> None:
    if not path.exists():
        raise SystemExit(f"{path} is missing: {hint}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.fresh and options.run_dir.exists():
        shutil.rmtree(options.run_dir)
    options.run_dir.mkdir(parents=True, exist_ok=True)
    require(TRAINER_BIN / "playpen-trainer", "run `make setup`")
    if options.policy == "vllm":
        require(POLICY_BIN / "playpen-policy", "run `make setup` (or use --policy scripted)")
        require(options.model, "run `make setup` (it converts SmolLM2 once)")
    loop = ClosedLoop(options)
    def interrupted(*_) -> None:
        raise KeyboardInterrupt

    # Ctrl-C (SIGINT) and SIGTERM stop the run, also where it started with SIGINT ignored (a background job of a
    # non-interactive shell inherits that, and Python then installs no KeyboardInterrupt handler of its own).
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        return loop.run()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every service (run the same command again to resume)", file=sys.stderr)
        return 130
    except launcher.ServiceFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    except (RuntimeError, grpc.RpcError) as failure:
        detail = f"{failure.code().name}: {failure.details()}" if isinstance(failure, grpc.RpcError) else failure
        print(f"make run failed: {detail}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not leave services behind: stopping finishes first (the trainer ends its step).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if loop.services.running:
            print("stopping services…", file=sys.stderr)
        loop.services.stop_all()


if __name__ == "__main__":
    sys.exit(main())

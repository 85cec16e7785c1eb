"""The online GRPO loop: take complete groups from the store, train one step, record it, commit checkpoints.

Everything here blocks (torch, SQLite, disk) and runs on a worker thread; the gRPC event loop keeps ingesting
meanwhile. A step is: groups → drop stale episodes (older than `max_staleness` versions) → rewards and
group-relative advantages → one optimiser step over the learner's tokens → the step and its episodes recorded
in one transaction → every `checkpoint_every` steps a committed checkpoint, which raises the version.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from playpen.common.v1 import checkpoint_pb2, episode_pb2
from playpen_trainer.checkpoints import STATE_FILE, CheckpointPublisher
from playpen_trainer.faults import crash_point
from playpen_trainer.rewards import RewardConfig, episode_reward, group_advantages
from playpen_trainer.samples import TurnSample, learner_turns, oldest_version
from playpen_trainer.settings import TrainerSettings
from playpen_trainer.store import EpisodeStore

log = structlog.get_logger("playpen.trainer.loop")

STEPS_LOG = "steps.jsonl"
# One line per group the trainer judged: its game and instance, each episode's game reward, shaping, abort and
# advantage, and whether it was trained or set aside (why GRPO found signal where it did; make run's report reads it).
GROUPS_LOG = "groups.jsonl"
TRAINING_FIELDS = ("base_model", "init_from", "algorithm", "learner", "lora", "lora_rank", "lora_alpha",
                   "lora_targets", "lr", "weight_decay", "max_grad_norm", "group_size", "groups_per_step",
                   "max_staleness", "clip_low", "clip_high", "kl_coef", "aborted_reward", "format_credit", "seed",
                   "flat_groups")


def config_hash(settings: TrainerSettings) -> str:
    relevant = {name: str(getattr(settings, name)) for name in TRAINING_FIELDS}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def shard_groups(samples: list[TurnSample], ranks: int) -> list[list[TurnSample]]:
    """The step's samples split over `ranks`, whole groups to a rank, the heaviest group first to the least loaded
    rank (cost: the tokens a forward reads). Deterministic, so a rerun of a step shards it the same way."""
    if ranks == 1:
        return [list(samples)]
    groups: dict[str, list[TurnSample]] = {}
    for sample in samples:
        groups.setdefault(sample.group_id, []).append(sample)

    def cost(group: list[TurnSample]) -> int:
        return sum(len(s.prompt_ids) + len(s.completion_ids) for s in group)

    shards: list[list[TurnSample]] = [[] for _ in range(ranks)]
    loads = [0] * ranks
    for group_id in sorted(groups, key=lambda g: (-cost(groups[g]), g)):
        target = loads.index(min(loads))
        shards[target].extend(groups[group_id])
        loads[target] += cost(groups[group_id])
    return shards


@dataclass
class StepReport:
    step: int
    version: int
    episodes: int
    dropped: dict[str, int]
    staleness: list[int]
    rewards: dict[str, list[float]] = field(default_factory=dict)  # game -> game rewards of the step
    shaping: list[float] = field(default_factory=list)
    aborted: dict[str, list[bool]] = field(default_factory=dict)
    well_formed: list[bool] = field(default_factory=list)  # per learner turn
    #: game -> [groups whose rewards differ (a gradient), groups whose rewards are all equal (none)]
    groups: dict[str, list[int]] = field(default_factory=dict)
    #: one record per group judged in this call (GROUPS_LOG)
    group_log: list[dict] = field(default_factory=list)
    stats: object | None = None
    seconds: float = 0.0  # wall time of the step: preparing, the update, recording (not the checkpoint)

    def summary(self) -> dict:
        """One line of steps.jsonl: what a report plots. Means are NaN-free (null when there is nothing)."""
        rewards = [r for values in self.rewards.values() for r in values]
        aborted = [a for values in self.aborted.values() for a in values]

        def mean(values):
            return statistics.fmean(values) if values else None

        stats = self.stats
        return {
            "step": self.step, "version": self.version, "time": time.time(), "episodes": self.episodes,
            "seconds": round(self.seconds, 3),
            "dropped": self.dropped, "staleness_mean": mean(self.staleness),
            "reward_mean": mean(rewards), "reward_per_game": {g: statistics.fmean(v) for g, v in self.rewards.items()},
            "aborted_share": mean([float(a) for a in aborted]),
            "aborted_per_game": {g: statistics.fmean(map(float, v)) for g, v in self.aborted.items()},
            "shaping_mean": mean(self.shaping), "well_formed_share": mean([float(w) for w in self.well_formed]),
            "groups_per_game": {g: {"signal": n[0], "flat": n[1]} for g, n in self.groups.items()},
            **({k: getattr(stats, k) for k in ("loss", "kl", "grad_norm", "clip_fraction", "tokens_per_s",
                                                 "logprob_mismatch") if hasattr(stats, k)} if stats else {}),
        }


class Trainer:
    """The GRPO loop. In a multi-process world (distributed.py) every rank builds one; rank 0's is given the store
    and the publisher and drives the others, which run `follow`."""

    def __init__(self, settings: TrainerSettings, store: EpisodeStore | None, publisher: CheckpointPublisher | None,
                 world=None, device=None):
        from playpen_trainer.distributed import World

        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.world = world or World()
        self.device = device
        self.rewards = RewardConfig(aborted_reward=settings.aborted_reward, format_credit=settings.format_credit)
        self.step = 0
        self.version = 0
        self.last_step_at = 0.0
        self.model = None
        self.optimizer = None
        self.reference = None
        self._recent_rewards: list[float] = []
        self._following = False  # rank 0: the other ranks run `follow` (setup is done)

    # ------------------------------------------------------------------------------------------ setup

    def setup(self) -> None:
        """Load the model; resume from the newest valid checkpoint if there is one. Every rank calls it."""
        import torch

        from playpen_trainer.distributed import Parallel, autocast_dtype, resolve_device
        from playpen_trainer.grpo import GrpoConfig
        from playpen_trainer.model import LoraSettings, PolicyModel, make_optimizer

        settings, world = self.settings, self.world
        device = self.device or resolve_device(settings.device, world.local_rank)
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        torch.manual_seed(settings.seed)
        random.seed(settings.seed)
        lora = (LoraSettings(rank=settings.lora_rank, alpha=settings.lora_alpha,
                             targets=[t.strip() for t in settings.lora_targets.split(",") if t.strip()])
                if settings.lora else None)
        resumed = self.publisher.recover() if world.is_main else None
        resumed_at = world.broadcast((resumed.step, resumed.version) if resumed is not None else None)
        # A warm start (--init-from) replaces the base weights once, at the start of a fresh run; after that the
        # run resumes from its own checkpoints like any other. The KL reference is where training started.
        # Only rank 0 reads them: the other ranks (perhaps on other nodes, without its data volume) load the base
        # architecture and receive rank 0's weights. A LoRA run's checkpoints hold only the adapter, so its base
        # is the warm start on every start, resumed or not.
        fresh = resumed_at is None or settings.lora
        start = (Path(settings.init_from) if settings.init_from and fresh and world.is_main
                 else Path(settings.base_model))
        reference_dir = Path(settings.init_from or settings.base_model) if world.is_main else Path(settings.base_model)
        self.model = PolicyModel.load(start, lora=lora, device=device,
                                      gradient_checkpointing=settings.gradient_checkpointing)
        self.model.autocast = autocast_dtype(settings.precision, device)
        if resumed is not None:
            self.model.load_state_from(Path(resumed.uri))
        world.broadcast_tensors(tensor for tensor in self.model.module.state_dict(keep_vars=True).values())
        if settings.kl_coef > 0:
            self.reference = PolicyModel.reference_for(self.model, reference_dir)
            if not self.model.is_lora:
                world.broadcast_tensors(t for t in self.reference.module.state_dict(keep_vars=True).values())
        self.model.parallelize(Parallel(world, settings.parallel, device), self.reference)
        self.optimizer = make_optimizer(self.model, lr=settings.lr, weight_decay=settings.weight_decay)
        self.grpo = GrpoConfig(clip_low=settings.clip_low, clip_high=settings.clip_high, kl_coef=settings.kl_coef,
                               micro_batch_tokens=settings.micro_batch_tokens)
        if resumed_at is not None:
            state = (torch.load(self.publisher.state_dir(resumed.version) / STATE_FILE, weights_only=False)
                     if world.is_main else None)
            restored = self.model.parallel.load_optimizer_state(
                self.model.scorer, self.optimizer, state["optimizer"] if state else None,
                sharded_format=bool(state and state.get("optimizer_sharded")))
            if not restored and world.is_main:
                log.warning("optimizer state saved under other parallelism; its moments start afresh")
            rng = world.broadcast((state["torch_rng"], state["python_rng"]) if state else None)
            torch.set_rng_state(rng[0])
            random.setstate(rng[1])
            self.step, self.version = resumed_at
        rewound = self.store.rewind_to(self.step) if world.is_main else 0
        if resumed_at is None and settings.init_from:
            self.checkpoint(label="warm-start")
        self._following = world.is_main
        log.info("trainer ready", step=self.step, policy_version=self.version, resumed=resumed_at is not None,
                 episodes_to_retrain=rewound, rank=world.rank, pid=os.getpid(), world_size=world.size,
                 device=str(device), parallel=settings.parallel if world.size > 1 else "none")

    # ------------------------------------------------------------------------------------------ one step

    def _prepare(self, groups: list[list[episode_pb2.Episode]], report: StepReport) -> tuple[list, list, dict]:
        """Samples with advantages, the ids they consume, and the episodes set aside (id -> reason)."""
        samples: list[TurnSample] = []
        consumed: list[str] = []
        dropped: dict[str, str] = {}
        learner = self.settings.learner
        for group in groups:
            usable = []
            for episode in group:
                episode_samples = learner_turns(episode, learner)
                age = self.version - oldest_version(episode_samples)
                report.staleness.append(age)
                if age > self.settings.max_staleness:
                    dropped[episode.episode_id] = "stale"
                else:
                    usable.append((episode, episode_samples))
            if len(usable) < 2:
                dropped.update({episode.episode_id: "group too small" for episode, _ in usable})
                continue
            rewards = [episode_reward(episode, episode_samples, self.rewards) for episode, episode_samples in usable]
            advantages = group_advantages([r.total for r in rewards])
            flat = not any(advantages)
            report.groups.setdefault(usable[0][0].game, [0, 0])[int(flat)] += 1
            report.group_log.append({
                "game": usable[0][0].game, "instance_id": usable[0][0].instance_id, "signal": not flat,
                "set_aside": flat and self.settings.flat_groups == "drop",
                "game_rewards": [round(r.game, 4) for r in rewards],
                "shaping": [round(r.shaping, 4) for r in rewards],
                "aborted": [bool(episode.scores.aborted) for episode, _ in usable],
                "advantages": [round(a, 4) for a in advantages],
                "versions": [oldest_version(samples) for _, samples in usable]})
            if flat and self.settings.flat_groups == "drop":
                dropped.update({episode.episode_id: "no signal" for episode, _ in usable})
                continue
            for (episode, episode_samples), advantage, reward in zip(usable, advantages, rewards, strict=True):
                for sample in episode_samples:
                    sample.advantage = advantage
                samples.extend(episode_samples)
                consumed.append(episode.episode_id)
                report.rewards.setdefault(episode.game, []).append(reward.game)
                report.shaping.append(reward.shaping)
                report.aborted.setdefault(episode.game, []).append(bool(episode.scores.aborted))
                report.well_formed.extend(sample.well_formed for sample in episode_samples)
        for reason in dropped.values():
            report.dropped[reason] = report.dropped.get(reason, 0) + 1
        return samples, consumed, dropped

    def train_step(self) -> StepReport | None:
        """One optimiser step if enough complete groups are stored; None otherwise. Blocking."""
        groups = self.store.ready_groups(self.settings.group_size, self.settings.groups_per_step)
        if len(groups) < self.settings.groups_per_step:
            return None
        began = time.monotonic()
        report = StepReport(step=self.step + 1, version=self.version, episodes=0, dropped={}, staleness=[])
        samples, consumed, dropped = self._prepare(groups, report)
        signal_groups = sum(counts[0] for counts in report.groups.values())
        if not consumed or (self.settings.flat_groups == "drop" and signal_groups < self.settings.groups_per_step):
            # Everything was set aside (stale, groups too small, no signal): no optimiser step, no new version.
            # Groups with signal wait, pending, until enough others have joined them (dynamic sampling).
            if not dropped:
                return None
            self.store.record_step(self.step, [], dropped)
            report.step = self.step
            # Only what this call settled is reported: the waiting groups are counted when they are trained.
            report.rewards, report.aborted, report.shaping, report.well_formed = {}, {}, [], []
            report.groups = {game: [0, counts[1]] for game, counts in report.groups.items() if counts[1]}
            log.info("episodes set aside", step=self.step, reasons=report.dropped,
                     flat_groups={game: counts[1] for game, counts in report.groups.items()})
            # Groups with signal that wait are logged when a step trains them.
            self._log_groups([record for record in report.group_log if record["set_aside"]], step=None)
            return report
        if samples:
            report.stats = self._update(shard_groups(samples, self.world.size))
        crash_point("step:updated")
        self.step += 1
        report.episodes = len(consumed)
        self.store.record_step(self.step, consumed, dropped)
        self.last_step_at = time.time()
        crash_point("step:recorded")
        report.seconds = time.monotonic() - began
        self._recent_rewards.extend(r for values in report.rewards.values() for r in values)
        self._log_step(report)
        self._log_groups(report.group_log, step=self.step)
        if self.step % self.settings.checkpoint_every == 0:
            self.checkpoint()
        return report

    def _update(self, shards: list[list[TurnSample]]):
        """The optimiser step, every rank on its shard (rank 0 hands the others theirs)."""
        total_tokens = sum(s.tokens for shard in shards for s in shard)
        self.world.broadcast(("step", total_tokens, self.version))
        return self._local_update(self.world.scatter(shards), total_tokens, self.version)

    def _local_update(self, samples: list[TurnSample], total_tokens: int, version: int):
        from playpen_trainer.grpo import grpo_step

        return grpo_step(self.model, self.optimizer, samples, self.grpo, ref_model=self.reference,
                         current_version=version, max_grad_norm=self.settings.max_grad_norm,
                         total_tokens=total_tokens)

    # ------------------------------------------------------------------------------------------ other ranks

    def idle(self) -> None:
        """Rank 0 while it waits for episodes: keeps the other ranks' wait for a command within its timeout."""
        self.world.broadcast(("idle",))

    def stop_followers(self) -> None:
        self.world.broadcast(("stop",))

    def follow(self) -> None:
        """Ranks other than 0: do what rank 0 says until it says stop. Blocking."""
        while True:
            command = self.world.broadcast(None)
            if command[0] == "stop":
                return
            if command[0] == "step":
                _, total_tokens, version = command
                self._local_update(self.world.scatter(None), total_tokens, version)
            elif command[0] == "checkpoint":
                self._gather()

    def _log_step(self, report: StepReport) -> None:
        """Append the step's summary to <data_dir>/steps.jsonl (for reports and curves). After a crash the lost
        steps are trained again and logged again: readers keep the last line of each step."""
        def finite(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: finite(v) for k, v in value.items()}
            return value

        line = json.dumps(finite(report.summary()), allow_nan=False)
        with open(self.settings.data_dir / STEPS_LOG, "a", encoding="utf-8") as log_file:
            log_file.write(line + "\n")

    def _log_groups(self, records: list[dict], step: int | None) -> None:
        """Append judged groups to <data_dir>/groups.jsonl with the step that trained them (null for a group set
        aside). After a crash, groups of a lost step are judged and logged again."""
        if not records:
            return
        with open(self.settings.data_dir / GROUPS_LOG, "a", encoding="utf-8") as log_file:
            for record in records:
                line = {"step": None if record["set_aside"] else step, **record, "time": round(time.time(), 3)}
                log_file.write(json.dumps(line) + "\n")

    # ------------------------------------------------------------------------------------------ checkpoints

    def _gather(self) -> tuple[dict | None, dict | None]:
        """The model's and the optimizer's whole state on rank 0 (collectives when sharded; every rank calls)."""
        return self.model.full_state(), self.model.parallel.full_optimizer_state(self.model.scorer, self.optimizer)

    def checkpoint(self, label: str = "") -> checkpoint_pb2.CheckpointRef | None:
        """Commit the next version (rank 0 writes it; in a multi-process world the others help gather)."""
        import torch

        if not self.world.is_main:
            self._gather()  # during setup (a warm start), where every rank arrives here on its own
            self.version += 1
            return None
        if self._following:
            self.world.broadcast(("checkpoint",))
        weights, optimizer_state = self._gather()
        version = self.version + 1

        def save_state(directory: Path) -> None:
            torch.save({"optimizer": optimizer_state, "optimizer_sharded": self.model.parallel.sharded,
                        "step": self.step, "version": version,
                        "torch_rng": torch.get_rng_state(), "python_rng": random.getstate()},
                       directory / STATE_FILE)

        def save_weights(directory: Path) -> None:
            self.model.save(directory, weights)

        reward_mean = statistics.fmean(self._recent_rewards) if self._recent_rewards else math.nan
        kind = checkpoint_pb2.CHECKPOINT_KIND_LORA if self.settings.lora else checkpoint_pb2.CHECKPOINT_KIND_FULL
        best = self.store.best_version()
        ref = self.publisher.write(version=version, step=self.step, kind=kind, save_weights=save_weights,
                                   save_state=save_state, keep={best} if best else set())
        self.version = version
        self.store.record_checkpoint(version, self.step, None if math.isnan(reward_mean) else reward_mean)
        self._recent_rewards.clear()
        log.info("checkpoint committed", policy_version=version, step=self.step, reward_mean=reward_mean,
                 **({"label": label} if label else {}))
        return ref

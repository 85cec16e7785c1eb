"""`make bench-scale`: how the stack scales over several policy replicas, one section per aspect. Last line: one
JSON object with every section's figures.

- `rollout`: tokens/s of the completions that come back through the game master when its one policy target
  names 1, 2 and 3 local replicas (a list host:port,host:port), the same episodes each time. The replicas run
  the scripted backend (no model: the cost measured is the stack's own). On a machine with 2 cores the replicas,
  the game master and this script share those cores, so more replicas show the overhead of spreading the
  turns, not a speedup; on GPUs, where each replica is its own engine, the same run measures the scaling.
- `failover`: 3 replicas whose replies take `--reply-delay-s`, so that calls are in flight; under load one is
  SIGKILLed and, later, one drains (SIGTERM). Figures: episodes lost (anything but a scored episode; must be 0),
  turns asked again on another replica, and their extra latency over the run's mean turn latency.

- `trainer`: median seconds of one GRPO step of the embedded default's model (SmolLM2-135M) over the same synthetic
  groups, as one process with every core's thread and as 2 torchrun ranks (gloo) with a share of them each —
  scripts/bench_train_ranks.py in the trainer's environment. On a CPU both use the same cores, so the ratio shows
  what splitting costs or gains there, not GPU data parallelism.

- `reload`: a full reload of a sharded Llama-shaped checkpoint into a CPU vLLM engine, phase by phase, next to the
  path it replaced (scripts/bench_reload.py in the policy's environment; `--reload-shape 1b` for the 1B shape,
  `make bench-reload` alone for every option).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import grpc
from prometheus_client.parser import text_string_to_metric_families

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher

REPO = Path(__file__).resolve().parents[1]
CORES_NOTE = ("scripted replicas sharing this machine's cores with the game master: more replicas show the "
              "overhead of spreading turns, not a speedup (on 2 cores); run on GPU nodes for scaling")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench-scale", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--games", nargs="*", default=["taboo", "wordle"])
    add("--episodes", type=int, default=96, help="episodes per rollout measurement (a multiple of 2 x games)")
    add("--concurrency", type=int, default=24, help="episodes in flight")
    add("--replicas", type=int, default=3, help="rollout: measured with 1 .. this many replicas")
    add("--repeats", type=int, default=3, help="rollout: runs per replica count, interleaved; the median counts")
    add("--failover-episodes", type=int, default=60)
    add("--reply-delay-s", type=float, default=0.05, help="failover: time each scripted reply takes")
    add("--train-steps", type=int, default=2, help="trainer: timed steps per run (after one warm-up step)")
    add("--trainer-python", type=Path, default=REPO / ".venv-trainer" / "bin" / "python",
        help="trainer: the trainer environment's python")
    add("--reload-shape", default="135m", help="reload: checkpoint shape of scripts/bench_reload.py (135m, 1b, ...)")
    add("--policy-python", type=Path, default=REPO / ".venv-policy" / "bin" / "python",
        help="reload: the policy environment's python")
    add("--sections", nargs="*", default=None, help="run only these sections (default: all)")
    add("--workdir", type=Path, help="keep logs here (default: a temporary folder, removed)")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ plumbing

def start_replicas(count: int, workdir: Path, name: str, script: Path | None = None) -> list[launcher.Service]:
    flags = ["--script", str(script)] if script else []
    replicas: list[launcher.Service] = []
    try:
        for index in range(count):
            replicas.append(launcher.start(f"{name}-{index}", ["playpen-policy", "--backend", "scripted", *flags,
                                                                "--grace-period-s", "5"], workdir))
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise
    return replicas


def _summed(text: str) -> dict[str, float]:
    """Every metric's samples summed over their labels, by sample name."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


def _summed_from(service: launcher.Service) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://localhost:{service.metrics_port}/metrics", timeout=10).read().decode()
    return _summed(text)


def play(gamemaster: launcher.Service, target: str, options: argparse.Namespace, episodes: int,
         on_episode: Callable[[int], None] = lambda count: None) -> tuple[list[episode_pb2.Episode], float]:
    groups = max(1, episodes // (2 * len(options.games)))
    request = gm.PlayEpisodesRequest(games=options.games, split="train", instances_per_game=groups, group_size=2,
                                     concurrency=options.concurrency, seed=7,
                                     default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=target)))
    played: list[episode_pb2.Episode] = []
    started = time.perf_counter()
    with grpc.insecure_channel(gamemaster.target) as channel:
        for response in gamemaster_pb2_grpc.GameMasterServiceStub(channel).PlayEpisodes(request, timeout=900):
            played.append(response.episode)
            on_episode(len(played))
    return played, time.perf_counter() - started


def completion_tokens(episodes: list[episode_pb2.Episode]) -> int:
    return sum(len(t.generation.completion_token_ids) for e in episodes for t in e.turns if t.HasField("generation"))


def lost(episodes: list[episode_pb2.Episode]) -> int:
    return sum(e.status != episode_pb2.EPISODE_STATUS_COMPLETED or not e.HasField("scores") for e in episodes)


# ------------------------------------------------------------------------------------------------ sections

def rollout(options: argparse.Namespace, workdir: Path, gamemaster: launcher.Service) -> dict:
    replicas = start_replicas(options.replicas, workdir, "rollout")
    try:
        play(gamemaster, replicas[0].target, options, 2 * len(options.games))  # warm up channels and caches
        rates: dict[int, list[float]] = {count: [] for count in range(1, options.replicas + 1)}
        for repeat in range(options.repeats):
            # Interleaved, so that a neighbour's load on the shared cores hits every replica count alike.
            for count in rates:
                target = ",".join(r.target for r in replicas[:count])
                episodes, seconds = play(gamemaster, target, options, options.episodes)
                tokens = completion_tokens(episodes)
                rates[count].append(tokens / seconds)
                print(f"rollout: {count} replica(s), run {repeat + 1}: {len(episodes)} episodes, {tokens} completion "
                      f"tokens in {seconds:.2f} s = {tokens / seconds:.0f} tokens/s, {lost(episodes)} lost", flush=True)
        figures = {f"tokens_per_s_{count}": round(statistics.median(values), 1) for count, values in rates.items()}
        for count in range(2, options.replicas + 1):
            figures[f"ratio_{count}_vs_1"] = round(figures[f"tokens_per_s_{count}"] / figures["tokens_per_s_1"], 3)
        print(f"rollout: {CORES_NOTE}", flush=True)
        return {**figures, "episodes": options.episodes, "repeats": options.repeats, "backend": "scripted",
                "note": CORES_NOTE}
    finally:
        for replica in replicas:
            replica.stop()


def failover(options: argparse.Namespace, workdir: Path, gamemaster: launcher.Service) -> dict:
    rules = json.loads((resources.files("playpen_policy") / "data" / "scripted_players.json").read_text())
    rules["rules"] = [{**rule, "delay_s": options.reply_delay_s} for rule in rules.get("rules", [])]
    script = workdir / "delayed_players.json"
    script.write_text(json.dumps(rules))
    replicas = start_replicas(3, workdir, "failover", script)
    killed, drained, _ = replicas
    total = options.failover_episodes

    def disrupt(count: int) -> None:
        if count == total // 3:
            killed.process.kill()
            print(f"failover: SIGKILL {killed.name} after {count} episodes", flush=True)
        elif count == 2 * total // 3:
            drained.process.terminate()
            print(f"failover: SIGTERM {drained.name} after {count} episodes", flush=True)

    try:
        before = _summed_from(gamemaster)
        episodes, seconds = play(gamemaster, ",".join(r.target for r in replicas), options, total, disrupt)
        after = _summed_from(gamemaster)
    finally:
        for replica in replicas:
            replica.stop()

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    retried = delta("playpen_gamemaster_retried_turn_latency_seconds_count")
    turns = delta("playpen_gamemaster_turn_latency_seconds_count")
    mean_turn = delta("playpen_gamemaster_turn_latency_seconds_sum") / turns if turns else 0.0
    mean_retried = delta("playpen_gamemaster_retried_turn_latency_seconds_sum") / retried if retried else 0.0
    figures = {
        "episodes": len(episodes), "episodes_lost": lost(episodes), "seconds": round(seconds, 2),
        "retries": int(delta("playpen_gamemaster_policy_retries_total")), "retried_turns": int(retried),
        "turns": int(turns), "mean_turn_latency_s": round(mean_turn, 4),
        "mean_retried_turn_latency_s": round(mean_retried, 4),
        "retried_turn_extra_latency_s": round(mean_retried - mean_turn, 4) if retried else None,
        "reply_delay_s": options.reply_delay_s,
    }
    for episode in episodes:
        if episode.status != episode_pb2.EPISODE_STATUS_COMPLETED or not episode.HasField("scores"):
            print(f"failover: lost {episode.episode_id}: {episode_pb2.EpisodeStatus.Name(episode.status)} "
                  f"{episode.error}", flush=True)
    print(f"failover: {figures['episodes']} episodes, {figures['episodes_lost']} lost; {figures['retried_turns']} "
          f"turns retried ({figures['retries']} retries), each {mean_retried:.3f} s vs {mean_turn:.3f} s on "
          f"average", flush=True)
    return figures


def trainer(options: argparse.Namespace, workdir: Path, gamemaster: launcher.Service) -> dict:
    from playpen_common.defaults import default_model_dir

    model = default_model_dir()
    if not (model / "config.json").is_file() or not options.trainer_python.exists():
        return {"skipped": f"needs the model of `make setup` at {model} and {options.trainer_python}"}
    cores = len(os.sched_getaffinity(0))
    script = str(REPO / "scripts" / "bench_train_ranks.py")
    flags = [str(model), "--steps", str(options.train_steps), "--groups", "2", "--group-size", "4",
             "--prompt-tokens", "384", "--completion-tokens", "32"]
    runs = {}
    for label, ranks, launch in (("1_process", 1, [script]),
                                 ("2_ranks_ddp", 2, ["-m", "torch.distributed.run", "--standalone",
                                                     "--nproc-per-node=2", script])):
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // ranks)), "PYTHONPATH": str(REPO)}
        done = subprocess.run([str(options.trainer_python), *launch, *flags, *(["--parallel", "ddp"] * (ranks > 1))],
                              env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"trainer {label} failed:\n{done.stderr[-3000:]}")
        runs[label] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"trainer: {label}: {runs[label]['step_s']} s per step ({runs[label]['tokens_per_step']} tokens, "
              f"{runs[label]['threads_per_rank']} threads per rank)", flush=True)
    one, two = runs["1_process"]["step_s"], runs["2_ranks_ddp"]["step_s"]
    return {"model": model.name, "cores": cores, "step_s_1_process": one, "step_s_2_ranks": two,
            "ratio_2_vs_1": round(one / two, 3), "tokens_per_step": runs["1_process"]["tokens_per_step"],
            "note": "CPU: both runs share the same cores; on GPUs each rank adds a device"}


def reload(options: argparse.Namespace, workdir: Path, gamemaster: launcher.Service) -> dict:
    if not options.policy_python.exists():
        return {"skipped": f"needs the policy environment ({options.policy_python})"}
    done = subprocess.run([str(options.policy_python), str(REPO / "scripts" / "bench_reload.py"),
                           "--shape", options.reload_shape, "--no-copy-path", "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"bench_reload failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"reload: {options.reload_shape} shape: {figures.get('total_s')} s in all "
          f"(old path {figures.get('old_total_s')} s)", flush=True)
    return figures


SECTIONS: dict[str, Callable[[argparse.Namespace, Path, launcher.Service], dict]] = {
    "rollout": rollout,
    "failover": failover,
    "trainer": trainer,
    "reload": reload,
}


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    chosen = options.sections or list(SECTIONS)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as temporary:
        workdir = options.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        gamemaster = launcher.start("gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "30"], workdir)
        try:
            result = {name: SECTIONS[name](options, workdir, gamemaster) for name in chosen}
        finally:
            gamemaster.stop()
    print(json.dumps(result))
    lost_episodes = result.get("failover", {}).get("episodes_lost", 0)
    return 1 if lost_episodes else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench-robustness`: how the services hold up against hostile input, load, network faults and kills.
Last line: one JSON object.

- `bad_inputs`: requests tried against every RPC of the game master, the scripted policy, the evaluator and the
  trainer (descriptor-built fuzz, raw bytes, and the hostile requests of issue 14), and how many got a
  non-client status (INTERNAL, UNKNOWN) or crashed the server, by service;
- `gamemaster_peak_rss_mib`: the game master's peak resident memory (VmHWM) serving the largest request it
  allows (100,000 episodes, 4096-character strings), from a fresh process;
- `health_p99_ms`: p99 latency of its health Check while it plans and plays that request;
- `recovery_s`: time from clearing each fault injected between the game master and its policy (fault proxy:
  resets, blackhole) to the next completed episode; `proxy_episodes_lost`;
- `soak`: episodes lost and duplicated, and the longest stall, in a closed-loop soak with random SIGKILLs of
  the policy and the trainer (`--soak-seconds`, default 120; 0 skips it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the reliability suite's proxy, fuzzing and soak modules

from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from playpen.evaluator.v1 import evaluator_pb2  # noqa: E402
from playpen.gamemaster.v1 import gamemaster_pb2 as gm  # noqa: E402
from playpen.gamemaster.v1 import gamemaster_pb2_grpc  # noqa: E402
from playpen.policy.v1 import policy_pb2  # noqa: E402
from playpen.trainer.v1 import trainer_pb2  # noqa: E402
from playpen_common import launcher  # noqa: E402
from tests.integration.conftest import TABOO_SCRIPT, write_script  # noqa: E402
from tests.reliability.faultproxy import FaultProxy  # noqa: E402
from tests.reliability.fuzzing import SERVER_FAULTS, Fault, Rpc, Tally, call, fuzz_rpc, rpcs  # noqa: E402
from tests.reliability.proxy_loop import run_fault_phases  # noqa: E402
from tests.reliability.soak import TRAINER_BIN, build_model, run_soak  # noqa: E402
from tests.reliability.support import MIB, rss_bytes  # noqa: E402

SERVICES = {"gamemaster": gm.DESCRIPTOR.services_by_name["GameMasterService"],
            "policy": policy_pb2.DESCRIPTOR.services_by_name["PolicyService"],
            "evaluator": evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"],
            "trainer": trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"]}
TEN_MB = 10_000_000
MAX_EPISODES = 100_000  # the game master's cap on one PlayEpisodes call


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench-robustness", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--examples", type=int, default=60, help="descriptor-built requests per RPC")
    add("--raw-examples", type=int, default=15, help="raw-byte payloads per RPC")
    add("--load-seconds", type=float, default=10.0, help="how long health is probed under the largest request")
    add("--fault-seconds", type=float, default=3.0, help="how long each injected fault lasts")
    add("--fault-cycles", type=int, default=3, help="rounds of (resets, blackhole)")
    add("--soak-seconds", type=float, default=120.0, help="closed-loop soak with random kills (0: skip)")
    add("--workdir", type=Path, help="keep logs and data here (default: a temporary folder, removed)")
    return parser.parse_args(argv)


def hostile_requests(policy_target: str) -> list[tuple[str, bytes]]:
    """The game master's bad inputs of issue 14, as (PlayEpisodes|ReplayEpisode, serialized request)."""
    player = gm.PlayerConfig(policy=gm.PolicyEndpoint(target=policy_target))
    nested = "[" * 100_000 + "]" * 100_000
    return [
        ("PlayEpisodes", gm.PlayEpisodesRequest(games=["taboo"], run_id="x" * TEN_MB, group_size=16,
                                                default_player=player).SerializeToString()),
        ("PlayEpisodes", gm.PlayEpisodesRequest(games=["y" * TEN_MB], default_player=player).SerializeToString()),
        ("PlayEpisodes", gm.PlayEpisodesRequest(games=["taboo"], default_player=gm.PlayerConfig(
            policy=gm.PolicyEndpoint(target="10.255.255.1:50052"))).SerializeToString()),
        ("PlayEpisodes", b"\x0a\x02\xc3\x28"),  # games[0] is not UTF-8
        ("ReplayEpisode", gm.ReplayEpisodeRequest(game="taboo", experiment_json="{}", instance_json=nested,
                                                  ).SerializeToString()),
        ("ReplayEpisode", gm.ReplayEpisodeRequest(game="taboo", experiment_json="{}",
                                                  instance_json='{"game_id": 0}').SerializeToString()),
    ]


def fuzz(services: dict[str, launcher.Service], options: argparse.Namespace, policy_target: str) -> dict:
    figures: dict[str, dict] = {}
    for name, service in services.items():
        tally = Tally()
        descriptor = SERVICES[name]
        with grpc.insecure_channel(service.target, options=[("grpc.max_send_message_length", 64 * MIB)]) as channel:
            for rpc in rpcs(descriptor):
                fuzz_rpc(channel, rpc, tally, examples=options.examples, raw_examples=options.raw_examples)
            if name == "gamemaster":
                for method, payload in hostile_requests(policy_target):
                    tally.tried += 1
                    rpc = Rpc(descriptor, descriptor.methods_by_name[method])
                    code = call(channel, rpc, payload, timeout=30)
                    # RESOURCE_EXHAUSTED here is an error message that overflowed the header limit (issue 14).
                    if code in SERVER_FAULTS or code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        tally.faults.append(Fault(rpc.name, code.name, f"hostile {payload[:40]!r}"))
        kinds: dict[str, int] = {}
        for fault in tally.faults:
            kind = fault.request.split()[0] if fault.request.startswith(("raw", "hostile")) else "message"
            key = f"{fault.rpc}:{fault.code}:{kind}"
            kinds[key] = kinds.get(key, 0) + 1
        figures[name] = {"tried": tally.tried, "non_client": len(tally.faults), "by_kind": kinds}
    # Judged after every service was fuzzed: a request may go on costing memory after its call was cancelled
    # (before issue 14's bounds, a 10 MB run_id grew the game master to 15 GB and the kernel killed it).
    time.sleep(5)
    for name, service in services.items():
        crashed = service.process.poll() is not None
        figures[name]["crashed"] = crashed
        figures[name]["non_client"] += int(crashed)
        if not crashed:
            figures[name]["peak_rss_mib"] = round(rss_bytes(service.process.pid, peak=True) / MIB, 1)
    return figures


def largest_request_load(gamemaster: launcher.Service, policy_target: str, seconds: float) -> dict:
    """Peak RSS and health latency while the game master plans and plays the largest request it allows: every
    taboo training instance, in groups large enough for MAX_EPISODES episodes, strings at their 4096 limit."""
    latencies: list[float] = []
    answer: dict[str, str] = {}
    with grpc.insecure_channel(gamemaster.target) as play_channel, \
            grpc.insecure_channel(gamemaster.target) as health_channel:
        stub = gamemaster_pb2_grpc.GameMasterServiceStub(play_channel)
        (taboo,) = [game for game in stub.ListGames(gm.ListGamesRequest(), timeout=30).games if game.name == "taboo"]
        instances = sum(count.instances for count in taboo.instance_counts if count.split == "train")
        request = gm.PlayEpisodesRequest(
            games=["taboo"], split="train", instances_per_game=instances, group_size=MAX_EPISODES // instances,
            run_id="r" * 4096, default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=policy_target,
                                                                                         name="n" * 4096)))
        answer["episodes_asked"] = str(instances * (MAX_EPISODES // instances))
        stream = stub.PlayEpisodes(request, timeout=seconds + 60)

        def read() -> None:
            try:
                for count, _ in enumerate(stream, start=1):
                    answer["episodes_played"] = str(count)
            except grpc.RpcError as error:
                answer["code"] = error.code().name

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        health = health_pb2_grpc.HealthStub(health_channel)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                health.Check(health_pb2.HealthCheckRequest(), timeout=30)
                latencies.append(time.monotonic() - sent)
            except grpc.RpcError:
                latencies.append(30.0)
            time.sleep(0.05)
        stream.cancel()
        reader.join(30)
    latencies.sort()
    return {"gamemaster_peak_rss_mib": round(rss_bytes(gamemaster.process.pid, peak=True) / MIB, 1),
            "health_p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
            "health_median_ms": round(1000 * statistics.median(latencies), 1),
            "health_probes": len(latencies), "largest_request": answer}


def main() -> None:
    options = parse_args()
    with tempfile.TemporaryDirectory(prefix="playpen-robustness-") as temporary:
        workdir = options.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        script = write_script(workdir / "taboo.json", TABOO_SCRIPT)
        started: dict[str, launcher.Service] = {}
        result: dict = {}
        try:
            started["policy"] = launcher.start("policy", ["playpen-policy", "--backend", "scripted", "--script",
                                                          str(script)], workdir)
            policy = started["policy"].target
            # A fresh game master: its peak RSS is this request's, not the fuzzing's.
            started["gamemaster"] = launcher.start("gamemaster", ["playpen-gamemaster"], workdir)
            result.update(largest_request_load(started["gamemaster"], policy, options.load_seconds))
            started["evaluator"] = launcher.start("evaluator", [
                "playpen-evaluator", "--gamemaster-target", started["gamemaster"].target, "--eval-policy-target",
                policy, "--state-dir", str(workdir / "evaluator"), "--seen-games", "taboo", "--unseen-games", "",
                "--instances-per-game", "1", "--skills", "false"], workdir)
            if (TRAINER_BIN / "playpen-trainer").exists():
                model = build_model(workdir / "model")
                started["trainer"] = launcher.start("trainer", [
                    str(TRAINER_BIN / "playpen-trainer"), "--base-model", str(model), "--data-dir",
                    str(workdir / "trainer"), "--group-size", "2", "--torch-threads", "1"], workdir, timeout=300)
            result["bad_inputs"] = fuzz(started, options, policy)
            result["bad_inputs_tried"] = sum(f["tried"] for f in result["bad_inputs"].values())
            result["bad_inputs_non_client"] = sum(f["non_client"] for f in result["bad_inputs"].values())
        finally:
            for service in reversed(list(started.values())):
                service.stop()
        proxied_policy = launcher.start("proxied-policy", ["playpen-policy", "--backend", "scripted", "--script",
                                                           str(script)], workdir)
        proxy = FaultProxy(f"127.0.0.1:{proxied_policy.grpc_port}")
        gamemaster = launcher.start("proxied-gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "2"], workdir)
        try:
            phases = run_fault_phases(gamemaster, proxy, fault_s=options.fault_seconds, cycles=options.fault_cycles)
        finally:
            gamemaster.stop()
            proxy.close()
            proxied_policy.stop()
        result["recovery_s"] = {mode: [round(s, 2) for s in times] for mode, times in phases["recovery_s"].items()}
        result["proxy_episodes_lost"] = phases["lost"]
        result["proxy_rss_growth_mib"] = phases["rss_growth_mib"]
        if options.soak_seconds > 0:
            soak = run_soak(workdir / "soak", seconds=options.soak_seconds)
            result["soak"] = {key: soak[key] for key in ("seconds", "rounds", "episodes", "lost", "duplicated",
                                                         "longest_stall_s", "kills")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""`make k8s-e2e`: the Helm chart's own pods, run as Podman containers, then used as a user would use them.

For each profile the chart is rendered (by scripts/k8s_check.py, the same renderer `make k8s-check` uses) and
every Deployment/StatefulSet pod becomes a Podman pod on one network where each Service's name resolves: init
containers first, then the containers with exactly the rendered image, command, args, env, securityContext,
volumes and resources (pods.py). Startup and readiness probes run as the kubelet runs them (probes.py). Then:

- default profile: ListGames, and PlayEpisodes on a few instances of every game through the game master with
  the vLLM policy serving SmolLM2: every episode scored, codenames included;
- loop profile: self-play → trainer → checkpoint on the shared volume → the rollout policy replies with the new
  version → the evaluator evaluates and promotes it → the serving policy serves it; a real Prometheus scrapes
  every container the way the chart's annotations and ServiceMonitor say, and every query of the shipped
  Grafana dashboard returns data;
- every container is stopped with its pod's grace period and must exit 0 within it; the trainer, started
  again on its volume, still holds every acknowledged episode.

Profiles take a values file of sizes (k8s/e2e/*.yaml: fewer instances and tokens, so that a run fits two CPU
cores) on top of the profile `make k8s-check` renders. A summary is printed; any failure exits non-zero.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import Field
from pydantic_settings import CliImplicitFlag, SettingsConfigDict

from k8s_e2e.cluster import RenderedRelease
from k8s_e2e.podman import Podman, PodmanError
from k8s_e2e.pods import PodRunner, RunningPod
from k8s_e2e.probes import ProbePending, wait_for, wait_ready
from k8s_e2e.prometheus import Prometheus, PrometheusFailed, scrape_targets
from k8s_e2e.scenarios import Findings, closed_loop, episodes_stored, play_every_game, service_target
from playpen_common.settings import CommandSettings, parse_command_line

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "k8s" / "helm" / "playpen"
NAMESPACE = "playpen"  # what scripts/k8s_check.py renders into
PROFILES = {
    "default": [REPO / "k8s" / "e2e" / "default.yaml"],
    "loop": [CHART / "ci" / "closed-loop-values.yaml", REPO / "k8s" / "e2e" / "loop.yaml"],
}


class E2ESettings(CommandSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_E2E_", cli_prog_name="make k8s-e2e")

    profiles: list[str] = Field(["default", "loop"], description="profiles to run, comma-separated")
    chart: Path = Field(CHART, description="the chart to render (a copy with a planted defect, in tests)")
    values: list[Path] = Field(default_factory=list, description="more values files on top of each profile's")
    instances: int = Field(1, ge=1, description="default profile: validation instances per game")
    max_tokens: int = Field(24, ge=1, description="default profile: tokens per reply")
    stagger_s: float = Field(90.0, ge=0, description="how long a pod may take to start before the next one starts "
                                                     "anyway (two vLLM engines starting at once interfere)")
    timeout_s: float = Field(1500.0, gt=0, description="loop profile: how long each step of the loop may take")
    only: list[str] = Field(default_factory=list, description="start only these components' pods (e.g. gamemaster) "
                                                              "and stop them again: no scenario, no Prometheus")
    keep: CliImplicitFlag[bool] = Field(False, description="leave the containers and volumes for inspection")


def render(settings: E2ESettings, profile: str, workdir: Path) -> RenderedRelease:
    files = [*PROFILES[profile], *settings.values]
    command = [str(REPO / ".venv-k8s" / "bin" / "python"), str(REPO / "scripts" / "k8s_check.py"),
               "--chart", str(settings.chart), "--render-only", "--dump", str(workdir / "rendered"),
               *(f"--values={path.resolve()}" for path in files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"rendering the {profile} profile failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return RenderedRelease(json.loads((workdir / "rendered" / "values.json").read_text()), NAMESPACE)


def start_order(release: RenderedRelease) -> list:
    """Pods that others dial first (a pod's args name its peers' Service addresses), else in rendered order."""
    names = {alias: pod for pod in release.pods for alias in pod.aliases}
    dials = {pod.name: {names[host].name for c in pod.containers() for arg in c.get("args", [])
                        if "=" in arg and (host := arg.split("=", 1)[1].rsplit(":", 1)[0]) in names
                        and names[host] is not pod} for pod in release.pods}
    ordered, placed = [], set()
    while len(ordered) < len(release.pods):
        ready = [p for p in release.pods if p.name not in placed and dials[p.name] <= placed]
        chosen = ready[0] if ready else next(p for p in release.pods if p.name not in placed)  # a cycle
        ordered.append(chosen)
        placed.add(chosen.name)
    return ordered


def start_pods(release: RenderedRelease, runner: PodRunner, podman: Podman, stagger_s: float,
               summary: dict) -> list[RunningPod]:
    running, started = [], {}
    for plan in start_order(release):
        pod = runner.start(plan)
        running.append(pod)
        summary["containers"] += len(pod.containers) + len(pod.init_logs)
        print(f"  started {plan.name} ({', '.join(pod.containers)})", flush=True)
        started[plan.name] = {}
        try:
            for container in plan.containers():
                if "startupProbe" in container:
                    started[plan.name][container["name"]] = wait_for(
                        podman, pod, container["name"], "startupProbe", container["startupProbe"],
                        give_up_s=stagger_s)
        except ProbePending:
            pass  # wait_ready below gives it the rest of its budget
    for pod in running:
        records = wait_ready(podman, pod, started=started[pod.plan.name])
        summary["probes_passed"] += len(records)
        print(f"  ready {pod.plan.name}: " + ", ".join(f"{r.kind} after {r.seconds:.0f} s" for r in records),
              flush=True)
    return running


def serves_grpc(pod: RunningPod) -> bool:
    return any(port.get("name") == "grpc" for c in pod.plan.containers() for port in c.get("ports", []))


def stop_all(running: list[RunningPod], podman: Podman, summary: dict) -> None:
    """Stop every container with its pod's grace period, actors first: each must exit 0 within it."""
    for pod in sorted(running, key=serves_grpc):
        for container in pod.containers.values():
            began = time.monotonic()
            podman("stop", "-t", str(pod.plan.grace_s), container, timeout=pod.plan.grace_s + 60)
            seconds = time.monotonic() - began
            code = podman.state(container)["ExitCode"]
            summary["exit_codes"][container.removeprefix(podman.prefix + "-")] = code
            if code != 0 or seconds > pod.plan.grace_s:
                raise RuntimeError(f"{container} exited {code} after {seconds:.1f} s (grace {pod.plan.grace_s} s):\n"
                                   f"{podman.logs(container)}")


def run_profile(settings: E2ESettings, profile: str, summary: dict) -> None:
    print(f"== {profile}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"playpen-e2e-{profile}-"))
    release = render(settings, profile, workdir)
    if settings.only:
        release.pods = [p for p in release.pods if p.labels.get("app.kubernetes.io/component") in settings.only]
        if not release.pods:
            raise ValueError(f"no pod of the {profile} profile belongs to {', '.join(settings.only)}")
    podman = Podman(f"playpen-e2e-{profile}")
    prometheus = None
    findings = Findings()
    try:
        podman.create_network()
        running = start_pods(release, PodRunner(podman, release, workdir), podman, settings.stagger_s, summary)
        if settings.only:
            stop_all(running, podman, summary)
            return
        by_component = {p.plan.labels.get("app.kubernetes.io/component"): p for p in running}
        address = {c: f"{podman.ip(next(iter(p.containers.values())))}:{p.plan.port('grpc')}"
                   for c, p in by_component.items() if serves_grpc(p)}
        targets = scrape_targets(release, running, podman)
        prometheus = Prometheus(workdir, targets)
        prometheus.start()
        if "selfplay" in by_component:
            closed_loop({"trainer": address["trainer"], "rollout": address["policy-rollout"],
                         "evaluator": address["evaluator"], "serving": address["policy"]}, findings,
                        settings.timeout_s)
        else:
            play_every_game(address["gamemaster"], service_target(release, by_component["policy"].plan.aliases[0]),
                            instances=settings.instances, max_tokens=settings.max_tokens, findings=findings)
            for hook in release.test_hooks():  # `helm test`
                for container, (code, log) in PodRunner(podman, release, workdir).run_to_completion(
                        hook, timeout_s=900).items():
                    summary["helm_test"][f"{hook.name}/{container}"] = code
                    if code != 0:
                        raise RuntimeError(f"helm test {hook.name}/{container} exited {code}:\n{log}")
        health = prometheus.targets_up()
        down = {url: state for url, state in health.items() if state != "up"}
        summary["scrape_targets_up"] += len(health) - len(down)
        if down or len(health) < len(targets):
            raise PrometheusFailed(f"scrape targets not up: {down or 'missing'}")
        if "selfplay" in by_component:
            for config_map in release.of_kind("ConfigMap"):
                if "grafana_dashboard" in config_map["metadata"].get("labels", {}):
                    for dashboard in config_map["data"].values():
                        summary["dashboard_queries"] += len(prometheus.check_dashboard(json.loads(dashboard)))
            trainer = by_component["trainer"]
            acknowledged = episodes_stored(address["trainer"])
            stop_all(running, podman, summary)
            restarted = PodRunner(podman, release, workdir).start(trainer.plan)
            wait_ready(podman, restarted)
            again = f"{podman.ip(restarted.containers['trainer'])}:{trainer.plan.port('grpc')}"
            if episodes_stored(again) < acknowledged:
                raise RuntimeError(f"the restarted trainer holds {episodes_stored(again)} of {acknowledged} "
                                   f"acknowledged episodes")
            summary["episodes_after_restart"] = acknowledged
            stop_all([restarted], podman, summary)
        else:
            stop_all(running, podman, summary)
    finally:
        summary["episodes"].update({f"{profile}/{game}": n for game, n in findings.episodes.items()})
        summary["versions_served"].update({f"{profile}/{role}": v for role, v in findings.versions.items()})
        if findings.promoted:
            summary["promoted"] = findings.promoted
        if prometheus is not None:
            prometheus.stop()
        if not settings.keep:
            podman.cleanup()


def main(argv: list[str] | None = None) -> int:
    settings = parse_command_line(E2ESettings, sys.argv[1:] if argv is None else argv, "make k8s-e2e")
    unknown = sorted(set(settings.profiles) - set(PROFILES))
    if unknown:
        raise SystemExit(f"make k8s-e2e: unknown profile(s) {unknown}; known: {', '.join(PROFILES)}")
    summary = {"containers": 0, "probes_passed": 0, "episodes": {}, "versions_served": {}, "scrape_targets_up": 0,
               "dashboard_queries": 0, "helm_test": {}, "exit_codes": {}}
    started, failure = time.monotonic(), None
    try:
        for profile in settings.profiles:
            run_profile(settings, profile, summary)
    except (RuntimeError, ValueError, PodmanError, subprocess.TimeoutExpired) as error:
        failure = f"{type(error).__name__}: {error}"
    summary["seconds"] = round(time.monotonic() - started)
    summary["ok"] = failure is None
    print(json.dumps(summary, indent=2))
    if failure:
        print(f"k8s-e2e: FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"k8s-e2e: OK: {', '.join(settings.profiles)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

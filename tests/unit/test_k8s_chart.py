"""The Helm chart renders, lints and validates offline; every container's flags and env are accepted by its
service's own settings; and the closed loop is wired as designed (who follows whom, who writes checkpoints).

scripts/k8s_check.py needs the tools in .venv-k8s (`make k8s-check` creates it); without that venv these
tests skip, except under CI (CI=true), whose .ci/run creates it first.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from playpen_evaluator.settings import EvaluatorSettings
from playpen_gamemaster.cli import PlaySettings
from playpen_gamemaster.settings import GameMasterSettings
from playpen_policy.settings import PolicySettings
from playpen_selfplay.settings import SelfPlaySettings
from tests.conftest import REPO_ROOT, unavailable

K8S_PYTHON = REPO_ROOT / ".venv-k8s" / "bin" / "python"
CHECK = REPO_ROOT / "scripts" / "k8s_check.py"
CHART = REPO_ROOT / "k8s" / "helm" / "playpen"
LOOP_SETS = ("loop", "loop-gpu")
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def trainer_settings() -> type:
    """TrainerSettings without the trainer's environment (torch): its settings module needs only pydantic."""
    try:
        from playpen_trainer.settings import TrainerSettings
    except ImportError:
        path = REPO_ROOT / "services" / "trainer" / "src" / "playpen_trainer" / "settings.py"
        spec = importlib.util.spec_from_file_location("playpen_trainer_settings_standalone", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # pydantic resolves the annotations through the module
        spec.loader.exec_module(module)
        return module.TrainerSettings
    return TrainerSettings


# Container name -> (env prefix, settings class); the entry point comes from the image unless `command` names it.
SERVICES = {
    "gamemaster": ("PLAYPEN_GAMEMASTER_", GameMasterSettings),
    "policy": ("PLAYPEN_POLICY_", PolicySettings),
    "trainer": ("PLAYPEN_TRAINER_", trainer_settings()),
    "evaluator": ("PLAYPEN_EVALUATOR_", EvaluatorSettings),
    "selfplay": ("PLAYPEN_SELFPLAY_", SelfPlaySettings),
}


def run_check(*args: str) -> subprocess.CompletedProcess:
    if not K8S_PYTHON.exists():
        message = f"{K8S_PYTHON} not found: run `make k8s-check` once to install the chart tools"
        unavailable(message)
    return subprocess.run([str(K8S_PYTHON), str(CHECK), *args], capture_output=True, text=True, timeout=180)


def check_values(tmp_path: Path, values: dict, *, chart: Path = CHART) -> subprocess.CompletedProcess:
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(values))  # JSON is YAML
    return run_check("--chart", str(chart), "--values", str(path), "--dump", str(tmp_path / "rendered"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    dump = tmp_path_factory.mktemp("rendered")
    result = run_check("--dump", str(dump))
    assert result.returncode == 0, result.stdout + result.stderr
    return {path.stem: json.loads(path.read_text()) for path in dump.glob("*.json")}


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def container(objects: list[dict], kind: str, name: str) -> dict:
    return find(objects, kind, name)["spec"]["template"]["spec"]["containers"][0]


def flags(container_spec: dict) -> dict[str, str]:
    """--name=value flags of a container (a bare --name, as nargs lists start, maps to "")."""
    result = {}
    for arg in container_spec.get("args", []):
        if arg.startswith("--"):
            name, _, value = arg.partition("=")
            result[name] = value
    return result


def service_address(objects: list[dict], name: str) -> str:
    """host:port of a rendered Service's gRPC port, as the chart hands it to clients."""
    service = find(objects, "Service", name)
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    return f"{name}.playpen.svc:{port}"


def mounts_of(objects: list[dict], kind: str, name: str) -> dict[str, tuple[str, bool]]:
    """claim name -> (mount path, read-only) of a workload's persistentVolumeClaim volumes."""
    pod = find(objects, kind, name)["spec"]["template"]["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v}
    result = {}
    for mount in pod["containers"][0].get("volumeMounts", []):
        if mount["name"] in claims:
            source = claims[mount["name"]]
            result[source["claimName"]] = (mount["mountPath"], bool(mount.get("readOnly") or source.get("readOnly")))
    return result


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]


def test_chart_passes_lint_strict_schemas_and_consistency(rendered) -> None:
    assert set(rendered) == {"default", "gpu", "loop", "loop-gpu", "tls"}
    gpu_policy = container(rendered["gpu"], "Deployment", "playpen-policy")
    assert gpu_policy["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_every_container_is_configured_with_real_settings_of_its_service(rendered, monkeypatch) -> None:
    """Each container's env and flags go through its service's own parser and validators, as at start-up."""
    checked = set()
    for label, objects in rendered.items():
        for workload in workloads(objects):
            for spec in workload["spec"]["template"]["spec"]["containers"]:
                where = f"[{label}] {workload['metadata']['name']}/{spec['name']}"
                prefix, settings_class = SERVICES[spec["name"]]
                args = spec.get("args", [])
                if spec.get("command") == ["playpen-trainer-run"] and spec["name"] == "trainer":
                    # torchrun's flags, `--`, then the trainer's own
                    launcher, args = args[:args.index("--")], args[args.index("--") + 1:]
                    assert {a.split("=")[0] for a in launcher} <= TORCHRUN_FLAGS, where
                else:
                    assert spec.get("command", [f"playpen-{spec['name']}"]) == [f"playpen-{spec['name']}"], where
                with monkeypatch.context() as patch:
                    for variable in [v for v in os.environ if v.startswith(prefix)]:
                        patch.delenv(variable)
                    for variable in spec.get("env", []):
                        if any(f"$({variable['name']})" in arg for arg in spec.get("args", [])):
                            continue  # only substituted into the command line by the kubelet
                        assert variable["name"].startswith(prefix), f"{where}: {variable['name']}"
                        field = variable["name"].removeprefix(prefix).lower()
                        assert field in settings_class.model_fields, f"{where}: {variable['name']} is no setting"
                        patch.setenv(variable["name"], variable["value"])
                    try:
                        settings = settings_class(_cli_parse_args=args, _cli_exit_on_error=False)
                    except Exception as error:  # noqa: BLE001 — any refusal is the finding
                        pytest.fail(f"{where}: {spec.get('args')} refused: {error}")
                ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
                assert settings.metrics_port == ports["metrics"], where
                assert getattr(settings, "port", None) == ports.get("grpc"), where  # the actor serves no gRPC
                checked.add(spec["name"])
    assert checked == {"gamemaster", "policy", "trainer", "evaluator", "selfplay"}


TORCHRUN_FLAGS = {"--nnodes", "--node-rank", "--master-addr", "--master-port", "--nproc-per-node", "--max-restarts",
                  "--standalone"}


def test_a_multi_pod_trainer_is_one_torchrun_job_that_pod_0_serves(rendered) -> None:
    objects = rendered["loop-gpu"]
    trainer = next(o for o in objects if o["kind"] == "StatefulSet")
    spec = trainer["spec"]
    assert spec["replicas"] == 2 and spec["podManagementPolicy"] == "Parallel"
    assert spec["serviceName"] == "playpen-trainer-ranks"
    main = spec["template"]["spec"]["containers"][0]
    launcher = dict(a.split("=", 1) for a in main["args"][:main["args"].index("--")] if "=" in a)
    assert launcher["--nnodes"] == "2" and launcher["--nproc-per-node"] == "4"
    assert launcher["--master-addr"] == "playpen-trainer-0.playpen-trainer-ranks.playpen.svc"
    assert launcher["--node-rank"] == "$(PLAYPEN_NODE_RANK)"
    (rank,) = [e for e in main["env"] if e["name"] == "PLAYPEN_NODE_RANK"]
    assert rank["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert main["resources"]["limits"]["nvidia.com/gpu"] in (4, "4")
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    # Clients reach pod 0 only; the ranks meet through a Service published before they are ready.
    assert services["playpen-trainer"]["spec"]["selector"]["apps.kubernetes.io/pod-index"] == "0"
    ranks = services["playpen-trainer-ranks"]["spec"]
    assert ranks["publishNotReadyAddresses"] is True and ranks["clusterIP"] == "None"
    assert ranks["ports"][0]["targetPort"] == "rendezvous"
    # One process per pod by default: the plain trainer, no torchrun.
    single = next(o for o in rendered["loop"] if o["kind"] == "StatefulSet")
    assert single["spec"]["replicas"] == 1 and "podManagementPolicy" not in single["spec"]
    assert single["spec"]["template"]["spec"]["containers"][0]["command"] == ["playpen-trainer"]


def test_default_values_deploy_no_closed_loop(rendered) -> None:
    for label in ("default", "gpu"):
        objects = rendered[label]
        names = {o["metadata"]["name"] for o in workloads(objects)}
        assert names == {"playpen-gamemaster", "playpen-policy"}
        policy = flags(container(objects, "Deployment", "playpen-policy"))
        # vLLM serving the model the init container brought; nothing to follow exists.
        assert policy == {"--backend": "vllm", "--model": "/models/SmolLM2-135M-Instruct"}
        assert init_container(objects, "Deployment", "playpen-policy")["args"] == ["/models/SmolLM2-135M-Instruct"]


def test_serving_follows_the_evaluator_and_rollout_follows_the_trainer(rendered) -> None:
    for label in LOOP_SETS:
        objects = rendered[label]
        serving = flags(container(objects, "Deployment", "playpen-policy"))
        rollout = flags(container(objects, "Deployment", "playpen-policy-rollout"))
        assert serving["--follow-evaluator"] == service_address(objects, "playpen-evaluator"), label
        assert "--follow-trainer" not in serving
        assert rollout["--follow-trainer"] == service_address(objects, "playpen-trainer"), label
        assert "--follow-evaluator" not in rollout
        evaluator = flags(container(objects, "Deployment", "playpen-evaluator"))
        assert evaluator["--follow-trainer"] == service_address(objects, "playpen-trainer")
        assert evaluator["--gamemaster-target"] == service_address(objects, "playpen-gamemaster")


def test_the_eval_policy_is_its_own_deployment_and_service(rendered) -> None:
    for label in LOOP_SETS:
        objects = rendered[label]
        evaluator = flags(container(objects, "Deployment", "playpen-evaluator"))
        assert evaluator["--eval-policy-target"] == service_address(objects, "playpen-policy-eval"), label
        eval_policy = find(objects, "Deployment", "playpen-policy-eval")
        assert eval_policy["spec"]["replicas"] == 1
        assert eval_policy["spec"]["strategy"] == {"type": "Recreate"}
        assert not {"--follow-trainer", "--follow-evaluator", "--follow-dir"} & set(flags(container(
            objects, "Deployment", "playpen-policy-eval"))), "only the evaluator loads weights into it"
        # The serving Service and the eval Service select different pods: evaluation never reaches serving.
        serving_selector = find(objects, "Service", "playpen-policy")["spec"]["selector"]
        eval_labels = eval_policy["spec"]["template"]["metadata"]["labels"]
        assert any(eval_labels.get(key) != value for key, value in serving_selector.items())
    assert find(rendered["loop-gpu"], "Deployment", "playpen-policy-eval")["spec"]["template"]["spec"][
        "containers"][0]["resources"]["requests"]["memory"] == "24Gi", "policy.eval overrides policy.resources"


def test_the_trainer_writes_checkpoints_that_every_policy_reads(rendered) -> None:
    for label in LOOP_SETS:
        objects = rendered[label]
        trainer = find(objects, "StatefulSet", "playpen-trainer")
        # One pod, or one torchrun job over several whose pod 0 alone writes (see the multi-pod test).
        assert trainer["spec"]["replicas"] == (2 if label == "loop-gpu" else 1)
        data_dir = flags(trainer["spec"]["template"]["spec"]["containers"][0])["--data-dir"]
        # Its own data (SQLite episode store, state) on a per-pod ReadWriteOnce claim at --data-dir.
        (template,) = trainer["spec"]["volumeClaimTemplates"]
        assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
        data_mount = next(m for m in trainer["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
                          if m["name"] == template["metadata"]["name"])
        assert data_mount["mountPath"] == data_dir and not data_mount.get("readOnly")
        # Checkpoints: the trainer writes <data-dir>/checkpoints on the shared claim; policies read the same path.
        path = f"{data_dir}/checkpoints"
        (claim,) = [c for c, mount in mounts_of(objects, "StatefulSet", "playpen-trainer").items()
                    if mount == (path, False)]
        for policy in ("playpen-policy", "playpen-policy-rollout", "playpen-policy-eval"):
            assert mounts_of(objects, "Deployment", policy)[claim] == (path, True), f"[{label}] {policy}"
        assert claim not in mounts_of(objects, "Deployment", "playpen-evaluator"), "the evaluator reads no files"
    claim = find(rendered["loop"], "PersistentVolumeClaim", "playpen-checkpoints")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "playpen-checkpoints-nfs" in mounts_of(rendered["loop-gpu"], "StatefulSet", "playpen-trainer")


def test_the_evaluator_keeps_its_database_on_its_own_claim(rendered) -> None:
    for label in LOOP_SETS:
        objects = rendered[label]
        evaluator = find(objects, "Deployment", "playpen-evaluator")
        assert evaluator["spec"]["replicas"] == 1
        assert evaluator["spec"]["strategy"] == {"type": "Recreate"}
        state_dir = flags(evaluator["spec"]["template"]["spec"]["containers"][0])["--state-dir"]
        assert mounts_of(objects, "Deployment", "playpen-evaluator") == {"playpen-evaluator": (state_dir, False)}
        claim = find(objects, "PersistentVolumeClaim", "playpen-evaluator")
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_selfplay_feeds_the_trainer_with_the_rollout_policy(rendered) -> None:
    for label in LOOP_SETS:
        objects = rendered[label]
        actor = container(objects, "Deployment", "playpen-selfplay")
        options = SelfPlaySettings(_cli_parse_args=actor["args"])
        trainer = flags(container(objects, "StatefulSet", "playpen-trainer"))
        assert options.policy == service_address(objects, "playpen-policy-rollout")
        assert options.trainer == service_address(objects, "playpen-trainer")
        assert options.gamemaster == service_address(objects, "playpen-gamemaster")
        # The trainer trains the turns labelled with its learner, in groups of its group size.
        assert options.policy_name == trainer["--learner"]
        assert options.group_size == int(trainer["--group-size"])
        # A process that serves only /metrics: nothing to probe, restarted whenever it exits.
        assert [p["name"] for p in actor["ports"]] == ["metrics"] and not set(PROBES) & set(actor)
        pod = find(objects, "Deployment", "playpen-selfplay")["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Always"
        state_mount = next(m for m in actor["volumeMounts"] if options.state.parent == Path(m["mountPath"]))
        state_volume = next(v for v in pod["volumes"] if v["name"] == state_mount["name"])
        assert ("persistentVolumeClaim" in state_volume) == (label == "loop"), "a PVC by default, else an emptyDir"
    actor = container(rendered["loop-gpu"], "Deployment", "playpen-selfplay")
    options = SelfPlaySettings(_cli_parse_args=actor["args"])
    assert options.teachers == {("wordle_withcritic", "Critic"): "expert"}
    assert options.games == ["taboo", "wordle_withcritic"] and options.mode == "sync"


def test_lora_training_makes_every_policy_serve_adapters(rendered) -> None:
    objects = rendered["loop-gpu"]
    trainer = flags(container(objects, "StatefulSet", "playpen-trainer"))
    assert trainer["--lora"] == "true"
    for policy in ("playpen-policy", "playpen-policy-rollout", "playpen-policy-eval"):
        options = flags(container(objects, "Deployment", policy))
        assert options["--enable-lora"] == "true"
        assert options["--max-lora-rank"] == trainer["--lora-rank"]
        assert options["--model"] == trainer["--base-model"]
        # A version a request pins is found among the committed checkpoints, held in a bounded LRU.
        assert options["--max-adapters"] == "4"
        assert options["--checkpoint-roots"] == f"{trainer['--data-dir']}/checkpoints"
    assert "--enable-lora" not in flags(container(rendered["loop"], "Deployment", "playpen-policy-rollout"))


def test_pinned_evaluation_runs_on_the_rollout_replicas_without_an_eval_policy(tmp_path) -> None:
    result = check_values(tmp_path, {"closedLoop": {"enabled": True}, "trainer": {"lora": True},
                                     "evaluator": {"pinVersions": True},
                                     "policy": {"checkpointRoots": ["/data/older-runs"]}})
    assert result.returncode == 0, result.stdout + result.stderr
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    assert "playpen-policy-eval" not in {o["metadata"]["name"] for o in objects}
    evaluator = flags(container(objects, "Deployment", "playpen-evaluator"))
    assert evaluator["--pin-versions"] == "true"
    assert evaluator["--eval-policy-target"] == service_address(objects, "playpen-policy-rollout")
    rollout = flags(container(objects, "Deployment", "playpen-policy-rollout"))
    assert rollout["--checkpoint-roots"] == "/var/lib/playpen/trainer/checkpoints,/data/older-runs"


def test_gpu_model_workloads_land_on_gpu_nodes(rendered) -> None:
    objects = rendered["loop-gpu"]
    for kind, name in (("StatefulSet", "playpen-trainer"), ("Deployment", "playpen-policy"),
                       ("Deployment", "playpen-policy-rollout"), ("Deployment", "playpen-policy-eval")):
        pod = find(objects, kind, name)["spec"]["template"]["spec"]
        gpus = 4 if kind == "StatefulSet" else 1  # the trainer: four processes per pod
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == gpus, name
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}, name
        assert pod["tolerations"][0]["key"] == "nvidia.com/gpu", name
    assert find(objects, "Deployment", "playpen-policy-rollout")["spec"]["replicas"] == 4
    assert find(objects, "PodDisruptionBudget", "playpen-policy-rollout")["spec"]["maxUnavailable"] == 2


def test_without_the_evaluator_serving_keeps_the_base_model(tmp_path) -> None:
    result = check_values(tmp_path, {"closedLoop": {"enabled": True}, "evaluator": {"enabled": False}})
    assert result.returncode == 0, result.stdout + result.stderr
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    names = {o["metadata"]["name"] for o in workloads(objects)}
    assert names == {"playpen-gamemaster", "playpen-policy", "playpen-policy-rollout", "playpen-trainer",
                     "playpen-selfplay"}
    assert "--follow-evaluator" not in flags(container(objects, "Deployment", "playpen-policy"))


@pytest.mark.parametrize(("values", "message"), [
    ({"trainer": {"enabled": False}}, "policy.rollout follows the trainer"),
    ({"policy": {"rollout": {"enabled": False}}}, "selfplay plays with the rollout policy"),
    ({"trainer": {"lora": True, "initFrom": "/models/sft"}}, "trainer.initFrom is for full fine-tuning"),
    ({"evaluator": {"pinVersions": True}}, "evaluator.pinVersions evaluates on the rollout replicas over LoRA"),
    ({"model": {"source": "s3"}}, "at '/model/source': value must be one of 'image', 'pvc', 'hub'"),
    ({"model": {"source": "pvc"}}, "model.source=pvc needs model.existingClaim"),
    ({"model": {"path": "/data/model"}}, "at '/model/path'"),
    # values.schema.json: a typo or an unknown backend fails at install, not as a silently ignored key.
    ({"policy": {"backnd": "vllm"}}, "at '/policy': additional properties 'backnd' not allowed"),
    ({"policy": {"rollout": {"backend": "tgi"}}}, "at '/policy/rollout/backend': value must be one of"),
    ({"trainer": {"groupSize": "8"}}, "at '/trainer/groupSize'"),
])
def test_impossible_combinations_are_refused_when_rendering(tmp_path, values, message) -> None:
    result = check_values(tmp_path, {"closedLoop": {"enabled": True}, **values})
    assert result.returncode == 1
    assert message in result.stdout


@pytest.mark.parametrize(("template", "old", "new", "problem"), [
    # A policy that could write the checkpoints the trainer writes.
    ("policy-deployment.yaml", '"writable" false', '"writable" true', "a shared volume has one writer"),
    # Self-play dialling the trainer's metrics port.
    ("selfplay-deployment.yaml", '"trainer" "port" .Values.trainer.port',
     '"trainer" "port" .Values.trainer.metricsPort', "is no rendered Service's gRPC port"),
    # An actor that exits on errors but is not restarted.
    ("selfplay-deployment.yaml", "restartPolicy: Always", "restartPolicy: OnFailure", "restartPolicy must be Always"),
    # Chart-version labels on an immutable volumeClaimTemplate: the next upgrade would be refused.
    ("trainer-statefulset.yaml", 'include "playpen.selectorLabels" $component | nindent 10',
     'include "playpen.labels" $component | nindent 10', "is immutable but labelled"),
])
def test_the_checks_catch_closed_loop_wiring_mistakes(tmp_path, template, old, new, problem) -> None:
    chart = shutil.copytree(CHART, tmp_path / "playpen")
    path = chart / "templates" / template
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    result = check_values(tmp_path, {"closedLoop": {"enabled": True}}, chart=chart)
    assert result.returncode == 1
    assert problem in result.stdout


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    chart = shutil.copytree(CHART, tmp_path / "playpen")
    service = chart / "templates" / "policy-service.yaml"
    service.write_text(service.read_text().replace("  clusterIP: None", "  clusterIP: None\n  clusterIp: None"))
    result = run_check("--chart", str(chart))
    assert result.returncode == 1
    assert "'clusterIp' was unexpected" in result.stdout


def init_container(objects: list[dict], kind: str, name: str) -> dict | None:
    found = find(objects, kind, name)["spec"]["template"]["spec"].get("initContainers", [])
    assert len(found) <= 1
    return found[0] if found else None


def test_the_model_arrives_from_an_image_by_default_and_only_where_it_is_read(tmp_path) -> None:
    result = check_values(tmp_path, {"closedLoop": {"enabled": True}, "policy": {
        "backend": "scripted", "rollout": {"backend": "vllm"}}})
    assert result.returncode == 0, result.stdout
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    for kind, name in (("StatefulSet", "playpen-trainer"), ("Deployment", "playpen-policy-rollout")):
        init = init_container(objects, kind, name)
        assert init["image"] == "playpen-model-smollm2:0.1.0" and init["args"] == ["/models/SmolLM2-135M-Instruct"]
        assert init["securityContext"]["readOnlyRootFilesystem"] and {"model", "tmp"} == {
            m["name"] for m in init["volumeMounts"]}
        pod = find(objects, kind, name)["spec"]["template"]["spec"]
        assert next(v for v in pod["volumes"] if v["name"] == "model")["emptyDir"]["sizeLimit"] == "4Gi"
        assert {"name": "model", "mountPath": "/models", "readOnly": True} in pod["containers"][0]["volumeMounts"]
    # A scripted policy reads no model: no init container, no model volume.
    assert init_container(objects, "Deployment", "playpen-policy") is None
    assert "model" not in {v["name"] for v in find(objects, "Deployment", "playpen-policy")["spec"]["template"][
        "spec"]["volumes"]}


def test_a_hub_model_is_fetched_with_the_pods_own_image_and_the_token_secret(tmp_path) -> None:
    hub = {"source": "hub", "hub": {"id": "acme/model", "revision": "v2", "tokenSecret": "hf", "endpoint": "http://m"}}
    assert check_values(tmp_path, {"closedLoop": {"enabled": True}, "model": hub}).returncode == 0
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    init = init_container(objects, "StatefulSet", "playpen-trainer")
    assert init["image"] == container(objects, "StatefulSet", "playpen-trainer")["image"]
    assert init["command"] == ["playpen-fetch-model"]
    assert init["args"] == ["--id=acme/model", "--revision=v2", "--out=/models/SmolLM2-135M-Instruct"]
    env = {e["name"]: e for e in init["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf", "key": "HF_TOKEN"}
    assert env["HF_ENDPOINT"]["value"] == "http://m"


def test_a_model_claim_is_mounted_read_only_without_an_init_container(tmp_path) -> None:
    values = {"closedLoop": {"enabled": True}, "model": {"source": "pvc", "existingClaim": "models"}}
    assert check_values(tmp_path, values).returncode == 0
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    assert init_container(objects, "StatefulSet", "playpen-trainer") is None
    assert mounts_of(objects, "StatefulSet", "playpen-trainer")["models"] == ("/models", True)


LONG_RELEASE = "a-release-name-of-fifty-three-characters-for-the-test"


def test_a_long_release_name_keeps_every_name_within_kubernetes_limits(tmp_path) -> None:
    assert len(LONG_RELEASE) == 53  # the longest release name Helm accepts
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps({"closedLoop": {"enabled": True}}))
    result = run_check("--values", str(path), "--release", LONG_RELEASE, "--dump", str(tmp_path / "rendered"))
    assert result.returncode == 0, result.stdout
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    services = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"]
    assert services and max(map(len, services)) <= 63
    assert all(len(o["metadata"]["name"]) <= 52 for o in objects if o["kind"] == "StatefulSet")
    # The names are still told apart by their component.
    assert len(set(services)) == len(services) == 6


def test_the_checks_catch_a_name_over_the_limit(tmp_path) -> None:
    chart = shutil.copytree(CHART, tmp_path / "playpen")
    helpers = chart / "templates" / "_helpers.tpl"
    helpers.write_text(helpers.read_text().replace("trunc 40", "trunc 50"))
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps({"closedLoop": {"enabled": True}}))
    result = run_check("--chart", str(chart), "--values", str(path), "--release", LONG_RELEASE)
    assert result.returncode == 1
    assert "-policy-rollout: name of 65 characters is no valid Service name (at most 63)" in result.stdout


def metric_names() -> set[str]:
    """Every metric the services export (histograms with their _bucket/_sum/_count series)."""
    from playpen_evaluator.metrics import EvaluatorMetrics
    from playpen_gamemaster.metrics import GameMasterMetrics
    from playpen_policy.metrics import PolicyMetrics
    from playpen_selfplay.metrics import SelfPlayMetrics

    registries = [cls().registry for cls in (EvaluatorMetrics, GameMasterMetrics, PolicyMetrics, SelfPlayMetrics)]
    try:
        from playpen_trainer.metrics import TrainerMetrics
        registries.append(TrainerMetrics().registry)
    except ImportError:  # the trainer's environment (torch) is not this one: read its names from the source
        source = (REPO_ROOT / "services/trainer/src/playpen_trainer/metrics.py").read_text()
        names = set()
        for kind, name in re.findall(r'self\.(gauge|counter|histogram)\(\s*"([a-z_]+)"', source):
            base = f"playpen_trainer_{name}"
            names |= {base, f"{base}_bucket", f"{base}_sum", f"{base}_count"} if kind == "histogram" else {base}
        names |= {"playpen_trainer_last_progress_timestamp_seconds", "playpen_trainer_build_info"}
    else:
        names = set()
    for registry in registries:
        for family in registry.collect():
            names |= {sample.name for sample in family.samples} | {family.name}
            if family.type == "histogram":
                names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
            elif family.type == "counter":  # exported as <name>_total (labelled ones have no sample yet)
                names.add(f"{family.name}_total")
    return names


def test_every_dashboard_query_and_alert_reads_metrics_the_services_export(rendered) -> None:
    exported = metric_names()
    dashboard_map = find(rendered["default"], "ConfigMap", "playpen-dashboard")
    assert dashboard_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(dashboard_map["data"]["playpen.json"])
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rule = find(rendered["gpu"], "PrometheusRule", "playpen-alerts")
    alerts = {r["alert"]: r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {"PlaypenTrainerStalled", "PlaypenEvaluationFailing", "PlaypenPolicyReplicaBehind"}
    for expression in [*expressions, *alerts.values()]:
        used = set(re.findall(r"\bplaypen_[a-z_]+", expression))
        assert used and used <= exported, f"{expression}: {sorted(used - exported)} not exported"
    covered = " ".join(expressions)
    for metric in ("gamemaster_episodes_total", "trainer_reward_mean", "evaluator_group_clemscore",
                   "evaluator_serving_version", "policy_policy_version", "policy_reload_duration_seconds",
                   "trainer_step_duration_seconds", "trainer_staleness_versions", "policy_queued_requests",
                   "trainer_episodes_buffered"):
        assert f"playpen_{metric}" in covered, metric


def test_helm_test_plays_one_episode_with_the_serving_policy(rendered) -> None:
    for label, objects in rendered.items():
        pod = find(objects, "Pod", "playpen-test")
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        spec = pod["spec"]["containers"][0]
        assert spec["command"] == ["playpen-play"] and spec["image"].endswith("playpen-gamemaster:0.1.0")
        settings = PlaySettings(_cli_parse_args=spec["args"], _cli_exit_on_error=False)
        assert settings.gamemaster == service_address(objects, "playpen-gamemaster"), label
        assert settings.policy == service_address(objects, "playpen-policy"), label
        assert settings.require_scored and settings.instances == 1 and settings.out.parts[1] == "tmp"
        assert spec["securityContext"]["readOnlyRootFilesystem"] and pod["spec"]["restartPolicy"] == "Never"


def test_every_multi_replica_workload_has_a_disruption_budget(tmp_path) -> None:
    values = {"closedLoop": {"enabled": True}, "gamemaster": {"replicas": 3}, "policy": {
        "replicas": 2, "rollout": {"replicas": 4}}}
    assert check_values(tmp_path, values).returncode == 0
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for workload in workloads(objects):
        if workload["spec"]["replicas"] > 1:
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert any(b["spec"]["selector"]["matchLabels"].items() <= labels.items() for b in budgets), \
                workload["metadata"]["name"]


def test_policy_replicas_sit_behind_headless_services_and_vllm_sizing_reaches_the_engine(tmp_path) -> None:
    values = {"closedLoop": {"enabled": True}, "policy": {
        "replicas": 3, "gpus": 2, "tensorParallelSize": 2, "gpuMemoryUtilization": 0.85,
        "rollout": {"replicas": 5, "gpus": 1, "tensorParallelSize": 1}}}
    result = check_values(tmp_path, values)
    assert result.returncode == 0, result.stdout + result.stderr
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    for name, replicas, tensor_parallel in (("playpen-policy", 3, 2), ("playpen-policy-rollout", 5, 1)):
        assert find(objects, "Deployment", name)["spec"]["replicas"] == replicas
        # Headless: DNS answers with every ready pod, and the clients' round_robin spreads the calls over them.
        assert find(objects, "Service", name)["spec"]["clusterIP"] == "None"
        options = PolicySettings(_cli_parse_args=container(objects, "Deployment", name)["args"])
        assert (options.tensor_parallel_size, options.memory_fraction) == (tensor_parallel, 0.85)
    assert find(objects, "Deployment", "playpen-policy-eval")["spec"]["replicas"] == 1
    actor = SelfPlaySettings(_cli_parse_args=container(objects, "Deployment", "playpen-selfplay")["args"])
    assert actor.policy == service_address(objects, "playpen-policy-rollout")

    values["policy"]["rollout"]["tensorParallelSize"] = 2
    refused = check_values(tmp_path, values)
    assert refused.returncode != 0
    assert "policy rollout: tensorParallelSize 2 needs as many GPUs per pod, it has gpus=1" in refused.stdout + \
        refused.stderr


def test_the_kustomize_overlays_equal_the_chart_and_drift_is_caught(tmp_path) -> None:
    script = REPO_ROOT / "scripts" / "kustomize_sync.py"
    out = shutil.copytree(REPO_ROOT / "k8s" / "kustomize", tmp_path / "kustomize")
    result = subprocess.run([str(K8S_PYTHON), str(script), "--check", "--out", str(out)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    patch = out / "closed-loop" / "statefulset-playpen-trainer.yaml"
    patch.write_text(patch.read_text().replace("--group-size=8", "--group-size=4"))
    result = subprocess.run([str(K8S_PYTHON), str(script), "--check", "--out", str(out)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    assert "[closed-loop] StatefulSet/playpen-trainer: differs from the Helm render" in result.stdout


def test_tls_values_give_every_component_a_certificate_probes_on_the_health_port_and_authz(rendered) -> None:
    from playpen_common.authz import Rules

    objects = rendered["tls"]
    certificates = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Certificate"}
    rules = {}
    for workload in workloads(objects):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        spec = pod["containers"][0]
        prefix = SERVICES[spec["name"]][0]
        env = {e["name"].removeprefix(prefix).lower(): e["value"] for e in spec["env"] if "value" in e}
        secret = next(v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "tls")
        # Its own certificate, whose common name is its identity and whose DNS names hold its Service's.
        assert certificates[name]["secretName"] == secret and certificates[name]["commonName"] == name
        assert f"{name}.playpen.svc" in certificates[name]["dnsNames"]
        assert env["tls_ca_file"] and env["tls_cert_file"] and env["tls_key_file"], name
        if spec["name"] == "selfplay":
            continue
        ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
        assert int(env["health_port"]) == ports["health"] and env["tls_client_ca_file"], name
        # authz.tokenSecret: a token port (server TLS only) for external callers, behind the Service too.
        assert int(env["token_port"]) == ports["token"] and env["authz_token_file"], name
        service = find(objects, "Service", name)
        assert {"name": "token", "port": ports["token"], "targetPort": "token", "protocol": "TCP"} \
            in service["spec"]["ports"], name
        assert all(spec[probe]["grpc"]["port"] == ports["health"] for probe in PROBES), name
        rules[name] = Rules(json.loads(env["authz"])) if env.get("authz_enabled") == "true" else None
    load, submit = "/playpen.policy.v1.PolicyService/LoadWeights", "/playpen.trainer.v1.TrainerService/SubmitEpisodes"
    rollback = "/playpen.evaluator.v1.EvaluatorService/Rollback"
    assert rules["playpen-policy-eval"].allows(load, ["playpen-evaluator"])
    for policy in ("playpen-policy", "playpen-policy-rollout", "playpen-policy-eval"):
        assert not rules[policy].allows(load, ["playpen-trainer"]) and rules[policy].allows(load, ["ops"])
        assert rules[policy].allows("/playpen.policy.v1.PolicyService/Generate", ["playpen-gamemaster"])
    assert rules["playpen-trainer"].allows(submit, ["playpen-selfplay"])
    assert not rules["playpen-trainer"].allows(submit, ["playpen-evaluator"])
    evaluate = "/playpen.evaluator.v1.EvaluatorService/EvaluateCheckpoint"
    assert rules["playpen-evaluator"].allows(evaluate, ["ops"])
    assert not rules["playpen-evaluator"].allows(evaluate, ["playpen-selfplay"])
    # authz.rules come first: Rollback is release-bot's alone (its rule replaces the chart's for that method).
    assert rules["playpen-evaluator"].allows(rollback, ["release-bot"])
    assert not rules["playpen-evaluator"].allows(rollback, ["ops"])
    # `helm test` calls the game master with a certificate of its own.
    test_pod = find(objects, "Pod", "playpen-test")
    env = {e["name"]: e["value"] for e in test_pod["spec"]["containers"][0]["env"]}
    assert PlaySettings(policy="x", **{k.removeprefix("PLAYPEN_PLAY_").lower(): v for k, v in env.items()}).client_tls
    assert any(v.get("secret", {}).get("secretName") == certificates["playpen-test"]["secretName"]
               for v in test_pod["spec"]["volumes"])


# ----------------------------------------------------------------------------- NetworkPolicies

ADDRESS = re.compile(r"^--([a-z0-9-]+)=([a-z0-9-]+)\.playpen\.svc:(\d+)$")
#: flags whose address a component hands to the game master, which dials it (the helm test's serving policy)
HANDED_ON = {("test", "policy")}


def pods(objects: list[dict]) -> dict[str, tuple[dict, dict]]:
    """component -> (pod labels, pod spec) of every workload and bare Pod."""
    result = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            template = obj["spec"]["template"]
            result[template["metadata"]["labels"]["app.kubernetes.io/component"]] = (template["metadata"]["labels"],
                                                                                     template["spec"])
        elif obj["kind"] == "Pod":
            result[obj["metadata"]["labels"]["app.kubernetes.io/component"]] = (obj["metadata"]["labels"], obj["spec"])
    return result


def container_ports(spec: dict) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}


def service_target(objects: list[dict], everyone: dict, service: str, port: int) -> tuple[str, int]:
    """(component, container port) a Service's port leads to."""
    found = find(objects, "Service", service)
    component = found["spec"]["selector"]["app.kubernetes.io/component"]
    target = next(p.get("targetPort", p["port"]) for p in found["spec"]["ports"] if p["port"] == port)
    return component, container_ports(everyone[component][1]).get(target, target)


def dialed(objects: list[dict]) -> set[tuple[str, str, int]]:
    """(from component, to component, container port) of every address a container's args or env make it dial."""
    everyone = pods(objects)
    paths = set()
    for source, (_, spec) in everyone.items():
        for box in spec["containers"]:
            args = flags(box)
            for arg in box.get("args", []):
                match = ADDRESS.match(arg)
                if match:
                    dialer = "gamemaster" if (source, match.group(1)) in HANDED_ON else source
                    paths.add((dialer, *service_target(objects, everyone, match.group(2), int(match.group(3)))))
            if "--master-addr" in args:  # torchrun's rendezvous at trainer pod 0
                paths.add((source, source, int(args["--master-port"])))
            for env in box.get("env", []):
                if env["name"] == "PLAYPEN_GAMEMASTER_ALLOWED_POLICIES":
                    for pattern in json.loads(env["value"]):
                        host, _, port = pattern.rpartition(":")
                        if host.endswith(".playpen.svc"):
                            paths.add((source, *service_target(objects, everyone, host.split(".")[0], int(port))))
    return paths


def peer_matches(peer: dict, labels: dict) -> bool:
    """A NetworkPolicyPeer against a pod of this release (namespace playpen)."""
    if "ipBlock" in peer:
        return False
    namespace = peer.get("namespaceSelector")
    if namespace is not None and not all({"kubernetes.io/metadata.name": "playpen"}.get(k) == v
                                         for k, v in namespace.get("matchLabels", {}).items()):
        return False
    selector = peer.get("podSelector", {})
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def network_allows(objects: list[dict], source: dict, destination: dict, port: int) -> bool:
    """Whether the rendered NetworkPolicies let a pod labelled `source` open `port` on a pod labelled `destination`,
    as the API defines it: a pod no policy of a direction selects is open in that direction; otherwise some rule
    of a policy selecting it must match the peer and the port."""
    policies = [o["spec"] for o in objects if o["kind"] == "NetworkPolicy"]

    def allowed(labels: dict, direction: str, peers: str, other: dict) -> bool:
        selecting = [p for p in policies if direction.capitalize() in p["policyTypes"]
                     and all(labels.get(k) == v for k, v in p["podSelector"].get("matchLabels", {}).items())]
        return not selecting or any(
            ("ports" not in rule or any(p["port"] == port for p in rule["ports"]))
            and (peers not in rule or any(peer_matches(peer, other) for peer in rule[peers]))
            for policy in selecting for rule in policy.get(direction, []))

    return allowed(source, "egress", "to", destination) and allowed(destination, "ingress", "from", source)


@pytest.mark.parametrize("label", ["default", "gpu", "loop", "loop-gpu"])
def test_network_policies_open_exactly_the_paths_components_dial(rendered, label) -> None:
    objects = rendered[label]
    everyone = pods(objects)
    wanted = dialed(objects)
    assert ("gamemaster", "policy", 50052) in wanted and ("test", "gamemaster", 50051) in wanted
    for source, destination, port in sorted(wanted):
        assert network_allows(objects, everyone[source][0], everyone[destination][0], port), \
            f"{label}: {source} dials {destination}:{port}, which the NetworkPolicies block"
    # Nothing else between the release's own pods, on any port they serve.
    open_paths = {(source, destination, port) for source, (labels, _) in everyone.items()
                  for destination, (other, spec) in everyone.items() for port in container_ports(spec).values()
                  if network_allows(objects, labels, other, port)}
    ranks = {path for path in open_paths if path[:2] == ("trainer", "trainer")}
    assert open_paths - ranks == {path for path in wanted if path[:2] != ("trainer", "trainer")}
    trainer = find(objects, "StatefulSet", "playpen-trainer")["spec"]["replicas"] if "trainer" in everyone else 1
    assert bool(ranks) == (trainer > 1)  # the ranks meet on the rendezvous port and talk NCCL/gloo on any
    # Every served metrics port is open to Prometheus, and nothing to a pod of another namespace.
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    for component, (labels, spec) in everyone.items():
        metrics = container_ports(spec).get("metrics")
        if metrics:
            assert network_allows(objects, prometheus, labels, metrics), component
        grpc_port = container_ports(spec).get("grpc")
        if grpc_port:
            assert not network_allows(objects, {"app": "stranger"}, labels, grpc_port), component


def test_network_policies_take_clients_hub_egress_and_extra_egress_from_values(tmp_path) -> None:
    research = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "research"}}}
    result = check_values(tmp_path, {"model": {"source": "hub"}, "networkPolicy": {
        "clients": {"gamemaster": [research]},
        "extraEgress": {"gamemaster": [{"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"port": 8000}]}]}}})
    assert result.returncode == 0, result.stdout
    objects = json.loads((tmp_path / "rendered" / "values.json").read_text())
    gm = find(objects, "NetworkPolicy", "playpen-gamemaster")["spec"]
    assert {"from": [research], "ports": [{"port": 50051, "protocol": "TCP"}]} in gm["ingress"]
    assert {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"port": 8000}]} in gm["egress"]
    policy = find(objects, "NetworkPolicy", "playpen-policy")["spec"]
    assert {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]} in policy["egress"]
    assert not any("ipBlock" in peer for rule in gm["egress"] if rule != gm["egress"][-1] for peer in rule["to"])
    (tmp_path / "off").mkdir()
    result = check_values(tmp_path / "off", {"networkPolicy": {"enabled": False}})
    assert result.returncode == 0, result.stdout
    objects = json.loads((tmp_path / "off" / "rendered" / "values.json").read_text())
    assert not [o for o in objects if o["kind"] == "NetworkPolicy"]


def test_every_grpc_pod_sleeps_in_pre_stop_within_its_grace(rendered) -> None:
    for objects in rendered.values():
        for workload in workloads(objects):
            spec = workload["spec"]["template"]["spec"]
            box = spec["containers"][0]
            if box["name"] == "selfplay":
                continue
            assert box["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"], workload["metadata"]["name"]
            grace = next(float(e["value"]) for e in box["env"] if e["name"].endswith("_GRACE_PERIOD_S"))
            assert spec["terminationGracePeriodSeconds"] >= 5 + grace + 15


def test_policies_and_the_evaluator_take_checkpoints_from_the_shared_volume_only(rendered) -> None:
    objects = rendered["loop"]
    root = "/var/lib/playpen/trainer/checkpoints"
    for name in ("playpen-policy", "playpen-policy-rollout", "playpen-policy-eval", "playpen-evaluator"):
        assert flags(container(objects, "Deployment", name))["--checkpoint-roots"] == root
    assert "--checkpoint-roots" not in flags(container(rendered["default"], "Deployment", "playpen-policy"))

"""`make k8s-check`: render, lint and validate the Helm chart in k8s/helm/playpen, offline.

For each value set (the chart's defaults, ci/gpu-values.yaml, the closed loop: ci/closed-loop-values.yaml and
ci/closed-loop-gpu-values.yaml, and the closed loop over mutual TLS: ci/tls-values.yaml) it
  1. lints the chart (Helm v4 through helm-python-sdk, no binary, no cluster),
  2. renders it and parses every manifest,
  3. validates every object against the strict (no unknown fields) JSON schemas of each Kubernetes version in
     KUBE_VERSIONS with kubernetes-validate: the chart's floor (Chart.yaml kubeVersion) catches fields too new
     for it, the newest bundled one catches removed APIs,
  4. checks what no schema can: Services, PodDisruptionBudgets and the ServiceMonitor select pods and ports
     that exist, env and annotations agree with the container ports, probes, hardening, that the pod
     outlives its preStop sleep and the service's drain, NetworkPolicies select pods and open container ports,
     that with TLS the probes use the plaintext health port and every certificate a pod mounts is one cert-manager
     issues with its Service's names, that every in-cluster address a container is given
     (--flag=<svc>.<ns>.svc:port) is a rendered Service's gRPC port, and that volumes are claimed consistently
     (every claim mounted exists, a ReadWriteOnce claim belongs to one workload, a shared claim has at most one
     writer).
Then it lints the services' Dockerfiles with hadolint (they cannot be built here).
It prints one line per step and a summary, and exits 1 on any problem. Runs in .venv-k8s (k8s/requirements.txt).

    scripts/k8s_check.py [--chart DIR] [--dump DIR]   # --dump writes each value set's objects as JSON
    scripts/k8s_check.py --values my-values.yaml       # check the chart with your own values instead
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "k8s" / "helm" / "playpen"
KUBE_VERSIONS = ("1.30.0", "1.37.0")
RELEASE, NAMESPACE = "playpen", "playpen"
# What each value set must render (a template that silently renders nothing is a problem too), and the
# PersistentVolumeClaims it names that exist outside the chart.
VALUE_SETS = {
    "default": (None, {"ConfigMap": 1, "Deployment": 2, "NetworkPolicy": 4, "Pod": 1, "PodDisruptionBudget": 2,
                       "Service": 2}, set()),
    "gpu": ("ci/gpu-values.yaml", {"ConfigMap": 2, "Deployment": 2, "NetworkPolicy": 4, "Pod": 1,
                                   "PodDisruptionBudget": 2, "PrometheusRule": 1, "Service": 2, "ServiceMonitor": 1},
            set()),
    "loop": ("ci/closed-loop-values.yaml", {"ConfigMap": 1, "Deployment": 6, "NetworkPolicy": 9,
                                            "PersistentVolumeClaim": 3, "Pod": 1, "PodDisruptionBudget": 3,
                                            "Service": 6, "StatefulSet": 1}, set()),
    "loop-gpu": ("ci/closed-loop-gpu-values.yaml", {"ConfigMap": 1, "Deployment": 6, "NetworkPolicy": 9,
                                                    "PersistentVolumeClaim": 1, "Pod": 1, "PodDisruptionBudget": 3,
                                                    "PrometheusRule": 1, "Service": 7, "ServiceMonitor": 1,
                                                    "StatefulSet": 1},
                 {"models", "playpen-checkpoints-nfs"}),
    "tls": ("ci/tls-values.yaml", {"Certificate": 9, "ConfigMap": 1, "Deployment": 6, "Issuer": 2, "NetworkPolicy": 9,
                                   "PersistentVolumeClaim": 3, "Pod": 1, "PodDisruptionBudget": 3, "Service": 6,
                                   "StatefulSet": 1}, set()),
}
# Kubernetes' name limits: Services are DNS-1035 labels (63); a StatefulSet's pods carry a controller-revision-hash
# label of its name plus 11 characters (52); every other object name is a DNS-1123 subdomain (253).
NAME_LIMITS = {"Service": 63, "StatefulSet": 52}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
WORKLOADS = ("Deployment", "StatefulSet")
# Labels whose value changes with every chart release: nothing immutable may carry them.
UPGRADE_LABELS = {"app.kubernetes.io/version", "helm.sh/chart"}
# Containers that serve nothing (the self-play actor): no ports, no probes, no scrape annotations.
WITHOUT_SERVER = {"selfplay"}
# --flag=<service>.<namespace>.svc:<port>: an address a container dials inside the cluster.
ADDRESS = re.compile(r"^--[a-z0-9-]+=([a-z0-9-]+)\.([a-z0-9-]+)\.svc:(\d+)$")
DOCKERFILES = sorted([*REPO.glob("services/*/Dockerfile"), *REPO.glob("k8s/images/*/Dockerfile")])
LINT_SEVERITY = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


def counted(problems: list) -> str:
    return f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")


def ref(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def selects(selector: dict, labels: dict, expressions: list[dict] = ()) -> bool:
    """A label selector: matchLabels (`selector`) and matchExpressions, as the API server applies them."""
    def holds(expression: dict) -> bool:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        return {"In": lambda: labels.get(key) in values, "NotIn": lambda: labels.get(key) not in values,
                "Exists": lambda: key in labels, "DoesNotExist": lambda: key not in labels}[operator]()

    return bool(selector or expressions) and all(labels.get(key) == value for key, value in selector.items()) \
        and all(holds(expression) for expression in expressions)


def lint(chart: Path, values: dict | None) -> tuple[list[str], list[str]]:
    """Helm's lint at each Kubernetes version; findings other than "info" are problems (deduplicated)."""
    problems, notes = {}, {}
    for version in KUBE_VERSIONS:
        report = helm.lint(chart, values, strict=True, namespace=NAMESPACE, kube_version=f"v{version}")
        for message in report.get("messages", []):
            line = f"{LINT_SEVERITY.get(message['severity'], '?')}: {message['path']}: {message['error']}"
            (notes if message["severity"] == 1 else problems)[line] = None
        if not problems:  # errors that came without a message of their own
            problems.update((f"lint: {error}", None) for error in report.get("errors", []))
    return [f"lint {line}" for line in problems], list(notes)


def render(chart: Path, values: dict | None, release: str = RELEASE) -> list[dict]:
    with helm.Chart.load(chart) as loaded:
        manifests = loaded.render(values, name=release, namespace=NAMESPACE, is_install=True)
    objects = []
    for template, text in sorted(manifests.items()):
        if template.endswith(".yaml"):
            objects += [obj for obj in yaml.safe_load_all(text) if obj]
    return objects


def validate_schemas(objects: list[dict]) -> tuple[list[str], list[str]]:
    problems, unschemed = [], set()
    for obj in objects:
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path) or "<root>"
                problems.append(f"{ref(obj)}: schema {version}: {path}: {error.message}")
            except SchemaNotFoundError:
                if obj["kind"] not in CUSTOM_RESOURCES:
                    problems.append(f"{ref(obj)}: no schema for {obj['apiVersion']} in Kubernetes {version}")
                unschemed.add(obj["kind"])
    return problems, sorted(unschemed)


def check_workload(workload: dict, config_maps: set[str]) -> list[str]:
    """A Deployment's or StatefulSet's pod: selector, hardening, ports, env, probes, drain, volumes."""
    problems = []
    pod = workload["spec"]["template"]
    spec = pod["spec"]

    def say(message: str) -> None:
        problems.append(f"{ref(workload)}: {message}")

    if not selects(workload["spec"]["selector"].get("matchLabels", {}), pod["metadata"].get("labels", {})):
        say("selector does not match its own pod labels")
    if spec.get("enableServiceLinks") is not False:
        say("enableServiceLinks must be false (service links inject PLAYPEN_*_PORT=tcp://…)")
    if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
        say("pod must run as non-root")
    tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    claim_templates = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    for volume in volumes.values():
        if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
            say(f"volume {volume['name']} mounts ConfigMap {volume['configMap']['name']}, which is not rendered")
    for container in spec["containers"]:
        name = f"container {container['name']}"
        security = container.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True or security.get("allowPrivilegeEscalation") is not False:
            say(f"{name}: needs readOnlyRootFilesystem and no privilege escalation")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            say(f"{name}: must drop ALL capabilities")
        if not any(m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in container.get("volumeMounts", [])):
            say(f"{name}: /tmp must be an emptyDir (the root filesystem is read-only)")
        if ":" not in container["image"].rsplit("/", 1)[-1]:
            say(f"{name}: image {container['image']} has no tag")
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes and mount["name"] not in claim_templates:
                say(f"{name}: mounts undefined volume {mount['name']}")
        if container["name"] in WITHOUT_SERVER:
            problems += check_serverless(workload, container)
        else:
            problems += check_server(workload, container)
    return problems


def check_server(workload: dict, container: dict) -> list[str]:
    """A gRPC service: its ports, the env that sets them, scrape annotations, health probes, drain."""
    problems = []
    pod = workload["spec"]["template"]
    name = f"{ref(workload)}: container {container['name']}"
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    prefix = f"PLAYPEN_{container['name'].upper()}_"
    for setting, port in (("PORT", "grpc"), ("METRICS_PORT", "metrics")):
        if port not in ports or env.get(prefix + setting) != str(ports[port]):
            problems.append(f"{name}: {prefix}{setting}={env.get(prefix + setting)} but container port {port} is "
                            f"{ports.get(port)}")
    if pod["metadata"].get("annotations", {}).get("prometheus.io/port") != str(ports.get("metrics")):
        problems.append(f"{ref(workload)}: prometheus.io/port annotation differs from the metrics container port")
    # With TLS the kubelet (which cannot speak it) probes the plaintext health-only port.
    probed = "health" if "health" in ports else "grpc"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if container.get(probe, {}).get("grpc", {}).get("port") != ports.get(probed):
            problems.append(f"{name}: {probe} must be a gRPC health probe on the {probed} port")
    if ("token" in ports or prefix + "TOKEN_PORT" in env) and env.get(prefix + "TOKEN_PORT") != str(ports.get("token")):
        problems.append(f"{name}: {prefix}TOKEN_PORT={env.get(prefix + 'TOKEN_PORT')} but container port token is "
                        f"{ports.get('token')}")
    if "health" in ports and env.get(prefix + "HEALTH_PORT") != str(ports["health"]):
        problems.append(f"{name}: {prefix}HEALTH_PORT={env.get(prefix + 'HEALTH_PORT')} but container port health is "
                        f"{ports['health']}")
    if (prefix + "TLS_CERT_FILE" in env) != ("health" in ports) or \
            (prefix + "TLS_CLIENT_CA_FILE" in env) != (prefix + "TLS_CERT_FILE" in env):
        problems.append(f"{name}: serves TLS (mutual) exactly when it has a plaintext health port")
    problems += check_tls_files(workload, container, prefix)
    grace = float(env.get(prefix + "GRACE_PERIOD_S") or 10)
    termination = pod["spec"].get("terminationGracePeriodSeconds", 30)
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if len(command) != 2 or command[0] != "sleep" or not str(command[1]).isdigit():
        problems.append(f"{name}: needs a preStop hook [sleep, <seconds>] so that endpoints drain before SIGTERM")
        pre_stop = 0
    else:
        pre_stop = int(command[1])
    if not termination > pre_stop + grace:
        problems.append(f"{ref(workload)}: terminationGracePeriodSeconds {termination} must exceed the preStop "
                        f"sleep of {pre_stop} s plus the drain of {grace} s")
    return problems


def check_tls_files(workload: dict, container: dict, prefix: str) -> list[str]:
    """Every TLS or token file a container is given lies in a read-only mount of a Secret volume."""
    problems = []
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
    for setting in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE", "AUTHZ_TOKEN_FILE"):
        path = env.get(prefix + setting)
        if path is None:
            continue
        mounts = [m for m in container.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")]
        if not mounts or not mounts[0].get("readOnly") or "secret" not in volumes.get(mounts[0]["name"], {}):
            problems.append(f"{ref(workload)}: container {container['name']}: {prefix}{setting}={path} is not in a "
                            f"read-only Secret mount")
    return problems


def check_serverless(workload: dict, container: dict) -> list[str]:
    """A process that serves no gRPC, only /metrics: no gRPC probes, and the scrape finds its metrics port."""
    problems = []
    name = f"{ref(workload)}: container {container['name']}"
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    setting = f"PLAYPEN_{container['name'].upper()}_METRICS_PORT"
    if set(ports) != {"metrics"} or env.get(setting) != str(ports["metrics"]):
        problems.append(f"{name}: serves only /metrics: one port named metrics, and {setting} equal to it")
    problems += [f"{name}: serves no gRPC, so it has no {probe}"
                 for probe in ("startupProbe", "readinessProbe", "livenessProbe") if probe in container]
    if workload["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/port") != \
            str(ports.get("metrics")):
        problems.append(f"{ref(workload)}: prometheus.io/port annotation differs from the metrics container port")
    problems += check_tls_files(workload, container, f"PLAYPEN_{container['name'].upper()}_")
    if workload["spec"]["template"]["spec"].get("restartPolicy", "Always") != "Always":
        problems.append(f"{ref(workload)}: restartPolicy must be Always (the actor exits to be restarted)")
    return problems


def pods_and_ports(objects: list[dict]) -> list[tuple[dict, dict, set]]:
    """(workload, pod labels, names and numbers of its container ports) for every Deployment and StatefulSet."""
    result = []
    for workload in (o for o in objects if o["kind"] in WORKLOADS):
        template = workload["spec"]["template"]
        ports = set()
        for container in template["spec"]["containers"]:
            ports |= {p.get("name") for p in container.get("ports", [])}
            ports |= {p["containerPort"] for p in container.get("ports", [])}
        labels = dict(template["metadata"].get("labels", {}))
        if workload["kind"] == "StatefulSet":
            labels["apps.kubernetes.io/pod-index"] = "0"  # the controller labels each pod; pod 0 always exists
        result.append((workload, labels, ports))
    return result


def pod_templates(objects: list[dict]) -> list[tuple[dict, dict, set]]:
    """pods_and_ports, plus bare Pods (the helm test): (object, labels, container port names and numbers)."""
    result = pods_and_ports(objects)
    for pod in (o for o in objects if o["kind"] == "Pod"):
        ports = {p.get(key) for c in pod["spec"]["containers"] for p in c.get("ports", [])
                 for key in ("name", "containerPort")}
        result.append((pod, pod["metadata"].get("labels", {}), ports))
    return result


def check_network_policies(objects: list[dict]) -> list[str]:
    """Every NetworkPolicy selects pods; every in-release peer (a podSelector alone) selects pods; every port a
    rule opens is a container port of the pods it leads to. Which paths they open is tested in test_k8s_chart."""
    problems = []
    pods = pod_templates(objects)

    def selected(selector: dict) -> list[tuple[dict, dict, set]]:
        return [pod for pod in pods if selects(selector.get("matchLabels", {}), pod[1],
                                                selector.get("matchExpressions", []))]

    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        spec = policy["spec"]
        own = selected(spec["podSelector"])
        if not own:
            problems.append(f"{ref(policy)}: selects no pods")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction, []):
                for peer in rule.get(peers_key, []):
                    if set(peer) != {"podSelector"}:
                        continue  # another namespace or an address block: outside this release
                    targets = selected(peer["podSelector"])
                    if not targets:
                        problems.append(f"{ref(policy)}: a {direction} peer selects no pods")
                    reached = own if direction == "ingress" else targets
                    for port in rule.get("ports", []):
                        if any(port["port"] not in ports for _, _, ports in reached):
                            problems.append(f"{ref(policy)}: {direction} port {port['port']} is no container port "
                                            "of the pods it leads to")
    return problems


def check_addresses(objects: list[dict]) -> list[str]:
    """Every in-cluster address a container is given names a rendered Service and its gRPC port."""
    problems = []
    grpc_ports = {o["metadata"]["name"]: {p["port"] for p in o["spec"]["ports"] if p.get("name") == "grpc"}
                  for o in objects if o["kind"] == "Service"}
    for workload in (o for o in objects if o["kind"] in WORKLOADS):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for arg in container.get("args", []):
                match = ADDRESS.match(str(arg))
                if match is None:
                    continue
                service, namespace, port = match.group(1), match.group(2), int(match.group(3))
                if namespace != NAMESPACE or port not in grpc_ports.get(service, set()):
                    problems.append(f"{ref(workload)}: {arg} is no rendered Service's gRPC port")
    return problems


def check_claims(objects: list[dict], external_claims: set[str] | None) -> list[str]:
    """Claims mounted exist (external_claims: those made outside the chart; None: any may be); a ReadWriteOnce
    claim belongs to one workload; a shared one has one writer at most."""
    problems = []
    claims = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PersistentVolumeClaim"}
    users: dict[str, list[tuple[str, bool]]] = {}
    for workload in (o for o in objects if o["kind"] in WORKLOADS):
        spec = workload["spec"]["template"]["spec"]
        by_volume = {v["name"]: v["persistentVolumeClaim"] for v in spec.get("volumes", [])
                     if "persistentVolumeClaim" in v}
        for volume, source in by_volume.items():
            mounts = [m for c in spec["containers"] for m in c.get("volumeMounts", []) if m["name"] == volume]
            if not mounts:
                problems.append(f"{ref(workload)}: volume {volume} is never mounted")
            writes = any(not m.get("readOnly") for m in mounts) and not source.get("readOnly")
            users.setdefault(source["claimName"], []).append((ref(workload), writes))
    for claim, used_by in sorted(users.items()):
        if claim not in claims and external_claims is not None and claim not in external_claims:
            problems.append(f"claim {claim}: mounted by {', '.join(w for w, _ in used_by)} but neither rendered nor "
                            f"an existing claim of this value set")
        modes = claims[claim]["spec"].get("accessModes", []) if claim in claims else []
        if len(used_by) > 1 and modes and not {"ReadWriteMany", "ReadOnlyMany"} & set(modes):
            problems.append(f"claim {claim}: {modes} but mounted by {len(used_by)} workloads")
        writers = [w for w, writes in used_by if writes]
        if len(used_by) > 1 and len(writers) > 1:
            problems.append(f"claim {claim}: written by {', '.join(writers)}; a shared volume has one writer")
    problems += [f"{ref(claims[name])}: mounted by no workload" for name in sorted(set(claims) - set(users))]
    return problems


def check_service_monitor(monitor: dict, objects: list[dict]) -> list[str]:
    """prometheus-operator's CRD ships no schema here: check the fields this chart relies on."""
    problems = []
    if monitor["apiVersion"] != "monitoring.coreos.com/v1":
        problems.append(f"{ref(monitor)}: apiVersion must be monitoring.coreos.com/v1")
    selector = monitor.get("spec", {}).get("selector", {})
    services = [s for s in objects if s["kind"] == "Service"
                and selects(selector.get("matchLabels", {}), s["metadata"].get("labels", {}),
                            selector.get("matchExpressions", []))]
    if not services:
        problems.append(f"{ref(monitor)}: selects no Service")
    for endpoint in monitor.get("spec", {}).get("endpoints", []):
        for service in services:
            if endpoint.get("port") not in {p.get("name") for p in service["spec"]["ports"]}:
                problems.append(f"{ref(monitor)}: {ref(service)} has no port named {endpoint.get('port')}")
    return problems


def check_prometheus_rule(rule: dict, objects: list[dict]) -> list[str]:
    """The CRD ships no schema here: the fields this chart relies on, and every expression through promtool
    (Debian's prometheus package) when it is installed."""
    problems = []
    if rule["apiVersion"] != "monitoring.coreos.com/v1":
        problems.append(f"{ref(rule)}: apiVersion must be monitoring.coreos.com/v1")
    groups = rule.get("spec", {}).get("groups", [])
    alerts = [r for g in groups for r in g.get("rules", [])]
    if not alerts or any(not {"alert", "expr"} <= set(r) for r in alerts):
        problems.append(f"{ref(rule)}: every rule needs alert and expr")
    promtool = shutil.which("promtool")
    if promtool is None:
        return problems
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump({"groups": groups}, file)
        file.flush()
        result = subprocess.run([promtool, "check", "rules", file.name], capture_output=True, text=True)
    if result.returncode != 0:
        problems.append(f"{ref(rule)}: promtool: {(result.stdout + result.stderr).strip()[-600:]}")
    return problems


def check_certificate(certificate: dict, objects: list[dict]) -> list[str]:
    """cert-manager's CRDs ship no schema here: a component's certificate names its Service (the name clients check)
    and serves both ends of mutual TLS; every certificate names a rendered issuer, or one outside the chart."""
    problems = []
    spec = certificate.get("spec", {})
    if certificate["apiVersion"] != "cert-manager.io/v1":
        problems.append(f"{ref(certificate)}: apiVersion must be cert-manager.io/v1")
    if not spec.get("secretName") or not spec.get("issuerRef", {}).get("name"):
        problems.append(f"{ref(certificate)}: needs secretName and issuerRef.name")
    issuers = {(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in ("Issuer", "ClusterIssuer")}
    issuer = spec.get("issuerRef", {})
    if issuer.get("kind", "Issuer") == "Issuer" and issuers and ("Issuer", issuer.get("name")) not in issuers:
        problems.append(f"{ref(certificate)}: issuerRef {issuer.get('name')} is no rendered Issuer")
    if spec.get("isCA"):
        return problems
    if not {"server auth", "client auth"} <= set(spec.get("usages", [])):
        problems.append(f"{ref(certificate)}: usages must include server auth and client auth")
    name = certificate["metadata"]["name"]
    if any(o["kind"] == "Service" and o["metadata"]["name"] == name for o in objects):
        if f"{name}.{NAMESPACE}.svc" not in spec.get("dnsNames", []):
            problems.append(f"{ref(certificate)}: dnsNames lack {name}.{NAMESPACE}.svc, the name its clients dial")
    mounted = {v["secret"]["secretName"] for o in objects if o["kind"] in (*WORKLOADS, "Pod")
               for v in (o["spec"]["template"]["spec"] if o["kind"] in WORKLOADS else o["spec"]).get("volumes", [])
               if "secret" in v}
    if spec.get("secretName") not in mounted:
        problems.append(f"{ref(certificate)}: no pod mounts its Secret {spec.get('secretName')}")
    return problems


def check_issuer(issuer: dict, objects: list[dict]) -> list[str]:
    """A self-signed root, or a CA whose Secret a rendered CA Certificate writes."""
    problems = []
    spec = issuer.get("spec", {})
    if issuer["apiVersion"] != "cert-manager.io/v1" or len(spec) != 1 or not {"selfSigned", "ca"} & set(spec):
        problems.append(f"{ref(issuer)}: must be a cert-manager.io/v1 selfSigned or ca Issuer")
    if "ca" in spec:
        authorities = {o["spec"].get("secretName") for o in objects if o["kind"] == "Certificate"
                       and o["spec"].get("isCA")}
        if spec["ca"].get("secretName") not in authorities:
            problems.append(f"{ref(issuer)}: its CA Secret {spec['ca'].get('secretName')} is no rendered CA "
                            f"Certificate's")
    return problems


def check_tls_secrets(objects: list[dict]) -> list[str]:
    """With cert-manager, every certificate Secret a workload mounts (volume "tls") is a rendered Certificate's."""
    issued = {o["spec"].get("secretName") for o in objects if o["kind"] == "Certificate"}
    if not issued:
        return []
    problems = []
    for obj in (o for o in objects if o["kind"] in (*WORKLOADS, "Pod")):
        spec = obj["spec"]["template"]["spec"] if obj["kind"] in WORKLOADS else obj["spec"]
        for volume in spec.get("volumes", []):
            if volume["name"] == "tls" and volume.get("secret", {}).get("secretName") not in issued:
                problems.append(f"{ref(obj)}: mounts {volume.get('secret', {}).get('secretName')} as its certificate, "
                                f"which no rendered Certificate issues")
    return problems


CUSTOM_RESOURCES = {"ServiceMonitor": check_service_monitor, "PrometheusRule": check_prometheus_rule,
                    "Certificate": check_certificate, "Issuer": check_issuer}


def check_names(objects: list[dict]) -> list[str]:
    """Object names and label values within Kubernetes' limits (long release names are truncated to fit)."""
    problems = []
    for obj in objects:
        name = obj["metadata"]["name"]
        limit = NAME_LIMITS.get(obj["kind"], 253)
        if len(name) > limit or not all(DNS_LABEL.match(part) for part in name.split(".")):
            problems.append(f"{ref(obj)}: name of {len(name)} characters is no valid {obj['kind']} name "
                            f"(at most {limit})")
        labelled = [obj["metadata"].get("labels", {})]
        if obj["kind"] in WORKLOADS:
            labelled.append(obj["spec"]["template"]["metadata"].get("labels", {}))
        for labels in labelled:
            problems += [f"{ref(obj)}: label {key}={value!r} is longer than 63 characters"
                         for key, value in labels.items() if len(str(value)) > 63]
    return problems


def check_consistency(objects: list[dict], expected: dict[str, int] | None,
                      external_claims: set[str] | None) -> list[str]:
    problems = []
    kinds = Counter(obj["kind"] for obj in objects)
    if expected is not None and kinds != Counter(expected):
        problems.append(f"rendered {dict(sorted(kinds.items()))}, expected {expected}")
    duplicates = [name for name, count in Counter(ref(o) for o in objects).items() if count > 1]
    problems += [f"{name}: rendered twice" for name in duplicates]
    config_maps = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    for obj in objects:
        if "app.kubernetes.io/name" not in obj["metadata"].get("labels", {}):
            problems.append(f"{ref(obj)}: lacks the recommended labels")
        if obj["kind"] in WORKLOADS:
            problems += check_workload(obj, config_maps)
    pods = pods_and_ports(objects)
    services = [o for o in objects if o["kind"] == "Service"]
    for service in services:
        matched = [ports for _, labels, ports in pods if selects(service["spec"].get("selector", {}), labels)]
        if len(matched) != 1:
            problems.append(f"{ref(service)}: selects the pods of {len(matched)} workloads, not 1")
        for port in service["spec"]["ports"] if matched else []:
            if port.get("targetPort", port["port"]) not in matched[0]:
                problems.append(f"{ref(service)}: targetPort {port.get('targetPort')} is no container port")
    for stateful_set in (o for o in objects if o["kind"] == "StatefulSet"):
        governing = [s for s in services if s["metadata"]["name"] == stateful_set["spec"].get("serviceName")]
        labels = stateful_set["spec"]["template"]["metadata"].get("labels", {})
        if not governing or governing[0]["spec"].get("clusterIP") != "None" \
                or not selects(governing[0]["spec"].get("selector", {}), labels):
            problems.append(f"{ref(stateful_set)}: serviceName must be a rendered headless Service selecting its pods")
        for template in stateful_set["spec"].get("volumeClaimTemplates", []):
            changing = set(template["metadata"].get("labels", {})) & UPGRADE_LABELS
            if changing:
                problems.append(f"{ref(stateful_set)}: volumeClaimTemplate {template['metadata']['name']} is "
                                f"immutable but labelled {', '.join(sorted(changing))}, which upgrades change")
    for budget in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
        if not any(selects(budget["spec"]["selector"].get("matchLabels", {}), labels) for _, labels, _ in pods):
            problems.append(f"{ref(budget)}: selects no pods")
    for monitor in (o for o in objects if o["kind"] in CUSTOM_RESOURCES):
        problems += CUSTOM_RESOURCES[monitor["kind"]](monitor, objects)
    for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
        for key, text in config_map.get("data", {}).items():
            if key.endswith(".json"):
                try:
                    json.loads(text)
                except json.JSONDecodeError as error:
                    problems.append(f"{ref(config_map)}: {key} is not JSON: {error}")
    problems += check_names(objects)
    problems += check_tls_secrets(objects)
    problems += check_addresses(objects)
    problems += check_network_policies(objects)
    problems += check_claims(objects, external_claims)
    return problems


def merged(base: dict, override: dict) -> dict:
    """Helm's merge of two values files: maps merge key by key, anything else is replaced."""
    result = dict(base)
    for key, value in override.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else value
    return result


def load_values(chart: Path, files: list[str | Path]) -> dict | None:
    """Values files merged as `helm -f a -f b` merges them (a relative path is the chart's); None for none."""
    values = None
    for file in files:
        try:
            values = merged(values or {}, helm.values_from_yaml((chart / file).read_text()) or {})
        except (OSError, helm.HelmError) as error:
            raise ValueError(f"values {file}: {error}") from error
    return values


def check_value_set(chart: Path, label: str, values_file: str | list[str] | None, expected: dict[str, int] | None,
                    external_claims: set[str] | None, dump: Path | None, release: str = RELEASE) -> list[str]:
    try:
        values = load_values(chart, [values_file] if isinstance(values_file, str) else values_file or [])
    except ValueError as error:
        return [f"[{label}] {error}"]
    problems, notes = lint(chart, values)
    print(f"  {label:<8} lint: {counted(problems)}" + (f" ({'; '.join(notes)})" if notes else ""))
    try:
        objects = render(chart, values, release)
    except helm.HelmError as error:
        print(f"  {label:<8} render failed")
        return [f"[{label}] {problem}" for problem in [*problems, f"render: {error}"]]
    print(f"  {label:<8} rendered {len(objects)} objects: {', '.join(ref(o) for o in objects)}")
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        (dump / f"{label}.json").write_text(json.dumps(objects, indent=1))
    schema_problems, unschemed = validate_schemas(objects)
    print(f"  {label:<8} strict schemas, Kubernetes {' and '.join(KUBE_VERSIONS)}: {counted(schema_problems)}"
          + (f" ({', '.join(unschemed)}: a CRD without a bundled schema, checked structurally)" if unschemed else ""))
    consistency = check_consistency(objects, expected, external_claims)
    print(f"  {label:<8} consistency (selectors, ports, probes, env, hardening, drain, addresses, claims): "
          f"{counted(consistency)}")
    return [f"[{label}] {problem}" for problem in [*problems, *schema_problems, *consistency]]


def lint_dockerfiles() -> list[str]:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not DOCKERFILES:
        return ["no services/*/Dockerfile found"]
    result = subprocess.run([str(hadolint), "--no-color", *map(str, DOCKERFILES)], capture_output=True, text=True)
    findings = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode and not findings:
        findings = [f"hadolint exited {result.returncode}"]
    names = ", ".join(str(path.relative_to(REPO)) for path in DOCKERFILES)
    print(f"  {'docker':<8} hadolint {names}: {counted(findings)}")
    return [f"[docker] {finding}" for finding in findings]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=CHART, help="chart directory (default: %(default)s)")
    parser.add_argument("--dump", type=Path, help="write each value set's rendered objects to DIR/<set>.json")
    parser.add_argument("--values", type=Path, action="append",
                        help="check the chart with this values file only (as set 'values'; no Dockerfiles, no "
                             "expected object counts); repeated, later files override earlier ones as with helm -f")
    parser.add_argument("--render-only", action="store_true",
                        help="with --values and --dump: only render and dump (make k8s-e2e runs what it renders, so "
                             "that the containers, not this check, find a defect)")
    parser.add_argument("--release", default=RELEASE, help="release name to render with (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.render_only:
        if args.values is None or args.dump is None:
            parser.error("--render-only needs --values and --dump")
        try:
            objects = render(args.chart, load_values(args.chart, args.values), args.release)
        except (ValueError, helm.HelmError) as error:
            print(f"render: {error}", file=sys.stderr)
            return 1
        args.dump.mkdir(parents=True, exist_ok=True)
        (args.dump / "values.json").write_text(json.dumps(objects, indent=1))
        print(f"rendered {len(objects)} objects to {args.dump / 'values.json'}")
        return 0
    if args.values is not None:
        value_sets = {"values": ([str(path.resolve()) for path in args.values], None, None)}
    else:
        value_sets = VALUE_SETS
    with helm.Chart.load(args.chart) as chart:
        title = f"{chart.name} {chart.version}"
    print(f"k8s-check: chart {title} at {args.chart}, Helm {helm.helm_sdk_version()}, "
          f"kubernetes-validate {kubernetes_validate.__version__}")
    problems = []
    for label, (values_file, expected, external_claims) in value_sets.items():
        problems += check_value_set(args.chart, label, values_file, expected, external_claims, args.dump,
                                    args.release)
    dockerfiles = 0 if args.values is not None else len(DOCKERFILES)
    if dockerfiles:
        problems += lint_dockerfiles()
    for problem in problems:
        print(f"PROBLEM {problem}")
    verdict = "FAILED" if problems else "OK"
    print(f"k8s-check: {verdict}: {len(value_sets)} value sets and {dockerfiles} Dockerfiles, "
          f"Kubernetes {', '.join(KUBE_VERSIONS)} (strict), {counted(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

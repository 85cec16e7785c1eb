"""What the rendered chart asks a cluster to run, read off the rendered objects: one PodPlan per pod (a replica of
a Deployment or StatefulSet), the Services that select each pod, the claims, ConfigMaps and Secrets they mount.
Nothing here is configuration of its own: every field comes from the rendered objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORKLOADS = ("Deployment", "StatefulSet")


@dataclass
class PodPlan:
    name: str  # <workload>-<ordinal>, as a StatefulSet names its pods
    workload: dict[str, Any]
    ordinal: int
    aliases: list[str] = field(default_factory=list)  # DNS names of the Services that select it
    claims: dict[str, str] = field(default_factory=dict)  # volume name -> claim name (templates resolved)

    @property
    def kind(self) -> str:
        return self.workload["kind"]

    @property
    def template(self) -> dict[str, Any]:
        """The pod: a workload's template, or a bare Pod (Helm's test hook) itself."""
        return self.workload if self.kind == "Pod" else self.workload["spec"]["template"]

    @property
    def spec(self) -> dict[str, Any]:
        return self.template["spec"]

    @property
    def labels(self) -> dict[str, str]:
        return self.template["metadata"].get("labels", {})

    @property
    def annotations(self) -> dict[str, str]:
        return self.template["metadata"].get("annotations", {})

    @property
    def grace_s(self) -> int:
        return int(self.spec.get("terminationGracePeriodSeconds", 30))

    def containers(self) -> list[dict[str, Any]]:
        return self.spec["containers"]

    def init_containers(self) -> list[dict[str, Any]]:
        return self.spec.get("initContainers", [])

    def port(self, name_or_number: str | int) -> int:
        """A container port by name (as probes and Services name them) or number."""
        if isinstance(name_or_number, int):
            return name_or_number
        for container in self.containers():
            for port in container.get("ports", []):
                if port.get("name") == name_or_number:
                    return int(port["containerPort"])
        raise KeyError(f"pod {self.name} has no container port named {name_or_number!r}")


class RenderedRelease:
    def __init__(self, objects: list[dict[str, Any]], namespace: str):
        self.objects, self.namespace = objects, namespace
        self.pods = self._pods()

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        for item in self.of_kind(kind):
            if item["metadata"]["name"] == name:
                return item
        raise KeyError(f"no {kind} named {name} was rendered")

    def _pods(self) -> list[PodPlan]:
        pods = []
        for workload in (o for o in self.objects if o["kind"] in WORKLOADS):
            replicas = int(workload["spec"].get("replicas", 1))
            for ordinal in range(replicas):
                name = f"{workload['metadata']['name']}-{ordinal}"
                plan = PodPlan(name, workload, ordinal)
                for volume in plan.spec.get("volumes", []):
                    if "persistentVolumeClaim" in volume:
                        plan.claims[volume["name"]] = volume["persistentVolumeClaim"]["claimName"]
                if workload["kind"] == "StatefulSet":
                    for template in workload["spec"].get("volumeClaimTemplates", []):
                        plan.claims[template["metadata"]["name"]] = f"{template['metadata']['name']}-{name}"
                pods.append(plan)
        for service in self.of_kind("Service"):
            selector = service["spec"].get("selector") or {}
            chosen = [p for p in pods if selector and selector.items() <= p.labels.items()]
            for port in service["spec"].get("ports", []):
                target = port.get("targetPort", port["port"])
                for pod in chosen:
                    if pod.port(target) != int(port["port"]):
                        raise ValueError(f"Service {service['metadata']['name']} port {port['port']} goes to "
                                         f"container port {pod.port(target)} of {pod.name}: this runner gives "
                                         f"Services DNS names only, so the ports must be equal")
            name = service["metadata"]["name"]
            for pod in chosen:
                pod.aliases += [name, f"{name}.{self.namespace}", f"{name}.{self.namespace}.svc",
                                f"{name}.{self.namespace}.svc.cluster.local"]
        return pods

    def test_hooks(self) -> list[PodPlan]:
        """The Pods `helm test` runs (annotation helm.sh/hook: test)."""
        return [PodPlan(o["metadata"]["name"], o, 0) for o in self.of_kind("Pod")
                if "test" in o["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")]

    def claims(self) -> set[str]:
        return {claim for pod in self.pods for claim in pod.claims.values()}

    def config_map(self, name: str) -> dict[str, str]:
        return dict(self.named("ConfigMap", name).get("data", {}))

    def secret_value(self, name: str, key: str) -> str:
        import base64

        secret = self.named("Secret", name)
        if key in secret.get("stringData", {}):
            return secret["stringData"][key]
        return base64.b64decode(secret["data"][key]).decode()

"""A rendered pod as Podman runs it: a Podman pod (one network namespace, the Services' names as DNS aliases), its
init containers run to completion in order, then its containers, each with exactly the rendered image, command,
args, env, securityContext, volumes and resources. A field this runner cannot honour fails the run."""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8s_e2e.cluster import PodPlan, RenderedRelease
from k8s_e2e.podman import Podman, PodmanError

UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}
HANDLED_SECURITY = {"runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
                    "capabilities", "seccompProfile", "fsGroup", "fsGroupChangePolicy"}


def quantity_bytes(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i|[kMG])?", str(text))
    if not match:
        raise ValueError(f"cannot read the quantity {text!r}")
    return int(float(match.group(1)) * UNITS.get(match.group(2) or "", 1))


@dataclass
class RunningPod:
    plan: PodPlan
    pod: str
    containers: dict[str, str] = field(default_factory=dict)  # container name in the spec -> podman name
    init_logs: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0  # time.monotonic() when its containers started (after the init containers)


class PodRunner:
    def __init__(self, podman: Podman, release: RenderedRelease, workdir: Path):
        self.podman, self.release, self.workdir = podman, release, workdir

    def start(self, plan: PodPlan) -> RunningPod:
        pod = self.podman.create_pod(plan.name, plan.aliases)
        running = RunningPod(plan, pod)
        for container in plan.init_containers():
            name = f"{pod}-init-{container['name']}"
            result = self.podman("run", "--pod", pod, "--name", name, *self._options(plan, container),
                                 *self._image_and_args(container), check=False, timeout=1800)
            running.init_logs[container["name"]] = (result.stdout + result.stderr).strip()[-2000:]
            if result.returncode != 0:
                raise PodmanError(f"init container {container['name']} of {plan.name} exited {result.returncode}:\n"
                                  f"{running.init_logs[container['name']]}")
        running.started_at = time.monotonic()
        for container in plan.containers():
            name = f"{pod}-{container['name']}"
            self.podman("run", "-d", "--pod", pod, "--name", name, "--restart=always", *self._options(plan, container),
                        *self._image_and_args(container))
            running.containers[container["name"]] = name
        return running

    def run_to_completion(self, plan: PodPlan, timeout_s: float) -> dict[str, tuple[int, str]]:
        """A pod with restartPolicy Never (a `helm test` hook): each container runs to its end, in order, as
        the kubelet would run them (they start together there; a test pod has one). Container -> (exit code,
        last log lines)."""
        if plan.spec.get("restartPolicy") != "Never":
            raise ValueError(f"{plan.name}: only pods with restartPolicy Never run to completion")
        pod = self.podman.create_pod(plan.name, plan.aliases)
        results = {}
        for container in plan.containers():
            result = self.podman("run", "--pod", pod, "--name", f"{pod}-{container['name']}",
                                 *self._options(plan, container), *self._image_and_args(container), check=False,
                                 timeout=timeout_s)
            results[container["name"]] = (result.returncode, (result.stdout + result.stderr).strip()[-2000:])
        return results

    # ------------------------------------------------------------------------------------------ a container

    def _image_and_args(self, container: dict[str, Any]) -> list[str]:
        options = []
        if container.get("command"):
            options.append("--entrypoint=" + json.dumps(container["command"]))
        return [*options, container["image"], *container.get("args", [])]

    def _options(self, plan: PodPlan, container: dict[str, Any]) -> list[str]:
        pod_security = plan.spec.get("securityContext", {})
        security = {**{k: v for k, v in pod_security.items() if k in ("runAsUser", "runAsGroup", "runAsNonRoot")},
                    **container.get("securityContext", {})}
        unknown = set(pod_security) | set(container.get("securityContext", {}))
        if unknown - HANDLED_SECURITY:
            raise ValueError(f"{plan.name}/{container['name']}: securityContext {sorted(unknown - HANDLED_SECURITY)} "
                             f"is not emulated")
        options = ["--pull=never", f"--stop-timeout={plan.grace_s}"]
        user, group = security.get("runAsUser"), security.get("runAsGroup")
        if security.get("runAsNonRoot") and not user:
            raise ValueError(f"{plan.name}/{container['name']}: runAsNonRoot without a numeric runAsUser")
        if user is not None:
            options.append(f"--user={user}:{group if group is not None else user}")
        if pod_security.get("fsGroup") is not None:
            options.append(f"--group-add={pod_security['fsGroup']}")
        if security.get("readOnlyRootFilesystem"):
            options += ["--read-only", "--read-only-tmpfs=false"]  # no free /tmp: the pod must mount its own
        if security.get("allowPrivilegeEscalation") is False:
            options.append("--security-opt=no-new-privileges")
        capabilities = security.get("capabilities", {})
        options += [f"--cap-drop={c}" for c in capabilities.get("drop", [])]
        options += [f"--cap-add={c}" for c in capabilities.get("add", [])]
        for variable in container.get("env", []):
            options.append(f"--env={variable['name']}={self._env_value(plan, variable)}")
        options += self._mounts(plan, container)
        limits = container.get("resources", {}).get("limits", {})
        if "memory" in limits:
            options.append(f"--memory={quantity_bytes(limits['memory'])}")
        if "cpu" in limits:
            cpu = str(limits["cpu"])
            options.append(f"--cpus={int(cpu[:-1]) / 1000 if cpu.endswith('m') else float(cpu)}")
        return options

    def _env_value(self, plan: PodPlan, variable: dict[str, Any]) -> str:
        if "value" in variable:
            return str(variable["value"])
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            return self.release.secret_value(source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
        if "configMapKeyRef" in source:
            return self.release.config_map(source["configMapKeyRef"]["name"])[source["configMapKeyRef"]["key"]]
        if source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            return plan.name
        if source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            return self.release.namespace
        raise ValueError(f"{plan.name}: env {variable['name']} comes from {source}, which is not emulated")

    def _mounts(self, plan: PodPlan, container: dict[str, Any]) -> list[str]:
        volumes = {v["name"]: v for v in plan.spec.get("volumes", [])}
        fs_group = plan.spec.get("securityContext", {}).get("fsGroup")
        user = plan.spec.get("securityContext", {}).get("runAsUser")
        options = []
        for mount in container.get("volumeMounts", []):
            if mount.get("subPath"):
                raise ValueError(f"{plan.name}: subPath mounts are not emulated")
            volume = volumes.get(mount["name"], {})
            if not volume and mount["name"] not in plan.claims:
                raise ValueError(f"{plan.name}/{container['name']} mounts {mount['name']}, which the pod does not have")
            read_only = bool(mount.get("readOnly"))
            if mount["name"] in plan.claims:  # a claim, or a StatefulSet's volumeClaimTemplate
                claim = plan.claims[mount["name"]]
                source = self.podman.create_volume(f"claim-{claim}", uid=user, gid=fs_group)
                read_only = read_only or bool(volume.get("persistentVolumeClaim", {}).get("readOnly"))
            elif "emptyDir" in volume:
                empty = volume["emptyDir"]
                source = self.podman.create_volume(f"{plan.name}-{mount['name']}", uid=user, gid=fs_group,
                                                   memory=empty.get("medium") == "Memory")
            elif "configMap" in volume:
                source = str(self._files(f"configmap-{volume['configMap']['name']}",
                                         self.release.config_map(volume["configMap"]["name"])))
            elif "secret" in volume:
                name = volume["secret"]["secretName"]
                keys = self.release.named("Secret", name).get("data", {})
                source = str(self._files(f"secret-{name}", {k: self.release.secret_value(name, k) for k in keys}))
            else:
                raise ValueError(f"{plan.name}: volume {mount['name']} {sorted(volume)} is not emulated")
            options.append(f"--volume={source}:{mount['mountPath']}{':ro' if read_only else ''}")
        return options

    def _files(self, name: str, data: dict[str, str]) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))
        for key, value in data.items():
            (folder / key).write_text(value)
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.chmod(0o444)
        return folder

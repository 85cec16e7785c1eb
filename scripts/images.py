"""`make images`: build every Playpen image with Podman, and report their sizes.

The Dockerfiles are standard (`FROM python:3.11-slim`); where that base image cannot be pulled (no registry is
reachable from this project's machines), a local stand-in is built first from Debian's own packages (bookworm's
Python 3.11, via mmdebstrap) and tagged with the name the Dockerfiles use. Behind a TLS-inspecting proxy, pass
the CA bundle pip must trust (`--ca-bundle`, default: the one pip's own configuration names); with a local
folder of wheels (`--wheels`, default: pip's configured find-links), torch is taken from there instead of
PyTorch's index. Both are mounted read-only into the builds, never copied into an image.

Images: playpen-gamemaster, playpen-evaluator, playpen-selfplay, playpen-trainer (CPU torch), playpen-policy
(vLLM for CPU; it also runs the scripted backend) and playpen-model-smollm2 (the default model, converted at build
time, for the chart's model.source=image).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from playpen_common.settings import CommandSettings, parse_command_line

REPO = Path(__file__).resolve().parents[1]
BASE = "docker.io/library/python:3.11-slim"
# name -> (Dockerfile, context, extra build args, disk space its build needs at its peak in GB); the model image
# is built from the policy image. The peak, measured with Podman 4.3 on the CPU builds: the build stage, the final
# image, and the copy of the biggest layer that Podman stages in its temporary folder while committing it.
IMAGES = {
    "gamemaster": ("services/gamemaster/Dockerfile", ".", {}, 2),
    "evaluator": ("services/evaluator/Dockerfile", ".", {}, 2),
    "selfplay": ("services/selfplay/Dockerfile", ".", {}, 2),
    "trainer": ("services/trainer/Dockerfile", ".", {"TORCH_VARIANT": "cpu"}, 6),
    "policy": ("services/policy/Dockerfile", ".", {"POLICY_EXTRA": "cpu"}, 14),
    "model-smollm2": ("k8s/images/model/Dockerfile", "k8s/images/model", {}, 3),
}
# The label every stage of the Dockerfiles carries: what `prune` removes is untagged and carries it.
PROJECT_LABEL = "org.playpen.project=playpen"
STANDIN_PACKAGES = "python3.11,python3.11-dev,python3-venv,python3-pip,ca-certificates,passwd"
# What python:3.11-slim offers that the images rely on: `python` on PATH, pip installing system-wide, and Python's
# headers (torch's inductor compiles C++ kernels against them; vLLM on CPU does so when it samples).
STANDIN_HOOK = ('rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED; ln -sf /usr/bin/python3 "$1"/usr/local/bin/python; '
                'rm -rf "$1"/var/lib/apt/lists/*')


def pip_config(option: str) -> Path | None:
    """What pip on this machine uses for `option` (cert, find-links), from any of its sources: its environment
    variables, then the global, site and user files, as `pip config list` shows them."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.rpartition(".")[2] == option and value.strip("'\""):
            return Path(value.strip("'\"").split()[0])
    return None


class ImageSettings(CommandSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_IMAGES_", cli_prog_name="make images")

    engine: str = Field("podman", description="container engine (Podman; its build flags are used)")
    tag: str = Field("", description="tag of every image (default: the chart's appVersion)")
    only: list[str] = Field(default_factory=list, description=f"images to build, comma-separated (default: all of "
                                                              f"{', '.join(IMAGES)})")
    base: Literal["auto", "pull", "standin"] = Field(
        "auto", description="the python:3.11-slim base: auto = use it if present, else pull it, else build the "
                            "Debian stand-in; pull; or always the stand-in")
    ca_bundle: Path | None = Field(default_factory=lambda: pip_config("cert"),
                                   description="CA bundle pip must trust inside the builds (default: pip's own)")
    wheels: Path | None = Field(default_factory=lambda: pip_config("find-links"),
                                description="folder of wheels (torch's CPU build) for the builds (default: pip's "
                                            "find-links)")
    pull_timeout_s: float = Field(60.0, gt=0, description="how long a pull of the base image may try, seconds")
    prune: bool = Field(True, description="after each image, remove the project's untagged images (its finished "
                                          "build stages, the version the new build replaced); false keeps them as "
                                          "build cache, which makes rebuilds faster and fills the disk")
    check_disk: bool = Field(True, description="before each image, check that its build has the disk space it "
                                               "needs at its peak, and stop with a clear message if not")


def chart_version() -> str:
    for line in (REPO / "k8s" / "helm" / "playpen" / "Chart.yaml").read_text().splitlines():
        if line.startswith("appVersion:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise SystemExit("Chart.yaml has no appVersion")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, **kwargs)


def ensure_base(settings: ImageSettings) -> str:
    engine = settings.engine
    if settings.base != "standin" and run([engine, "image", "exists", BASE]).returncode == 0:
        return "present"
    if settings.base in ("auto", "pull"):
        try:
            if run([engine, "pull", BASE], timeout=settings.pull_timeout_s, capture_output=True).returncode == 0:
                return "pulled"
        except subprocess.TimeoutExpired:
            pass
        if settings.base == "pull":
            raise SystemExit(f"cannot pull {BASE}")
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("the base image cannot be pulled and mmdebstrap is missing (apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory(prefix="playpen-base-") as folder:
        tarball = Path(folder) / "base.tar"
        built = run(["mmdebstrap", "--variant=minbase", f"--include={STANDIN_PACKAGES}",
                     f"--customize-hook={STANDIN_HOOK}", "bookworm", str(tarball)], capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(f"mmdebstrap failed:\n{built.stderr[-3000:]}")
        changes = ["ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", 'CMD ["python3"]',
                   "LABEL org.playpen.base-standin=debian-bookworm"]
        imported = run([engine, "import", *(f"--change={change}" for change in changes), str(tarball), BASE],
                       capture_output=True, text=True)
        if imported.returncode != 0:
            raise SystemExit(f"{engine} import failed: {imported.stderr}")
    return "Debian stand-in built"


def storage_folders(engine: str) -> list[Path]:
    """Where a build writes: the engine's image store and the folder it stages layers in while committing them
    (Podman: $TMPDIR, else /var/tmp)."""
    found = run([engine, "info", "--format", "{{.Store.GraphRoot}}"], capture_output=True, text=True)
    folders = [Path(found.stdout.strip())] if found.returncode == 0 and found.stdout.strip() else []
    return [*folders, Path(os.environ.get("TMPDIR") or "/var/tmp")]


def free_gb(folder: Path) -> float:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free / 1e9


def check_disk(settings: ImageSettings, name: str) -> None:
    needed = IMAGES[name][3]
    for folder in storage_folders(settings.engine):
        free = free_gb(folder)
        if free < needed:
            raise SystemExit(
                f"make images: building playpen-{name} needs about {needed} GB free in {folder}, which has "
                f"{free:.1f} GB. Free space first (`{settings.engine} system df` shows what images use; "
                f"`{settings.engine} image prune --filter label={PROJECT_LABEL}` removes this project's untagged "
                f"ones), or pass --check-disk false to try anyway.")


def prune(settings: ImageSettings) -> float:
    """Remove the project's untagged images; returns the GB freed in the image store."""
    folders = storage_folders(settings.engine)[:1]
    before = free_gb(folders[0]) if folders else 0.0
    pruned = run([settings.engine, "image", "prune", "--force", "--filter", f"label={PROJECT_LABEL}"],
                 capture_output=True, text=True)
    if pruned.returncode != 0:
        print(f"warning: {settings.engine} image prune failed: {pruned.stderr.strip()[-500:]}", flush=True)
    return (free_gb(folders[0]) - before) if folders else 0.0


def build(settings: ImageSettings, name: str, tag: str) -> float:
    dockerfile, context, build_args, _ = IMAGES[name]
    # docker format: OCI images ignore SHELL, and the Dockerfiles run their RUN lines with bash -o pipefail.
    command = [settings.engine, "build", "--pull=never", "--format", "docker", "-f", str(REPO / dockerfile),
               "-t", f"playpen-{name}:{tag}"]
    args = dict(build_args)
    if settings.ca_bundle:
        command += ["-v", f"{settings.ca_bundle.resolve()}:/run/playpen/ca.pem:ro"]
        args["PIP_CERT"] = "/run/playpen/ca.pem"
    if settings.wheels:
        command += ["-v", f"{settings.wheels.resolve()}:/run/playpen/wheels:ro"]
        args["PIP_FIND_LINKS"] = "/run/playpen/wheels"
        args["TORCH_INDEX_URL"] = ""  # torch from the wheel folder; the Dockerfiles' guards check the build
    if name == "model-smollm2":
        args["POLICY_IMAGE"] = f"playpen-policy:{tag}"
    for key, value in args.items():
        command += ["--build-arg", f"{key}={value}"]
    started = time.monotonic()
    log = REPO / "build" / "images" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as sink:
        result = run([*command, str(REPO / context)], stdout=sink, stderr=subprocess.STDOUT, cwd=REPO)
    if result.returncode != 0:
        output = log.read_text()
        cause = (" (out of disk space: see `make images --help` for --prune and --check-disk)"
                 if "no space left on device" in output else "")
        raise SystemExit(f"building playpen-{name} failed{cause}; see {log}:\n" + output[-3000:])
    return time.monotonic() - started


def size_mb(engine: str, image: str) -> float:
    found = run([engine, "image", "inspect", image, "--format", "{{.Size}}"], capture_output=True, text=True)
    return int(found.stdout.strip()) / 1e6


def main(argv: list[str] | None = None) -> int:
    settings = parse_command_line(ImageSettings, sys.argv[1:] if argv is None else argv, "make images")
    unknown = sorted(set(settings.only) - set(IMAGES))
    if unknown:
        raise SystemExit(f"make images: unknown image(s) {', '.join(unknown)}; known: {', '.join(IMAGES)}")
    if shutil.which(settings.engine) is None:
        raise SystemExit(f"{settings.engine} is not installed (Debian: apt-get install podman runc)")
    tag = settings.tag or chart_version()
    print(f"base {BASE}: {ensure_base(settings)}", flush=True)
    wanted = [name for name in IMAGES if not settings.only or name in settings.only]
    rows = []
    for name in wanted:
        if settings.check_disk:
            check_disk(settings, name)
        seconds = build(settings, name, tag)
        image = f"playpen-{name}:{tag}"
        rows.append({"image": image, "size_mb": round(size_mb(settings.engine, image)), "build_s": round(seconds)})
        freed = f"; removed untagged images, {prune(settings):.1f} GB freed" if settings.prune else ""
        print(f"built playpen-{name}:{tag} in {seconds:.0f} s{freed}", flush=True)
    print(f"\n{'image':<36} {'size':>9} {'build':>7}")
    for row in rows:
        print(f"{row['image']:<36} {row['size_mb']:>6} MB {row['build_s']:>5} s")
    print(json.dumps({"images": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make run`: bring the services up as local processes, play games, print clembench's table.

The policy is SmolLM2-135M-Instruct under vLLM on CPU (from the policy's own environment, .venv-policy),
or with `--policy scripted` the rule-based stand-in. Ctrl-C stops every process this script started.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playpen_common import launcher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    parser.add_argument("--split", default="validation")
    parser.add_argument("--instances", type=int, default=5, help="instances per game")
    parser.add_argument("--policy", choices=["vllm", "scripted"], default="vllm",
                        help="the model under vLLM (default) or the scripted stand-in")
    args, play_args = parser.parse_known_args(argv)
    policy_command = ["playpen-policy", "--backend", "scripted"]
    if args.policy == "vllm":
        executable = Path(__file__).resolve().parents[1] / ".venv-policy" / "bin" / "playpen-policy"
        if not executable.exists():
            print(f"{executable} is missing: run `make setup` (or use --policy scripted)", file=sys.stderr)
            return 2
        policy_command = [str(executable)]
    args.out.mkdir(parents=True, exist_ok=True)
    started: list[launcher.Service] = []
    try:
        print(f"starting services (logs in {args.out}/)")
        policy = launcher.start("policy", policy_command, args.out, timeout=600)
        started.append(policy)
        gamemaster = launcher.start("gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "600"], args.out)
        started.append(gamemaster)
        print(f"policy ({args.policy}) on {policy.target}, game master on {gamemaster.target}")
        from playpen_gamemaster.cli import main as play

        return play(["--gamemaster", gamemaster.target, "--policy", policy.target, "--split", args.split,
                     "--instances", str(args.instances), "--out", str(args.out), *play_args])
    except KeyboardInterrupt:
        print("\ninterrupted; stopping services", file=sys.stderr)
        return 130
    except launcher.ServiceFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    finally:
        for service in reversed(started):
            service.stop()


if __name__ == "__main__":
    sys.exit(main())

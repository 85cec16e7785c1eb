"""`make run`: bring the services up as local processes, play games, print clembench's table.

At this stage the policy is the scripted one (no model yet): the run shows the whole path — game master,
gRPC, policy, scoring, clemscore — on any machine. Ctrl-C stops every process this script started.
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
    args, play_args = parser.parse_known_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started: list[launcher.Service] = []
    try:
        print(f"starting services (logs in {args.out}/)")
        policy = launcher.start("policy", ["playpen-policy"], args.out)
        started.append(policy)
        gamemaster = launcher.start("gamemaster", ["playpen-gamemaster"], args.out)
        started.append(gamemaster)
        print(f"policy (scripted) on {policy.target}, game master on {gamemaster.target}")
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

"""`playpen-trainer`: serve the TrainerService (online GRPO); `playpen-trainer sft|dpo ...`: offline training.

Settings of the service come from flags or PLAYPEN_TRAINER_* env; `playpen-trainer sft --help` for the others.
Several processes (GPUs): `torchrun --nproc-per-node N -m playpen_trainer [flags]` (server.py).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("sft", "dpo"):
        from playpen_trainer import offline

        return (offline.sft_main if argv[0] == "sft" else offline.dpo_main)(argv[1:])
    if argv and argv[0] == "serve":
        argv = argv[1:]
    from playpen_common.settings import parse_command_line
    from playpen_trainer.settings import TrainerSettings

    settings = parse_command_line(TrainerSettings, argv, "playpen-trainer [serve]")
    if int(os.environ.get("RANK", "0")) > 0:  # a rank of a torchrun job other than 0: compute only
        from playpen_trainer.server import follow

        follow(settings)
        return 0
    from playpen_common.server import run_service
    from playpen_trainer.server import serve  # imports torch only now

    return run_service(lambda: serve(settings))


if __name__ == "__main__":
    sys.exit(main())

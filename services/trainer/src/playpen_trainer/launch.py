"""`playpen-trainer-run [torchrun flags] -- [trainer flags]`: the trainer as a torchrun job.

torchrun's own flags pick the processes (`--nproc-per-node`, `--nnodes`, `--node-rank`, `--master-addr`/
`--master-port` or `--rdzv-endpoint`, `--standalone` for one machine); everything after `--` goes to
`playpen-trainer` on every rank. Unlike a bare `torchrun -m playpen_trainer`, a stop signal is a graceful stop:
torchrun hands SIGTERM to the ranks (rank 0 finishes its step, tells the others to stop, and all exit 0) and then
exits 0 itself, so a pod being stopped is not reported as failed. A rank that fails fails the job (status 1):
torchrun ends the other ranks, and the next start resumes from the newest intact checkpoint.
"""

from __future__ import annotations

import signal
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        split = argv.index("--")
        launcher_args, trainer_args = argv[:split], argv[split + 1:]
    else:
        launcher_args, trainer_args = argv, []
    if any(arg in ("-m", "--module", "--no-python") for arg in launcher_args):
        print("playpen-trainer-run: give torchrun's flags only; it runs the trainer itself", file=sys.stderr)
        return 2
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun([*launcher_args, "-m", "playpen_trainer", *trainer_args])
    except SignalException as stopped:
        if stopped.sigval in (signal.SIGTERM, signal.SIGINT):
            return 0
        return 128 + int(stopped.sigval)
    except ChildFailedError:
        return 1  # torchrun has printed which rank failed and how
    return 0


if __name__ == "__main__":
    sys.exit(main())

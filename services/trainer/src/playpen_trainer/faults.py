"""Named crash points for testing recovery: `PLAYPEN_TRAINER_CRASH_AT=<point>` makes the process die right there,
as abruptly as `kill -9` (no cleanup, no flushing). Read at each call, so a test can aim at any point of a run;
unset, every call is a dictionary lookup."""

from __future__ import annotations

import os

POINTS = ("step:updated", "step:recorded", "checkpoint:weights_written", "checkpoint:state_written",
          "checkpoint:committed")


def crash_point(name: str) -> None:
    if os.environ.get("PLAYPEN_TRAINER_CRASH_AT") == name:
        os._exit(137)

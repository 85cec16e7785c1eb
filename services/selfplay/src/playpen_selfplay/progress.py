"""The actor's progress report: one JSON line on stdout per event, read by `make run`, scripts and tests."""

from __future__ import annotations

import json


def progress(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)

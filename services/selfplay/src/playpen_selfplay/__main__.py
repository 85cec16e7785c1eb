"""`playpen-selfplay`: run the self-play actor. Settings come from flags or PLAYPEN_SELFPLAY_* env."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from playpen_common.settings import parse_command_line
    from playpen_selfplay.settings import SelfPlaySettings

    settings = parse_command_line(SelfPlaySettings, sys.argv[1:] if argv is None else argv, "playpen-selfplay")
    # Imported only now, so that --help answers without loading grpc.
    from playpen_selfplay.run import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main())

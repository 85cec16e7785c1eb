"""`playpen-gamemaster`: serve the GameMasterService. Settings come from flags or PLAYPEN_GAMEMASTER_* env."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from playpen_common.settings import parse_command_line
    from playpen_gamemaster.settings import GameMasterSettings

    settings = parse_command_line(GameMasterSettings, sys.argv[1:] if argv is None else argv, "playpen-gamemaster")
    # Imported only now, so that --help answers without loading grpc or the games.
    from playpen_common.server import run_service
    from playpen_gamemaster.server import serve

    return run_service(lambda: serve(settings))


if __name__ == "__main__":
    sys.exit(main())

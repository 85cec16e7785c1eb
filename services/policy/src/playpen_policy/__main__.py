"""`playpen-policy`: serve a model behind the PolicyService. Flags or PLAYPEN_POLICY_* env."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from playpen_common.settings import parse_command_line
    from playpen_policy.settings import PolicySettings

    settings = parse_command_line(PolicySettings, sys.argv[1:] if argv is None else argv, "playpen-policy")
    from playpen_common.server import run_service
    from playpen_policy.server import serve

    return run_service(lambda: serve(settings))


if __name__ == "__main__":
    sys.exit(main())

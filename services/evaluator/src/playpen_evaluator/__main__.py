"""`playpen-evaluator`: serve the EvaluatorService. Settings come from flags or PLAYPEN_EVALUATOR_* env."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from playpen_evaluator.settings import EvaluatorSettings

    settings = EvaluatorSettings(_cli_parse_args=sys.argv[1:] if argv is None else argv,
                                 _cli_prog_name="playpen-evaluator")
    # Imported only now, so that --help answers without loading grpc.
    from playpen_common.server import run_service
    from playpen_evaluator.server import serve

    return run_service(lambda: serve(settings))


if __name__ == "__main__":
    sys.exit(main())

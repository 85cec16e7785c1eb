"""`playpen-evaluator`: serve the EvaluatorService (settings from flags or PLAYPEN_EVALUATOR_* env);
`playpen-evaluator report --out DIR ...`: write a run report from the stored results."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "report":
        from playpen_evaluator.report import main as report

        return report(argv[1:])
    if argv and argv[0] == "serve":
        argv = argv[1:]
    from playpen_common.settings import parse_command_line
    from playpen_evaluator.settings import EvaluatorSettings

    settings = parse_command_line(EvaluatorSettings, argv, "playpen-evaluator [serve]")
    # Imported only now, so that --help answers without loading grpc.
    from playpen_common.server import run_service
    from playpen_evaluator.server import serve

    return run_service(lambda: serve(settings))


if __name__ == "__main__":
    sys.exit(main())

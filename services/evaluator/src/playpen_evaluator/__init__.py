"""Playpen evaluator. Its contract is proto/playpen/evaluator/v1 (EvaluatorService); the service is built
in the evaluator issue. clemscore itself is computed by playpen_gamemaster.clemscore."""

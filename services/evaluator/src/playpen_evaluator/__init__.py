"""Playpen evaluator: scores checkpoints on held-out instances and unseen games (clemscore), gates promotion
of the version serving replicas follow, and lets an operator roll back (proto/playpen/evaluator/v1).
clemscore itself is computed by playpen_games.clemscore."""

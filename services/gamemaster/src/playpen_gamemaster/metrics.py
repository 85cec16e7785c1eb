"""The game master's Prometheus metrics (all prefixed playpen_gamemaster_)."""

from __future__ import annotations

from playpen_common.metrics import ServiceMetrics
from playpen_games.engine import TurnStatus
from playpen_games.engine.runner import EpisodeResult

_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GameMasterMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("gamemaster")
        self.episodes = self.counter("episodes_total", "Episodes finished, by game, status and outcome",
                                     ["game", "status", "outcome"])
        self.turns = self.counter("turns_total", "Player turns, by game, role and turn status",
                                  ["game", "role", "status"])
        self.parse_errors = self.counter("parse_errors_total", "Replies that broke the reply format",
                                         ["game", "role"])
        self.rule_violations = self.counter("rule_violations_total", "Well-formed replies that broke a rule",
                                            ["game", "role"])
        self.turn_latency = self.histogram("turn_latency_seconds", "Time to obtain one reply from a player",
                                           ["game"], buckets=_LATENCY_BUCKETS)
        self.episode_duration = self.histogram("episode_duration_seconds", "Wall-clock time of one episode",
                                               ["game"], buckets=(*_LATENCY_BUCKETS, 300, 600))
        self.in_flight = self.gauge("episodes_in_flight", "Episodes being played right now")
        self.policy_channels = self.gauge("policy_channels", "Policy targets with an open channel")
        self.policy_retries = self.counter(
            "policy_retries_total", "Policy calls asked again on another replica (it died, drained or stopped)",
            ["role"])
        self.retried_turn_latency = self.histogram(
            "retried_turn_latency_seconds", "Time to obtain one policy reply that needed a retry, all attempts",
            buckets=_LATENCY_BUCKETS)

    def record(self, result: EpisodeResult) -> None:
        game = result.game.name
        self.episodes.labels(game=game, status=result.status.value, outcome=result.outcome.value).inc()
        self.episode_duration.labels(game=game).observe(result.duration_s)
        for latency in result.turn_latencies_s:
            self.turn_latency.labels(game=game).observe(latency)
        for turn in result.turns:
            self.turns.labels(game=game, role=turn.role, status=turn.status.value).inc()
            if turn.status is TurnStatus.PARSE_ERROR:
                self.parse_errors.labels(game=game, role=turn.role).inc()
            elif turn.status is TurnStatus.RULE_VIOLATION:
                self.rule_violations.labels(game=game, role=turn.role).inc()
        self.progressed()

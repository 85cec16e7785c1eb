"""Prometheus metrics of the self-play actor (prefix playpen_selfplay_)."""

from __future__ import annotations

from playpen_common.metrics import ServiceMetrics


class SelfPlayMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("selfplay")
        self.rounds = self.counter("rounds_total", "Rounds played and acknowledged by the trainer")
        self.episodes = self.counter("episodes_total", "Episodes received from the game master, by status",
                                     ["status"])
        self.acks = self.counter("acks_total", "Trainer acknowledgements, by kind (stored, duplicate, ...)",
                                 ["ack"])
        self.round_seconds = self.histogram("round_seconds", "Wall time of one round, seconds",
                                            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800))
        self.retries = self.counter("retries_total", "Calls retried or rounds replayed after a transient failure",
                                    ["what"])
        self.trainer_step = self.gauge("trainer_step", "The trainer's optimiser step, as last seen")
        self.next_round = self.gauge("next_round", "Number of the next round to play")

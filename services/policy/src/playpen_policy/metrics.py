"""The policy's Prometheus metrics (all prefixed playpen_policy_)."""

from __future__ import annotations

from playpen_common.metrics import ServiceMetrics


class PolicyMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("policy")
        self.requests = self.counter("requests_total", "Generate calls, by outcome", ["outcome"])
        self.tokens = self.counter("generated_tokens_total", "Completion tokens generated")
        self.running = self.gauge("running_requests", "Generate calls being served now (the running batch)")
        self.queued = self.gauge("queued_requests", "Generate calls waiting for a weight swap to finish")
        self.version = self.gauge("policy_version", "Weight version now serving")
        self.source_version = self.gauge(
            "source_version", "Newest version its checkpoint source (trainer or evaluator) announced; a follower "
            "whose policy_version stays below it is stuck (0: follows nothing, or nothing announced yet)")
        self.first_token = self.histogram("time_to_first_token_seconds", "Time to the first token")
        self.reload = self.histogram("reload_duration_seconds", "Time to swap in new weights",
                                     buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

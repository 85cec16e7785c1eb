"""gRPC client channels with the project's defaults.

Retries are declared once, in the channel's service config, and only for UNAVAILABLE (the server was
not reachable or is starting): every other failure is the caller's to handle. Every call still needs
its own timeout. Calls are balanced round-robin over every address the name resolves to, so one channel
to a headless Kubernetes Service spreads its load over all ready replicas.
"""

from __future__ import annotations

import json

import grpc

DEFAULT_MAX_MESSAGE_BYTES = 64 << 20


def retry_service_config(max_attempts: int = 4) -> str:
    return json.dumps({
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [{
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": max_attempts,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }],
    })


def channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, retries: int = 4) -> list[tuple]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.enable_retries", 1 if retries > 1 else 0),
        ("grpc.service_config", retry_service_config(retries)),
    ]


def aio_channel(target: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                retries: int = 4) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=channel_options(max_message_bytes, retries))


def sync_channel(target: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 retries: int = 4) -> grpc.Channel:
    return grpc.insecure_channel(target, options=channel_options(max_message_bytes, retries))

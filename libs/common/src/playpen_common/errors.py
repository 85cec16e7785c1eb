"""Domain errors, each tied to one gRPC status code. Handlers raise these; one interceptor maps them."""

from __future__ import annotations

import grpc


class PlaypenError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(PlaypenError):
    """The request itself is wrong; retrying it unchanged will fail again."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class ContextExceeded(PlaypenError):
    """The conversation no longer fits the model's context window: the player cannot go on (not a fault of the
    service, and retrying it will fail again). Game masters end such an episode rather than retry it."""

    code = grpc.StatusCode.OUT_OF_RANGE


class NotFound(PlaypenError):
    code = grpc.StatusCode.NOT_FOUND


class NotReady(PlaypenError):
    """The service cannot serve now (starting, draining, overloaded); retry later."""

    code = grpc.StatusCode.UNAVAILABLE


class FailedPrecondition(PlaypenError):
    """The request conflicts with the current state (stale version, corrupt checkpoint)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(PlaypenError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

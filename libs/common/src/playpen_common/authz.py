"""Who may call what: the caller's identity, and per-method rules.

A caller is named by its verified client certificate (mutual TLS): its subject common name and every DNS and URI
subject alternative name count as its names. A caller may also send `authorization: Bearer <token>`; a token
listed in the token file adds that entry's name. Rules are `METHOD=CALLER,CALLER` with globs on both sides
(`playpen.policy.v1.PolicyService/LoadWeights=playpen-evaluator`, `*/Rollback=ops`); the first rule whose
method pattern matches decides, `*` as a caller means any authenticated caller and an empty list nobody. After
the configured rules come the defaults: the methods that change state (MUTATING) nobody, every other method any
authenticated caller. grpc.health.v1 is always open (probes and the channels' health checks carry no token).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import inspect
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog

from playpen_common.errors import PlaypenError

log = structlog.get_logger("playpen.authz")

# Methods that change what a model becomes or which version is served: no caller unless a rule names it.
MUTATING = (
    "playpen.policy.v1.PolicyService/LoadWeights",
    "playpen.trainer.v1.TrainerService/SubmitEpisodes",
    "playpen.evaluator.v1.EvaluatorService/EvaluateCheckpoint",
    "playpen.evaluator.v1.EvaluatorService/Rollback",
)
OPEN_SERVICES = ("grpc.health.v1.Health",)
ANY = "*"


class Unauthenticated(PlaypenError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(PlaypenError):
    code = grpc.StatusCode.PERMISSION_DENIED


@dataclass(frozen=True)
class Rule:
    methods: str
    callers: tuple[str, ...]

    def matches(self, method: str) -> bool:
        return fnmatch.fnmatchcase(method, self.methods)

    def allows(self, names: Iterable[str]) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.callers for name in names)


def parse_rule(text: str) -> Rule:
    """`SERVICE/METHOD=CALLER,...` (globs; a leading / is ignored; nothing after = means nobody)."""
    methods, separator, callers = text.partition("=")
    methods = methods.strip().lstrip("/")
    if not separator or not methods:
        raise ValueError(f"{text!r}: expected SERVICE/METHOD=CALLER,CALLER, "
                         "e.g. playpen.policy.v1.PolicyService/LoadWeights=playpen-evaluator")
    if methods != ANY and "/" not in methods:
        raise ValueError(f"{text!r}: the method is SERVICE/METHOD (globs allowed), e.g. *.PolicyService/*")
    return Rule(methods, tuple(name.strip() for name in callers.split(",") if name.strip()))


class Rules:
    """The configured rules, then the defaults."""

    def __init__(self, texts: Iterable[str] = ()):
        self.rules = [parse_rule(text) for text in texts]
        self.rules += [Rule(method, ()) for method in MUTATING] + [Rule(ANY, (ANY,))]

    def allows(self, method: str, names: Iterable[str]) -> bool:
        method = method.lstrip("/")
        names = list(names)
        rule = next(rule for rule in self.rules if rule.matches(method))
        return bool(names) and rule.allows(names)


def parse_tokens(text: str) -> dict[str, bytes]:
    """`NAME:TOKEN` per line (blank lines and # comments ignored) -> name -> SHA-256 of the token."""
    tokens: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, token = line.partition(":")
        if not separator or not name.strip() or not token.strip():
            raise ValueError(f"token file line {number}: expected NAME:TOKEN")
        tokens[name.strip()] = hashlib.sha256(token.strip().encode()).digest()
    return tokens


class TokenFile:
    """Bearer tokens of external callers, read again whenever the file (a mounted Secret) changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple = ()
        self._tokens: dict[str, bytes] = {}
        self._reload()

    def _reload(self) -> None:
        status = os.stat(self.path)
        stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
        if stamp != self._stamp:
            self._tokens = parse_tokens(self.path.read_text())
            self._stamp = stamp

    def name_of(self, token: str) -> str | None:
        """The name whose token this is, or None. Compares against every entry in constant time."""
        with self._lock:
            try:
                self._reload()
            except (OSError, ValueError) as error:
                log.warning("token file unreadable; keeping the tokens read before", path=str(self.path),
                            error=str(error))
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for name, expected in self._tokens.items():
            if hmac.compare_digest(digest, expected):
                found = name
        return found


def certificate_names(context: grpc.aio.ServicerContext) -> list[str]:
    """Names of the caller's verified certificate: its common name, then its DNS and URI alternative names."""
    auth = context.auth_context() or {}
    names = [value.decode() for key in ("x509_common_name", "peer_dns", "peer_uri") for value in auth.get(key, [])]
    return list(dict.fromkeys(names))


def bearer_token(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            text = value if isinstance(value, str) else value.decode(errors="replace")
            scheme, _, token = text.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


class Authorizer:
    """Decides one call: raises Unauthenticated or PermissionDenied, or returns the caller's names."""

    def __init__(self, rules: Rules, tokens: TokenFile | None = None,
                 refused: Callable[[str, grpc.StatusCode], None] | None = None):
        self.rules, self.tokens = rules, tokens
        self._refused = refused or (lambda method, code: None)

    def check(self, method: str, context: grpc.aio.ServicerContext) -> list[str]:
        try:
            names = certificate_names(context)
            token = bearer_token(context)
            if token is not None:
                name = self.tokens.name_of(token) if self.tokens is not None and token else None
                if name is None:
                    raise Unauthenticated("the bearer token is not valid")
                names.append(name)
            if not names:
                raise Unauthenticated("no client certificate or bearer token")
            if not self.rules.allows(method, names):
                raise PermissionDenied(f"{names[0]} may not call {method.lstrip('/')}")
        except PlaypenError as error:
            self._refused(method, error.code)
            raise
        return names


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Checks every call before its handler runs (before a streaming request is read); sits inside the error
    interceptor, which turns the refusal into UNAUTHENTICATED or PERMISSION_DENIED."""

    def __init__(self, authorizer: Authorizer):
        self._authorizer = authorizer

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.lstrip("/").split("/")[0] in OPEN_SERVICES:
            return handler
        check = self._authorizer.check
        for kind, make in (("unary_unary", grpc.unary_unary_rpc_method_handler),
                           ("unary_stream", grpc.unary_stream_rpc_method_handler),
                           ("stream_unary", grpc.stream_unary_rpc_method_handler),
                           ("stream_stream", grpc.stream_stream_rpc_method_handler)):
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                return make(_guarded(method, behaviour, check), request_deserializer=handler.request_deserializer,
                            response_serializer=handler.response_serializer)
        return handler


def _guarded(method: str, behaviour: Callable[..., Any], check: Callable[[str, Any], Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behaviour):
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            check(method, context)
            async for item in behaviour(request, context):
                yield item

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        check(method, context)
        return await behaviour(request, context)

    return call

"""grpc.aio server bootstrap shared by every service.

What each service gets: explicit message limits, keepalive and a concurrency cap; requests decoded safely and
bounded in size before any handler runs (playpen_common.admission); the standard health
service and reflection (so grpcurl works); the error interceptor with per-method metrics; a /metrics
endpoint; and a graceful SIGTERM: health turns NOT_SERVING, in-flight calls get `grace_period_s` to
finish, shutdown hooks release engines, and the process exits 0.

Security comes from the settings: TLS (mutual with `tls_client_ca_file`) instead of plaintext, the authorization
interceptor with `authz_enabled`, and a plaintext health-only port (`health_port`) for kubelet probes, which
cannot speak TLS; it answers the same statuses as the main port's health service.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from playpen_common.admission import guarded
from playpen_common.authz import AuthInterceptor, Authorizer, Rules, TokenFile
from playpen_common.bounds import DEFAULT_LIMITS, Limits
from playpen_common.health import DrainingHealthServicer
from playpen_common.interceptors import ErrorInterceptor
from playpen_common.metrics import ServiceMetrics
from playpen_common.settings import ServiceSettings
from playpen_common.tls import server_credentials

log = structlog.get_logger("playpen.server")

ShutdownHook = Callable[[], Awaitable[None]]


def server_options(settings: ServiceSettings) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        ("grpc.so_reuseport", 0),
    ]


class GrpcService:
    """One process's gRPC server. Register servicers, `start`, then `wait` until SIGTERM/SIGINT."""

    def __init__(self, name: str, settings: ServiceSettings, metrics: ServiceMetrics):
        self.name = name
        self.settings = settings
        self.metrics = metrics
        self._rpc_seconds = metrics.histogram("rpc_duration_seconds", "Time to serve an RPC",
                                              ["method", "code"])
        self._refusals = metrics.counter("auth_refusals_total", "Calls refused as unauthenticated or not allowed",
                                         ["method", "code"])
        interceptors: list[grpc.aio.ServerInterceptor] = [ErrorInterceptor(self._observe)]
        if settings.authz_enabled:
            # Inside the error interceptor: a refusal is mapped, logged and timed like any other.
            tokens = TokenFile(settings.authz_token_file) if settings.authz_token_file else None
            interceptors.append(AuthInterceptor(Authorizer(Rules(settings.authz), tokens, self._refused)))
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=server_options(settings),
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        )
        self.health = DrainingHealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, guarded(self.server, DEFAULT_LIMITS))
        self._probe_server: grpc.aio.Server | None = None
        self._service_names: list[str] = []
        self._shutdown_hooks: list[ShutdownHook] = []
        self._drain_hooks: list[Callable[[], None]] = []
        self._stopped = asyncio.Event()
        self._stopping = False
        self.port = 0
        self.metrics_port = -1
        self.health_port = -1
        self.token_port = -1

    def _observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self._rpc_seconds.labels(method=method, code=code.name).observe(seconds)

    def _refused(self, method: str, code: grpc.StatusCode) -> None:
        self._refusals.labels(method=method, code=code.name).inc()

    def add(self, register: Callable[[Any, grpc.aio.Server], None], servicer: Any, full_name: str,
            limits: Limits = DEFAULT_LIMITS) -> None:
        """Register a servicer, e.g. add(add_FooServiceServicer_to_server, FooServicer(), "pkg.FooService").

        Every request is decoded safely and checked against `limits` before the servicer sees it (admission)."""
        register(servicer, guarded(self.server, limits))
        self._service_names.append(full_name)

    def on_shutdown(self, hook: ShutdownHook) -> None:
        self._shutdown_hooks.append(hook)

    def on_drain(self, hook: Callable[[], None]) -> None:
        """Called first thing on stop, before health turns NOT_SERVING: calls that still arrive are refused."""
        self._drain_hooks.append(hook)

    async def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ["", *self._service_names]:
            await self.health.set(name, status)

    async def start(self, *, ready: bool = True) -> int:
        """Bind, start serving, publish the ports; `ready=False` keeps health NOT_SERVING (model loading)."""
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], guarded(self.server, DEFAULT_LIMITS))
        settings = self.settings
        address = f"{settings.host}:{settings.port}"
        if settings.tls_cert_file is not None and settings.tls_key_file is not None:
            self.port = self.server.add_secure_port(address, server_credentials(
                settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file))
        else:
            self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"cannot bind {address}")
        if settings.token_port >= 0:
            # The same services and interceptors, but no client certificate is asked for: the authz interceptor finds
            # no certificate name, so every call needs a bearer token (UNAUTHENTICATED without one).
            token_address = f"{settings.host}:{settings.token_port}"
            self.token_port = self.server.add_secure_port(token_address, server_credentials(
                settings.tls_cert_file, settings.tls_key_file, None))
            if self.token_port == 0:
                raise RuntimeError(f"cannot bind {token_address}")
        if settings.health_port >= 0:
            self._probe_server = grpc.aio.server(options=server_options(settings), maximum_concurrent_rpcs=64)
            health_pb2_grpc.add_HealthServicer_to_server(self.health, guarded(self._probe_server, DEFAULT_LIMITS))
            self.health_port = self._probe_server.add_insecure_port(f"{settings.host}:{settings.health_port}")
            if self.health_port == 0:
                raise RuntimeError(f"cannot bind {settings.host}:{settings.health_port}")
            await self._probe_server.start()
        await self.server.start()
        if self.settings.metrics_port >= 0:
            self.metrics_port = self.metrics.serve(self.settings.metrics_port)
        await self.set_serving(ready)
        self._write_port_file()
        log.info("serving", service=self.name, port=self.port, metrics_port=self.metrics_port,
                 health_port=self.health_port, token_port=self.token_port, services=self._service_names, ready=ready,
                 tls="mutual" if settings.tls_client_ca_file else "server" if settings.tls_cert_file else "off",
                 authz=settings.authz_enabled)
        if settings.authz_token_file and settings.tls_cert_file is None:
            log.warning("bearer tokens accepted over plaintext: anyone on the path can read them")
        return self.port

    def _write_port_file(self) -> None:
        path = self.settings.port_file
        if path is None:
            return
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"grpc_port": self.port, "metrics_port": self.metrics_port,
                                         "health_port": self.health_port, "token_port": self.token_port,
                                         "pid": os.getpid()}))
        os.replace(temporary, path)

    def install_signal_handlers(self) -> None:
        # `kill -USR1 <pid>` writes every thread's stack to stderr (the log): how a stuck service is diagnosed.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda s=signum: asyncio.ensure_future(self.stop(reason=s.name)))

    async def stop(self, *, reason: str = "requested") -> None:
        if self._stopping:
            return
        self._stopping = True
        log.info("draining", service=self.name, reason=reason, grace_s=self.settings.grace_period_s)
        for drain in self._drain_hooks:
            drain()
        await self.health.enter_graceful_shutdown()
        if self.settings.drain_notice_s:
            # Calls the transport has taken in but no handler has picked up when the server stops are cancelled
            # (CANCELLED at the client, not UNAVAILABLE): give health-checking clients time to stop sending first.
            await asyncio.sleep(self.settings.drain_notice_s)
        await self.server.stop(self.settings.grace_period_s)
        if self._probe_server is not None:
            # Probes saw NOT_SERVING throughout the drain; the probe port goes last.
            await self._probe_server.stop(0)
        for hook in reversed(self._shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed", service=self.name)
        self.metrics.close()
        log.info("stopped", service=self.name)
        self._stopped.set()

    async def wait(self) -> None:
        await self._stopped.wait()


def run_service(main: Callable[[], Awaitable[None]]) -> int:
    """Run a service's async main to completion; exit status 0 after a graceful stop."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    return 0

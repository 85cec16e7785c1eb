"""gRPC client channels with the project's defaults.

Retries are declared once, in the channel's service config, and only for UNAVAILABLE (the server was
not reachable or is starting): every other failure is the caller's to handle. Every call still needs
its own timeout. Calls are balanced round-robin over every address the name resolves to, so one channel
to a headless Kubernetes Service spreads its load over all ready replicas.

A target is anything gRPC resolves (`host:port`, `dns:///policy-rollout-headless:50052`, `ipv4:a:p,b:p`) or a
list of `host:port,host:port`, resolved here once into one `ipv4:`/`ipv6:` target. With `health_checked`, the
channel watches each address's grpc.health.v1 status and round_robin sends nothing to one that reports
NOT_SERVING: a replica still catching up with its checkpoint source, or draining after SIGTERM.

With `tls` (a `ClientTls`, from the settings' `client_tls`) the channel speaks TLS and presents this process's
certificate; the server's certificate is checked against the target's host name (or `server_name`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import grpc
import structlog

from playpen_common.tls import ClientTls

log = structlog.get_logger("playpen.client")

DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")


def retry_service_config(max_attempts: int = 4, *, health_checked: bool = False) -> str:
    config: dict = {"loadBalancingConfig": [{"round_robin": {}}]}
    if max_attempts > 1:
        config["methodConfig"] = [{
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": max_attempts,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }]
    if health_checked:
        # "" is the server's overall status, which GrpcService sets for startup, readiness and drain.
        config["healthCheckConfig"] = {"serviceName": ""}
    return json.dumps(config)


def channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, retries: int = 4, *,
                    health_checked: bool = False, idle_timeout_s: float | None = None) -> list[tuple]:
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.enable_retries", 1 if retries > 1 else 0),
        ("grpc.service_config", retry_service_config(retries, health_checked=health_checked)),
    ]
    if idle_timeout_s is not None:
        # A channel without calls for this long drops its connections (it reconnects on the next call).
        options.append(("grpc.client_idle_timeout_ms", int(idle_timeout_s * 1000)))
    return options


def _split_host_port(address: str) -> tuple[str, int]:
    host, colon, port = address.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address.strip()!r} is not host:port")
    return host.strip("[]"), int(port)


def _ips(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ValueError(f"cannot resolve {host!r}: {error.strerror}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def resolve_target(target: str) -> str:
    """`target` as gRPC takes it. A list `host:port,host:port` (no scheme) becomes one ipv4: (or ipv6:) target
    with an address per entry — IPv4 where every host has one; ValueError for a malformed or unresolvable one."""
    target = target.strip()
    if not target:
        raise ValueError("the target is empty")
    if target.startswith(SCHEMES) or "," not in target:
        return target
    entries = [_split_host_port(address) for address in target.split(",") if address.strip()]
    resolved = [(_ips(host), port) for host, port in entries]
    for version, scheme in ((4, "ipv4"), (6, "ipv6")):
        picked = [(next((ip for ip in ips if ip.version == version), None), port) for ips, port in resolved]
        if all(ip is not None for ip, _ in picked):
            brackets = "[{}]" if version == 6 else "{}"
            return f"{scheme}:" + ",".join(f"{brackets.format(ip)}:{port}" for ip, port in picked)
    raise ValueError(f"the addresses of {target!r} mix IPv4-only and IPv6-only hosts")


def replica_addresses(target: str) -> list[str]:
    """Every address `target` names now, each a `host:port` target of its own — for calls that must reach each
    replica (loading weights) rather than any one. A DNS name counts one address per IP it resolves to."""
    resolved = resolve_target(target)
    for scheme in ("ipv4:", "ipv6:"):
        if resolved.startswith(scheme):
            return resolved[len(scheme):].split(",")
    name = resolved.removeprefix("dns:").lstrip("/")
    if "/" in name:  # dns://authority/name:port
        name = name.split("/", 1)[1]
    if resolved.startswith(SCHEMES) and not resolved.startswith("dns:"):
        return [resolved]
    host, port = _split_host_port(name)
    return [f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}" for ip in _ips(host)]


def host_of(target: str) -> str:
    """The host name a certificate must carry for `target` (the first of a list); "" when it names none."""
    target = target.strip()
    if target.startswith(SCHEMES):
        if not target.startswith("dns:"):
            return ""
        target = target.removeprefix("dns:").lstrip("/").split("/")[-1]
    first = target.split(",")[0]
    try:
        host, _ = _split_host_port(first)
    except ValueError:
        return ""
    return host


def _credentials(target: str, tls: ClientTls, server_name: str) -> tuple[grpc.ChannelCredentials, list[tuple]]:
    # A list of addresses becomes an ipv4:/ipv6: target, whose authority is no host name: check the first host.
    name = server_name or (host_of(target) if "," in target and not target.startswith(SCHEMES) else "")
    return tls.credentials(), tls.options(name)


class _FollowingCall:
    """A stub's method on a RenewingChannel: bound to whichever channel is current when it is called."""

    def __init__(self, owner: RenewingChannel, kind: str, method: str, args: tuple, kwargs: dict):
        self._owner, self._kind, self._method, self._args, self._kwargs = owner, kind, method, args, kwargs
        self._bound: tuple[grpc.aio.Channel, Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        channel = self._owner.current()
        if self._bound is None or self._bound[0] is not channel:
            self._bound = channel, getattr(channel, self._kind)(self._method, *self._args, **self._kwargs)
        return self._bound[1](*args, **kwargs)


class RenewingChannel:
    """An aio channel over TLS that follows its certificate files: once they have changed (cert-manager renewed the
    pod's certificate) and stayed unchanged for one more check (never half-written), calls go over a new channel
    opened with them; the old one closes after `grace_s`, time for its calls to end (a stream still open then is
    cancelled, and its caller reconnects, as after any interruption)."""

    def __init__(self, open_channel: Callable[[], grpc.aio.Channel], tls: ClientTls, *, check_s: float = 5.0,
                 grace_s: float = 60.0):
        self._open, self._tls, self._check_s, self._grace_s = open_channel, tls, check_s, grace_s
        self._stamp = self._pending = tls.stamp()
        self._channel = open_channel()
        self._checked = time.monotonic()
        self._retiring: set[asyncio.Task] = set()

    def current(self) -> grpc.aio.Channel:
        now = time.monotonic()
        if now - self._checked < self._check_s:
            return self._channel
        self._checked = now
        stamp, settled = self._tls.stamp(), self._pending
        self._pending = stamp
        if not stamp or stamp == self._stamp or stamp != settled:
            return self._channel
        try:
            channel = self._open()
        except ValueError as error:  # caught mid-rotation: keep the old files' channel, look again later
            log.warning("renewed TLS files unreadable; calls stay on the previous channel", error=str(error))
            return self._channel
        old, self._channel, self._stamp = self._channel, channel, stamp
        task = asyncio.get_running_loop().create_task(old.close(self._grace_s))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        log.info("TLS files renewed; new calls use them", cert_file=str(self._tls.cert_file))
        return channel

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> _FollowingCall:
        return _FollowingCall(self, "unary_unary", method, args, kwargs)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> _FollowingCall:
        return _FollowingCall(self, "unary_stream", method, args, kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> _FollowingCall:
        return _FollowingCall(self, "stream_unary", method, args, kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> _FollowingCall:
        return _FollowingCall(self, "stream_stream", method, args, kwargs)

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)
        for task in list(self._retiring):
            task.cancel()

    async def __aenter__(self) -> RenewingChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def aio_channel(target: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, retries: int = 4,
                health_checked: bool = False, idle_timeout_s: float | None = None, tls: ClientTls | None = None,
                server_name: str = "", renew_check_s: float = 5.0) -> grpc.aio.Channel:
    """A channel with the project's defaults; with `tls`, a RenewingChannel (stubs use it like any channel) that
    follows renewals of the TLS files, checked at most every `renew_check_s`."""
    options = channel_options(max_message_bytes, retries, health_checked=health_checked,
                              idle_timeout_s=idle_timeout_s)
    if tls is None:
        return grpc.aio.insecure_channel(resolve_target(target), options=options)
    resolved = resolve_target(target)

    def open_channel() -> grpc.aio.Channel:
        credentials, extra = _credentials(target, tls, server_name)
        return grpc.aio.secure_channel(resolved, credentials, options=options + extra)

    return RenewingChannel(open_channel, tls, check_s=renew_check_s)


def sync_channel(target: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, retries: int = 4,
                 health_checked: bool = False, tls: ClientTls | None = None, server_name: str = "") -> grpc.Channel:
    options = channel_options(max_message_bytes, retries, health_checked=health_checked)
    if tls is None:
        return grpc.insecure_channel(resolve_target(target), options=options)
    credentials, extra = _credentials(target, tls, server_name)
    return grpc.secure_channel(resolve_target(target), credentials, options=options + extra)

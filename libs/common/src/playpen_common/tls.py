"""TLS credentials of servers and of outgoing channels, built from PEM files named in the settings.

Servers re-read their certificate, key and client CA whenever one of the files changes (checked at each new
TLS handshake), so a certificate that cert-manager renews in a mounted Secret is served without a restart;
connections already open keep the certificate they started with. Outgoing channels (client.aio_channel) look at
their files every few seconds and move new calls to a channel opened with the renewed ones.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog

log = structlog.get_logger("playpen.tls")


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the {what} {path}: {error.strerror}") from None


def _stamp(paths) -> tuple:
    """(modification time, size, inode) of each file: changes when a file is rewritten or swapped; () while one
    is missing."""
    stamps = []
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            return ()
        stamps.append((status.st_mtime_ns, status.st_size, status.st_ino))
    return tuple(stamps)


@dataclass(frozen=True)
class ClientTls:
    """How this process's outgoing channels speak TLS: the CA that signs the servers it calls, and its own
    certificate and key (its identity as a client; the same pod certificate it serves with), if it has one."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    # The name the servers' certificates are checked against instead of the target's host (tests, port-forwards).
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        key = _read(self.key_file, "TLS key") if self.key_file else None
        chain = _read(self.cert_file, "TLS certificate") if self.cert_file else None
        return grpc.ssl_channel_credentials(_read(self.ca_file, "TLS CA"), key, chain)

    def stamp(self) -> tuple:
        """Identifies the files' current contents (modification time, size, inode); () while one is missing."""
        return _stamp(path for path in (self.ca_file, self.cert_file, self.key_file) if path is not None)

    def options(self, server_name: str = "") -> list[tuple[str, str]]:
        """Channel options: the override of the name checked in the server's certificate, if any."""
        name = self.server_name or server_name
        return [("grpc.ssl_target_name_override", name)] if name else []


class _ReloadingFiles:
    """The server's certificate configuration, rebuilt when a file's modification time or size changes."""

    def __init__(self, cert_file: Path, key_file: Path, client_ca_file: Path | None):
        self._paths = [Path(cert_file), Path(key_file)] + ([Path(client_ca_file)] if client_ca_file else [])
        self._lock = threading.Lock()
        self._stamp = self._stamps()
        self.initial = self._configuration()

    def _stamps(self) -> tuple:
        return _stamp(self._paths)

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        chain, key = _read(self._paths[0], "TLS certificate"), _read(self._paths[1], "TLS key")
        roots = _read(self._paths[2], "client CA") if len(self._paths) > 2 else None
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=roots)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC before each handshake: a new configuration when the files changed, else None."""
        with self._lock:
            stamp = self._stamps()
            if not stamp or stamp == self._stamp:
                return None
            try:
                configuration = self._configuration()
            except ValueError as error:
                # Half-written during a rotation (kubelet swaps the whole directory, so rarely): keep the old one.
                log.warning("TLS files unreadable; serving the previous certificate", error=str(error))
                return None
            self._stamp = stamp
            log.info("TLS certificate reloaded", cert_file=str(self._paths[0]))
            return configuration


def server_credentials(cert_file: Path, key_file: Path, client_ca_file: Path | None) -> grpc.ServerCredentials:
    """TLS with this certificate; with `client_ca_file`, mutual TLS: every caller must present a certificate
    that CA signed (gRPC Python cannot ask for one optionally). Files that change are picked up."""
    files = _ReloadingFiles(cert_file, key_file, client_ca_file)
    return grpc.dynamic_ssl_server_credentials(files.initial, files.fetch,
                                               require_client_authentication=client_ca_file is not None)

"""Typed settings: one class per command, read from flags and the environment (never at import time).

`CommandSettings` is the base of every command's settings, `ServiceSettings` adds what every gRPC service has.
Each subclass sets its own env prefix; `--help` lists every field with its description and unit. Booleans
take a value on the command line (`--lora true`), as in the Helm chart's args.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # grpc is imported only when a service runs, not for --help
    from playpen_common.tls import ClientTls


class CommandSettings(BaseSettings):
    """Settings of any Playpen command. Read from the environment only when instantiated."""

    model_config = SettingsConfigDict(env_prefix="PLAYPEN_", extra="ignore", validate_default=True,
                                      cli_kebab_case=True)

    log_level: str = Field("info", description="minimum log level")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, pretty console, or console when stderr is a terminal")


S = TypeVar("S", bound=CommandSettings)


class ClientSettings(CommandSettings):
    """Settings of a command that calls Playpen services: TLS of its outgoing channels (plaintext when unset)."""

    tls_ca_file: Path | None = Field(
        None, description="PEM CA bundle that signs the servers this process calls; set: outgoing calls use TLS")
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate (chain) of this process: served by its gRPC server, presented as its "
                          "client certificate on outgoing TLS calls")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file")
    tls_server_name: str = Field(
        "", description="name the called servers' certificates are checked against instead of the target's host "
                        "(tests, port-forwards)")

    @model_validator(mode="after")
    def _certificate_and_key_together(self) -> ClientSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("--tls-cert-file and --tls-key-file go together")
        return self

    @property
    def client_tls(self) -> ClientTls | None:
        """How outgoing channels speak TLS, or None for plaintext."""
        if self.tls_ca_file is None:
            return None
        from playpen_common.tls import ClientTls

        return ClientTls(self.tls_ca_file, self.tls_cert_file, self.tls_key_file, self.tls_server_name)


class ServiceSettings(ClientSettings):
    """Settings every gRPC service has."""

    host: str = Field("[::]", description="address the gRPC server binds")
    port: int = Field(0, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(-1, ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")
    port_file: Path | None = Field(
        None, description="after binding, write {'grpc_port', 'metrics_port'} as JSON here (for tests)")
    grace_period_s: float = Field(10.0, ge=0, description="on SIGTERM, how long in-flight calls may finish, s")
    drain_notice_s: float = Field(
        0.0, ge=0, description="on SIGTERM, how long health says NOT_SERVING (and new calls get UNAVAILABLE) before "
                               "the server stops taking calls, so that health-checking clients move on first, s")
    max_message_bytes: int = Field(64 << 20, ge=1 << 20, description="largest gRPC message, bytes")
    max_concurrent_rpcs: int = Field(1024, ge=1, description="RPCs served at once before new ones are refused")
    keepalive_time_s: float = Field(30.0, gt=0, description="interval of HTTP/2 keepalive pings, seconds")
    keepalive_timeout_s: float = Field(10.0, gt=0, description="wait for a keepalive ack, seconds")
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA bundle of the callers' certificates; set: every caller must present a client "
                          "certificate it signed (mutual TLS; needs tls_cert_file)")
    health_port: int = Field(
        -1, ge=-1, le=65535, description="plaintext port serving only grpc.health.v1, for kubelet probes (they "
                                         "cannot speak TLS); 0 picks a free one, -1 disables")
    authz_enabled: bool = Field(
        False, description="refuse callers without a verified client certificate or a listed bearer token "
                           "(UNAUTHENTICATED) and apply the authz rules (PERMISSION_DENIED); health stays open")
    authz: list[str] = Field(
        default_factory=list,
        description="who may call what, SERVICE/METHOD=CALLER,CALLER (globs; repeatable; first match decides). "
                    "Then the defaults: LoadWeights, SubmitEpisodes, EvaluateCheckpoint and Rollback nobody, "
                    "everything else any authenticated caller")
    authz_token_file: Path | None = Field(
        None, description="bearer tokens of external callers, NAME:TOKEN per line; re-read when it changes")
    token_port: int = Field(
        -1, ge=-1, le=65535, description="a second gRPC port for external callers without a client certificate: "
                                         "server TLS only, every call named by a bearer token (needs "
                                         "tls_cert_file and authz_token_file); 0 picks a free one, -1 disables")

    @field_validator("authz", mode="before")
    @classmethod
    def _rejoin_callers(cls, value: object) -> object:
        # The command line splits list values at commas, and so `M=a,b` into ["M=a", "b"]: put callers back.
        if not isinstance(value, list):
            return value
        rules: list[str] = []
        for item in value:
            if rules and isinstance(item, str) and "=" not in item:
                rules[-1] += "," + item
            else:
                rules.append(item)
        return rules

    @field_validator("authz")
    @classmethod
    def _rules_parse(cls, value: list[str]) -> list[str]:
        if value:
            from playpen_common.authz import parse_rule

            for text in value:
                parse_rule(text)
        return value

    @model_validator(mode="after")
    def _tls_and_authz_consistent(self) -> ServiceSettings:
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("--tls-client-ca-file (mutual TLS) needs the server's --tls-cert-file and --tls-key-file")
        if (self.authz or self.authz_token_file is not None) and not self.authz_enabled:
            raise ValueError("--authz and --authz-token-file take effect with --authz-enabled true")
        if self.authz_enabled and self.tls_client_ca_file is None and self.authz_token_file is None:
            raise ValueError("--authz-enabled needs a way to name callers: --tls-client-ca-file (client certificates) "
                             "or --authz-token-file (bearer tokens)")
        if self.token_port >= 0 and (self.tls_cert_file is None or self.authz_token_file is None):
            raise ValueError("--token-port serves bearer-token callers over TLS: it needs --tls-cert-file, "
                             "--tls-key-file and --authz-token-file (with --authz-enabled true)")
        return self


def parse_role_assignment(text: str) -> tuple[str, str, str]:
    """GAME:ROLE=PLAYER, or ROLE=PLAYER for that role in every game -> (game, role, player); game "" = every
    game. ValueError (a settings validation error) names the expected form."""
    target, separator, player = text.partition("=")
    game, _, role = target.rpartition(":")
    if not separator or not player.strip():
        raise ValueError(f"{text!r}: expected GAME:ROLE=PLAYER or ROLE=PLAYER, e.g. wordle_withcritic:Critic=expert")
    if not role.strip():
        raise ValueError(f"{text!r}: the role is empty (expected GAME:ROLE=PLAYER)")
    return game.strip(), role.strip(), player.strip()


def parse_command_line(cls: type[S], argv: list[str], prog: str) -> S:
    """`cls` from flags (and the environment); a bad value exits with status 2 and one line per problem."""
    try:
        return cls(_cli_parse_args=argv, _cli_prog_name=prog)
    except ValidationError as error:
        for problem in error.errors():
            where = "--" + "-".join(str(part) for part in problem["loc"]).replace("_", "-") if problem["loc"] else ""
            print(f"{prog}: error: {where}: {problem['msg']}" if where else f"{prog}: error: {problem['msg']}",
                  file=sys.stderr)
        raise SystemExit(2) from None

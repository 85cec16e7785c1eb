"""Typed settings: one class per command, read from flags and the environment (never at import time).

`CommandSettings` is the base of every command's settings, `ServiceSettings` adds what every gRPC service has.
Each subclass sets its own env prefix; `--help` lists every field with its description and unit. Booleans
take a value on the command line (`--lora true`), as in the Helm chart's args.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommandSettings(BaseSettings):
    """Settings of any Playpen command. Read from the environment only when instantiated."""

    model_config = SettingsConfigDict(env_prefix="PLAYPEN_", extra="ignore", validate_default=True,
                                      cli_kebab_case=True)

    log_level: str = Field("info", description="minimum log level")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, pretty console, or console when stderr is a terminal")


S = TypeVar("S", bound=CommandSettings)


class ServiceSettings(CommandSettings):
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

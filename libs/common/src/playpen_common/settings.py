"""Typed settings shared by every service. Each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings every gRPC service has. Read from the environment only when instantiated."""

    model_config = SettingsConfigDict(env_prefix="PLAYPEN_", extra="ignore", validate_default=True,
                                      cli_kebab_case=True)

    host: str = Field("[::]", description="address the gRPC server binds")
    port: int = Field(0, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(-1, ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")
    port_file: Path | None = Field(
        None, description="after binding, write {'grpc_port', 'metrics_port'} as JSON here (for tests)")
    log_level: str = Field("info", description="minimum log level")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, pretty console, or console when stderr is a terminal")
    grace_period_s: float = Field(10.0, ge=0, description="on SIGTERM, how long in-flight calls may finish, s")
    max_message_bytes: int = Field(64 << 20, ge=1 << 20, description="largest gRPC message, bytes")
    max_concurrent_rpcs: int = Field(1024, ge=1, description="RPCs served at once before new ones are refused")
    keepalive_time_s: float = Field(30.0, gt=0, description="interval of HTTP/2 keepalive pings, seconds")
    keepalive_timeout_s: float = Field(10.0, gt=0, description="wait for a keepalive ack, seconds")

"""Typed settings of the policy service (environment prefix PLAYPEN_POLICY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from playpen_common.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_POLICY_")

    port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(9102, ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")
    backend: Literal["scripted"] = Field("scripted", description="engine behind the API")
    script: Path | None = Field(None, description="scripted backend: rules file (default: the built-in one)")
    model_name: str = Field("scripted", description="name reported for the served model")
    max_prompt_chars: int = Field(1 << 20, ge=1, description="longest accepted prompt, characters in all")

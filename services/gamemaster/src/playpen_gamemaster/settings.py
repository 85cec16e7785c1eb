"""Typed settings of the game master service (environment prefix PLAYPEN_GAMEMASTER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from playpen_common.defaults import grpc_port, metrics_port
from playpen_common.settings import ServiceSettings
from playpen_games.instances.catalog import default_clembench_dir


class GameMasterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_GAMEMASTER_")

    port: int = Field(grpc_port("gamemaster"), ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(metrics_port("gamemaster"), ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")
    clembench_dir: Path | None = Field(
        default_factory=default_clembench_dir,
        description="clembench data folder; its official instances become playable as split 'clembench'")
    clembench_version: str | None = Field(
        None, description="official instance version to offer (e.g. 1.6); newest when unset")
    max_concurrent_episodes: int = Field(64, description="episodes in flight across all PlayEpisodes calls")
    policy_timeout_s: float = Field(120.0, description="deadline of one Policy.Generate call, seconds")
    policy_attempts: int = Field(
        4, ge=1, description="tries of one turn in all when a policy replica is unavailable (died, draining)")
    policy_retry_budget_s: float = Field(
        60.0, ge=0, description="no turn is tried again once this many seconds have passed since it was first asked")
    max_reply_chars: int = Field(32_768, description="longest reply accepted from a player, characters")
    allowed_policies: list[str] = Field(
        default_factory=lambda: ["localhost:*", "127.0.0.1:*", "[::1]:*"],
        description=("host:port patterns (glob, `*` any characters) of the policies a request may name; any other "
                     "target is refused without connecting. Default: this machine only; the chart lists its own "
                     "policy Services; [\"*\"] allows every address"))
    max_policy_channels: int = Field(64, ge=1, description="policy targets with an open channel at once")
    policy_channel_idle_s: float = Field(300.0, gt=0, description="an unused policy channel is closed after this")

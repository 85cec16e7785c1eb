"""Typed settings of the self-play actor (flags, or the environment with prefix PLAYPEN_SELFPLAY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from playpen_common.defaults import local_target, metrics_port
from playpen_common.settings import ClientSettings, parse_role_assignment


class SelfPlaySettings(ClientSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_SELFPLAY_")

    gamemaster: str = Field(local_target("gamemaster"), description="host:port of the GameMasterService")
    trainer: str = Field(local_target("trainer"), description="host:port of the TrainerService")
    policy: str = Field(local_target("policy"),
                        description="the learner's rollout replicas: host:port, a list host:port,host:port or "
                                    "dns:///name:port (a headless Service)")
    policy_name: str = Field("learner", description="label of the learner in episodes (the trainer's --learner)")
    metrics_port: int = Field(metrics_port("selfplay"), ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")

    games: list[str] = Field(default_factory=list,
                             description="games to play, comma-separated (default: every training game)")
    games_per_round: int = Field(0, ge=0, description="rotate through the games, this many per round "
                                                      "(0: every game every round); needs --games")
    curriculum: Literal["rotate", "signal"] = Field(
        "rotate", description="which games a round of --games-per-round plays: rotate (each in turn) or signal "
                              "(drawn, weighted by the share of the game's groups so far whose episodes scored "
                              "differently, the only groups GRPO learns from; kept in --state)")
    curriculum_floor: float = Field(0.1, gt=0, le=1, description="signal curriculum: the least weight a game "
                                                                 "keeps, so that it is tried again now and then")
    split: str = Field("train", description="split the instances come from")
    instances_per_game: int = Field(1, ge=1, description="groups of each game per round")
    group_size: int = Field(4, ge=2, description="plays of each instance, at least 2 (the trainer's --group-size)")
    temperature: float = Field(1.0, ge=0, description="sampling temperature of the learner")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling of the learner")
    max_tokens: int = Field(96, ge=1, description="tokens per reply")
    teacher: list[str] = Field(default_factory=list, description="teacher-play: a builtin player (e.g. expert) "
                                                                 "holds a role, GAME:ROLE=PLAYER; repeatable")

    mode: Literal["async", "sync"] = Field("async", description="schedule: async (bounded staleness) or sync "
                                                                "(every episode on-policy)")
    max_pending: int = Field(64, ge=1, description="async: untrained episodes in the trainer before waiting")
    steps: int = Field(0, ge=0, description="stop once the trainer has made this many steps (0: no limit)")
    seconds: float = Field(0.0, ge=0, description="stop starting rounds after this long, seconds (0: no limit)")
    rounds: int = Field(0, ge=0, description="stop after this many rounds of this run (0: no limit)")
    run_id: str = Field("selfplay", min_length=1, description="prefix of episode ids (with --seed, fixes them)")
    seed: int = Field(0, ge=0, description="seed of the rounds' instance choice")
    concurrency: int = Field(0, ge=0, description="episodes in flight (0: the game master's limit)")
    state: Path | None = Field(None, description="file keeping the next round's number, for restarts")
    sync_timeout_s: float = Field(1800.0, gt=0, description="sync: longest wait for a step and its reload, s")
    round_timeout_s: float = Field(3600.0, gt=0, description="deadline of one round's PlayEpisodes and "
                                                              "SubmitEpisodes calls, seconds")
    patience_s: float = Field(900.0, gt=0, description="how long the trainer, game master or policy may be "
                                                       "unreachable or slow before giving up, seconds")

    @field_validator("games")
    @classmethod
    def _games_once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(name.strip() for name in value if name.strip()))

    @field_validator("teacher")
    @classmethod
    def _teachers_parse(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_role_assignment(text)
        return value

    @model_validator(mode="after")
    def _rotation_needs_games(self) -> SelfPlaySettings:
        if self.games_per_round and not self.games:
            raise ValueError("--games-per-round rotates through --games: name the games")
        if self.curriculum == "signal" and not self.games_per_round:
            raise ValueError("--curriculum signal chooses --games-per-round of --games each round: set both")
        return self

    @property
    def teachers(self) -> dict[tuple[str, str], str]:
        """(game, role) -> builtin player; game "" = that role in every game."""
        return {(game, role): player for game, role, player in map(parse_role_assignment, self.teacher)}

"""Typed settings of the evaluator service (environment prefix PLAYPEN_EVALUATOR_).

The promote metric is fixed by design: the clemscore of the *seen* group (clembench's aggregate over the seen
games) on the validation split, evaluated with the configured game set. Test-split results and evaluations of a
custom game list are stored and listed, but never decide a promotion.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from playpen_common.defaults import EVAL_POLICY_PORT, grpc_port, local_target, metrics_port
from playpen_common.settings import ServiceSettings

EVAL_SPLITS = ("validation", "test")


def game_list(text: str) -> tuple[str, ...]:
    """'taboo, wordle' -> ('taboo', 'wordle'): order kept, blanks and repeats dropped."""
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


class EvaluatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_EVALUATOR_")

    port: int = Field(grpc_port("evaluator"), ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(metrics_port("evaluator"), ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")
    state_dir: Path = Field(Path("evaluator-data"), description="folder of the result store")
    db_path: Path | None = Field(None, description="SQLite result store (default: <state-dir>/evaluator.db)")

    gamemaster_target: str = Field(local_target("gamemaster"), description="host:port of the GameMasterService")
    eval_policy_target: str = Field(
        f"localhost:{EVAL_POLICY_PORT}",
        description="the evaluator's own PolicyService: host:port, a list host:port,host:port or dns:///name:port "
                    "of its replicas (it loads every evaluated checkpoint into each; never a serving replica)")
    pin_versions: bool = Field(
        False, description="evaluate version k by pinning k on every Generate (the policy loads a LoRA version it "
                            "does not hold from its --checkpoint-roots) instead of LoadWeights: the eval policy "
                            "may then be a serving policy, whose engine and current version stay untouched")
    checkpoint_roots: str = Field(
        "", description="comma-separated folders where the checkpoints EvaluateCheckpoint names must lie (an "
                        "absolute path without '..' under one of them; INVALID_ARGUMENT otherwise): it promotes them "
                        "to serving replicas. The policies resolve symlinks themselves. Empty: any path")
    follow_trainer: str = Field("", description="host:port of a TrainerService whose checkpoints to evaluate as "
                                                "they commit (empty: evaluate on request only)")
    follow_label: str = Field("grpo", description="label of the results of followed checkpoints (one committed "
                                                  "at step 0, a warm start, is labelled warm-start)")
    reconnect_s: float = Field(1.0, gt=0, description="wait before reconnecting to the trainer, seconds")

    split: str = Field("validation", description="split of requests that name none (validation or test)")
    instances_per_game: int = Field(10, ge=1, description="instances per game, the same ones for every version")
    seed: int = Field(0, ge=0, description="seed that picks the instances (fixed, so versions are comparable)")
    seen_games: str = Field("", description="comma-separated games of the 'seen' group (empty: the game master's "
                                            "training games)")
    unseen_games: str | None = Field(
        None, description="comma-separated held-out games of the 'unseen' group (unset: every game of the game "
                          "master that is not a training game, not seen, and has instances in the split; an empty "
                          "value: none)")
    max_tokens: int = Field(256, ge=0, description="generated tokens per reply; 0 = the policy's default")
    concurrency: int = Field(16, ge=1, description="episodes in flight at once during an evaluation")
    episode_retries: int = Field(2, ge=0, description="replays of an episode that failed for infrastructure "
                                                      "reasons before the evaluation fails")
    keep_transcripts: bool = Field(True, description="store every evaluation episode in full (sample transcripts)")
    promotion_margin: float = Field(
        1.0, ge=0, description="a checkpoint is promoted if its seen validation clemscore is at least the best "
                               "promoted one minus this many clemscore points")

    skills: bool = Field(True, description="after the games, ask the skill-retention suite (statscore) too")
    skill_prompts: int = Field(
        40, ge=1, description="prompts of the suite asked, its first N (the same for every version); 40 asks every "
                              "constraint kind at least twice for about a tenth of a game set's replies")
    skill_max_tokens: int = Field(384, ge=1, description="generated tokens per skill-suite reply")
    skill_suite: Path | None = Field(None, description="a suite file of playpen_skills' format (default: the "
                                                       "shipped statscore-v1)")
    skill_timeout_s: float = Field(600.0, gt=0, description="deadline of one skill-suite reply, seconds")

    rpc_timeout_s: float = Field(30.0, gt=0, description="deadline of short calls (status, ListGames), seconds")
    load_timeout_s: float = Field(900.0, gt=0, description="deadline of LoadWeights on the eval policy, seconds")
    play_timeout_s: float = Field(7200.0, gt=0, description="deadline of one PlayEpisodes call, seconds")

    @field_validator("split")
    @classmethod
    def _known_split(cls, value: str) -> str:
        if value not in EVAL_SPLITS:
            raise ValueError(f"split must be one of {', '.join(EVAL_SPLITS)}")
        return value

    @property
    def roots(self) -> list[Path]:
        return [Path(part.strip()) for part in self.checkpoint_roots.split(",") if part.strip()]

    @property
    def store_path(self) -> Path:
        return self.db_path or self.state_dir / "evaluator.db"

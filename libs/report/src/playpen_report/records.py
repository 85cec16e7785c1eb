"""What a report is made of: evaluated episodes and checkpoints, training steps, transcripts, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

GROUPS = ("seen", "unseen")
OVERALL = "overall"
TRAINING = "training"
EVAL_METRICS = ("played", "episode_score", "clemscore")
TRAINING_METRICS = ("reward", "game_score")
UP, DOWN, NO_CHANGE = "up", "down", "no significant change"
NO_GAMES, NOT_ENOUGH_DATA = "no games configured", "not enough data"
CONFIDENCE = 0.95
TRAINING_WINDOW = 0.2  # share of the steps in each of the first and last windows
MIN_WINDOW_STEPS = 2  # a window of one step has no spread to resample

METRIC_NAMES = {"played": "% played", "episode_score": "mean episode score", "clemscore": "clemscore",
                "reward": "training reward", "game_score": "training game score"}


@dataclass(frozen=True)
class EvalEpisode:
    version: int
    label: str
    game: str
    group: str
    episode_id: str
    instance_id: str
    aborted: bool
    success: bool
    main_score: float


@dataclass(frozen=True)
class SkillPoint:
    """A version's statscore: % of the skill suite's prompts whose every constraint it followed, 95% Wilson CI."""

    suite: str
    prompts: int
    followed: int
    statscore: float
    ci_low: float
    ci_high: float
    kinds: dict[str, tuple[int, int]] = field(default_factory=dict)  # constraint kind -> (followed, checked)


@dataclass(frozen=True)
class EvalPoint:
    version: int
    step: int
    label: str
    promoted: bool
    skills: SkillPoint | None = None  # None: the version was evaluated without the skill suite


@dataclass(frozen=True)
class TrainStep:
    step: int
    version: int
    time_s: float
    reward_mean: float
    game_score_mean: float
    aborted_share: float
    well_formed_share: float
    per_game: dict[str, float]
    loss: float
    kl: float


@dataclass(frozen=True)
class Transcript:
    version: int
    label: str
    game: str
    episode_id: str
    text: str


@dataclass(frozen=True)
class VerdictEntry:
    group: str
    metric: str
    baseline: float
    latest: float
    diff: float
    ci_low: float
    ci_high: float
    n_episodes: int | None  # episodes per version in the comparison; None for training entries
    direction: str
    n_steps: int | None = None  # steps in each training window


@dataclass(frozen=True)
class Verdict:
    baseline_version: int
    latest_version: int
    best_version: int | None
    entries: tuple[VerdictEntry, ...]
    sentences: tuple[str, ...]

    def entry(self, group: str, metric: str) -> VerdictEntry:
        for entry in self.entries:
            if entry.group == group and entry.metric == metric:
                return entry
        raise KeyError((group, metric))

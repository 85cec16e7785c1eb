"""The evaluator's aggregation: per game, per group (mean over games, as clembench), overall, promote metric."""

import math

import pytest

from playpen.common.v1 import episode_pb2
from playpen_evaluator.scoring import SEEN, UNSEEN, score
from playpen_evaluator.settings import EvaluatorSettings, game_list

COMPLETED = episode_pb2.EPISODE_STATUS_COMPLETED


def episode(game: str, index: int, *, main: float = 0.0, aborted: bool = False, success: bool = False,
            turns: int = 2, status: int = COMPLETED) -> episode_pb2.Episode:
    message = episode_pb2.Episode(episode_id=f"{game}:{index}", game=game, instance_id=f"exp/{index}", status=status)
    if status == COMPLETED:
        message.scores.aborted, message.scores.success = aborted, success
        message.scores.main_score = math.nan if aborted else main
    for turn in range(turns):
        message.turns.add(index=turn)
    return message


GROUPS = {"taboo": SEEN, "wordle": SEEN, "imagegame": UNSEEN}


def test_games_groups_and_overall_follow_clembench() -> None:
    episodes = [
        # taboo: 4 episodes, one aborted -> played 75, quality mean(100, 0, 100) = 66.67, clemscore 50.0
        episode("taboo", 0, main=100, success=True), episode("taboo", 1, main=0),
        episode("taboo", 2, aborted=True, turns=1), episode("taboo", 3, main=100, success=True),
        # wordle: 1 episode, played, quality 50 -> clemscore 50
        episode("wordle", 0, main=50, success=True),
        # imagegame: all aborted -> played 0, quality NaN, clemscore 0
        episode("imagegame", 0, aborted=True), episode("imagegame", 1, aborted=True),
    ]
    scored = score(episodes, GROUPS)
    games = {g.game: g for g in scored.result.games}
    assert (games["taboo"].score.played, games["taboo"].score.quality, games["taboo"].score.clemscore) == \
        (75.0, 66.67, 50.0)
    assert games["taboo"].score.episodes == 4 and games["taboo"].group == SEEN
    assert (games["wordle"].score.played, games["wordle"].score.clemscore) == (100.0, 50.0)
    assert games["imagegame"].score.played == 0 and math.isnan(games["imagegame"].score.quality)
    assert games["imagegame"].score.clemscore == 0 and games["imagegame"].group == UNSEEN

    groups = {g.group: g.score for g in scored.result.groups}
    # seen: every game weighs the same, whatever its episode count: played mean(75, 100), quality mean(66.67, 50)
    assert groups[SEEN].played == 87.5 and groups[SEEN].quality == pytest.approx(58.34)
    assert groups[SEEN].clemscore == pytest.approx(round(0.875 * 58.34, 2))
    assert groups[SEEN].episodes == 5
    assert groups[UNSEEN].played == 0 and groups[UNSEEN].clemscore == 0
    # overall over all three games; imagegame's NaN quality does not enter the quality mean
    overall = scored.result.overall
    assert overall.played == pytest.approx(58.33) and overall.quality == pytest.approx(58.34)
    assert overall.episodes == 7
    assert scored.promote_metric == groups[SEEN].clemscore


def test_episode_rows_carry_what_reports_resample() -> None:
    scored = score([episode("taboo", 0, main=100, success=True, turns=3), episode("taboo", 1, aborted=True, turns=1)],
                   GROUPS)
    rows = {r.episode_id: r for r in scored.episodes}
    assert rows["taboo:0"].success and rows["taboo:0"].main_score == 100 and rows["taboo:0"].turns == 3
    assert rows["taboo:1"].aborted and math.isnan(rows["taboo:1"].main_score) and rows["taboo:1"].turns == 1
    assert {r.group for r in rows.values()} == {SEEN} and rows["taboo:0"].instance_id == "exp/0"


def test_failed_episodes_are_never_scored_as_aborted_games() -> None:
    for status in (episode_pb2.EPISODE_STATUS_INFRA_FAILURE, episode_pb2.EPISODE_STATUS_ENGINE_ERROR):
        with pytest.raises(ValueError, match="did not complete"):
            score([episode("taboo", 0, main=100), episode("taboo", 1, status=status)], GROUPS)


def test_without_seen_games_there_is_no_promote_metric() -> None:
    scored = score([episode("imagegame", 0, main=100, success=True)], GROUPS)
    assert [g.group for g in scored.result.groups] == [UNSEEN] and math.isnan(scored.promote_metric)
    assert scored.result.overall.clemscore == 100


def test_settings_read_their_prefix_and_flags(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PLAYPEN_EVALUATOR_INSTANCES_PER_GAME", "4")
    monkeypatch.setenv("PLAYPEN_EVALUATOR_UNSEEN_GAMES", "imagegame, privateshared")
    settings = EvaluatorSettings(_cli_parse_args=["--state-dir", str(tmp_path), "--promotion-margin", "2.5"])
    assert settings.instances_per_game == 4 and settings.promotion_margin == 2.5
    assert game_list(settings.unseen_games) == ("imagegame", "privateshared") and game_list(settings.seen_games) == ()
    assert settings.store_path == tmp_path / "evaluator.db" and settings.split == "validation"
    with pytest.raises(ValueError, match="split"):
        EvaluatorSettings(_cli_parse_args=["--split", "train"])


def test_an_episode_that_outgrew_the_context_counts_as_aborted_and_other_failures_do_not() -> None:
    from playpen.common.v1 import episode_pb2
    from playpen_evaluator import scoring

    overflow = episode_pb2.Episode(episode_id="e1", game="adventuregame", instance_id="x/1",
                                   status=episode_pb2.EPISODE_STATUS_CONTEXT_EXCEEDED,
                                   error="policy p for Adventurer: the prompt has 4104 tokens")
    overflow.turns.add(index=0)
    row = scoring.episode_row(overflow, "unseen")
    assert scoring.counts(overflow) and row.aborted and not row.success and math.isnan(row.main_score)
    assert row.turns == 1
    # The status decides, not the wording of the error.
    down = episode_pb2.Episode(episode_id="e2", game="taboo", status=episode_pb2.EPISODE_STATUS_INFRA_FAILURE,
                               error="context exceeded: policy p failed for Guesser: UNAVAILABLE")
    assert not scoring.counts(down)
    with pytest.raises(ValueError, match="did not complete"):
        scoring.episode_row(down, "seen")

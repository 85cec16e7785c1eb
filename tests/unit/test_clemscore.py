import math

from playpen_games.clemscore import ScoredEpisode, aggregate, by_game, scored_episode

NAN = math.nan


def test_played_and_quality_per_game_as_clembench_defines_them() -> None:
    episodes = [ScoredEpisode("taboo", False, 100.0), ScoredEpisode("taboo", False, 50.0),
                ScoredEpisode("taboo", True, NAN), ScoredEpisode("taboo", False, 0.0)]
    score = by_game(episodes)["taboo"]
    assert score.played == 75.0
    assert score.quality == 50.0  # aborted episodes do not enter Quality
    assert score.clemscore == 37.5 and score.episodes == 4


def test_macro_average_skips_games_without_quality_and_rounds_like_clembench() -> None:
    per_game = by_game([
        ScoredEpisode("a", False, 100.0), ScoredEpisode("a", False, 33.333333),
        ScoredEpisode("b", True, NAN),
    ])
    assert per_game["a"].quality == 66.67 and per_game["b"].played == 0.0
    assert math.isnan(per_game["b"].quality) and per_game["b"].clemscore == 0.0
    overall = aggregate(per_game)
    assert overall.played == 50.0
    assert overall.quality == 66.67  # b has no Quality and is skipped, as pandas' mean does
    assert overall.clemscore == round(0.5 * 66.67, 2)


def test_scored_episode_reads_clembench_keys() -> None:
    assert scored_episode("g", {"Aborted": 1, "Main Score": None}).aborted
    kept = scored_episode("g", {"Aborted": 0, "Main Score": 20})
    assert not kept.aborted and kept.main_score == 20.0

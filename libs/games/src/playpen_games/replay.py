"""Replay recorded episodes (the ../shared/parity fixture format) through the engine and compare scores.

Each model-backed role is played by a script that returns its recorded replies in order. Asking a role
for more replies than were recorded, or ending with replies left over, is a divergence.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playpen_games.engine import GameDefinitionError, ReplayDivergence
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.instances import GameInstance
from playpen_games.registry import game_spec

TOLERANCE = 1e-9


class ScriptedRole:
    """Answers a role's i-th request with its i-th recorded reply."""

    def __init__(self, role: str, replies: list[str], order: list[str]):
        self.role, self._replies, self._order, self.used = role, list(replies), order, 0

    async def respond(self, request: Request) -> Reply:
        if self.used >= len(self._replies):
            raise ReplayDivergence(f"{self.role} asked for reply #{self.used + 1} but only "
                                   f"{len(self._replies)} were recorded")
        self._order.append(self.role)
        self.used += 1
        return Reply(self._replies[self.used - 1])

    @property
    def remaining(self) -> int:
        return len(self._replies) - self.used


@dataclass
class ReplayOutcome:
    fixture: str
    game: str
    computed: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    divergence: str = ""

    @property
    def matches(self) -> bool:
        return not self.mismatches and not self.divergence


def values_equal(computed: Any, expected: Any) -> bool:
    if expected is None:
        return (isinstance(computed, float) and math.isnan(computed)) or computed is None
    if isinstance(computed, float) and math.isnan(computed):
        return False
    if isinstance(expected, bool) or isinstance(computed, bool):
        return computed == expected
    if isinstance(expected, (int, float)) and isinstance(computed, (int, float)):
        return abs(computed - expected) <= TOLERANCE * max(1.0, abs(expected))
    return computed == expected


def compare_scores(computed: Mapping[str, Any], expected: Mapping[str, Any],
                   known_differences: Mapping[str, Any]) -> list[str]:
    mismatches = []
    for key, want in expected.items():
        if key not in computed:
            mismatches.append(f"{key}: missing (expected {want!r})")
            continue
        accepted = [want]
        if key in known_differences:
            accepted = [known_differences[key].get("expected"), known_differences[key].get("reference")]
        if not any(values_equal(computed[key], value) for value in accepted):
            mismatches.append(f"{key}: {computed[key]!r} != {want!r}")
    return mismatches


def fixture_instance(fixture: Mapping[str, Any], clembench_root: Path | None) -> GameInstance:
    game = fixture["game"]
    spec = game_spec(game)
    game_dir = clembench_root / spec.clembench_folder if clembench_root else None
    # Moves of simulated parties that a game records beside the replies (codenames' `opponent_reveals`):
    # a game names them in `replay_fields`, and they reach it inside the instance.
    recorded = {key: fixture[key] for key in getattr(spec.load(), "replay_fields", ()) if key in fixture}
    return GameInstance(game=game, experiment=fixture["experiment"], instance={**fixture["instance"], **recorded},
                        split="replay", source=str(fixture.get("id", "")), clembench_game_dir=game_dir)


def replay_fixture(fixture: Mapping[str, Any], clembench_root: Path | None, name: str = "") -> ReplayOutcome:
    outcome = ReplayOutcome(fixture=name or str(fixture.get("id", "")), game=str(fixture.get("game", "")),
                            expected=dict(fixture.get("expected") or {}))
    order: list[str] = []
    scripts = {role: ScriptedRole(role, list(replies), order)
               for role, replies in (fixture.get("responses") or {}).items()}
    try:
        game = fixture_instance(fixture, clembench_root).build()
    except GameDefinitionError as exc:
        outcome.divergence = f"cannot build the game: {exc}"
        return outcome
    result = asyncio.run(play_episode(game, scripts, episode_id=outcome.fixture))
    if result.status is not EpisodeStatus.COMPLETED:
        outcome.divergence = result.error
        return outcome
    leftovers = {role: s.remaining for role, s in scripts.items() if s.remaining}
    if leftovers:
        outcome.divergence = "game ended with replies left over: " + ", ".join(
            f"{role} {count}" for role, count in sorted(leftovers.items()))
    elif "response_order" in fixture and order != list(fixture["response_order"]):
        outcome.divergence = f"roles were asked in the order {order}, recorded {fixture['response_order']}"
    assert result.scores is not None
    outcome.computed = dict(result.scores.episode)
    outcome.mismatches = compare_scores(outcome.computed, outcome.expected,
                                        fixture.get("known_reference_differences") or {})
    return outcome


def fixture_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    return files


def _short(scores: Mapping[str, Any]) -> str:
    keys = ("Main Score", "Aborted", "Success", "Lose")
    return " ".join(f"{k.split()[0]}={scores.get(k)!r}" for k in keys if k in scores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="playpen-replay", description=__doc__.splitlines()[0])
    parser.add_argument("fixtures", nargs="+", type=Path, help="fixture files or folders of them")
    parser.add_argument("--clembench", type=Path, default=None,
                        help="clembench data folder, for resources outside the instances "
                             "(default: $PLAYPEN_CLEMBENCH_DIR or ../shared/clembench)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every score of each fixture")
    args = parser.parse_args(argv)
    from playpen_games.instances.catalog import default_clembench_dir

    clembench = args.clembench or default_clembench_dir()
    files = fixture_files(args.fixtures)
    if not files:
        print("no fixtures found", file=sys.stderr)
        return 2
    matched = 0
    for path in files:
        try:
            fixture = json.loads(path.read_text(encoding="utf-8"))
            outcome = replay_fixture(fixture, clembench, name=str(path))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            outcome = ReplayOutcome(fixture=str(path), game="?", divergence=f"unreadable fixture: {exc}")
        matched += outcome.matches
        verdict = "match" if outcome.matches else "DIFFERS"
        detail = outcome.divergence or "; ".join(outcome.mismatches)
        print(f"{verdict:7} {outcome.fixture}: computed {_short(outcome.computed)} | expected "
              f"{_short(outcome.expected)}" + (f" | {detail}" if detail else ""))
        if args.verbose:
            print(f"        computed: {outcome.computed}\n        expected: {outcome.expected}")
    print(f"parity: {matched}/{len(files)} match")
    return 0 if matched == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())

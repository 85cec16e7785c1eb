"""Measure the builtin experts: expert-vs-expert episodes in-process, one line per game.

    python -m playpen_games.experts --split validation --instances 20 [--games taboo wordle]

Columns: episodes, success rate, share of expert turns that were parse errors or rule violations, mean Main
Score of the episodes that were not aborted. The split `clembench` reads the official instances from
--clembench-dir (default: $PLAYPEN_CLEMBENCH_DIR, $PLAYPEN_SHARED_DIR/clembench or ../shared/clembench).
"""

from __future__ import annotations

import argparse
import asyncio
import math
from pathlib import Path

from playpen_games.engine import TurnStatus
from playpen_games.engine.runner import EpisodeStatus, play_episode
from playpen_games.experts import ExpertResponder, experts_of
from playpen_games.instances.catalog import InstanceCatalog, default_clembench_dir
from playpen_games.registry import TRAINING_GAMES


async def measure(game: str, split: str, count: int, group_size: int, catalog: InstanceCatalog) -> str:
    instances = catalog.instances(game, split)
    if count and count < len(instances):  # spread over the file, so that every experiment is represented
        instances = instances[::len(instances) // count][:count]
    expert = ExpertResponder()
    roles = {role: expert for role in experts_of(game)}
    episodes = successes = turns = bad_turns = 0
    scores: list[float] = []
    for instance in instances:
        for k in range(group_size):
            result = await play_episode(instance.build(), roles, episode_id=f"measure:{instance.instance_id}:{k}")
            if result.status is not EpisodeStatus.COMPLETED:
                raise RuntimeError(f"{game} {instance.instance_id}: {result.status.value}: {result.error}")
            episodes += 1
            successes += result.outcome.value == "success"
            mine = [t for t in result.turns if not t.programmatic]
            turns += len(mine)
            bad_turns += sum(t.status is not TurnStatus.OK for t in mine)
            main = result.scores.episode.get("Main Score") if result.scores else None
            if isinstance(main, (int, float)) and not math.isnan(main):
                scores.append(float(main))
    mean = sum(scores) / len(scores) if scores else math.nan
    return (f"{game:<20} {', '.join(roles):<45} {episodes:>8} {100 * successes / episodes:>8.1f}% "
            f"{100 * bad_turns / max(turns, 1):>10.1f}% {mean:>10.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m playpen_games.experts", description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="*", default=list(TRAINING_GAMES))
    parser.add_argument("--split", default="validation")
    parser.add_argument("--instances", type=int, default=20, help="instances per game (0 = all)")
    parser.add_argument("--group-size", type=int, default=1, help="episodes per instance (seeds differ)")
    parser.add_argument("--clembench-dir", type=Path, default=None, help="clembench data folder (split clembench)")
    parser.add_argument("--clembench-version", default=None, help="official instance version (newest when unset)")
    args = parser.parse_args(argv)
    catalog = InstanceCatalog(args.clembench_dir or default_clembench_dir(), args.clembench_version)
    print(f"{'game':<20} {'expert roles':<45} {'episodes':>8} {'success':>9} {'bad turns':>11} {'main score':>10}")
    for game in args.games:
        print(asyncio.run(measure(game, args.split, args.instances, args.group_size, catalog)), flush=True)


if __name__ == "__main__":
    main()

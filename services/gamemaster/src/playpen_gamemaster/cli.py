"""`playpen-play`: ask a running game master for episodes, save them, and print clembench's table.

    playpen-play --gamemaster localhost:50051 --policy localhost:50052 --split validation --instances 5

`--policy expert` lets the game master's builtin experts play every role (expert-vs-expert episodes, e.g.
for a warm start); `--role GAME:ROLE=PLAYER` (or `ROLE=PLAYER` for that role in every game) gives one role
another player, a policy's host:port or `expert` (teacher-play). Episodes are appended to
<out>/episodes.jsonl (one JSON object per line, the contract's Episode).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path

from playpen_games.clemscore import Clemscore, aggregate, by_game, scored_episode


def format_table(per_game: dict[str, Clemscore], infra_failures: dict[str, int]) -> str:
    def cell(value: float) -> str:
        return "  n/a" if math.isnan(value) else f"{value:6.2f}"

    rows = [f"{'game':<20} {'episodes':>8} {'% played':>9} {'quality':>8} {'clemscore':>9} {'infra fail':>10}"]
    for game, score in per_game.items():
        rows.append(f"{game:<20} {score.episodes:>8} {cell(score.played):>9} {cell(score.quality):>8} "
                    f"{cell(score.clemscore):>9} {infra_failures.get(game, 0):>10}")
    if per_game:
        overall = aggregate(per_game)
        rows.append(f"{'all (macro)':<20} {overall.episodes:>8} {cell(overall.played):>9} "
                    f"{cell(overall.quality):>8} {cell(overall.clemscore):>9} {sum(infra_failures.values()):>10}")
    return "\n".join(rows)


def summarise(episodes: Iterable[dict]) -> tuple[dict[str, Clemscore], dict[str, int]]:
    scored, failures = [], {}
    for episode in episodes:
        game = episode["game"]
        if episode.get("status") != "EPISODE_STATUS_COMPLETED":
            failures[game] = failures.get(game, 0) + 1
            continue
        scored.append(scored_episode(game, episode["scores"]["episode"]))
    return by_game(scored), failures


BUILTIN = "expert"


def role_assignment(text: str) -> tuple[str, str, str]:
    """GAME:ROLE=PLAYER or ROLE=PLAYER -> (game, role, player); the game is "" for every game."""
    target, separator, player = text.partition("=")
    game, _, role = target.rpartition(":")
    if not separator or not player.strip() or not role.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected GAME:ROLE=PLAYER or ROLE=PLAYER, "
                                         f"e.g. \"wordle_withcritic:Critic=expert\"")
    return game.strip(), role.strip(), player.strip()


def player_config(player: str, sampling, gm):
    """`expert` -> the builtin expert; anything else is a policy's host:port."""
    if player == BUILTIN:
        return gm.PlayerConfig(builtin=BUILTIN)
    return gm.PlayerConfig(policy=gm.PolicyEndpoint(target=player, name="policy"), sampling=sampling)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="playpen-play", description=__doc__.splitlines()[0])
    parser.add_argument("--gamemaster", required=True, help="host:port of the game master")
    parser.add_argument("--policy", required=True,
                        help="host:port of the policy playing every role, or `expert` for the builtin experts")
    parser.add_argument("--role", type=role_assignment, action="append", default=[], metavar="GAME:ROLE=PLAYER",
                        help="another player (host:port or `expert`) for one role; repeatable")
    parser.add_argument("--games", nargs="*", default=[], help="games to play (default: the training games)")
    parser.add_argument("--split", default="validation", help="train, validation, test or clembench")
    parser.add_argument("--instances", type=int, default=5, help="instances per game (0 = all)")
    parser.add_argument("--group-size", type=int, default=1, help="plays of each instance")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/play"), help="folder for episodes.jsonl")
    args = parser.parse_args(argv)

    import grpc
    from google.protobuf.json_format import MessageToDict
    from tqdm import tqdm

    from playpen.common.v1 import chat_pb2
    from playpen.gamemaster.v1 import gamemaster_pb2 as gm
    from playpen.gamemaster.v1 import gamemaster_pb2_grpc
    from playpen_common.client import sync_channel

    sampling = chat_pb2.SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens)
    request = gm.PlayEpisodesRequest(
        games=args.games, split=args.split, instances_per_game=args.instances, group_size=args.group_size,
        seed=args.seed, default_player=player_config(args.policy, sampling, gm),
        roles=[gm.RoleAssignment(game=game, role=role, player=player_config(player, sampling, gm))
               for game, role, player in args.role])
    args.out.mkdir(parents=True, exist_ok=True)
    episodes = []
    with sync_channel(args.gamemaster) as channel, open(args.out / "episodes.jsonl", "a") as sink:
        stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
        try:
            stream = stub.PlayEpisodes(request, timeout=24 * 3600)
            with tqdm(desc="episodes", unit="ep", dynamic_ncols=True) as bar:
                for response in stream:
                    record = MessageToDict(response.episode, preserving_proto_field_name=True)
                    sink.write(json.dumps(record) + "\n")
                    episodes.append(record)
                    bar.set_postfix_str(f"{record['game']}: {record.get('outcome', '')[13:].lower()}")
                    bar.update()
        except grpc.RpcError as error:
            print(f"playpen-play: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    per_game, failures = summarise(episodes)
    print(format_table(per_game, failures))
    print(f"episodes written to {args.out / 'episodes.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`playpen-play`: ask a running game master for episodes, save them, and print clembench's table.

    playpen-play --gamemaster localhost:50051 --policy localhost:50052 --split validation --instances 5

Settings come from flags or PLAYPEN_PLAY_* env. `--policy expert` lets the game master's builtin experts play
every role (expert-vs-expert episodes, e.g. for a warm start); `--role GAME:ROLE=PLAYER` (or `ROLE=PLAYER` for
that role in every game) gives one role another player, a policy's host:port or `expert` (teacher-play).
Episodes are appended to <out>/episodes.jsonl (one JSON object per line, the contract's Episode). An episode
that outgrew the policy's context counts as aborted in the table, as the evaluator counts it.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import CliImplicitFlag, SettingsConfigDict

from playpen_common.defaults import local_target
from playpen_common.settings import ClientSettings, parse_command_line, parse_role_assignment
from playpen_games.clemscore import Clemscore, ScoredEpisode, aggregate, by_game, scored_episode


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
        if episode.get("status") == "EPISODE_STATUS_CONTEXT_EXCEEDED":  # the model's failure: an aborted game
            scored.append(ScoredEpisode(game, aborted=True, main_score=math.nan))
            continue
        if episode.get("status") != "EPISODE_STATUS_COMPLETED":
            failures[game] = failures.get(game, 0) + 1
            continue
        scored.append(scored_episode(game, episode["scores"]["episode"]))
    return by_game(scored), failures


BUILTIN = "expert"


class PlaySettings(ClientSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_PLAY_")

    gamemaster: str = Field(local_target("gamemaster"), description="host:port of the game master")
    policy: str = Field(description="host:port of the policy playing every role, or `expert` for the builtin "
                                    "experts")
    role: list[str] = Field(default_factory=list, description="another player (host:port or `expert`) for one "
                                                              "role, GAME:ROLE=PLAYER or ROLE=PLAYER; repeatable")
    games: list[str] = Field(default_factory=list, description="games to play, comma-separated (default: the "
                                                               "training games)")
    split: str = Field("validation", description="train, validation, test or clembench")
    instances: int = Field(5, ge=0, description="instances per game (0 = all)")
    group_size: int = Field(1, ge=1, description="plays of each instance")
    temperature: float = Field(0.0, ge=0, description="sampling temperature")
    max_tokens: int = Field(128, ge=1, description="tokens per reply")
    seed: int = Field(0, ge=0, description="seed that picks the instances")
    out: Path = Field(Path("runs/play"), description="folder of episodes.jsonl (appended to)")
    require_scored: CliImplicitFlag[bool] = Field(
        False, description="exit 1 unless episodes came back and every one was scored (none ended in an engine or "
                           "policy error): a smoke test, e.g. `helm test`")

    @field_validator("role")
    @classmethod
    def _roles_parse(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_role_assignment(text)
        return value


def player_config(player: str, sampling, gm):
    """`expert` -> the builtin expert; anything else is a policy's host:port."""
    if player == BUILTIN:
        return gm.PlayerConfig(builtin=BUILTIN)
    return gm.PlayerConfig(policy=gm.PolicyEndpoint(target=player, name="policy"), sampling=sampling)


def main(argv: list[str] | None = None) -> int:
    args = parse_command_line(PlaySettings, sys.argv[1:] if argv is None else argv, "playpen-play")

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
               for game, role, player in map(parse_role_assignment, args.role)])
    args.out.mkdir(parents=True, exist_ok=True)
    episodes = []
    with sync_channel(args.gamemaster, tls=args.client_tls) as channel, open(args.out / "episodes.jsonl", "a") as sink:
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
    if args.require_scored and (failures or not episodes):
        print(f"playpen-play: {sum(failures.values())} of {len(episodes)} episodes not scored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""From episodes to the learner's dialogues (SFT) and to preference pairs (DPO), as chat messages.

A learner turn's `messages` are exactly what its player was asked with: the player's history (its earlier
prompts and, as "assistant" messages, its own earlier replies) plus the new context. So the conversation of a
role's last learner turn — its messages and its reply — contains the whole dialogue as the learner saw it, and
every earlier learner reply sits inside it at a known position. Everything that is not a learner reply
(system, game master, the partner's text relayed by the game master) is context, never a target.

A game may ask a side question without keeping it in the player's history (privateshared's probes,
`memorize=False`); such a reply appears in no later conversation. So the unit of SFT is a *leaf*: a learner turn
whose conversation no later turn of the role continues. In every game that keeps its history the only leaf is
the last turn (one example per episode and role); a side question is a leaf of its own. Each learner reply is a
target in exactly one example — the first, from the last turn backwards, that contains it — so no reply is
lost and none is counted twice.

This module only pairs and selects; tokens and masks are chat_tokens.py.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from playpen.common.v1 import episode_pb2
from playpen_trainer.samples import is_learner_turn

Message = dict[str, str]  # {"role": ..., "content": ...}, as chat templates take them
LEVELS = ("dialogue", "turn")


@dataclass
class Dialogue:
    """A conversation as one learner role saw it, and which of its assistant messages are training targets."""

    episode_id: str
    role: str
    messages: list[Message]
    #: indices into `messages` of the learner replies to train on
    targets: list[int]
    #: target index -> the prompt token ids the policy generated that reply from (empty if not recorded)
    policy_prompts: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class PreferencePair:
    level: str
    game: str
    instance_id: str
    role: str
    chosen_episode: str
    rejected_episode: str
    prompt: list[Message]
    #: both start with `prompt`; their targets all lie after it
    chosen: Dialogue
    rejected: Dialogue


def messages_of(turn: episode_pb2.Turn) -> list[Message]:
    return [{"role": m.role, "content": m.content} for m in turn.messages]


def conversation(turn: episode_pb2.Turn) -> list[Message]:
    return [*messages_of(turn), {"role": "assistant", "content": turn.reply}]


def demonstrators(episode: episode_pb2.Episode, learner: str) -> set[str]:
    """Roles that a non-model player labelled `learner` played (e.g. the game master's "expert"): their turns
    carry text but no token record, and are demonstrations to imitate."""
    if not learner:
        return set()
    return {player.role for player in episode.players if player.policy == learner}


def learner_roles(episode: episode_pb2.Episode, learner: str) -> dict[str, list[episode_pb2.Turn]]:
    """role -> that role's learner turns, in the order they were played: the turns of the policy labelled
    `learner` (every model turn when empty), or a demonstrator's turns when `learner` names one."""
    roles: dict[str, list[episode_pb2.Turn]] = defaultdict(list)
    demonstrating = demonstrators(episode, learner)
    for turn in episode.turns:
        demonstration = turn.role in demonstrating and not turn.HasField("generation")
        if demonstration or is_learner_turn(turn, learner):
            roles[turn.role].append(turn)
    return dict(roles)


def outcome(episode: episode_pb2.Episode) -> str | None:
    """"success" or "failure" (lost or aborted by a reply); None when the episode says nothing about the players
    (infrastructure or engine failure: never a failure of the learner)."""
    if episode.status != episode_pb2.EPISODE_STATUS_COMPLETED or not episode.HasField("scores"):
        return None
    return "success" if episode.scores.success else "failure"


def _reply_positions(messages: list[Message], turns: list[episode_pb2.Turn]) -> dict[int, episode_pb2.Turn]:
    """Position in `messages` -> the learner turn whose reply sits there (its prompt is the prefix before it)."""
    found = {}
    for turn in turns:
        position = len(turn.messages)
        if (position < len(messages) and messages[position] == {"role": "assistant", "content": turn.reply}
                and messages[:position] == messages_of(turn)):
            found[position] = turn
    return found


def _dialogue(episode_id: str, role: str, messages: list[Message], targets: dict[int, episode_pb2.Turn]) -> Dialogue:
    return Dialogue(episode_id=episode_id, role=role, messages=messages, targets=sorted(targets),
                    policy_prompts={i: list(t.generation.prompt_token_ids) for i, t in targets.items()
                                    if t.HasField("generation")})


def sft_dialogues(episode: episode_pb2.Episode, learner: str, *, train_invalid: bool,
                  counts: Counter | None = None) -> list[Dialogue]:
    """The SFT dialogues of one episode: one per leaf of each learner role (see the module docstring).

    Replies whose turn was a parse error or rule violation stay as context unless `train_invalid` (a successful
    episode can contain a reply the game asked again for, and imitating it teaches the broken format)."""
    counts = Counter() if counts is None else counts
    dialogues = []
    for role, turns in learner_roles(episode, learner).items():
        leaves = [turn for k, turn in enumerate(turns)
                  if not any(messages_of(later)[:len(turn.messages) + 1] == conversation(turn)
                             for later in turns[k + 1:])]
        assigned: set[int] = set()
        for leaf in reversed(leaves):
            messages = conversation(leaf)
            targets = {}
            for position, turn in sorted(_reply_positions(messages, turns).items()):
                if turn.index in assigned:
                    continue
                assigned.add(turn.index)
                if turn.status != episode_pb2.TURN_STATUS_OK and not train_invalid:
                    counts["invalid_replies_masked"] += 1
                    continue
                targets[position] = turn
            dialogues.append(_dialogue(episode.episode_id, role, messages, targets))
    return dialogues


def _whole_dialogue(episode: episode_pb2.Episode, role: str, turns: list[episode_pb2.Turn]) -> Dialogue:
    """The role's dialogue up to its last reply, every learner reply in it a target (for DPO, the replies of
    the rejected dialogue are exactly what should become less likely, well-formed or not)."""
    messages = conversation(turns[-1])
    return _dialogue(episode.episode_id, role, messages, _reply_positions(messages, turns))


def _dialogue_pair(success, failure, counts: Counter) -> PreferencePair | None:
    (s_episode, role, s_turns), (f_episode, _, f_turns) = success, failure
    prompt = messages_of(s_turns[0])
    if messages_of(f_turns[0]) != prompt:
        counts["dialogue: first contexts differ"] += 1
        return None
    chosen, rejected = _whole_dialogue(s_episode, role, s_turns), _whole_dialogue(f_episode, role, f_turns)
    if chosen.messages[:len(prompt)] != prompt or rejected.messages[:len(prompt)] != prompt:
        counts["dialogue: history not kept"] += 1
        return None
    if chosen.messages == rejected.messages:
        counts["dialogue: identical dialogues"] += 1
        return None
    return PreferencePair("dialogue", s_episode.game, s_episode.instance_id, role, s_episode.episode_id,
                          f_episode.episode_id, prompt, chosen, rejected)


def _turn_pair(success, failure, counts: Counter) -> PreferencePair | None:
    """The first learner turn, after an identical prefix, where the success and the failure replied differently."""
    (s_episode, role, s_turns), (f_episode, _, f_turns) = success, failure
    for s_turn, f_turn in zip(s_turns, f_turns, strict=False):
        prompt = messages_of(s_turn)
        if messages_of(f_turn) != prompt:
            counts["turn: contexts differ before any reply does"] += 1
            return None
        if s_turn.reply != f_turn.reply:
            chosen = _dialogue(s_episode.episode_id, role, conversation(s_turn), {len(prompt): s_turn})
            rejected = _dialogue(f_episode.episode_id, role, conversation(f_turn), {len(prompt): f_turn})
            return PreferencePair("turn", s_episode.game, s_episode.instance_id, role, s_episode.episode_id,
                                  f_episode.episode_id, prompt, chosen, rejected)
    counts["turn: no diverging reply"] += 1
    return None


def preference_pairs(episodes: Iterable[episode_pb2.Episode], learner: str, *, levels: Iterable[str] = LEVELS,
                     max_pairs_per_group: int = 0, seed: int = 0,
                     counts: Counter | None = None) -> list[PreferencePair]:
    """Success-vs-failure pairs of the same instance (game + instance_id) and the same learner role.

    Every success is paired with every failure of its group (capped at `max_pairs_per_group` per level, a seeded
    choice, when > 0); two successes or two failures never form a pair. Pairs with identical content are kept once.
    """
    counts = Counter() if counts is None else counts
    groups: dict[tuple[str, str, str], dict[str, list]] = defaultdict(lambda: {"success": [], "failure": []})
    for episode in episodes:
        result = outcome(episode)
        if result is None:
            counts["episodes: not completed"] += 1
            continue
        if not episode.instance_id:
            counts["episodes: no instance_id"] += 1
            continue
        for role, turns in learner_roles(episode, learner).items():
            groups[(episode.game, episode.instance_id, role)][result].append((episode, role, turns))

    pairs, seen = [], set()
    rng = random.Random(seed)
    for key in sorted(groups):
        members = groups[key]
        if not members["success"] or not members["failure"]:
            counts["groups: " + ("no failure" if members["success"] else "no success")] += 1
            continue
        combinations = list(itertools.product(*(sorted(members[r], key=lambda m: m[0].episode_id)
                                                for r in ("success", "failure"))))
        for level in levels:
            make = _dialogue_pair if level == "dialogue" else _turn_pair
            found = []
            for success, failure in combinations:
                pair = make(success, failure, counts)
                if pair is None:
                    continue
                fingerprint = json.dumps([level, pair.chosen.messages, pair.rejected.messages], sort_keys=True)
                if fingerprint in seen:
                    counts[f"{level}: duplicate"] += 1
                    continue
                seen.add(fingerprint)
                found.append(pair)
            if 0 < max_pairs_per_group < len(found):
                counts[f"{level}: over the per-group cap"] += len(found) - max_pairs_per_group
                found = rng.sample(found, max_pairs_per_group)
            pairs.extend(found)
    return pairs

"""Textmapworld: a guesser explores a map of rooms by text, one instruction per turn.

- Roles: the PathGuesser (Player 1, the model) and the PathDescriber (Player 2, programmatic). The
  guesser is told its room and the exits (`north, east`); it answers `GO: <direction>` or `DONE`. The
  describer moves it along that exit (`Player2_positive_answer`: the new room and its exits) or, for a
  direction that is not an exit, leaves it where it is (`Player2_negative_answer`). A round is one
  instruction and the describer's answer.
- Replies (textmapworld, textmapworld_specificroom): the whole raw reply must match the instance's
  `Move_Construction` (`^GO:\\s*(north|east|west|south)$`) or `Stop_Construction` (`^DONE$`), ignoring case,
  without multiline mode — so one trailing newline is fine, anything after it is not. A reply matching both
  patterns, or neither, ABORTS the episode. textmapworld_graphreasoning: line breaks are removed and the
  whole reply must match `Response_Construction`, a JSON-like `{"action": ..., "graph": {"nodes": [...],
  "edges": {...}}}` whose action is checked the same way; a move must also read as a Python literal with
  both keys, and its direction is taken as written (`GO: North` is not an exit). Any failure ABORTS.
- After 20 rounds without DONE the episode is ABORTED (turn limit).
- DONE ends the game. textmapworld and graphreasoning: SUCCESS when every room was visited, else LOSE.
  textmapworld_specificroom: SUCCESS when the guesser stands in `Specific_Room`, else LOSE.
- Main Score (NaN unless the guesser said DONE): textmapworld and graphreasoning the harmonic mean of
  efficiency (share of moves that start a shortest tour of the unvisited rooms next to visited ones) and
  exploration (share of rooms visited); specificroom 100 on success, else 0. See scoring.py and graphs.py
  for every key, including graphreasoning's `graph_similarity` of the drawn map.

Benchmark run v2.0 (what the parity fixtures record) is followed where today's clembench code differs:
graphreasoning logged the last move a second time when the guesser said DONE (one more move, never
efficient — it lowers `efficiency` and the Main Score). (specificroom restarting its loop window after each loop
is no such difference: the recorded run and today's code both do it.)
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from playpen_games.engine import DialogueGame, Outcome, ParseError, Scores
from playpen_games.games.textmapworld import graphs, scoring
from playpen_games.games.textmapworld.world import PathDescriber, Room, RoomMap

GUESSER, DESCRIBER = "PathGuesser", "PathDescriber"
MAX_TURNS = 20


@dataclass(frozen=True)
class Command:
    stop: bool
    text: str  # the reply as the describer reads it: line breaks removed, stripped
    direction: str = ""
    graph: Any = None


class TextMapWorld(DialogueGame):
    name = "textmapworld"
    roles = (GUESSER, DESCRIBER)
    programmatic_roles = frozenset({DESCRIBER})
    #: clembench's textmapworld describer (alone) looks a room's exits up ignoring the case of its name
    exits_ignore_case: ClassVar[bool] = True
    reset_loop_window: ClassVar[bool] = False

    def setup(self) -> None:
        # our own instances keep the texts an experiment shares in the experiment; clembench's repeat them
        self.spec = {**self.experiment, **self.instance}
        self.map = RoomMap.from_instance(self.spec)
        self.move_pattern = self._pattern("Move_Construction")
        self.stop_pattern = self._pattern("Stop_Construction")
        self.describer = PathDescriber(self.map, str(self.field("Player2_positive_answer")),
                                       str(self.field("Player2_negative_answer")), ignore_case=self.exits_ignore_case)
        self.target: Room | None = None
        self.moves: list[tuple[Room | None, Room]] = []  # clembench's logged "move" events
        self.positions: list[Room] = [self.map.start]
        self.graphs: list[Any] = []  # graphreasoning: the graph logged with each move
        self.stopped = self.turns_limit = False
        self.loop_reminder = bool(self.option("Loop_Reminder"))
        self.turns_reminder = bool(self.option("Max_Turns_Reminder"))
        self.reminder_window: list[Room] = [self.map.start]
        self.answer = ""
        self.add_player(GUESSER, context=self.initial_prompt())
        self.add_player(DESCRIBER, responder=lambda messages: self.answer)

    def field(self, key: str) -> Any:
        return self.spec[key]

    def option(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    def _pattern(self, key: str) -> re.Pattern[str]:
        try:
            return re.compile(str(self.field(key)), re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"{key} is not a regular expression: {exc}") from exc

    def initial_prompt(self) -> str:
        prompt = str(self.field("Prompt"))
        prompt = prompt.replace("$INITIAL_ROOM$", self.map.label(self.map.start))
        return prompt.replace("$INITIAL_DIRECTIONS$", self.describer.exits_text(self.map.start))

    # ------------------------------------------------------------------ turns

    def parse(self, role: str, reply: str) -> Any:
        if role == DESCRIBER:
            return reply
        return self.read_command(reply)

    def read_command(self, reply: str) -> Command:
        stop, move = self.stop_pattern.search(reply), self.move_pattern.search(reply)
        if stop and move:
            raise ParseError("the reply is both a move and DONE", key="both")
        text = reply.replace("\n", "").strip()
        if stop:
            return Command(stop=True, text=text)
        if len(self.move_pattern.findall(reply)) > 1 or not move:
            raise ParseError("the reply must be exactly 'GO: <direction>' or 'DONE'", key="format")
        read = self.move_pattern.search(text)
        if read is None:  # a reply that matches raw also matches without its line breaks
            raise ParseError("the move cannot be read", key="format")
        return Command(stop=False, text=text, direction=read.group(1).lower())  # `GO: North` is north

    def advance(self, role: str, parsed: Any) -> None:
        if role == DESCRIBER:
            self.set_context(GUESSER, self.with_reminders(parsed))
            return
        if parsed.stop:
            self.stop()
            return
        self.describer.graph = parsed.graph
        self.answer = self.describer.answer(parsed.direction)
        self.set_context(DESCRIBER, parsed.text)

    def with_reminders(self, answer: str) -> str:
        if self.loop_reminder and scoring.is_loop(self.reminder_window):
            self.loop_reminder = False
            self.log("loop reminder")
            answer = f"{self.field('Loop_Reminder_Text')}\n{answer}"
        if self.turns_reminder and self.round_index == MAX_TURNS - 2:
            self.turns_reminder = False
            self.log("turn limit reminder")
            answer = f"{self.field('Max_Turns_Reminder_Text')}\n{answer}"
        return answer

    def on_round_end(self) -> None:
        origin, position = self.describer.last_step
        if origin != position:
            self.log_move(origin, position)
        if self.round_index + 1 >= MAX_TURNS:
            self.turns_limit = True
            self.log("turns limit", MAX_TURNS)
            self.outcome = Outcome.ABORTED

    def log_move(self, origin: Room | None, position: Room) -> None:
        self.moves.append((origin, position))
        self.positions.append(position)
        self.log("move", {"old": origin, "new": position})
        self.reminder_window.append(position)
        if self.loop_reminder and scoring.is_loop(self.reminder_window):
            self.reminder_window.clear()  # as clembench: the reminder then needs four fresh positions

    def stop(self) -> None:
        self.stopped = True
        self.log("stop")
        walked = scoring.Walk(visited=set(self.positions), last=self.positions[-1])
        self.outcome = Outcome.SUCCESS if scoring.goal_reached(self.map, walked, self.target) else Outcome.LOSE

    # ------------------------------------------------------------------ scores

    def graph_similarities(self) -> list[float] | None:
        return None

    def score(self) -> Scores:
        walk = scoring.Walk.of(self.map, self.moves, reset_loops=self.reset_loop_window)
        similarities = self.graph_similarities()
        last_similarity = None if similarities is None else (similarities[-1] if similarities else 0)
        episode = scoring.episode_scores(self.map, walk, stopped=self.stopped,
                                         aborted=self.outcome is Outcome.ABORTED, turns_limit=self.turns_limit,
                                         target=self.target, graph_similarity=last_similarity)
        rounds: list[dict[str, float | int]] = [{"efficient_move": int(e)} for e in walk.efficient]
        for entry, value in zip(rounds, similarities or [], strict=False):
            entry["similarity"] = value
        return Scores(episode=episode, rounds=rounds)


class TextMapWorldSpecificRoom(TextMapWorld):
    name = "textmapworld_specificroom"
    exits_ignore_case = False
    reset_loop_window = True

    def setup(self) -> None:
        super().setup()
        self.target = str(self.field("Specific_Room"))
        if self.target.lower() not in {str(r).lower() for r in self.map.rooms}:
            raise ValueError(f"Specific_Room {self.target!r} is not a room of the map")

    def initial_prompt(self) -> str:
        return super().initial_prompt().replace("$GOAL$", str(self.field("Specific_Room")))


class TextMapWorldGraphReasoning(TextMapWorld):
    name = "textmapworld_graphreasoning"
    exits_ignore_case = False

    def setup(self) -> None:
        super().setup()
        self.response_pattern = self._pattern("Response_Construction")
        self.real_map = graphs.real_map(self.map.rooms, [(b, a) for a, b in self.map.edges] + list(self.map.edges))

    def read_command(self, reply: str) -> Command:
        text = reply.replace("\n", "").strip()
        found = self.response_pattern.search(text)
        if found is None:
            raise ParseError("the reply must be one object with an action and a graph", key="format")
        action = found.group(1)
        stop, move = self.stop_pattern.search(action), self.move_pattern.search(action)
        if stop and move:
            raise ParseError("the action is both a move and DONE", key="both")
        if stop:
            return Command(stop=True, text=found.group())
        if len(self.move_pattern.findall(action)) > 1 or not move:
            raise ParseError("the action must be 'GO: <direction>' or 'DONE'", key="format")
        try:  # what clembench's describer does with the reply; a failure there aborts the episode
            content = ast.literal_eval(found.group())
            action, graph = content["action"], content["graph"]
            direction = self.move_pattern.search(action).group(1)  # as written: `GO: North` is no exit
        except Exception as exc:  # noqa: BLE001 - any unreadable reply aborts, as in clembench
            raise ParseError(f"the reply cannot be read as a Python literal with action and graph: "
                             f"{type(exc).__name__}", key="literal") from None
        return Command(stop=False, text=found.group(), direction=direction, graph=graph)

    def stop(self) -> None:
        # Benchmark run v2.0 logged the describer's last move once more after DONE (its after-turn hook ran
        # on the stopping turn too, and unlike the other variants this one did not skip it then).
        origin, position = self.describer.last_step
        if origin != position:
            self.log_move(origin, position)
        super().stop()

    def log_move(self, origin: Room | None, position: Room) -> None:
        super().log_move(origin, position)
        self.graphs.append(self.describer.graph)

    def graph_similarities(self) -> list[float]:
        return [graphs.graph_similarity(self.real_map, graph) for graph in self.graphs]

"""Codenames: a ClueGiver gives one-word clues, its Guesser uncovers the team's words on a 25-word board,
racing a simulated opposing team.

- Board: every word is a team, opponent, innocent (distractor) or assassin (kill) word. The ClueGiver
  (Player 1) sees the hidden words by kind; the Guesser (Player 2) sees the hidden words in board order.
- Round: the ClueGiver answers `CLUE: <word>` and `TARGETS: <word>, <word>, ...` on two lines; the Guesser
  answers one line `GUESS: <word>, ...` with 1 to (number of targets) words. Guesses are revealed in order,
  and the turn ends at the first one that is not a team word (later guesses are ignored). See protocol.py
  for every format and rule check: the clue must be one word, neither a remaining board word nor sharing
  its WordNet noun lemma with one; targets and guesses must be remaining words, without repeats; a guess
  may not be the clue.
- Opponent: after every round that does not end the game, the mocked opposing team reveals `opponent
  difficulty` (experiment) of its own hidden words at random, seeded by the instance (none in
  `opponent_none`). Given `opponent_reveals` in the instance (one list of words per opponent turn; replay
  copies it there from a parity fixture), it reveals exactly those, and a mismatch is a replay divergence.
- Aborted: any reply that breaks the format or a rule (ParseError or RuleViolation). clembench's
  generous flags soften some checks; REPROMPT ON ERROR is counted but, as in clembench, the game master
  aborts on the invalid reply anyway, so no player is ever asked twice in a round.
- Success: all team words are revealed (by whichever side). Lose: all opponent words are revealed, or the
  Guesser reveals an assassin (`Game ended through assassin` = 1). Team words are checked first, so
  revealing the last team word and then the assassin in one turn still wins.
- Main Score: 100 on success, 0 on a loss, NaN when aborted. Every other score: see scoring.py.

The ClueGiver's next prompt is written right after the Guesser's turn, before the opponent reveals its
words, as in clembench: it may still list an opponent word that is gone when the clue is checked.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from playpen_games.engine import (
    DialogueGame,
    Outcome,
    ParseError,
    ReplayDivergence,
    RuleViolation,
    Scores,
)
from playpen_games.engine.errors import GameError
from playpen_games.games.codenames import lemmas, scoring, texts
from playpen_games.games.codenames.board import ASSASSIN, INNOCENT, OPPONENT, TEAM, Board
from playpen_games.games.codenames.protocol import (
    REPROMPT_ON_ERROR,
    Clue,
    Flags,
    ReplyProblem,
    read_clue,
    read_guesses,
)
from playpen_games.games.codenames.scoring import EpisodeRecord, RoundRecord

CLUEGIVER, GUESSER = "ClueGiver", "Guesser"
#: how clembench names the roles in its flag scores ("Cluegiver strip words")
SCORE_NAMES = {CLUEGIVER: "Cluegiver", GUESSER: "Guesser"}
MAX_RETRIES = 2
OPPONENT_REVEALS = "opponent_reveals"


class Codenames(DialogueGame):
    name = "codenames"
    roles = (CLUEGIVER, GUESSER)
    #: fixture fields a replay passes into the instance: the mocked opponent's recorded moves
    replay_fields: ClassVar[tuple[str, ...]] = (OPPONENT_REVEALS,)

    def setup(self) -> None:
        experiment, instance = self.experiment, self.instance
        self.flags = Flags.from_experiment(experiment.get("flags", {}))
        self.board = Board.from_instance(instance)
        self.difficulty = int(experiment["opponent difficulty"])
        if self.difficulty < 0:
            raise ValueError("opponent difficulty must be 0 or more")
        self.prompts = texts.Prompts.load(experiment, instance, self.resources)
        self.lemma = lemmas.noun_lemmatizer().lemma  # without WordNet: a GameDefinitionError saying so
        scripted = instance.get(OPPONENT_REVEALS)
        self.scripted: list[list[str]] | None = (None if scripted is None
                                                 else [[str(word) for word in turn] for turn in scripted])
        self.rng = random.Random(f"codenames:{experiment.get('name', '')}:{instance['game_id']}:"
                                 f"{','.join(self.board.order)}")
        sizes = experiment.get("assignments") or {kind: len(instance["assignments"][kind])
                                                  for kind in (TEAM, OPPONENT, INNOCENT, ASSASSIN)}
        self.record = EpisodeRecord(
            variable=str(experiment.get("variable", "")), experiment_name=str(experiment.get("name", "")),
            flags=self.flags.values, engaged={SCORE_NAMES[role]: self.flags.counters() for role in self.roles},
            team_words=int(sizes[TEAM]),
            other_words=int(sizes[OPPONENT]) + int(sizes[INNOCENT]) + int(sizes[ASSASSIN]))
        self.clue: Clue | None = None
        self.retries = {role: 0 for role in self.roles}
        self.add_player(CLUEGIVER, context=self.prompts.cluegiver(True, self.board.hidden))
        self.add_player(GUESSER)
        self._guesser_feedback = ""

    # ------------------------------------------------------------------ rounds and the opponent

    def on_round_start(self) -> None:
        self.record.rounds.append(RoundRecord(team_hidden=len(self.board.hidden[TEAM])))
        self.retries = {role: 0 for role in self.roles}
        self.log("board status", self.board.snapshot())

    def on_round_end(self) -> None:
        hidden = self.board.hidden_of(OPPONENT)
        count = min(self.difficulty, len(hidden))
        if count == 0:
            return
        words = self._scripted_reveal(count) if self.scripted is not None else self.rng.sample(hidden, count)
        for word in words:
            self.board.reveal(word, OPPONENT)
            self.log("opponent revealed", {"word": word, "assignment": OPPONENT})
        if self.board.opponent_won:
            self._end(Outcome.LOSE, "opponent has won")

    def _scripted_reveal(self, count: int) -> list[str]:
        assert self.scripted is not None
        if not self.scripted:
            raise ReplayDivergence("the opponent took a turn, but no more opponent reveals were recorded")
        words = self.scripted.pop(0)
        hidden = self.board.hidden_of(OPPONENT)
        if len(words) != count or len(set(words)) != count or any(word not in hidden for word in words):
            raise ReplayDivergence(f"recorded opponent reveal {words} is not {count} hidden opponent word(s) "
                                   f"of {hidden}")
        return words

    # ------------------------------------------------------------------ replies

    def parse(self, role: str, reply: str) -> Any:
        self.record.requests += 1
        engaged = self.record.engaged[SCORE_NAMES[role]]
        remaining, revealed = self.board.remaining(), self.board.revealed_by(TEAM)
        try:
            if role == CLUEGIVER:
                parsed: Any = read_clue(reply, remaining=remaining, revealed=revealed, flags=self.flags,
                                        engaged=engaged, related=self._related_board_word)
            else:
                assert self.clue is not None
                parsed = read_guesses(reply, remaining=remaining, revealed=revealed,
                                      allowed=len(self.clue.targets), clue=self.clue.word, flags=self.flags,
                                      engaged=engaged)
        except ReplyProblem as problem:
            error = RuleViolation if problem.rule else ParseError
            raise error(problem.message, key=problem.kind) from None
        self.record.parsed += 1
        return parsed

    def _related_board_word(self, clue: str, remaining: list[str]) -> str | None:
        clue_lemma = self.lemma(clue)
        return next((word for word in remaining if self.lemma(word) == clue_lemma), None)

    def advance(self, role: str, parsed: Any) -> None:
        if role == CLUEGIVER:
            self._give_clue(parsed)
        else:
            self._guess(parsed)

    def _give_clue(self, clue: Clue) -> None:
        self.clue = clue
        current = self.record.rounds[-1]
        for target in clue.targets:
            kind = self.board.kind_of_hidden(target)
            if kind is not None:
                current.targeted[kind] += 1
        self.log("clue", {"clue": clue.word, "targets": clue.targets})
        first = self.round_index == 0
        prompt = self.prompts.guesser(first, self.board.remaining(), clue.word, len(clue.targets))
        self.set_context(GUESSER, prompt if first else f"{self._guesser_feedback}\n{prompt}")

    def _guess(self, guesses: list[str]) -> None:
        assert self.clue is not None
        current = self.record.rounds[-1]
        current.guesses = list(guesses)
        evaluated: list[tuple[str, str]] = []
        for guess in guesses:
            kind = self.board.reveal(guess, TEAM)
            if kind is None:  # a repeated guess let through by IGNORE FALSE TARGETS OR GUESSES
                continue
            evaluated.append((guess, kind))
            current.revealed[kind] += 1
            current.revealed_targets += guess in self.clue.targets
            self.log("team revealed", {"word": guess, "assignment": kind})
            if kind != TEAM:
                break
        self._guesser_feedback = texts.guesser_feedback(evaluated)
        self.set_context(CLUEGIVER, f"{texts.cluegiver_feedback(evaluated)}\n"
                                    f"{self.prompts.cluegiver(False, self.board.hidden)}")
        if self.board.team_won:
            self._end(Outcome.SUCCESS, "team has won")
        elif self.board.opponent_won:
            self._end(Outcome.LOSE, "opponent has won")
        elif self.board.team_hit_assassin:
            self.record.assassin = True
            self._end(Outcome.LOSE, "opponent has won through assassin")

    def _end(self, outcome: Outcome, why: str) -> None:
        self.outcome = outcome
        self.record.lost = outcome is Outcome.LOSE
        self.log("game end", why)

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self._reject(role, error)

    def on_rule_violation(self, role: str, error: RuleViolation) -> None:
        self._reject(role, error)

    def _reject(self, role: str, error: GameError) -> None:
        """Every invalid reply aborts; REPROMPT ON ERROR only counts, as clembench's game master ends the
        episode on the invalid reply before the re-prompt it prepared is ever sent."""
        self.record.violated += 1
        current = self.record.rounds[-1]
        if role == CLUEGIVER:
            current.cluegiver_errors += 1
        else:
            current.guesser_errors += 1
        if self.flags[REPROMPT_ON_ERROR] and self.retries[role] < MAX_RETRIES:
            self.retries[role] += 1
            self.record.engaged[SCORE_NAMES[role]][REPROMPT_ON_ERROR] += 1
        self.log("validation error", {"player": role, "type": error.key, "message": error.reason})
        self.record.aborted = True
        self.outcome = Outcome.ABORTED

    # ------------------------------------------------------------------ scores

    def score(self) -> Scores:
        if self.scripted:
            raise ReplayDivergence(f"{len(self.scripted)} recorded opponent reveal(s) were never played")
        for kind in (TEAM, OPPONENT, INNOCENT, ASSASSIN):
            self.record.team_revealed[kind] = len(self.board.revealed[TEAM][kind])
        return Scores(episode=scoring.episode_scores(self.record), rounds=scoring.round_scores(self.record))

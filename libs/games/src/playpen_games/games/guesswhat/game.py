"""Guess What?: the Guesser finds the target among eight candidate words by asking yes/no questions.

- Roles: the Guesser (Player 1) sees the candidate list and speaks first each round; the Answerer
  (Player 2) knows the target and answers. The Answerer's first prompt is its instructions followed by the
  first question; after that each player gets the other's reply, unchanged.
- Guesser replies start with the question tag (`QUESTION:`) or the guess tag (`GUESS:`), case-sensitive,
  at the very start. A question holds the tag once and at most one `?`, with only whitespace after it
  (`QUESTION: Is it red? \\n<end_of_turn>` is malformed). A guess is the text after the tag, stripped,
  lowercased and stripped of punctuation; it must be at most one word. (The target is only lowercased, so an
  official target such as `Two-step` can never be guessed, as in clembench; our own targets are plain words.)
- Forbidden questions (rule violations): the experiment's patterns for questions about letters, length,
  syllables or part of speech, and direct guesses (see protocol.py for how they are applied).
- Answerer replies must equal one of the experiment's `answer_variations` exactly (`ANSWER: yes`, …).
- Aborted: any malformed reply of either player, and any forbidden question. There are no re-prompts.
- Success: a guess equal to the lowercased target; the game ends at once, without an Answerer turn.
  Lose: a wrong guess, or `max_turns` rounds (8) played without a guess. The Guesser is told it may ask
  max_turns − 1 questions.
- Main Score: the Speed of a success — 100 within 5 rounds, then 100 × (8 − rounds) / 3 —, 0 for a loss,
  NaN when aborted. See scoring.py for the other keys.
"""

from __future__ import annotations

from typing import Any

from playpen_games.engine import DialogueGame, Outcome, ParseError, RuleViolation, Scores
from playpen_games.games.guesswhat import scoring
from playpen_games.games.guesswhat.protocol import FormatProblem, Guess, Protocol, Question
from playpen_games.games.guesswhat.scoring import EpisodeRecord, RoundRecord

GUESSER, ANSWERER = "Guesser", "Answerer"


class GuessWhat(DialogueGame):
    name = "guesswhat"
    roles = (GUESSER, ANSWERER)

    def setup(self) -> None:
        experiment, instance = self.experiment, self.instance
        self.protocol = Protocol.from_experiment(experiment)
        self.max_turns = int(experiment["max_turns"])
        if self.max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        self.target: str = str(instance["target_word"])
        self.candidates: list[str] = [str(word) for word in instance["candidate_list"]]
        if not self.candidates:
            raise ValueError("the candidate list is empty")
        # str(list) as in clembench: the Guesser sees "['Copper', 'Lead', ...]"
        guesser_prompt = (str(experiment["guesser_initial_prompt"]).replace("$LIST$", str(self.candidates))
                          .replace("$N$", str(self.max_turns - 1)))
        answerer_prompt = str(experiment["answerer_initial_prompt"]).replace("$TARGET WORD$", self.target)
        self.record = EpisodeRecord(max_turns=self.max_turns, rounds=[RoundRecord()])
        self.add_player(GUESSER, context=guesser_prompt)
        # merged with the first question by a blank line, as clembench's first Answerer context is
        self.add_player(ANSWERER, initial_prompt=answerer_prompt)

    def on_round_start(self) -> None:
        if self.round_index > 0:
            self.record.rounds.append(RoundRecord())

    def on_round_end(self) -> None:
        if self.round_index + 1 >= self.max_turns:
            self.log("max turns reached", self.max_turns)
            self.outcome = Outcome.LOSE

    # ------------------------------------------------------------------ replies

    def parse(self, role: str, reply: str) -> Any:
        try:
            if role == GUESSER:
                return self.protocol.read_guesser(reply)
            return self.protocol.read_answer(reply)
        except FormatProblem as problem:
            raise ParseError(str(problem), key="invalid format") from None

    def advance(self, role: str, parsed: Any) -> None:
        if role == ANSWERER:
            self.set_context(GUESSER, parsed)
            return
        if isinstance(parsed, Guess):
            correct = parsed.word == self.target.lower()
            self.log("correct guess" if correct else "incorrect guess", parsed.word)
            self.record.won = correct
            self.outcome = Outcome.SUCCESS if correct else Outcome.LOSE
            return
        assert isinstance(parsed, Question)
        reasons = self.protocol.forbidden_reasons(parsed)
        if reasons:
            raise RuleViolation("forbidden question: " + "; ".join(reasons), key="invalid content")
        self.set_context(ANSWERER, parsed.text)

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log("invalid format", error.reason)
        if role == GUESSER:
            self.record.invalid_format_guesser += 1
        else:
            self.record.invalid_format_answerer += 1
        self._abort()

    def on_rule_violation(self, role: str, error: RuleViolation) -> None:
        # clembench aborts on a forbidden question; it is not a lost game
        self.log("invalid content", error.reason)
        self.record.invalid_content_guesser += 1
        self._abort()

    def _abort(self) -> None:
        self.record.rounds[-1].violated = True
        self.record.aborted = True
        self.outcome = Outcome.ABORTED

    def score(self) -> Scores:
        return scoring.score(self.record)

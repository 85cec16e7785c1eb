"""Wordle: the Guesser has `n_turns` (6) rounds to find a secret five-letter word, helped by letter feedback.

Roles: `wordle` and `wordle_withclue` have one model-backed role, the Guesser (the game master computes the
feedback). `wordle_withclue` gives a clue to the word before the first guess. `wordle_withcritic` adds a
Critic: each round is Guesser first guess -> Critic verdict -> Guesser final guess, and only the final
guess is compared with the target (a right first guess that is then changed does not win).

Replies: `explanation: ...` then `guess: <word>` (the Critic: `agreement: yes|no`). The reply must start
with `explanation:`; stripped, it may have at most two lines; the guess keyword must occur exactly once
(ignoring case). Breaking this, or a guess that is not all letters or not five letters long, ABORTS the
episode, as does any invalid Critic reply. A well-formed five-letter word outside the experiment's word list
is re-prompted instead: the re-prompt counts as a parsed request and does not use up a round; after
`max_retry_per_error` (5) re-prompts for the same guess, the next unknown word aborts.

Outcome: SUCCESS when a (final) guess equals the target; LOSE when the last round's guess is wrong.
Main Score: NaN if aborted, 0 if lost; on success plain wordle scores by rounds used (1-3: 100, 4: 50,
5: 30, 6: 20), the two variants round(100 / rounds, 2). Other scores: see scoring.py.
"""

from __future__ import annotations

from typing import Any

from playpen_games.engine import DialogueGame, Outcome, ParseError, RuleViolation, Scores
from playpen_games.games.wordle import protocol, scoring
from playpen_games.games.wordle.feedback import Mark, letter_feedback, render
from playpen_games.games.wordle.protocol import Settings

GUESSER, CRITIC = "Guesser", "Critic"


class Wordle(DialogueGame):
    name = "wordle"
    roles: tuple[str, ...] = (GUESSER,)
    with_critic = False

    def setup(self) -> None:
        self.settings = Settings.from_experiment(self.experiment, with_critic=self.with_critic)
        self.target = str(self.instance["target_word"]).strip().lower()
        if len(self.target) != self.settings.word_length or not self.target.isalpha():
            raise ValueError(f"target word {self.target!r} is not a {self.settings.word_length}-letter word")
        if self.settings.max_rounds < 1 or self.settings.max_retries < 0:
            raise ValueError("n_turns must be at least 1 and max_retry_per_error at least 0")
        if self.name == "wordle" and self.settings.max_rounds > max(scoring.SPEED_SCORES):
            raise ValueError(f"plain wordle scores at most {max(scoring.SPEED_SCORES)} rounds")
        self.committed: list[str] = []  # the guesses that got letter feedback, in order
        self.explanations: list[str] = []
        self.feedbacks: list[list[Mark]] = []
        self.retries = 0  # re-prompts for an unknown word since the last valid guess
        self.add_players()

    def add_players(self) -> None:
        self.add_player(GUESSER, context=self.settings.guesser_prompt)

    # ------------------------------------------------------------------ turns

    def parse(self, role: str, reply: str) -> tuple[str, str]:
        if role == CRITIC:
            agreement, explanation = protocol.read_reply(reply, self.settings, "agreement_lang")
            protocol.check_agreement(agreement, self.settings)
            return agreement, explanation
        guess, explanation = protocol.read_reply(reply, self.settings, "guess_lang")
        protocol.check_guess_form(guess, self.settings)
        return guess, explanation

    def advance(self, role: str, parsed: tuple[str, str]) -> None:
        guess, explanation = parsed
        if guess not in self.settings.words:
            raise RuleViolation(f"{guess!r} is not a word of this game", key=protocol.UNKNOWN_WORD)
        self.retries = 0
        self.commit(guess, explanation)

    def commit(self, guess: str, explanation: str) -> None:
        """A guess that is compared with the target: feedback, then win, loss or the next round."""
        marks = letter_feedback(guess, self.target)
        self.committed.append(guess)
        self.explanations.append(explanation)
        self.feedbacks.append(marks)
        self.log("guess", {"attempt": self.round_index + 1, "guess": guess, "feedback": render(marks)})
        if guess == self.target:
            self.log("correct guess")
            self.outcome = Outcome.SUCCESS
        elif self.round_index + 1 >= self.settings.max_rounds:
            self.log("max rounds played", self.settings.max_rounds)
            self.outcome = Outcome.LOSE
        else:
            self.set_context(GUESSER, protocol.feedback_message(self.settings, render(marks)))

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log("invalid format", f"{role}: {error.reason}")
        self.outcome = Outcome.ABORTED

    def on_rule_violation(self, role: str, error: RuleViolation) -> None:
        # Only an unknown word gets here; it is re-prompted, up to the experiment's limit.
        self.retries += 1
        self.log("unknown word", {"reason": error.reason, "retry": self.retries})
        if self.retries > self.settings.max_retries:
            self.log("invalid format", f"more than {self.settings.max_retries} unknown words in a row")
            self.outcome = Outcome.ABORTED
        else:
            self.reprompt(role, protocol.retry_message(self.settings, error.key))

    # ------------------------------------------------------------------ scores

    def opinion(self) -> tuple[dict[str, float], list[int]] | None:
        return None

    def score(self) -> Scores:
        aborted = self.outcome is Outcome.ABORTED
        lost = self.outcome is Outcome.LOSE
        episode: dict[str, Any] = {
            "Aborted": int(aborted),
            "Lose": int(lost),
            "Success": int(self.outcome is Outcome.SUCCESS),
            **self.request_totals(),
        }
        outcome = scoring.outcome_scores(aborted=aborted, lost=lost, plain=self.name == "wordle",
                                         rounds=len(self.rounds), committed=self.committed)
        episode.update(outcome)
        opinion = self.opinion()
        changes: list[int] = []
        if opinion is not None:
            shares, changes = opinion
            episode.update(shares)
        return Scores(episode=episode, rounds=scoring.round_scores(self.feedbacks, aborted, changes))


class WordleWithClue(Wordle):
    name = "wordle_withclue"

    def add_players(self) -> None:
        self.clue = str(self.instance["target_word_clue"]).strip()
        self.add_player(GUESSER, initial_prompt=self.settings.guesser_prompt,
                        context=protocol.clue_message(self.settings, self.clue))


class WordleWithCritic(WordleWithClue):
    """Rounds of three turns: Guesser first guess, Critic verdict, Guesser final guess.

    The Critic gets `guesser_critic_prompt` with its first request, as in benchmark run v2.0. (The current
    clembench code sets it before reading it, so its Critic starts without instructions; no score depends
    on prompts.)
    """

    name = "wordle_withcritic"
    roles = (GUESSER, CRITIC)
    with_critic = True

    def add_players(self) -> None:
        super().add_players()
        self.add_player(CRITIC, initial_prompt=self.settings.critic_prompt)
        self.first_guesses: list[str] = []
        self.agreements: list[str] = []
        self.phase = "first"  # "first" guess -> "critic" -> "final" guess -> next round

    def advance(self, role: str, parsed: tuple[str, str]) -> None:
        if role == CRITIC:
            agreement, explanation = parsed
            self.agreements.append(agreement)
            self.log("critic", agreement)
            self.set_context(GUESSER, protocol.verdict_message(self.settings, self.clue, agreement, explanation))
            self.phase = "final"
            return
        guess, explanation = parsed
        if guess not in self.settings.words:
            raise RuleViolation(f"{guess!r} is not a word of this game", key=protocol.UNKNOWN_WORD)
        self.retries = 0
        if self.phase == "first":
            self.first_guesses.append(guess)
            self.log("first guess", guess)
            self.set_context(CRITIC, protocol.critic_message(self.settings, self.clue, explanation, guess,
                                                             first=self.round_index == 0))
            self.phase = "critic"
        else:
            self.phase = "first"
            self.commit(guess, explanation)

    def next_role(self, role: str) -> str:
        return CRITIC if self.phase == "critic" else GUESSER

    def round_ends_after(self, role: str, next_role: str) -> bool:
        return role == GUESSER and self.phase == "first"

    def opinion(self) -> tuple[dict[str, float], list[int]]:
        return scoring.opinion_scores(self.first_guesses, self.committed, self.agreements)

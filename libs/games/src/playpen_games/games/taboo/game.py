"""Taboo: the Describer explains a target word without using it or its related words; the Guesser
guesses it within `max_turns` rounds.

- Describer replies start with `CLUE:`, Guesser replies with `GUESS:` (case-sensitive, no leading
  space); anything else aborts the episode.
- A clue word whose Snowball stem equals the stem of the target or a related word (English stopwords
  ignored) is a rule violation: the episode is lost at once.
- The guess is the reply without `GUESS:`, stripped, lowercased, without ASCII punctuation.
- Main Score = 100 / rounds played on success, 0 on a loss, NaN when aborted.
"""

from __future__ import annotations

import string
from functools import lru_cache

from nltk.stem.snowball import SnowballStemmer

from playpen_games.engine import DialogueGame, Outcome, ParseError, RuleViolation, Scores
from playpen_games.language.stopwords import english_stopwords

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def strip_punctuation(text: str) -> str:
    return text.translate(_PUNCTUATION)


@lru_cache(maxsize=1)
def _stemmer() -> SnowballStemmer:
    return SnowballStemmer("english")


def taboo_violations(clue: str, target: str, related: list[str]) -> list[str]:
    """Every clue word that shares a stem with the target or a related word, in clue order."""
    stem = _stemmer().stem
    words = strip_punctuation(clue.replace("CLUE:", "").strip().lower()).split(" ")
    stopwords = english_stopwords()
    forbidden = [(target, stem(target)), *((word, stem(word)) for word in related)]
    found = []
    for word in words:
        if word in stopwords:
            continue
        word_stem = stem(word)
        for taboo_word, taboo_stem in forbidden:
            if word_stem == taboo_stem:
                found.append(f"clue word {word!r} (stem {word_stem!r}) is too close to {taboo_word!r}")
    return found


class Taboo(DialogueGame):
    name = "taboo"
    roles = ("Describer", "Guesser")

    def setup(self) -> None:
        self.target: str = self.instance["target_word"]
        self.related: list[str] = list(self.instance["related_word"])
        self.max_rounds = int(self.experiment["max_turns"])
        if self.max_rounds < 1:
            raise ValueError("max_turns must be at least 1")
        related_list = "\n".join(f"- {word}" for word in self.related)
        describer_prompt = (self.experiment["describer_initial_prompt"]
                            .replace("$TARGET_WORD$", self.target)
                            .replace("$REL_WORD$", related_list)
                            .replace("$N$", str(self.max_rounds)))
        guesser_prompt = self.experiment["guesser_initial_prompt"].replace("$N$", str(self.max_rounds))
        self.add_player("Describer", context=describer_prompt)
        self.add_player("Guesser", initial_prompt=guesser_prompt)
        self.guesses: list[str] = []

    def parse(self, role: str, reply: str) -> str:
        prefix = "CLUE:" if role == "Describer" else "GUESS:"
        if not reply.startswith(prefix):
            raise ParseError(f"a {role} reply must start with {prefix!r}")
        if role == "Describer":
            return strip_punctuation(reply.replace("CLUE:", "").strip().lower())
        return strip_punctuation(reply.replace("GUESS:", "").strip().lower())

    def advance(self, role: str, parsed: str) -> None:
        reply = self.turns[-1].reply
        if role == "Describer":
            violations = taboo_violations(reply, self.target, self.related)
            if violations:
                raise RuleViolation(violations[0], key="taboo word")
            self.log("valid clue", parsed)
            self.set_context("Guesser", reply)
            return
        self.guesses.append(parsed)
        self.log("valid guess", parsed)
        if parsed == self.target:
            self.log("correct guess")
            self.outcome = Outcome.SUCCESS
        else:
            self.set_context("Describer", reply)

    def on_rule_violation(self, role: str, error: RuleViolation) -> None:
        self.log("invalid clue", error.reason)
        self.outcome = Outcome.LOSE

    def on_round_end(self) -> None:
        if self.round_index + 1 >= self.max_rounds:
            self.log("max rounds reached", self.max_rounds)
            self.outcome = Outcome.LOSE

    def score(self) -> Scores:
        # clembench counts one request per round (clue + guess), violated only in the round that aborted.
        rounds = len(self.rounds)
        aborted = self.outcome is Outcome.ABORTED
        success = self.outcome is Outcome.SUCCESS
        violated = 1 if aborted else 0
        round_scores = [
            {"Accuracy": int(success and r == rounds - 1), "Violated Request Count": int(aborted and r == rounds - 1),
             "Parsed Request Count": int(not (aborted and r == rounds - 1)), "Request Count": 1}
            for r in range(rounds)
        ]
        episode: dict[str, float | int] = {
            "Violated Request Count": violated,
            "Parsed Request Count": rounds - violated,
            "Request Count": rounds,
            "Request Success Ratio": (rounds - violated) / rounds,
            "Aborted": int(aborted),
            "Success": int(success),
            "Lose": int(self.outcome is Outcome.LOSE),
            "Main Score": float("nan") if aborted else (100 / rounds if success else 0),
            # clembench's scorer looks for per-turn guess/clue events its game master never logs, so it
            # reports 0 repetitions for every episode; we report the same to stay score-compatible.
            "Repetition-Guesser": 0,
            "Repetition-Describer": 0,
        }
        return Scores(episode=episode, rounds=round_scores)

"""Privateshared (scorekeeping): a slot-filling dialogue in which the Answerer must also keep track of
which of its private details it has already shared.

- Roles: the Answerer (Player 1, the model) privately knows one value per slot from its initial prompt,
  which sits in its history with a pseudo reply (`Ok.`). The Questioner (Player 2) is programmatic: in
  round r ≥ 1 it asks for slot `request_order[r - 1]` with the instance's chosen request text, prefixed
  with its tag (`TRAVEL-AGENT: ...`).
- Probing: round 0 and every round after a valid slot answer end with side questions from the game master,
  one per slot in the order of `probes[round]`: "does the Questioner know X yet?". They are never kept in
  the Answerer's history. A probe answer must be one line `ASIDE: yes…`/`ASIDE: no…`; an invalid one is
  asked again with the next re-prompt suffix, at most 5 attempts in all.
- Slot answers must be one line starting with `ANSWER:`. The slot counts as filled when its value occurs
  in the answer (case-insensitive); any other value occurring there is shared from that turn on.
- Aborted: a fifth invalid answer to one probe, or an invalid slot answer (as in clembench's benchmark
  runs; today's clembench code would skip the turn instead). Every abort is a ParseError.
- Otherwise the game ends after the last probing round: a success when every probe answer is right and
  every slot filled, a loss otherwise.
- Main Score = 100 × harmonic mean of Slot-Filling-Accuracy and max(0, Cohen's kappa of all probe answers
  against the truth); NaN when aborted. See scoring.py for every other key.
"""

from __future__ import annotations

from typing import Any

from playpen_games.engine import DialogueGame, Outcome, ParseError, Scores
from playpen_games.games.privateshared import probing, scoring
from playpen_games.games.privateshared.probing import Probe
from playpen_games.games.privateshared.scoring import EpisodeRecord, RequestCounts
from playpen_games.games.privateshared.texts import load_texts

ANSWERER, QUESTIONER = "Answerer", "Questioner"


class PrivateShared(DialogueGame):
    name = "privateshared"
    roles = (ANSWERER, QUESTIONER)
    programmatic_roles = frozenset({QUESTIONER})

    def setup(self) -> None:
        instance = self.instance
        self.texts = load_texts(self.experiment, instance, self.resources)
        self.words = self.texts.words
        self.slots: dict[str, str] = {str(k): str(v) for k, v in instance["slots"].items()}
        self.request_order: list[str] = [str(slot) for slot in instance["request_order"]]
        if not self.request_order or set(self.request_order) != set(self.slots):
            raise ValueError("request_order must name every slot")
        self.requests = {slot: self.texts.requests[slot][int(instance["requests"][slot])]
                         for slot in self.request_order}
        n_rounds = len(self.request_order) + 1  # probing before the first request and after each answer
        self.probe_plan: list[list[tuple[str, str]]] = []
        for r in range(n_rounds):
            plan = [(str(slot), probing.probe_question(self.texts.probe_questions[slot][int(index)], self.words))
                    for slot, index in instance["probes"][str(r)].items()]
            if not plan or any(slot not in self.slots for slot, _ in plan):
                raise ValueError(f"probing round {r} must probe known slots")
            self.probe_plan.append(plan)
        self.questioner_tag = f"{instance['tag']}: "
        # the 0-based turn after which each slot is shared (clembench's probe_gt)
        self.shared_after = {slot: turn for turn, slot in enumerate(self.request_order)}
        self.record = EpisodeRecord(n_slots=len(self.slots), counts=[RequestCounts() for _ in range(n_rounds)])
        self.probe_rounds: list[list[Probe]] = []  # every started probing round, the failed one included
        self.phase = "probe"
        self.attempt = 1

        answerer = self.add_player(ANSWERER)
        answerer.history = [{"role": "user", "content": str(instance["initial_prompt"])},
                            {"role": "assistant", "content": self.words.ok}]
        self.add_player(QUESTIONER, context=self.words.dummy_prompt, responder=self._questioner_reply)
        self._start_probing()

    # ------------------------------------------------------------------ turn structure

    def round_ends_after(self, role: str, next_role: str) -> bool:
        return next_role == QUESTIONER

    def on_round_start(self) -> None:
        if self.round_index > 0:
            self.set_context(QUESTIONER, self.words.dummy_prompt)

    def _questioner_reply(self, messages: list[dict[str, str]]) -> str:
        return self.requests[self.request_order[self.round_index - 1]]

    # ------------------------------------------------------------------ replies

    def parse(self, role: str, reply: str) -> Any:
        if role == QUESTIONER:
            return reply
        if self.phase == "answer":
            content = probing.parse_slot_answer(reply, self.words)
            if content is None:
                raise ParseError(f"a slot answer must be one line starting with {self.words.answer.strip()!r}",
                                 key="slot answer")
            return content
        label = probing.parse_probe_answer(reply, self.words)
        if label is None:
            raise ParseError(f"a probe answer must be one line starting with {self.words.aside.strip()!r} "
                             f"followed by {self.words.yes!r} or {self.words.no!r}", key="probe answer")
        return label

    def advance(self, role: str, parsed: Any) -> None:
        if role == QUESTIONER:
            self.set_context(ANSWERER, f"{self.questioner_tag}{parsed}")
            self.phase = "answer"
            return
        counts = self.record.counts[self.round_index]
        counts.requests += 1
        counts.parsed += 1
        if self.phase == "answer":
            self._record_slot_answer(parsed)
            self._start_probing()
        else:
            self._record_probe_answer(parsed)

    def on_parse_error(self, role: str, error: ParseError) -> None:
        counts = self.record.counts[self.round_index]
        counts.requests += 1
        counts.violated += 1
        if self.phase == "probe":
            probe = self.current_probes[self.probe_index]
            probe.answer, probe.tries = self.turns[-1].reply, self.attempt
            if self.attempt < self.texts.max_attempts:
                self.attempt += 1
                self.log("probe re-prompt", {"slot": probe.slot, "attempt": self.attempt})
                self._ask_probe()
                return
            self.log("invalid format", f"probe answer for {probe.slot.upper()} invalid after "
                                       f"{self.attempt} attempts; aborted")
        else:
            self.log("invalid format", f"{error.reason}; aborted")
        self.record.aborted = True
        self.outcome = Outcome.ABORTED

    # ------------------------------------------------------------------ slots and probes

    def _record_slot_answer(self, content: str) -> None:
        slot = self.request_order[self.round_index - 1]
        filled = probing.slot_filled(content, self.slots[slot])
        self.record.filled.append(filled)
        self.log("slot filled" if filled else "slot not filled", slot)
        for other, turn in probing.anticipated(content, self.slots, self.shared_after, self.round_index - 1).items():
            self.log("value anticipated", {"slot": other, "from": self.shared_after[other], "to": turn})
            self.shared_after[other] = turn

    def _start_probing(self) -> None:
        r = self.round_index
        self.current_probes = [Probe(slot, question, int(r > self.shared_after[slot]))
                               for slot, question in self.probe_plan[r]]
        self.probe_rounds.append(self.current_probes)
        self.probe_index = 0
        self.phase = "probe"
        self.attempt = 1
        self._ask_probe()

    def _ask_probe(self) -> None:
        question = self.current_probes[self.probe_index].question
        suffix = self.texts.reprompt_suffixes[self.attempt - 1]
        self.reprompt(ANSWERER, probing.probe_prompt(question, suffix, self.words), memorize=False)

    def _record_probe_answer(self, label: int) -> None:
        probe = self.current_probes[self.probe_index]
        probe.value, probe.tries, probe.answer = label, self.attempt, self.turns[-1].reply
        self.log("probe answered", {"slot": probe.slot, "gt": probe.gt, "value": label, "tries": self.attempt,
                                    "correct": label == probe.gt})
        self.probe_index += 1
        if self.probe_index < len(self.current_probes):
            self.attempt = 1
            self._ask_probe()
            return
        self.record.rounds.append([(p.gt, p.value) for p in self.current_probes if p.value is not None])
        if self.round_index == len(self.request_order):
            scores = scoring.episode_scores(self.record)
            self.outcome = Outcome.SUCCESS if scores["Success"] else Outcome.LOSE
            self.log("end", {"realised_slots": dict(self.shared_after)})
        # otherwise the turn passes to the Questioner and the next round begins

    def score(self) -> Scores:
        return Scores(episode=scoring.episode_scores(self.record), rounds=scoring.round_scores(self.record))

"""How MatchIt ASCII replies are checked: the tag a reply must start with, and the two valid decisions.

The tag is the first word (split on single spaces) of the first non-empty line of the stripped reply; it
must equal the expected flag exactly, so `DESCRIPTION:\\nX X ▢ …` is fine but `Description:` or
`**DESCRIPTION:**` are not. Anything after the first line is accepted, except in a decision: the whole
reply, lowercased and stripped of `.` and line breaks at both ends (not of spaces), must be the decision
flag, a space and one of the two solutions. `DECISION: same grid.` is valid; `DECISION: same grid \\n<eos>`
is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DESCRIPTION, QUESTION, ANSWER, DECISION = "description", "question", "answer", "decision"
KINDS = (DESCRIPTION, QUESTION, ANSWER, DECISION)


def first_word(reply: str) -> str:
    """The first word of the first non-empty line; '' for an empty reply."""
    lines = [line for line in reply.strip().split("\n") if line]
    return lines[0].split(" ")[0] if lines else ""


@dataclass(frozen=True)
class Protocol:
    flags: dict[str, str]  # kind -> tag, e.g. "question" -> "QUESTION:"
    solution: str  # the right decision, e.g. "different grids"
    wrong_solution: str

    @classmethod
    def from_experiment(cls, experiment: Mapping[str, Any]) -> Protocol:
        flags = experiment["flags"]
        if not isinstance(flags, Mapping) or any(not isinstance(flags.get(kind), str) or not flags[kind]
                                                 for kind in KINDS):
            raise ValueError(f"flags must map each of {', '.join(KINDS)} to a tag")
        solution, wrong = str(experiment["solution"]), str(experiment["wrong_solution"])
        if solution.lower() == wrong.lower():
            raise ValueError("solution and wrong_solution must differ")
        return cls({kind: str(flags[kind]) for kind in KINDS}, solution, wrong)

    def has_tag(self, reply: str, kind: str) -> bool:
        return first_word(reply) == self.flags[kind]

    def decision(self, reply: str) -> bool | None:
        """True for the right decision, False for the wrong one, None for anything else."""
        said = reply.lower().strip(".\n")
        flag = self.flags[DECISION]
        if said == f"{flag} {self.solution}".lower():
            return True
        if said == f"{flag} {self.wrong_solution}".lower():
            return False
        return None

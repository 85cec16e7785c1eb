"""Reply checks and probe bookkeeping: the pure functions behind a privateshared episode.

- A reply "continues" when, after stripping line breaks at both ends, it still contains one; both slot
  answers and probe answers must not continue.
- A slot answer must start with the answer tag (without its trailing space); its content is the reply
  with every occurrence of that tag removed, stripped.
- A probe answer must start with the aside tag; with every aside tag removed and stripped, its lowercased
  text must start with the yes word (→ 1) or the no word (→ 0). `nope` is therefore a no, `yesterday` a yes.
- A probe question is the probe template around the question, with the attempt's re-prompt suffix and a
  space inserted after every `ME: ` tag (clembench's first suffix is empty, hence `ME:  Does ...`).
- Ground truth: a slot is shared (1) in probing round r when r > the turn its value was first given
  (0-based request index, moved earlier when the Answerer gives a value before it is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

from playpen_games.games.privateshared.texts import Words


@dataclass
class Probe:
    slot: str
    question: str  # the filled-in probe template, before any re-prompt suffix
    gt: int  # 1: the Questioner knows the slot's value by now, 0: still private
    value: int | None = None  # the Answerer's label (1 yes, 0 no); None while unanswered or invalid
    tries: int = 0
    answer: str = ""


def has_continuation(reply: str) -> bool:
    return "\n" in reply.strip("\n")


def parse_slot_answer(reply: str, words: Words) -> str | None:
    """The answer's content, or None when it lacks the answer tag or runs over one line."""
    tag = words.answer.strip()
    if not reply.startswith(tag) or has_continuation(reply):
        return None
    return reply.replace(tag, "").strip()


def parse_probe_answer(reply: str, words: Words) -> int | None:
    """1 for yes, 0 for no, None for an answer that has to be asked again."""
    tag = words.aside.strip()
    if not reply.startswith(tag) or has_continuation(reply):
        return None
    content = reply.replace(tag, "").strip().lower()
    if content.startswith(words.yes):
        return 1
    if content.startswith(words.no):
        return 0
    return None


def probe_question(question: str, words: Words) -> str:
    return words.probe.format(question)


def probe_prompt(question: str, suffix: str, words: Words) -> str:
    """The text the Answerer sees for one attempt at a probe."""
    return question.replace(words.me, f"{words.me}{suffix} ")


def slot_filled(content: str, value: str) -> bool:
    return value.lower() in content.lower()


def anticipated(content: str, slots: dict[str, str], shared_after: dict[str, int], turn: int) -> dict[str, int]:
    """Slots whose value occurs in an answer given at 0-based turn `turn` before they were requested:
    {slot: the earlier turn}. The caller moves their ground truth there."""
    return {slot: turn for slot, value in slots.items()
            if slot_filled(content, value) and turn < shared_after[slot]}

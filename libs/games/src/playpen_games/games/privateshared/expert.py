"""Expert Answerer of privateshared: gives exactly the detail it is asked for, and keeps score of what it
has shared.

What it reads: its private details (`game.slots`, listed in its initial prompt), the game's texts and
protocol words (`game.texts`: which request or probe question is about which slot, the reply tags), and its
own messages — the question it is asked now and the answers it gave before. Never the probes' ground truth
or the game's record of what was shared.

Slot request: finds the slot the question is about (the request text it matches) and answers with that
slot's value word for word, in a short seeded sentence that mentions no other detail.
Probe ("does the other side know X yet?"): finds the slot the question is about and says yes exactly when
its value occurs in one of its own earlier answers.
"""

from __future__ import annotations

import random

from playpen_games.engine.runner import Request
from playpen_games.games.privateshared.game import ANSWERER, PrivateShared

ANSWER_FORMS = ("{value}.", "It is {value}.", "That is {value}.", "My answer is {value}.")
YES_FORMS = ("{yes}", "{yes}, I have told them.", "{yes}, they know it.")
NO_FORMS = ("{no}", "{no}, not yet.", "{no}, I have not said it yet.")


def _slot_asked(question: str, texts: dict[str, list[str]]) -> str | None:
    """The slot whose text (a request, or a probe question) occurs in the question; the longest match wins."""
    best, length = None, 0
    for slot, variants in texts.items():
        for text in variants:
            if text and text in question and len(text) > length:
                best, length = slot, len(text)
    return best


def _rng(request: Request) -> random.Random:
    return random.Random(f"{request.episode_id}/{request.role}/{request.turn_index}")


def answerer(request: Request) -> str:
    game = request.game_state
    assert isinstance(game, PrivateShared)
    words = game.words
    question = request.messages[-1]["content"]
    rng = _rng(request)
    if game.phase == "answer":
        slot = _slot_asked(question, game.texts.requests) or game.request_order[game.round_index - 1]
        value = game.slots[slot]
        others = [v.lower() for s, v in game.slots.items() if s != slot and v.lower() not in value.lower()]
        forms = [form.format(value=value) for form in ANSWER_FORMS]
        clean = [form for form in forms if not any(other in form.lower() for other in others)]
        return f"{words.answer}{rng.choice(clean or [value])}"
    slot = _slot_asked(question, game.texts.probe_questions) or game.current_probes[game.probe_index].slot
    tag = words.answer.strip()
    said = [m["content"] for m in request.messages if m["role"] == "assistant" and m["content"].startswith(tag)]
    shared = any(game.slots[slot].lower() in answer.lower() for answer in said)
    forms = YES_FORMS if shared else NO_FORMS
    return f"{words.aside}{rng.choice(forms).format(yes=words.yes, no=words.no)}"


EXPERTS = {"privateshared": {ANSWERER: answerer}}

"""Playpen's own wording for generated wordle instances: the players' instructions and the game master's
short messages. The protocol keywords (`explanation:`, `guess:`, `agreement:`, ...) are the ones every
clembench wordle instance uses, so that a model trained here plays the official instances too.
"""

from __future__ import annotations

from typing import Any

from playpen_games.games.wordle.protocol import UNKNOWN_WORD

TURNS = 6
WORD_LENGTH = 5
MAX_UNKNOWN_WORD_RETRIES = 5

KEYWORDS: dict[str, Any] = {
    "max_word_length": WORD_LENGTH,
    "clue_lang": "clue:",
    "guess_lang": "guess:",
    "guess_word_lang": "<your five-letter word>",
    "explanation_lang": "explanation:",
    "explanataion_details_lang": "<one sentence on why you chose it>",
    "guess_feedback_lang": "guess_feedback:",
    "agreement_lang": "agreement:",
    "agreement_word_lang": "<yes or no>",
    "guess_agreement_lang": "guess_agreement:",
    "agreement_explanation_lang": "agreement_explanation:",
    "agreement_match_keywords_lang": ["yes", "no"],
    "error_prompt_text": {
        UNKNOWN_WORD: "I do not know that word, so it does not count as a guess.",
        "INVALID_WORD_LENGTH": "A guess has to be exactly five letters long.",
        "INVALID_WORD": "A guess may only contain the letters a to z.",
        "INVALID_FORMAT": "Write your answer as these two lines and nothing else:",
        "RETRY": "Pick another word.",
    },
}

_RULES = """\
We are playing Wordle. I am thinking of a common English word of exactly five letters. You have six tries to \
find it.

Every answer of yours has exactly two lines, with nothing before, between or after them:
explanation: <one sentence on why you chose this word>
guess: <your five-letter word>

After each guess I show you how each of its letters relates to my word:
green - this letter is in my word, at exactly this position
yellow - this letter is in my word, but at another position
red - this letter is not in my word (or it is there fewer times than you used it)

For instance, if my word were "tiger" and you guessed "tires", you would see
guess_feedback: t<green> i<green> r<yellow> e<green> s<red>

Only real English words count. If I don't recognise your word, you may try another one without losing a try. \
Never write feedback yourself; reason from the feedback you get."""

_CLUE = """\
Before your first guess you also get a short clue about the meaning of my word, for example
clue: a large striped wild cat
Use it together with the letter feedback."""

_CRITIC_HELP = """\
There is a second player, the critic, who sees the clue, your explanation and your guess, but not my word. \
After each first guess the critic tells you whether it agrees, like this:
guess_agreement: no
agreement_explanation: <the critic's reasons>
Then you answer again in the same two-line format with your final guess for this try: keep your word or \
change it. Only the final guess is checked against my word and gets letter feedback."""

GUESSER = f"{_RULES}\n\nStart with your first guess."
GUESSER_WITH_CLUE = f"{_RULES}\n\n{_CLUE}\n\nStart with your first guess."
GUESSER_WITH_CRITIC = f"{_RULES}\n\n{_CLUE}\n\n{_CRITIC_HELP}\n\nStart with your first guess."

CRITIC = """\
You are helping a friend with a word puzzle. They are looking for a secret English word of five letters and \
have a clue about its meaning. Each time they make a guess, I pass you the clue, their reasoning and their \
guess, in this form:
clue: a large striped wild cat
explanation: tigers are large cats with stripes, and "tiger" has five letters
guess: tiger

Tell them whether you think the guess fits the clue and what their explanation says about earlier letter \
feedback. You do not know the secret word either, so judge the reasoning, and do not propose a word of your own.

Answer with exactly two lines and nothing else, the second one being lowercase yes or no:
explanation: <one sentence with your reasons>
agreement: <yes or no>"""

"""Skill retention: a fixed suite of verifiable instructions (IFEval-style, our own kinds and wording), their
checkers, and the statscore — % of prompts whose every constraint is followed — with a 95% Wilson interval.

`constraints` holds the kinds, `text` the reading rules the checkers share, `suite` the seeded generator and
the shipped suite file, `scoring` the statscore."""

from playpen_skills.scoring import SkillScore, score, wilson
from playpen_skills.suite import SUITE, Prompt, generate, load

__all__ = ["SUITE", "Prompt", "SkillScore", "generate", "load", "score", "wilson"]

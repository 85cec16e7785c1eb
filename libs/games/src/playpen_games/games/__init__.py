"""The games, one package each (the three textmapworld games share one, as do the three wordles).

Each package's module docstring states its rules, roles, what aborts, loses and succeeds, and its Main Score.
A package holds `game.py` (the rules over the engine), `scoring.py`, optionally `generator.py` (our own
instances), `expert.py` (builtin players) and `data/` (shipped instances and resources). Packages import the
engine and the shared language helpers, never each other and never the registry.
"""

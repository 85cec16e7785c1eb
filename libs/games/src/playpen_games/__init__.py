"""Playpen's games library: the dialogue-game engine, the clembench games, their instances and generators,
the builtin expert players, replay of recorded episodes, and clemscore.

Layers, from the bottom (checked by `make lint`): `engine` (turns, rounds, outcomes, the turn loop; it knows
no game) → `language` (WordNet, stopwords, a reverse dictionary) → `games` (one package per game, each
standing alone) → `registry` (game name → class and data) → `instances` (official and generated instances,
the catalog) → `replay` and `experts`. `clemscore` stands apart: clembench's aggregate scores. The game
master plays these games; the evaluator and the run report score with clemscore.
"""

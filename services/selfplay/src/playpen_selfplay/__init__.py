"""`playpen-selfplay`: the actor of online training. It asks the game master for rounds of GRPO groups played by
the learner policy (self-play, or teacher-play with a builtin partner), and streams every episode to the
trainer, which acknowledges each once it is durable.

Two schedules:

- **async** (default): the next round starts as soon as the last one is submitted; the trainer trains on
  what has arrived meanwhile. Staleness is bounded twice: the actor waits while more than `--max-pending`
  episodes are stored but untrained, and the trainer drops episodes more than its `--max-staleness` versions
  old (and counts them).
- **sync**: one round is exactly one optimiser step's groups; the actor waits until the trainer has trained
  on them, committed the next version, and the policy serves it — every episode is on-policy, and the game
  master and the trainer take turns (what `make bench-loop` compares against).

Every acknowledged episode is durable in the trainer. The next round's number is saved after a round is
acknowledged, so a restart replays at most the round in progress: its episodes keep their ids (run id, round
and seed fix them), already-stored ones come back DUPLICATE and are not stored twice.

It talks to the other services only through the contract (proto/playpen): a client of the game master, the
trainer and the policy, it serves nothing but its Prometheus metrics.
"""

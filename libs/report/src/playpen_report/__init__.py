"""The run report: what changed between the baseline and the latest checkpoint, and how sure we are.

A library of plain data in, files out: the caller hands in held-out evaluation episodes, the evaluated
checkpoints, per-step training statistics, rendered transcripts and the run's configuration (`inputs` turns
the evaluator's results and the trainer's steps.jsonl into those), and `write_report` writes report.md,
verdict.json, results.json, config.json, three PNG learning curves and the transcripts. The evaluator's
`playpen-evaluator report` command and `make run` both write their reports through it.

Tables use clembench's definitions (`tables`); the verdict compares latest with baseline per group (seen,
unseen, overall = all games) on % played, mean episode score (Main Score with an aborted episode counted as
0) and clemscore, each with a 95% percentile bootstrap interval (`verdict`), and says it in words (`wording`).
Skill retention (`statscore`): each version's statscore with its 95% Wilson interval, when the evaluator asked
the skill suite. Recipes (`recipes`): a run's final version summarised in recipe.json, and the runs of several
recipes side by side with 95% intervals.
"""

from playpen_report.records import EvalEpisode, EvalPoint, SkillPoint, TrainStep, Transcript, Verdict, VerdictEntry
from playpen_report.verdict import compare_training, compare_versions
from playpen_report.writer import write_report

__all__ = ["EvalEpisode", "EvalPoint", "SkillPoint", "TrainStep", "Transcript", "Verdict", "VerdictEntry",
           "compare_training", "compare_versions", "write_report"]

"""Skill retention in the report: each version's statscore (the skill suite, playpen_skills) with its 95% Wilson
interval, and one sentence comparing the latest version with the baseline.

The evaluator stores only a version's counts, not its replies per prompt, so the comparison is the cautious
one: a change is called only when the two versions' intervals do not overlap. Overlapping intervals can still
hide a real change of a few points; the table shows the numbers."""

from __future__ import annotations

from collections.abc import Sequence

from playpen_report.records import EvalPoint, SkillPoint


def _interval(skills: SkillPoint) -> str:
    return f"{skills.statscore:.1f}% [{skills.ci_low:.1f}, {skills.ci_high:.1f}]"


def statscore_sentence(points: Sequence[EvalPoint], baseline: int, latest: int) -> str | None:
    """None when neither version was asked the skill suite."""
    by_version = {p.version: p.skills for p in points}
    first, last = by_version.get(baseline), by_version.get(latest)
    if first is None and last is None:
        return None
    if first is None or last is None or baseline == latest:
        known = first or last
        assert known is not None
        which = baseline if first is not None else latest
        return (f"Skill retention (statscore, {known.suite}, {known.prompts} prompts): v{which} {_interval(known)}; "
                "no other version to compare with.")
    if first.suite != last.suite or first.prompts != last.prompts:
        return (f"Skill retention (statscore): baseline v{baseline} {_interval(first)} on {first.suite} "
                f"({first.prompts} prompts), latest v{latest} {_interval(last)} on {last.suite} ({last.prompts} "
                "prompts): different prompt sets, not compared.")
    if last.ci_low > first.ci_high:
        change = "went up (the 95% intervals do not overlap)"
    elif last.ci_high < first.ci_low:
        change = "went down (the 95% intervals do not overlap): game training may have cost general skill"
    else:
        change = "shows no clear change (the 95% intervals overlap)"
    return (f"Skill retention (statscore, % of {first.suite}'s first {first.prompts} prompts whose every "
            f"constraint was followed) {change}: baseline v{baseline} {_interval(first)} → latest v{latest} "
            f"{_interval(last)}.")


def statscore_section(points: Sequence[EvalPoint]) -> list[str]:
    """report.md's section: one row per evaluated version."""
    lines = ["## Skill retention (statscore)", "",
             "Each version answers the same prompts of the skill suite at temperature 0, one turn each; "
             "statscore = % of prompts whose every constraint (word and sentence counts, required or forbidden "
             "words, JSON, bullets, case, endings, …) the reply followed, with its 95% Wilson interval.", ""]
    if not any(p.skills for p in points):
        return [*lines, "Not measured (the evaluator ran without the skill suite)."]
    lines += ["| version | step | label | suite | prompts | followed | statscore | 95% CI |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in points:
        s = p.skills
        cells = ([s.suite, str(s.prompts), str(s.followed), f"{s.statscore:.1f}", f"[{s.ci_low:.1f}, {s.ci_high:.1f}]"]
                 if s else ["not measured", "–", "–", "–", "–"])
        lines.append("| " + " | ".join([f"v{p.version}", str(p.step), p.label, *cells]) + " |")
    measured = [(p.version, p.skills) for p in points if p.skills]
    shown = list(dict((measured[0], measured[-1])).items())  # the first and the last version measured
    kinds = sorted({kind for _, skills in shown for kind in skills.kinds})
    if kinds:
        lines += ["", "Constraints followed per kind, first and last version measured (each constraint counted "
                  "on its own):", "", "| kind | " + " | ".join(f"v{version}" for version, _ in shown) + " |",
                  "| --- |" + " --- |" * len(shown)]
        for kind in kinds:
            cells = []
            for _, skills in shown:
                followed, checked = skills.kinds.get(kind, (0, 0))
                cells.append(f"{followed}/{checked} ({100 * followed / checked:.0f}%)" if checked else "–")
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines

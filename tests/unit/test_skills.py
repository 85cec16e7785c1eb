"""The skill-retention suite: every constraint kind's checker on hand-written replies that follow and break it
(edge cases: surrounding whitespace, markdown bullets, JSON in a code fence), the reading rules, the generator
(the shipped file is what it builds; no prompt asks for conflicting things) and the statscore with its interval."""

from __future__ import annotations

import json
import math

import pytest

from playpen_skills import constraints as c
from playpen_skills import scoring, suite, text

# kind -> (constraint, replies that follow it, replies that break it)
CASES = {
    "min_words": (c.MinWords(5), ["one two three four five", "  Don't stop: well-known rules apply.  \n"],
                  ["one two three four", "- - - * a b c d", ""]),
    "max_words": (c.MaxWords(3), ["Short and sweet.", "a, b!\n", "", "*** --- !!!"], ["one two three four"]),
    "sentences": (c.Sentences(2), ["It rains. It pours!", "Is it? Yes...  ", "First one. Second without end"],
                  ["Only one.", "One. Two. Three.", "Pi is 3.14 here. And more. Still more."]),
    "include_words": (c.IncludeWords(("light", "simple")), ["Light is SIMPLE.", "simple: light"],
                      ["Lights are simple.", "light only", "simplelight"]),
    "forbid_words": (c.ForbidWords(("very", "thing")), ["Everything is fine.", "Nothing to see; verily."],
                     ["It is VERY nice.", "That thing.", "very"]),
    "word_frequency": (c.WordFrequency("time", 2), ["Time after time.", "time, TIME"],
                       ["One time, timely.", "times and time"]),
    "json_object": (c.JsonObject(), ['{"answer": 1}', '  {"a": [1, 2]}\n', '```json\n{"a": "b"}\n```',
                                     '```\n{"a": "b"}```'],
                    ['[1, 2]', 'Here: {"a": 1}', '{"a": 1} done', '{a: 1}', '```json\n{"a": 1}\n``` extra', '"x"']),
    "bullets": (c.Bullets(3), ["- a\n- b\n- c", "Intro:\n* a\n  * b\n• c\n", "- a\n\n- b\n- c  \n"],
                ["- a\n- b", "-a\n-b\n-c", "1. a\n2. b\n3. c", "- a\n- b\n- c\n- d", "--- a\n- b\n- c"]),
    "paragraphs": (c.Paragraphs(2), ["One.\n\nTwo.", "One.\n  \n\n Two.\n\n", "a\nb\n\nc"],
                   ["One.\nTwo.", "One.\n\nTwo.\n\nThree.", ""]),
    "lowercase": (c.Lowercase(), ["all small here, 123.", "ünïcode ok"], ["Capital start.", "ok I", "123 !!!", ""]),
    "uppercase": (c.Uppercase(), ["ALL CAPS, 123.", "ÜBER"], ["ALL CAPs", "123", ""]),
    "ends_with": (c.EndsWith("The end."), ["A story. The end.", "The end.  \n\n"],
                  ["The end", "The end. Really.", "A story. the end.", "The end.\"", ""]),
    "no_commas": (c.NoCommas(), ["No commas here.", ""], ["One, two.", "full-width，comma"]),
    "title": (c.Title(), ["<<My title>>\nText.", "Text <<x>>"], ["<<>>", "<< >>", "<My title>", "<<a\nb>>", "Text."]),
    "quoted": (c.Quoted(), ['"Quoted answer."', '  "a" and "b"  \n'], ['"', '"open only', "'single'", "“curly”"]),
}


def test_every_kind_has_cases() -> None:
    assert set(CASES) == set(c.KINDS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_checker_accepts_what_follows_the_constraint(kind: str) -> None:
    constraint, passing, _ = CASES[kind]
    for reply in passing:
        assert constraint.check(reply), f"{kind} should accept {reply!r}"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_checker_rejects_what_breaks_the_constraint(kind: str) -> None:
    constraint, _, failing = CASES[kind]
    for reply in failing:
        assert not constraint.check(reply), f"{kind} should reject {reply!r}"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_constraint_survives_its_json_form(kind: str) -> None:
    constraint = CASES[kind][0]
    data = json.loads(json.dumps(constraint.to_dict()))
    assert c.from_dict(data) == constraint
    assert constraint.instruction().endswith(".")


def test_reading_rules() -> None:
    assert text.words("Don't re-read 3.5 items — **bold** _x_") == ["Don't", "re-read", "3", "5", "items", "bold", "x"]
    assert text.sentence_count("Hi there.   How are you?!  Fine") == 3
    assert text.sentence_count("...") == 0
    assert text.sentence_count('He said "hi." Then he left (quietly).') == 2
    assert text.bullet_lines("- a\n* * *\n- - -\n  * b") == ["- a", "  * b"]
    assert text.paragraphs("\n\na\n \nb\n\n\n") == ["a", "b"]
    assert text.unfenced('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert text.unfenced("no fence ```x```") == "no fence ```x```"
    assert text.mentions("Time, time; TIME-table", "time") == 2


def test_bad_constraint_data_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown constraint kind"):
        c.from_dict({"kind": "rhymes"})
    with pytest.raises(ValueError, match="takes"):
        c.from_dict({"kind": "min_words", "count": 3})


def test_the_shipped_suite_is_what_the_generator_builds() -> None:
    assert suite.shipped_path().read_text(encoding="utf-8") == suite.render(suite.generate())
    assert suite.generate() == suite.generate()
    name, prompts = suite.load()
    assert name == suite.SUITE and prompts == suite.generate()


def test_the_generated_prompts_are_consistent_and_cover_every_kind() -> None:
    prompts = suite.generate()
    assert len(prompts) == suite.PROMPTS and len({p.id for p in prompts}) == len(prompts)
    for prompt in prompts:
        assert 1 <= len(prompt.constraints) <= 3
        kinds = [type(x) for x in prompt.constraints]
        assert all(c.compatible(a, b) for i, a in enumerate(kinds) for b in kinds[i + 1:]), prompt.text
        assert prompt.text.startswith(prompt.task)
    # The default subset (the first 40) asks for every kind.
    assert {x.kind for p in prompts[:40] for x in p.constraints} == set(c.KINDS)


def test_a_malformed_suite_file_is_refused(tmp_path) -> None:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"suite": "x", "prompts": []}))
    with pytest.raises(ValueError, match="no prompts"):
        suite.load(path)
    path.write_text(json.dumps({"suite": "x", "prompts": [{"id": "a", "task": "t", "prompt": "wrong",
                                                          "constraints": [{"kind": "no_commas"}]}]}))
    with pytest.raises(ValueError, match="does not match"):
        suite.load(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a suite file"):
        suite.load(path)


def test_wilson_interval() -> None:
    low, high = scoring.wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert scoring.wilson(0, 10)[0] == 0.0 and scoring.wilson(10, 10)[1] == pytest.approx(1.0)
    low, high = scoring.wilson(0, 10)
    assert high == pytest.approx(0.2775, abs=1e-4)  # Wilson never collapses to a point at 0 or n
    assert all(math.isnan(x) for x in scoring.wilson(0, 0))
    with pytest.raises(ValueError):
        scoring.wilson(3, 2)


def test_statscore_is_strict_per_prompt_and_loose_per_kind() -> None:
    prompts = [suite.Prompt("a", "Say hi.", (c.Lowercase(), c.MaxWords(3))),
               suite.Prompt("b", "Say hi.", (c.Uppercase(),)),
               suite.Prompt("c", "Say hi.", (c.Lowercase(), c.NoCommas()))]
    result = scoring.score(prompts, ["hi there", "HI", "Hi, you"])
    assert (result.prompts, result.followed) == (3, 2)
    assert result.statscore == pytest.approx(200 / 3)
    assert {k: (v.followed, v.checked) for k, v in result.kinds.items()} == {
        "lowercase": (1, 2), "max_words": (1, 1), "uppercase": (1, 1), "no_commas": (0, 1)}
    low, high = result.interval
    assert (low, high) == pytest.approx(tuple(100 * x for x in scoring.wilson(2, 3)))
    with pytest.raises(ValueError, match="responses"):
        scoring.score(prompts, ["x"])

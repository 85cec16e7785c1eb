"""Offline SFT and DPO: label masks, windowing, preference pairing, episode sources, and short TRL runs on the
tiny random model that commit checkpoints the policy can load."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict

from playpen.common.v1 import chat_pb2, episode_pb2
from playpen_trainer.chat_tokens import IGNORE, ChatEncoder
from playpen_trainer.dialogues import preference_pairs, sft_dialogues
from playpen_trainer.episode_files import read_all, read_episodes
from tests.tiny_model import build_tiny_model

LEARNER, PARTNER = "learner", "partner"
OK, PARSE_ERROR = episode_pb2.TURN_STATUS_OK, episode_pb2.TURN_STATUS_PARSE_ERROR
END = "<|im_end|>"


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("offline-base") / "model")


@pytest.fixture(scope="module")
def tokenizer(base_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_model))


@pytest.fixture(scope="module")
def encoder(tokenizer) -> ChatEncoder:
    return ChatEncoder(tokenizer, {tokenizer.eos_token_id})


# ------------------------------------------------------------------------------------------ building episodes


def play(tokenizer, script, *, episode_id="e1", instance_id="exp/0", game="taboo", outcome="success"):
    """An Episode as the engine records one: each role's history is its prompts and its own replies, and each
    model turn carries the token ids the policy would have produced from the tiny model's chat template.

    script: (role, context, reply, policy, status, memorize) tuples; a role's first context may be preceded by a
    system prompt given as ("system", role, text)."""
    histories: dict[str, list[dict]] = {}
    episode = episode_pb2.Episode(episode_id=episode_id, group_id=f"g-{instance_id}", game=game,
                                  instance_id=instance_id, status=episode_pb2.EPISODE_STATUS_COMPLETED)
    for step in script:
        if step[0] == "system":
            histories[step[1]] = [{"role": "system", "content": step[2]}]
            continue
        role, context, reply, policy, status, memorize = step
        prompt = [*histories.get(role, []), {"role": "user", "content": context}]
        turn = episode.turns.add(index=len(episode.turns), role=role, player=role, reply=reply, status=status)
        turn.messages.extend(chat_pb2.ChatMessage(**m) for m in prompt)
        prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                   return_dict=False)
        completion = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        turn.generation.CopyFrom(chat_pb2.Generation(
            prompt_token_ids=list(prompt_ids), completion_token_ids=completion,
            completion_logprobs=[-0.5] * len(completion), policy_version=1, policy=policy))
        if memorize:
            histories[role] = [*prompt, {"role": "assistant", "content": reply}]
    scores = episode.scores
    scores.success, scores.lose, scores.aborted = outcome == "success", outcome == "lose", outcome == "aborted"
    scores.main_score = 100.0 if outcome == "success" else (math.nan if outcome == "aborted" else 0.0)
    episode.outcome = {"success": episode_pb2.GAME_OUTCOME_SUCCESS, "lose": episode_pb2.GAME_OUTCOME_LOSE,
                       "aborted": episode_pb2.GAME_OUTCOME_ABORTED}[outcome]
    return episode


def guess(context, reply, status=OK, memorize=True):
    return ("guesser", context, reply, LEARNER, status, memorize)


def describe(context, reply):
    return ("describer", context, reply, PARTNER, OK, True)


def taboo(tokenizer, guesses, *, outcome="success", instance_id="exp/0", **kwargs):
    """A describer (partner policy) and a guesser (learner): the guesser's contexts relay the partner's clues."""
    script = [("system", "guesser", f"You are the guesser. Game {instance_id}.")]
    for k, reply in enumerate(guesses):
        clue = f"CLUE: a cold season {k}"
        script += [describe(f"Describe the word, round {k}", clue), guess(f"{clue}. Your guess?", reply)]
    return play(tokenizer, script, outcome=outcome, instance_id=instance_id, **kwargs)


def as_dicts(messages) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in messages]


def target_runs(labels, input_ids, tokenizer) -> list[str]:
    """The decoded maximal runs of target tokens, and a check that each target is its own input token."""
    runs, current = [], []
    for token, label in zip(input_ids, labels, strict=True):
        if label == IGNORE:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    if current:
        runs.append(current)
    return [tokenizer.decode(run) for run in runs]


# ------------------------------------------------------------------------------------------ SFT masks


def test_only_learner_replies_are_targets_exactly_their_tokens(tokenizer, encoder):
    replies = ["GUESS: winter", "GUESS: the quick fox", "GUESS: cold"]
    episode = taboo(tokenizer, replies)
    [dialogue] = sft_dialogues(episode, LEARNER, train_invalid=False)
    assert dialogue.role == "guesser"
    encoded = encoder.encode(dialogue.messages, dialogue.targets, dialogue.policy_prompts)

    assert target_runs(encoded.labels, encoded.input_ids, tokenizer) == [r + END for r in replies]
    # The whole sequence is the template's rendering (up to the last reply's end-of-turn token)...
    rendered = tokenizer.apply_chat_template(dialogue.messages, tokenize=True, return_dict=False)
    assert encoded.input_ids == list(rendered[:len(encoded.input_ids)])
    # ...of which system, game master and the partner's relayed clues are context only.
    context = tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels, strict=True)
                                if label == IGNORE])
    assert "You are the guesser. Game exp/0." in context and "CLUE: a cold season 2" in context
    assert encoded.prompt_mismatches == 0
    # The policy's recorded prompt of every target is exactly the prefix before it.
    for position in dialogue.targets:
        prefix = encoder.ids(dialogue.messages[:position], generation_prompt=True)
        assert encoded.input_ids[:len(prefix)] == dialogue.policy_prompts[position]


def test_every_model_role_is_a_learner_when_no_label_is_given(tokenizer):
    episode = taboo(tokenizer, ["GUESS: winter", "GUESS: cold"])
    dialogues = sft_dialogues(episode, "", train_invalid=False)
    assert sorted(d.role for d in dialogues) == ["describer", "guesser"]
    assert all(len(d.targets) == 2 for d in dialogues)


def test_a_demonstrators_text_turns_are_targets_when_it_is_named(tokenizer, encoder):
    """Episodes played by the game master's programmatic expert carry text, no token record: naming the
    expert's label (--learner expert) imitates its replies; the partner's stay context."""
    episode = taboo(tokenizer, ["GUESS: winter", "GUESS: cold"])
    episode.players.add(role="guesser", player="Player 2", policy="expert")
    episode.players.add(role="describer", player="Player 1", policy=PARTNER)
    for turn in episode.turns:
        if turn.role == "guesser":
            turn.ClearField("generation")
    [dialogue] = sft_dialogues(episode, "expert", train_invalid=False)
    assert dialogue.role == "guesser" and dialogue.policy_prompts == {}
    encoded = encoder.encode(dialogue.messages, dialogue.targets, dialogue.policy_prompts)
    assert target_runs(encoded.labels, encoded.input_ids, tokenizer) == ["GUESS: winter" + END, "GUESS: cold" + END]
    # Without the label, the expert's turns are nobody's: only model turns (the partner's) are learners.
    assert [d.role for d in sft_dialogues(episode, "", train_invalid=False)] == ["describer"]


def test_invalid_replies_are_context_unless_asked(tokenizer, encoder):
    script = [guess("Guess the word", "winter"), guess("Invalid format, try again", "GUESS: winter")]
    script[0] = (*script[0][:4], PARSE_ERROR, True)
    episode = play(tokenizer, script)
    counts = Counter()
    [masked] = sft_dialogues(episode, LEARNER, train_invalid=False, counts=counts)
    assert counts["invalid_replies_masked"] == 1
    encoded = encoder.encode(masked.messages, masked.targets)
    assert target_runs(encoded.labels, encoded.input_ids, tokenizer) == ["GUESS: winter" + END]
    [both] = sft_dialogues(episode, LEARNER, train_invalid=True)
    assert len(both.targets) == 2


def test_a_reply_the_game_did_not_keep_gets_its_own_example_and_none_is_trained_twice(tokenizer, encoder):
    episode = play(tokenizer, [guess("Question 1", "ANSWER: yes"),
                               guess("Probe: is it cold?", "ASIDE: yes", memorize=False),
                               guess("Question 2", "ANSWER: no")])
    dialogues = sft_dialogues(episode, LEARNER, train_invalid=False)
    runs = [target_runs(e.labels, e.input_ids, tokenizer)
            for e in (encoder.encode(d.messages, d.targets) for d in dialogues)]
    assert sorted(r for run in runs for r in run) == sorted(x + END for x in ("ANSWER: yes", "ASIDE: yes",
                                                                              "ANSWER: no"))
    assert runs == [["ANSWER: yes" + END, "ANSWER: no" + END], ["ASIDE: yes" + END]]


# ------------------------------------------------------------------------------------------ too long


def test_long_dialogues_are_windowed_to_whole_last_turns_or_dropped_and_counted(tokenizer, encoder):
    replies = [f"GUESS: winter {k}" for k in range(6)]
    [dialogue] = sft_dialogues(taboo(tokenizer, replies), LEARNER, train_invalid=False)
    full = encoder.encode(dialogue.messages, dialogue.targets)
    two_turns = encoder.encode([dialogue.messages[0], *dialogue.messages[-4:]], [2, 4])
    limit = len(two_turns.input_ids) + 5  # room for the last two exchanges, not three

    fitted = encoder.fit(dialogue, limit, window=True)
    assert fitted.status == "windowed" and fitted.targets_lost == 4
    assert len(fitted.encoded.input_ids) <= limit < len(full.input_ids)
    assert target_runs(fitted.encoded.labels, fitted.encoded.input_ids, tokenizer) == [r + END for r in replies[-2:]]
    assert tokenizer.decode(fitted.encoded.input_ids).startswith("<|im_start|>system\nYou are the guesser. Game exp/0.")

    assert encoder.fit(dialogue, limit, window=False).status == "too_long"
    assert encoder.fit(dialogue, 10, window=True).status == "too_long"  # not even the last exchange fits
    assert encoder.fit(dialogue, len(full.input_ids), window=True).status == "ok"


def test_the_sft_report_counts_every_windowed_and_dropped_example(tokenizer, encoder):
    from playpen_trainer.offline import build_sft_rows
    from playpen_trainer.offline_settings import SftSettings

    long = taboo(tokenizer, [f"GUESS: winter {k}" for k in range(6)], episode_id="long")
    short = taboo(tokenizer, ["GUESS: cold"], episode_id="short")
    failed = taboo(tokenizer, ["GUESS: warm"], episode_id="failed", outcome="lose")
    [dialogue] = sft_dialogues(long, LEARNER, train_invalid=False)
    limit = len(encoder.encode([dialogue.messages[0], *dialogue.messages[-4:]], [2, 4]).input_ids) + 5

    for overflow, examples, windowed, too_long in (("window", 2, 1, 0), ("drop", 1, 0, 1)):
        options = SftSettings(_cli_parse_args=["--episodes", "x.jsonl", "--out", "o", "--learner", LEARNER,
                                               "--max-length", str(limit), "--overflow", overflow])
        report = {"episodes": Counter()}
        rows = build_sft_rows([long, short, failed], encoder, options, report)
        assert len(rows) == report["examples"] == examples
        assert report["windowed"] == windowed and report["dropped"]["too_long"] == too_long
        assert report["episodes"]["not_successful"] == 1 and report["episodes"]["used"] == 2
        assert report["targets_lost_to_windowing"] == (4 if windowed else 0)
        assert report["targets_lost_with_dropped_examples"] == (6 if too_long else 0)
        assert all(len(row["input_ids"]) <= limit for row in rows)


# ------------------------------------------------------------------------------------------ DPO pairs


def test_dpo_pairs_are_success_vs_failure_of_the_same_instance_and_role(tokenizer):
    a_win = taboo(tokenizer, ["GUESS: cold", "GUESS: winter"], episode_id="a-win")
    a_lose = taboo(tokenizer, ["GUESS: cold", "GUESS: summer"], episode_id="a-lose", outcome="lose")
    a_win2 = taboo(tokenizer, ["GUESS: cold", "GUESS: winter", "GUESS: snow"], episode_id="a-win2")
    b_win = taboo(tokenizer, ["GUESS: dog"], episode_id="b-win", instance_id="exp/1")
    b_win2 = taboo(tokenizer, ["GUESS: fox"], episode_id="b-win2", instance_id="exp/1")
    c_lose = taboo(tokenizer, ["GUESS: cat"], episode_id="c-lose", instance_id="exp/2", outcome="aborted")
    counts = Counter()
    pairs = preference_pairs([a_win, a_lose, a_win2, b_win, b_win2, c_lose], LEARNER, counts=counts)

    assert {(p.level, p.chosen_episode, p.rejected_episode) for p in pairs} == {
        ("dialogue", "a-win", "a-lose"), ("dialogue", "a-win2", "a-lose"), ("turn", "a-win", "a-lose")}
    assert counts["groups: no failure"] == 1 and counts["groups: no success"] == 1  # two successes make no pair
    assert counts["turn: duplicate"] == 1  # a-win2 diverges from a-lose at the same turn with the same replies

    [turn] = [p for p in pairs if p.level == "turn"]
    # The first diverging learner turn: the prompt is the identical prefix, including the shared first reply.
    assert turn.prompt == as_dicts(a_win.turns[3].messages) == as_dicts(a_lose.turns[3].messages)
    assert turn.prompt[-2:] == [{"role": "assistant", "content": "GUESS: cold"},
                                {"role": "user", "content": "CLUE: a cold season 1. Your guess?"}]
    assert turn.chosen.messages[-1]["content"] == "GUESS: winter"
    assert turn.rejected.messages[-1]["content"] == "GUESS: summer"
    assert turn.chosen.targets == [len(turn.prompt)] == turn.rejected.targets

    dialogue = next(p for p in pairs if p.level == "dialogue" and p.chosen_episode == "a-win")
    assert dialogue.prompt == as_dicts(a_win.turns[1].messages)
    assert len(dialogue.chosen.targets) == 2 and all(t >= len(dialogue.prompt) for t in dialogue.chosen.targets)


def test_dpo_pairs_never_cross_roles_and_need_an_identical_prefix(tokenizer):
    win = taboo(tokenizer, ["GUESS: cold", "GUESS: winter"], episode_id="win")
    lose = taboo(tokenizer, ["GUESS: warm", "GUESS: summer"], episode_id="lose", outcome="lose")
    pairs = preference_pairs([win, lose], "", levels=["turn"])
    # Self-play: both roles are learners; the describer's replies are identical, so only the guesser diverges.
    assert [(p.role, p.chosen.messages[-1]["content"], p.rejected.messages[-1]["content"]) for p in pairs] == [
        ("guesser", "GUESS: cold", "GUESS: warm")]

    other_clue = play(tokenizer, [describe("Describe the word, round 0", "CLUE: something else"),
                                  guess("CLUE: something else. Your guess?", "GUESS: cold")],
                      episode_id="other", outcome="lose")
    counts = Counter()
    assert preference_pairs([win, other_clue], LEARNER, levels=["turn", "dialogue"], counts=counts) == []
    assert counts["turn: contexts differ before any reply does"] == 1
    assert counts["dialogue: first contexts differ"] == 1


def test_a_dialogue_pair_scores_learner_replies_only(tokenizer, encoder):
    win = taboo(tokenizer, ["GUESS: cold", "GUESS: winter"], episode_id="win")
    lose = taboo(tokenizer, ["GUESS: warm", "GUESS: summer"], episode_id="lose", outcome="lose")
    [pair] = preference_pairs([win, lose], LEARNER, levels=["dialogue"])
    row = encoder.encode_pair(pair)
    assert row["prompt_ids"] == list(win.turns[1].generation.prompt_token_ids)
    for side, replies in (("chosen", ["GUESS: cold", "GUESS: winter"]), ("rejected", ["GUESS: warm", "GUESS: summer"])):
        ids, mask = row[f"{side}_ids"], row[f"{side}_mask"]
        labels = [t if m else IGNORE for t, m in zip(ids, mask, strict=True)]
        assert target_runs(labels, ids, tokenizer) == [r + END for r in replies]
        assert "CLUE: a cold season 1" in tokenizer.decode(ids)  # the game master's text is there, unscored


# ------------------------------------------------------------------------------------------ episode sources


def test_read_episodes_from_jsonl_files_and_directories(tokenizer, tmp_path):
    episodes = [taboo(tokenizer, ["GUESS: cold"], episode_id=f"e{k}", outcome="aborted") for k in range(3)]
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    lines = [json.dumps(MessageToDict(e, preserving_proto_field_name=True)) for e in episodes]
    (run / "episodes.jsonl").write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:40])  # last one mid-write
    (tmp_path / "runs" / "b.jsonl").write_text(lines[2] + "\n")

    read = list(read_episodes(run / "episodes.jsonl"))
    assert read == episodes[:2] and math.isnan(read[0].scores.main_score)
    assert [e.episode_id for e in read_episodes(tmp_path / "runs")] == ["e0", "e1", "e2"]
    assert [e.episode_id for e in read_all([tmp_path / "runs", tmp_path / "runs" / "b.jsonl"])] == ["e0", "e1", "e2"]

    (run / "episodes.jsonl").write_text(lines[0] + "\n{not json\n" + lines[1] + "\n")
    with pytest.raises(ValueError, match=r"episodes\.jsonl:2"):
        list(read_episodes(run / "episodes.jsonl"))


def test_read_episodes_from_the_store_while_it_is_written(tokenizer, tmp_path):
    path = tmp_path / "episodes.db"
    writer = sqlite3.connect(str(path), isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE episodes (episode_id TEXT PRIMARY KEY, group_id TEXT, game TEXT, status INTEGER, "
                   "received_at REAL, data BLOB NOT NULL, consumed_step INTEGER, dropped TEXT)")
    episodes = [taboo(tokenizer, ["GUESS: cold"], episode_id=f"e{k:03d}") for k in range(300)]
    for k, episode in enumerate(episodes):
        writer.execute("INSERT INTO episodes VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                       (episode.episode_id, episode.group_id, episode.game, episode.status, float(k),
                        episode.SerializeToString(), "stale" if k % 7 == 0 else None))
    try:
        assert list(read_episodes(path)) == episodes  # pages of rows, the writer's connection still open
        before = path.stat().st_mtime_ns
        list(read_episodes(path))
        assert path.stat().st_mtime_ns == before
    finally:
        writer.close()
    assert [e.episode_id for e in read_episodes(path)][-1] == "e299"  # and once the writer is gone


# ------------------------------------------------------------------------------------------ the commands


def _tensor_shapes(directory: Path) -> dict[str, tuple]:
    from safetensors import safe_open

    with safe_open(str(directory / "model.safetensors"), "pt") as handle:
        return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}


def _training_episodes(tokenizer, path: Path) -> Path:
    episodes = []
    for k in range(4):
        instance = f"exp/{k}"
        episodes += [taboo(tokenizer, ["GUESS: cold", "GUESS: winter"], episode_id=f"win{k}", instance_id=instance),
                     taboo(tokenizer, ["GUESS: cold", "GUESS: summer"], episode_id=f"lose{k}", instance_id=instance,
                           outcome="lose")]
    path.write_text("".join(json.dumps(MessageToDict(e, preserving_proto_field_name=True)) + "\n" for e in episodes))
    return path


def test_sft_command_trains_and_commits_a_checkpoint(tokenizer, base_model, tmp_path, capsys):
    from playpen_common.checkpoints import read_manifest, verify_checkpoint
    from playpen_trainer.offline import sft_main

    episodes = _training_episodes(tokenizer, tmp_path / "episodes.jsonl")
    out = tmp_path / "sft"
    code = sft_main(["--episodes", str(episodes), "--base-model", str(base_model), "--out", str(out),
                     "--learner", LEARNER, "--version", "3", "--max-steps", "6", "--lr", "3e-3",
                     "--batch-size", "2", "--max-length", "256"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 4 and report["episodes"]["not_successful"] == 4
    assert report["train"]["steps"] == 6 and report["train"]["loss_last"] < report["train"]["loss_first"]

    ref = read_manifest(out / "v00000003")
    assert ref.version == 3 and ref.kind == 1 and ref.step == 6 and ref.config_hash == report["config_hash"]
    verify_checkpoint(ref)
    assert _tensor_shapes(out / "v00000003") == _tensor_shapes(base_model)
    assert json.loads((out / "v00000003" / "training_report.json").read_text())["examples"] == 4
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no staging or TRL leftovers


def test_dpo_command_writes_a_loadable_full_model_and_a_lora_adapter(tokenizer, base_model, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from playpen_common.checkpoints import read_manifest, verify_checkpoint
    from playpen_trainer.offline import dpo_main

    episodes = _training_episodes(tokenizer, tmp_path / "episodes.jsonl")
    common = ["--episodes", str(episodes), "--base-model", str(base_model), "--out", str(tmp_path / "dpo"),
              "--learner", LEARNER, "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3"]
    assert dpo_main([*common, "--version", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == {"dialogue": 4, "turn": 4} and report["train"]["steps"] == 2
    # The first step's loss is log 2 exactly when the reference is the model being trained at its start: the base.
    assert report["train"]["loss_first"] == pytest.approx(math.log(2), abs=1e-5)
    assert report["train"]["loss_last"] < report["train"]["loss_first"]
    full = tmp_path / "dpo" / "v00000001"
    verify_checkpoint(read_manifest(full))
    assert _tensor_shapes(full) == _tensor_shapes(base_model)
    AutoModelForCausalLM.from_pretrained(str(full))

    assert dpo_main([*common, "--version", "2", "--lora", "true", "--level", "turn", "--lora-rank", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == {"turn": 4}
    assert report["train"]["loss_first"] == pytest.approx(math.log(2), abs=1e-5)  # LoRA: adapter off = base
    adapter = read_manifest(tmp_path / "dpo" / "v00000002")
    assert adapter.kind == 2 and {"adapter_model.safetensors", "adapter_config.json"} <= {f.path for f in adapter.files}
    assert dpo_main([*common, "--version", "2"]) == 2  # a committed version is never overwritten


def test_help_answers_without_torch():
    code = ("import sys\nfrom playpen_trainer import offline\n"
            "for main in (offline.sft_main, offline.dpo_main):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--episodes" in result.stdout and "--level" in result.stdout

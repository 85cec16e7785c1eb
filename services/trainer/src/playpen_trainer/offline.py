"""`playpen-trainer sft` and `playpen-trainer dpo`: offline training from recorded episodes, through TRL.

SFT learns from successful episodes: one example per episode and learner role (dialogues.py), every learner
reply in it a target and everything else masked (chat_tokens.py). DPO learns from success-vs-failure pairs of
the same instance and role, whole dialogues and/or the first diverging turn. Both write a committed checkpoint
(`<out>/v<version>/`, the layout `playpen-policy --follow-dir <out>` loads) with a training_report.json that
accounts for every example: trained, windowed, or dropped and why.

Nothing here imports torch at module level, so `--help` answers at once; training does (offline_train.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from playpen.common.v1 import episode_pb2
from playpen_common.checkpoints import MANIFEST, version_dir
from playpen_common.settings import parse_command_line
from playpen_trainer.chat_tokens import ChatEncoder, TemplateMismatch
from playpen_trainer.dialogues import LEVELS, learner_roles, preference_pairs, sft_dialogues
from playpen_trainer.episode_files import EpisodeFileError, read_all
from playpen_trainer.offline_settings import NOT_TRAINING, SETTINGS, OfflineSettings


def sft_main(argv: list[str]) -> int:
    return _main("sft", argv)


def dpo_main(argv: list[str]) -> int:
    return _main("dpo", argv)


def _main(command: str, argv: list[str]) -> int:
    options = parse_command_line(SETTINGS[command], argv, f"playpen-trainer {command}")
    try:
        report = run(command, options)
    except (OSError, EpisodeFileError) as error:  # bad input; anything else is a bug and keeps its traceback
        print(f"playpen-trainer {command}: error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if options.report:
        options.report.write_text(text + "\n")
    return 0 if report["examples"] or options.dry_run else 1  # 1: nothing to train on (the report says why)


def _episodes(options: OfflineSettings, report: dict[str, Any]) -> Iterable[episode_pb2.Episode]:
    games = set(options.games)
    counts = report["episodes"]
    for episode in read_all(options.episodes):
        counts["read"] += 1
        if games and episode.game not in games:
            counts["other_game"] += 1
            continue
        yield episode


def build_sft_rows(episodes: Iterable[episode_pb2.Episode], encoder: ChatEncoder, options: OfflineSettings,
                   report: dict[str, Any]) -> list[dict[str, list[int]]]:
    """Tokenised SFT examples of the successful episodes; `report` is filled with what happened to each."""
    counts, outcomes = Counter(), Counter()
    rows = []
    for episode in episodes:
        if episode.status != episode_pb2.EPISODE_STATUS_COMPLETED or not episode.scores.success:
            report["episodes"]["not_successful"] += 1
            continue
        if not learner_roles(episode, options.learner):
            report["episodes"]["no_learner_turns"] += 1
            continue
        report["episodes"]["used"] += 1
        for dialogue in sft_dialogues(episode, options.learner, train_invalid=options.train_invalid_replies,
                                      counts=counts):
            fitted = encoder.fit(dialogue, options.max_length, window=options.overflow == "window")
            outcomes[fitted.status] += 1
            if fitted.encoded is None:
                counts["targets_lost_with_dropped_examples"] += fitted.targets_lost
                continue
            encoded = fitted.encoded
            counts["targets_lost_to_windowing"] += fitted.targets_lost
            counts["prompt_token_mismatches"] += encoded.prompt_mismatches
            counts["tokens"] += len(encoded.input_ids)
            counts["target_tokens"] += encoded.target_tokens
            rows.append({"input_ids": encoded.input_ids, "labels": encoded.labels})
    report["examples"] = len(rows)
    report["windowed"] = outcomes["windowed"]
    report["dropped"] = {status: outcomes[status] for status in ("too_long", "template_mismatch", "no_targets")}
    for key in ("tokens", "target_tokens", "targets_lost_to_windowing", "targets_lost_with_dropped_examples",
                "invalid_replies_masked", "prompt_token_mismatches"):
        report[key] = counts[key]
    return rows


def build_dpo_rows(episodes: Iterable[episode_pb2.Episode], encoder: ChatEncoder, options: OfflineSettings,
                   report: dict[str, Any]) -> list[dict[str, list[int]]]:
    """Tokenised preference pairs; `report` counts pairs by level, and every pair not made or dropped, by reason."""
    levels = LEVELS if options.level == "both" else (options.level,)
    skipped: Counter = Counter()
    pairs = preference_pairs(episodes, options.learner, levels=levels,
                             max_pairs_per_group=options.max_pairs_per_group, seed=options.seed, counts=skipped)
    by_level, dropped, rows = Counter(), Counter(), []
    for pair in pairs:
        try:
            row = encoder.encode_pair(pair)
        except TemplateMismatch:
            dropped[f"{pair.level}: template_mismatch"] += 1
            continue
        # No windowing for pairs: cutting the shared prompt would change what both replies answer.
        if len(row["prompt_ids"]) + max(len(row["chosen_ids"]), len(row["rejected_ids"])) > options.max_length:
            dropped[f"{pair.level}: too_long"] += 1
            continue
        by_level[pair.level] += 1
        rows.append(row)
    report.update(pairs={level: by_level[level] for level in levels}, examples=len(rows), dropped=dict(dropped),
                  not_paired=dict(sorted(skipped.items())))
    return rows


def _config(options: OfflineSettings) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, list):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value

    return {key: plain(value) for key, value in sorted(options.model_dump().items())}


def config_hash(options: OfflineSettings) -> str:
    relevant = {k: v for k, v in _config(options).items() if k not in NOT_TRAINING}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def run(command: str, options: OfflineSettings) -> dict[str, Any]:
    """Build the dataset, train, commit; returns the report (also inside the checkpoint)."""
    if not options.dry_run and (version_dir(options.out, options.version) / MANIFEST).is_file():
        raise FileExistsError(f"version {options.version} is already committed in {options.out}")
    from playpen_trainer import offline_train as training  # torch, transformers, TRL: only from here on

    tokenizer = training.load_tokenizer(options.base_model)
    encoder = ChatEncoder(tokenizer, training.end_of_turn_ids(options.base_model, tokenizer))
    report: dict[str, Any] = {"command": command, "base_model": str(options.base_model),
                              "config": _config(options),
                              "config_hash": config_hash(options), "episodes": Counter()}
    build = build_sft_rows if command == "sft" else build_dpo_rows
    rows = build(_episodes(options, report), encoder, options, report)
    report["episodes"] = dict(report["episodes"])
    if options.dry_run or not rows:
        return report

    model = training.load_model(options.base_model)
    work_dir = options.out / f".trl-v{options.version}"  # TRL's output_dir; it saves nothing there (save "no")
    train = training.train_sft if command == "sft" else training.train_dpo
    trained, result = train(model, tokenizer, rows, options, work_dir)
    report["train"] = result.summary()
    report["checkpoint"] = {"version": options.version, "kind": "LORA" if options.lora else "FULL",
                            "step": result.steps}
    ref = training.commit_checkpoint(trained, tokenizer, options.out, version=options.version, step=result.steps,
                                     base_model=str(options.base_model), config_hash=report["config_hash"],
                                     report=report)
    shutil.rmtree(work_dir, ignore_errors=True)
    report["checkpoint"]["path"] = ref.uri
    return report

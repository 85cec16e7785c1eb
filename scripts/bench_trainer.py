"""`make bench-trainer`: our GRPO update against TRL GRPOTrainer's loss-and-backward, same batch, same model,
same run. The last line printed is one JSON object with `grpo_tokens_per_s_ratio` (ours / TRL).

The batch: prompts from the game master's shipped training instances, rendered with the model's chat template
as the opening turn or after one or two earlier exchanges (so prompt lengths vary as in multi-turn play);
completions sampled from the model itself (temperature 1, raw-logit logprobs recorded as the behaviour
logprobs); advantages alternating ±1 (no zero-advantage sample, so ours skips nothing).

- ours: `grpo_step` — forward, loss, backward over token-budgeted micro-batches, grad clipping and the AdamW
  step (TRL's side has no optimizer step: ours does strictly more work).
- TRL: a GRPOTrainer (dummy reward function, never trains) whose own `compute_loss` gets the input dict its
  generation step would have built — prompts left-padded, completions right-padded over the batch, the
  behaviour logprobs as `old_per_token_logps`, the same ±1 advantages — in as many accumulation chunks as ours
  has micro-batches, each followed by the trainer's backward. Same clipping (0.2 / 0.28), no KL, loss
  normalised over the batch's completion tokens (`loss_type="dapo"`, which is ours), fp32, no gradient
  checkpointing (TRL's default turns it on; ours does not use it, so it is off for both).
Tokens are counted the same way for both: completion tokens in the batch, divided by the mean wall time of
one pass over the whole batch. Passes alternate between the two so that drift hits both alike.

Run it with the trainer environment's Python.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playpen_common.defaults import default_model_dir

REPO = Path(__file__).resolve().parents[1]
INSTANCES = REPO / "libs" / "games" / "src" / "playpen_games" / "games"
# Earlier exchanges put in front of some prompts, so that the batch has later-turn lengths too.
EXCHANGES = [
    ("CLUE: a season when it is cold and snows", "GUESS: winter was wrong. Here is another clue, please."),
    ("GUESS: crane\nEXPLANATION: common letters", "guess_feedback: c<red> r<yellow> a<red> n<red> e<green>"),
    ("Expression: the grid with the filled top row", "Your answer was not understood. Try again."),
]


def game_prompts(limit: int) -> list[str]:
    """Opening prompts of the shipped training instances (long text fields), placeholders filled in."""
    found: list[str] = []
    for path in sorted(INSTANCES.glob("*/data/instances/*_train.json")):
        data = json.loads(path.read_text())
        for experiment in data["experiments"]:
            shared = {k: v for k, v in experiment.items() if isinstance(v, str) and len(v) > 200}
            for instance in experiment["game_instances"][:2]:
                texts = shared | {k: v for k, v in instance.items() if isinstance(v, str) and len(v) > 200}
                values = {k.upper(): str(v) for k, v in instance.items() if isinstance(v, str | int)}
                found.extend(_fill(text, values) for text in texts.values())
    # An even stride over all games' prompts, so that every game is represented even with a small limit.
    return found[::max(1, len(found) // limit)][:limit]


def _fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$([A-Z_]+)\$", lambda match: values.get(match.group(1), match.group(0)), text)


def build_batch(model, tokenizer, count: int, max_new_tokens: int, seed: int) -> list:
    import torch

    from playpen_trainer.samples import TurnSample

    prompts = game_prompts(count)
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for index, text in enumerate(prompts):
        messages = [{"role": "user", "content": text}]
        for reply, feedback in EXCHANGES[:index % 3]:
            messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": feedback}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=False)
        prompt = list(prompt["input_ids"] if isinstance(prompt, dict) else prompt)
        completion, logprobs = sample(model, prompt, max_new_tokens, tokenizer.eos_token_id, generator)
        samples.append(TurnSample(
            episode_id=f"bench-{index}", group_id=f"g{index // 2}", game="bench", role="player", turn_index=0,
            prompt_ids=prompt, completion_ids=completion, behaviour_logprobs=logprobs, policy_version=0,
            well_formed=True, advantage=1.0 if index % 2 == 0 else -1.0))
    return samples


def sample(model, prompt: list[int], max_new_tokens: int, eos: int, generator) -> tuple[list[int], list[float]]:
    """Temperature-1 sampling with a KV cache; logprobs of the raw distribution, as the policy returns them."""
    import torch

    tokens, logprobs = [], []
    with torch.no_grad():
        output = model(input_ids=torch.tensor([prompt]), use_cache=True)
        for _ in range(max_new_tokens):
            distribution = output.logits[0, -1].float().log_softmax(-1)
            token = int(torch.multinomial(distribution.exp(), 1, generator=generator))
            tokens.append(token)
            logprobs.append(float(distribution[token]))
            if token == eos:
                break
            output = model(input_ids=torch.tensor([[token]]), cache=output.cache, use_cache=True)
    return tokens, logprobs


def trl_trainer(model_dir: Path, tokenizer, accumulation: int, per_chunk: int, workdir: Path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="float32")
    args = GRPOConfig(
        output_dir=str(workdir / "trl"), use_cpu=True, bf16=False, activation_checkpointing=False, report_to=[],
        per_device_train_batch_size=per_chunk, gradient_accumulation_steps=accumulation,
        steps_per_generation=accumulation, num_generations=2, loss_type="dapo", epsilon=0.2, epsilon_high=0.28,
        beta=0.0, learning_rate=1e-6, disable_dropout=True, logging_steps=10**9, save_strategy="no")
    trainer = GRPOTrainer(model=model, reward_funcs=lambda completions, **_: [0.0] * len(completions), args=args,
                          train_dataset=Dataset.from_dict({"prompt": ["unused"] * (per_chunk * accumulation)}),
                          processing_class=tokenizer)
    # What Trainer's loop sets before each accumulation window; compute_loss scales by it.
    trainer.current_gradient_accumulation_steps = accumulation
    trainer.model.train()
    assert not trainer.model.is_activation_checkpointing, "TRL must run without activation checkpointing here"
    return trainer


def trl_inputs(samples, pad_id: int, chunks: int) -> list[dict]:
    """The dict GRPOTrainer's generation step hands to compute_loss, split into accumulation chunks."""
    import torch
    from trl.trainer.utils import pad

    def padded(rows, value, side, dtype):
        return pad([torch.tensor(r, dtype=dtype) for r in rows], padding_value=value, padding_side=side)

    batch = {
        "prompt_ids": padded([s.prompt_ids for s in samples], pad_id, "left", torch.long),
        "prompt_mask": padded([[1] * len(s.prompt_ids) for s in samples], 0, "left", torch.long),
        "completion_ids": padded([s.completion_ids for s in samples], pad_id, "right", torch.long),
        "completion_mask": padded([[1] * len(s.completion_ids) for s in samples], 0, "right", torch.long),
        "old_per_token_logps": padded([s.behaviour_logprobs for s in samples], 0.0, "right", torch.float32),
        "advantages": torch.tensor([s.advantage for s in samples], dtype=torch.float32),
    }
    tokens = torch.tensor(sum(len(s.completion_ids) for s in samples))
    size = len(samples) // chunks
    return [{**{k: v[i * size:(i + 1) * size] for k, v in batch.items()}, "num_items_in_batch": tokens}
            for i in range(chunks)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir(), help="HF model directory")
    parser.add_argument("--samples", type=int, default=16, help="learner turns in the batch (even)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="completion length cap, tokens")
    parser.add_argument("--micro-batch-tokens", type=int, default=4096, help="our padded tokens per micro-batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each, after one warm-up each")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.model / "config.json").is_file():
        sys.exit(f"{args.model} is not an HF model directory (run `make setup` to convert SmolLM2 first)")

    import torch
    import transformers
    import trl
    from transformers import AutoTokenizer

    from playpen_trainer.grpo import GrpoConfig, grpo_step, micro_batches
    from playpen_trainer.model import PolicyModel, make_optimizer

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(args.model))
    ours = PolicyModel.load(args.model)
    started = time.perf_counter()
    samples = build_batch(ours.module, tokenizer, args.samples, args.max_new_tokens, args.seed)
    prompt_tokens = sum(len(s.prompt_ids) for s in samples)
    tokens = sum(len(s.completion_ids) for s in samples)
    print(f"batch: {len(samples)} turns, {prompt_tokens} prompt + {tokens} completion tokens "
          f"(prompts {min(len(s.prompt_ids) for s in samples)}–{max(len(s.prompt_ids) for s in samples)}), "
          f"sampled in {time.perf_counter() - started:.1f} s; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, trl {trl.__version__}", flush=True)

    config = GrpoConfig(micro_batch_tokens=args.micro_batch_tokens)
    optimizer = make_optimizer(ours, lr=1e-6)
    chunks = len(micro_batches(samples, config.micro_batch_tokens))
    while len(samples) % chunks:  # TRL splits the batch into equal chunks
        chunks += 1
    with tempfile.TemporaryDirectory() as workdir:
        trainer = trl_trainer(args.model, tokenizer, chunks, len(samples) // chunks, Path(workdir))
        inputs = trl_inputs(samples, tokenizer.pad_token_id or 0, chunks)

        # Both losses of the first pass (same weights then) must agree: the same objective is being timed.
        first: dict[str, float] = {}

        def run_ours() -> float:
            stats = grpo_step(ours, optimizer, samples, config, ref_model=None, current_version=0,
                              max_grad_norm=1.0)
            first.setdefault("ours", stats.loss)
            first.setdefault("mismatch", stats.logprob_mismatch)
            return stats.seconds

        def run_trl() -> float:
            begin = time.perf_counter()
            total = 0.0
            for chunk in inputs:
                loss = trainer.compute_loss(trainer.model, chunk)
                trainer.accelerator.backward(loss)
                total += float(loss.detach())
            seconds = time.perf_counter() - begin
            trainer.model.zero_grad(set_to_none=True)
            first.setdefault("trl", total)
            return seconds

        times: dict[str, list[float]] = {"ours": [], "trl": []}
        for repeat in range(args.repeats + 1):
            for name, run in (("ours", run_ours), ("trl", run_trl)):
                seconds = run()
                if repeat:  # the first pass of each warms up allocator and thread pools
                    times[name].append(seconds)
                print(f"  pass {repeat} {name}: {seconds:.2f} s{'' if repeat else ' (warm-up)'}", flush=True)

    mean = {name: statistics.fmean(values) for name, values in times.items()}
    rate = {name: tokens / seconds for name, seconds in mean.items()}
    print(f"\n{'':<44}{'s / batch':>12}{'tokens/s':>12}")
    print(f"{'ours: grpo_step (fwd+bwd+clip+AdamW step)':<44}{mean['ours']:>12.2f}{rate['ours']:>12.1f}")
    print(f"{'TRL GRPOTrainer: compute_loss + backward':<44}{mean['trl']:>12.2f}{rate['trl']:>12.1f}")
    print(f"micro-batches: ours {len(micro_batches(samples, config.micro_batch_tokens))} (token budget "
          f"{config.micro_batch_tokens}), TRL {chunks} chunks of {len(samples) // chunks}")
    print(f"same objective: loss ours {first['ours']:.6f}, TRL {first['trl']:.6f}; mean |trainer − sampling| "
          f"logprob {first['mismatch']:.2e}")
    print(json.dumps({
        "grpo_tokens_per_s_ratio": round(rate["ours"] / rate["trl"], 3),
        "ours_tokens_per_s": round(rate["ours"], 1), "trl_tokens_per_s": round(rate["trl"], 1),
        "completion_tokens": tokens, "prompt_tokens": prompt_tokens, "samples": len(samples),
        "repeats": args.repeats, "threads": torch.get_num_threads(), "model": args.model.name}))


if __name__ == "__main__":
    main()

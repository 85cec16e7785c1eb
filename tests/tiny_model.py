"""A tiny randomly initialised Llama with its own byte-level BPE tokenizer and chat template, built on the
fly (a few hundred KB), so policy tests never need downloaded or converted weights."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "CLUE: a cold season of the year. GUESS: winter. explanation: common letters guess: crane",
    "Expression: the grid with a filled top row. Answer: first second third",
    "Command: put an X in the top left corner. ANSWER: London. ASIDE: yes no",
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun.",
] * 20


def build_tiny_model(path: Path, *, seed: int = 0, hidden: int = 64, layers: int = 2,
                     max_shard_size: str | None = None) -> Path:
    """`max_shard_size` (e.g. "100KB") splits the weights into several safetensors shards plus their index,
    as save_pretrained does for big models."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=384, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(path))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=1, head_dim=hidden // 2, max_position_embeddings=1024,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, initializer_range=0.3)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32)
    if max_shard_size:
        model.save_pretrained(str(path), safe_serialization=True, max_shard_size=max_shard_size)
    else:
        model.save_pretrained(str(path), safe_serialization=True)
    return path

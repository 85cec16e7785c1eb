import asyncio
import hashlib

import pytest

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen_common.checkpoints import verify_checkpoint
from playpen_common.errors import FailedPrecondition, InvalidArgument
from playpen_policy.scripted import ScriptedBackend

SCRIPT = {"rules": [{"when": r"CLUE:[^\n]*\Z", "replies": ["GUESS: a", "GUESS: b"]}], "default": "hello world"}


def generate(backend, content: str, **sampling):
    messages = [chat_pb2.ChatMessage(role="user", content=content)]
    return asyncio.run(backend.generate(messages, chat_pb2.SamplingParams(**sampling)))


def test_rules_match_the_last_user_message_and_cycle() -> None:
    backend = ScriptedBackend(SCRIPT)
    assert [generate(backend, "rules\nCLUE: x").text for _ in range(3)] == ["GUESS: a", "GUESS: b", "GUESS: a"]
    assert generate(backend, "CLUE: x\nsomething else").text == "hello world"


def test_token_fields_are_consistent_and_limits_apply() -> None:
    backend = ScriptedBackend(SCRIPT)
    output = generate(backend, "anything", max_tokens=5)
    assert output.text == "hello" and output.finish_reason == chat_pb2.FINISH_REASON_LENGTH
    assert output.completion_token_ids == list(b"hello") and output.completion_logprobs == [0.0] * 5
    assert generate(backend, "anything", stop=[" "]).text == "hello"


def _checkpoint(tmp_path, content: bytes, *, digest: str | None = None, size: int | None = None):
    (tmp_path / "model.safetensors").write_bytes(content)
    return checkpoint_pb2.CheckpointRef(
        version=3, uri=str(tmp_path), kind=checkpoint_pb2.CHECKPOINT_KIND_FULL,
        files=[checkpoint_pb2.CheckpointFile(path="model.safetensors",
                                             sha256=digest or hashlib.sha256(content).hexdigest(),
                                             size_bytes=len(content) if size is None else size)])


def test_load_verifies_every_file_before_switching_versions(tmp_path) -> None:
    backend = ScriptedBackend(SCRIPT)
    asyncio.run(backend.load(_checkpoint(tmp_path, b"weights")))
    assert backend.version == 3 and generate(backend, "x").policy_version == 3
    corrupt = _checkpoint(tmp_path, b"weights", digest="0" * 64)
    corrupt.version = 4
    with pytest.raises(FailedPrecondition, match="corrupt"):
        asyncio.run(backend.load(corrupt))
    assert backend.version == 3  # the old version keeps serving


@pytest.mark.parametrize(("mutate", "error", "message"), [
    (lambda ref: setattr(ref.files[0], "size_bytes", 99), FailedPrecondition, "partial write"),
    (lambda ref: setattr(ref.files[0], "path", "../escape"), InvalidArgument, "escapes"),
    (lambda ref: setattr(ref.files[0], "path", "missing.bin"), FailedPrecondition, "missing"),
    (lambda ref: setattr(ref, "uri", "s3://bucket/x"), InvalidArgument, "unsupported location"),
    (lambda ref: ref.ClearField("files"), InvalidArgument, "lists no files"),
])
def test_verify_refuses_bad_checkpoints(tmp_path, mutate, error, message) -> None:
    ref = _checkpoint(tmp_path, b"weights")
    mutate(ref)
    with pytest.raises(error, match=message):
        verify_checkpoint(ref)


def test_first_message_selects_the_role_and_last_message_the_moment() -> None:
    backend = ScriptedBackend({"rules": [
        {"first": "You are the critic", "reply": "agreement: yes"},
        {"first": "You guess", "when": r"\Afeedback", "reply": "guess: again"},
        {"first": "You guess", "reply": "guess: first"},
    ]})

    def ask(*contents: str) -> str:
        messages = []
        for content in contents:
            messages += [chat_pb2.ChatMessage(role="user", content=content),
                         chat_pb2.ChatMessage(role="assistant", content="...")]
        return asyncio.run(backend.generate(messages[:-1], chat_pb2.SamplingParams())).text

    assert ask("You guess words") == "guess: first"
    assert ask("You guess words", "feedback: red") == "guess: again"
    assert ask("You are the critic", "feedback: red") == "agreement: yes"


def test_rules_with_versions_apply_only_while_such_a_version_is_loaded(tmp_path) -> None:
    backend = ScriptedBackend({"rules": [{"versions": [3], "reply": "version three"},
                                         {"versions": [5], "reply": "never"}], "default": "base"})
    assert generate(backend, "x").text == "base"
    asyncio.run(backend.load(_checkpoint(tmp_path, b"weights")))  # version 3
    output = generate(backend, "x")
    assert (output.text, output.policy_version) == ("version three", 3)
    with pytest.raises(ValueError, match="versions must be integers"):
        ScriptedBackend({"rules": [{"versions": ["3"], "reply": "x"}]})

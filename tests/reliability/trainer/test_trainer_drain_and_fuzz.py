"""The trainer's share of the reliability suite (it runs in .venv-trainer, like tests/trainer): SIGTERM drain
and fuzzing of its RPCs. Pass criteria as in tests/reliability/test_drain.py and test_fuzz.py."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest

from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_trainer.store import EpisodeStore
from tests.reliability.fuzzing import fuzz_service
from tests.reliability.support import MIB, sigterm_drain
from tests.reliability.test_drain import assert_drained
from tests.tiny_model import build_tiny_model
from tests.trainer.trainer_process import start_trainer, synthetic_episode

pytestmark = pytest.mark.integration
EXAMPLES, RAW_EXAMPLES = 40, 12


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("reliability-model") / "model")


def test_trainer_drains_a_submission_stream_in_flight_and_exits_zero(model, tmp_path) -> None:
    """Pass: NOT_SERVING < 1 s after SIGTERM; a SubmitEpisodes stream open at the signal goes on: the three
    episodes it sends after the signal are acknowledged STORED like the one before; exit 0, and the ledger holds
    all four."""
    trainer = start_trainer("drain", tmp_path, model, tmp_path / "data", "--group-size", "50",
                            "--grace-period-s", "30")
    signalled, first_ack = threading.Event(), threading.Event()
    acks: list[int] = []
    try:
        with grpc.insecure_channel(trainer.target) as channel:
            stub = trainer_pb2_grpc.TrainerServiceStub(channel)

            def requests():
                yield trainer_pb2.SubmitEpisodesRequest(episode=synthetic_episode("d0", "g0"))
                signalled.wait(60)
                for k in range(1, 4):
                    yield trainer_pb2.SubmitEpisodesRequest(episode=synthetic_episode(f"d{k}", f"g{k // 2}"))

            def submit() -> None:
                for ack in stub.SubmitEpisodes(requests(), timeout=60):
                    acks.append(ack.status)
                    first_ack.set()

            drain = sigterm_drain(trainer, submit, first_ack.is_set, signalled=signalled)
        assert_drained(drain, trainer)
        assert acks == [trainer_pb2.ACK_STATUS_STORED] * 4
    finally:
        trainer.stop()
    assert EpisodeStore(tmp_path / "data" / "episodes.db").counts().stored == 4


def test_no_trainer_request_gets_a_server_fault(model, tmp_path) -> None:
    """Pass: every RPC of the TrainerService, fuzzed (random episodes included, the trainer set to step on every
    group of two), answers only client statuses; the trainer is alive and SERVING afterwards, its memory grew by
    less than 512 MiB (a training step on the tiny model included) and its peak stayed under 2 GiB."""
    trainer = start_trainer("fuzz", tmp_path, model, tmp_path / "data")
    descriptor = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"]
    try:
        tally = fuzz_service(trainer, descriptor, examples=EXAMPLES, raw_examples=RAW_EXAMPLES,
                             growth_limit=512 * MIB, peak_limit=2048 * MIB)
    finally:
        trainer.stop()
    assert tally.rpcs == {f"TrainerService.{method.name}" for method in descriptor.methods}
    assert not tally.faults, "\n".join(f"{f.rpc}: {f.code} for {f.request}" for f in tally.faults)

"""Request fuzzing for every RPC of a service, driven by the protobuf descriptors (no hand-written strategy per
message): random and hostile values for each field, plus raw bytes that need not parse at all.

Used by the reliability tests (hypothesis runs the strategies) and by `make bench-robustness`, which draws a
fixed number of examples and counts the answers that were not a client status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

#: statuses that mean the server, not the caller, went wrong
SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
MAX_DEPTH = 3
INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    # The bounds themselves and small values are where off-by-one and sign bugs live; the rest is noise.
    return st.one_of(st.sampled_from(sorted({low, high, 0, 1, -1 if low < 0 else 2, high // 2})),
                     st.integers(-3 if low < 0 else 0, 100), st.integers(low, high))


# Long strings are a few sizes around the game master's 4096-character limit and one of 1 MB, not a
# continuum: every size class is tried without each example costing a megabyte.
_LONG = st.sampled_from([4096, 4097, 70_000, 1_000_000]).flatmap(
    lambda n: st.sampled_from(["x", "é", "🎲", "\x00", "{"]).map(lambda char: char * n))
_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["", "taboo", "train", "validation", "learner", "expert",
                                                         "localhost:1", "../../etc/passwd", "[[[[", "{}", "\ud7ff"]),
                  _LONG)


def _scalar(field: FieldDescriptor) -> st.SearchStrategy:
    kind = field.type
    if kind in INT_BOUNDS:
        return _integers(*INT_BOUNDS[kind])
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    if kind == FieldDescriptor.TYPE_STRING:
        return _TEXT
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_ENUM:
        # proto3 enums are open: numbers the contract does not name arrive as they are.
        return st.one_of(st.sampled_from([value.number for value in field.enum_type.values]),
                         st.integers(-(2**31), 2**31 - 1))
    raise TypeError(f"no strategy for field type {kind} of {field.full_name}")


def _repeated(field: FieldDescriptor, element: st.SearchStrategy) -> st.SearchStrategy[list]:
    lists = st.lists(element, max_size=4)
    if field.message_type is None and field.type != FieldDescriptor.TYPE_STRING:
        # A list just over the 10,000-entry bound, of cheap scalars only.
        lists = st.one_of(lists, element.map(lambda value: [value] * 10_001))
    return lists


def message_strategy(descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `descriptor`'s type: each field unset or drawn from its type's strategy, nested messages down
    to MAX_DEPTH levels, repeated fields empty, short or just over the bound, map fields with random keys."""
    cls = GetMessageClass(descriptor)

    @st.composite
    def build(draw) -> Message:
        message = cls()
        for field in descriptor.fields:
            if not draw(st.booleans()):
                continue
            repeated = field.is_repeated
            target = getattr(message, field.name)
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name[
                    "value"]
                if value_field.message_type is not None:
                    continue  # no map of messages in our contract; skip rather than half-support it
                for key, value in draw(st.dictionaries(_scalar(key_field), _scalar(value_field), max_size=4)).items():
                    target[key] = value
            elif field.message_type is not None:
                if depth >= MAX_DEPTH:
                    continue
                inner = message_strategy(field.message_type, depth + 1)
                if repeated:
                    target.extend(draw(st.lists(inner, max_size=3)))
                else:
                    target.CopyFrom(draw(inner))
            elif repeated:
                target.extend(draw(_repeated(field, _scalar(field))))
            else:
                setattr(message, field.name, draw(_scalar(field)))
        return message

    return build()


def raw_bytes() -> st.SearchStrategy[bytes]:
    """Payloads that need not parse: random bytes, truncated varints, a string field holding invalid UTF-8."""
    return st.one_of(st.binary(max_size=256), st.sampled_from([b"\xff", b"\x0a\xff\xff\xff\xff\x0f",
                                                               b"\x0a\x02\xc3\x28", b"\x0a\x04\xff\xfe\xfd\xfc",
                                                               b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"]))


@dataclass
class Rpc:
    service: ServiceDescriptor
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.service.full_name}/{self.method.name}"

    @property
    def name(self) -> str:
        return f"{self.service.name}.{self.method.name}"


def rpcs(service: ServiceDescriptor) -> list[Rpc]:
    return [Rpc(service, method) for method in service.methods]


def call(channel: grpc.Channel, rpc: Rpc, payload: bytes, *, timeout: float = 5.0,
         stream_messages: int = 1, read_at_most: int = 2) -> grpc.StatusCode:
    """Send one serialized request (or `stream_messages` copies of it, for a client stream) and return the
    call's status. A response stream is read for at most `read_at_most` messages, then cancelled (CANCELLED is
    ours, not the server's answer)."""
    identity: Callable[[bytes], bytes] = lambda data: data  # noqa: E731
    method = rpc.method
    try:
        if not method.client_streaming and not method.server_streaming:
            channel.unary_unary(rpc.path, request_serializer=identity, response_deserializer=identity)(
                payload, timeout=timeout)
            return grpc.StatusCode.OK
        if method.client_streaming:
            stream = channel.stream_stream(rpc.path, request_serializer=identity, response_deserializer=identity)(
                iter([payload] * stream_messages), timeout=timeout)
        else:
            stream = channel.unary_stream(rpc.path, request_serializer=identity, response_deserializer=identity)(
                payload, timeout=timeout)
        for count, _ in enumerate(stream, start=1):
            if count >= read_at_most:
                stream.cancel()
                return grpc.StatusCode.OK
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


@dataclass
class Fault:
    rpc: str
    code: str
    request: str


@dataclass
class Tally:
    tried: int = 0
    faults: list[Fault] = dataclasses.field(default_factory=list)
    rpcs: set[str] = dataclasses.field(default_factory=set)


def fuzz_rpc(channel: grpc.Channel, rpc: Rpc, tally: Tally, *, examples: int, raw_examples: int,
             timeout: float = 5.0, stream_timeout: float = 1.0) -> None:
    """Send `examples` descriptor-built requests and `raw_examples` raw payloads to `rpc` (hypothesis,
    derandomized: the same examples every run), counting in `tally` every answer that is a server fault. Failures
    are collected, not raised: one run reports every bad case instead of shrinking the first."""

    def send(payload: bytes, shown: str) -> None:
        tally.tried += 1
        tally.rpcs.add(rpc.name)
        # A response stream that is valid would run on (a watch, episodes played): its first answer is enough.
        code = call(channel, rpc, payload, timeout=stream_timeout if rpc.method.server_streaming else timeout)
        if code in SERVER_FAULTS:
            tally.faults.append(Fault(rpc.name, code.name, shown[:200]))

    quiet = settings(max_examples=examples, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
                     suppress_health_check=list(HealthCheck))

    @quiet
    @given(message_strategy(rpc.method.input_type))
    def messages(message: Message) -> None:
        send(message.SerializeToString(), f"{type(message).__name__}({str(message)[:180]!r})")

    @settings(quiet, max_examples=raw_examples)
    @given(raw_bytes())
    def payloads(payload: bytes) -> None:
        send(payload, f"raw {payload[:60]!r}")

    if examples:
        messages()
    if raw_examples:
        payloads()


def fuzz_service(service, descriptor, *, examples: int, raw_examples: int, growth_limit: int,
                 peak_limit: int) -> Tally:
    """Fuzz every RPC of a running service (a launcher.Service); then it must still run and serve, its memory
    grown by less than `growth_limit` bytes and its peak under `peak_limit`."""
    from tests.reliability.support import MIB, rss_bytes, serving

    tally = Tally()
    before = rss_bytes(service.process.pid)
    with grpc.insecure_channel(service.target, options=[("grpc.max_send_message_length", 64 * MIB)]) as channel:
        for rpc in rpcs(descriptor):
            fuzz_rpc(channel, rpc, tally, examples=examples, raw_examples=raw_examples)
    assert service.process.poll() is None, service.log()[-3000:]
    assert serving(service.target)
    growth, peak = rss_bytes(service.process.pid) - before, rss_bytes(service.process.pid, peak=True)
    assert growth < growth_limit and peak < peak_limit, (growth / MIB, peak / MIB)
    return tally

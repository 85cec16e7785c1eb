"""Size bounds on what a request may carry, checked before anything is planned or played.

Every string field of a request is at most `MAX_TEXT` characters unless it is listed in `LONG_TEXT` (recorded
replies, JSON documents: their own limits), every repeated field holds at most `MAX_ITEMS` entries, and a JSON
document nests at most `MAX_JSON_DEPTH` levels. A refusal names the field and quotes no more than a short prefix
of the value, so that neither the error nor the log carries an oversized input.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from playpen_common.errors import InvalidArgument

MAX_TEXT = 4096
MAX_ITEMS = 10_000
MAX_JSON_CHARS = 1 << 20
MAX_JSON_DEPTH = 32
#: fields with limits of their own (checked where they are read)
LONG_TEXT = frozenset({"replies", "experiment_json", "instance_json"})


def quoted(text: str, limit: int = 64) -> str:
    """`text` for an error message: at most `limit` characters of it, marked when cut."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def check_sizes(message: Message, path: str = "") -> None:
    """INVALID_ARGUMENT for the first string, list or nested message of `message` beyond the bounds."""
    for field, value in message.ListFields():
        name = f"{path}{field.name}"
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == FieldDescriptor.LABEL_REPEATED
        values = value if repeated else [value]
        if repeated and len(values) > MAX_ITEMS:
            raise InvalidArgument(f"{name} has {len(values)} entries, more than {MAX_ITEMS}")
        if field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                continue
            for index, item in enumerate(values):
                check_sizes(item, f"{name}[{index}]." if repeated else f"{name}.")
        elif field.type == FieldDescriptor.TYPE_STRING and field.name not in LONG_TEXT:
            for item in values:
                if len(item) > MAX_TEXT:
                    raise InvalidArgument(f"{name} has {len(item)} characters, more than {MAX_TEXT}: "
                                          f"{quoted(item)}")


def json_depth_ok(text: str) -> None:
    """Refuse a JSON document over MAX_JSON_CHARS or nested deeper than MAX_JSON_DEPTH, before it is parsed."""
    if len(text) > MAX_JSON_CHARS:
        raise InvalidArgument(f"a JSON document of {len(text)} characters, more than {MAX_JSON_CHARS}")
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                raise InvalidArgument(f"a JSON document nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1

"""Size bounds on what a request may carry, checked before a handler sees it (GrpcService applies them).

Every string field is at most `Limits.text` characters and every repeated or map field holds at most
`Limits.items` entries, unless the field's name has a limit of its own (`long_text`, `long_items`: prompts,
transcripts, token ids, whose natural bound is the largest message) or is left to its handler (`skip`). A string
field whose name ends in `_json` is a JSON document: at most `json_chars` characters, nested at most `json_depth`
levels, checked without parsing it. A refusal names the field and quotes no more than a short prefix of the
value, so that neither the error nor the log carries an oversized input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from playpen_common.errors import InvalidArgument

MAX_TEXT = 4096
MAX_ITEMS = 10_000
MAX_JSON_CHARS = 1 << 20
MAX_JSON_DEPTH = 32
QUOTE_CHARS = 64


@dataclass(frozen=True)
class Limits:
    text: int = MAX_TEXT
    items: int = MAX_ITEMS
    json_chars: int = MAX_JSON_CHARS
    json_depth: int = MAX_JSON_DEPTH
    #: field name -> its own character limit
    long_text: Mapping[str, int] = field(default_factory=dict)
    #: field name -> its own entry limit
    long_items: Mapping[str, int] = field(default_factory=dict)
    #: fields (and everything below them) that their handler checks itself
    skip: frozenset[str] = frozenset()


DEFAULT_LIMITS = Limits()


def quoted(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` for an error message or a log line: at most `limit` characters of it, marked when cut."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _repeated(field_descriptor: FieldDescriptor) -> bool:
    if hasattr(field_descriptor, "is_repeated"):
        return field_descriptor.is_repeated
    return field_descriptor.label == FieldDescriptor.LABEL_REPEATED


def check_sizes(message: Message, limits: Limits = DEFAULT_LIMITS, path: str = "") -> None:
    """INVALID_ARGUMENT for the first string, list, map or JSON document of `message` beyond `limits`."""
    for descriptor, value in message.ListFields():
        name = f"{path}{descriptor.name}"
        if descriptor.name in limits.skip:
            continue
        if _repeated(descriptor):
            most = limits.long_items.get(descriptor.name, limits.items)
            if len(value) > most:
                raise InvalidArgument(f"{name} has {len(value)} entries, more than {most}")
        message_type = descriptor.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            key_field, value_field = message_type.fields_by_name["key"], message_type.fields_by_name["value"]
            for key in value:
                if key_field.type == FieldDescriptor.TYPE_STRING:
                    _check_text(f"{name} key", key, limits.text)
                if value_field.message_type is not None:
                    check_sizes(value[key], limits, f"{name}[{quoted(str(key), 16)}].")
                elif value_field.type == FieldDescriptor.TYPE_STRING:
                    _check_text(f"{name}[{quoted(str(key), 16)}]", value[key], limits.text)
            continue
        items = value if _repeated(descriptor) else [value]
        if message_type is not None:
            for index, item in enumerate(items):
                check_sizes(item, limits, f"{name}[{index}]." if _repeated(descriptor) else f"{name}.")
        elif descriptor.type == FieldDescriptor.TYPE_STRING:
            for item in items:
                if descriptor.name.endswith("_json"):
                    json_depth_ok(item, limits.long_text.get(descriptor.name, limits.json_chars), limits.json_depth,
                                  field=name)
                else:
                    _check_text(name, item, limits.long_text.get(descriptor.name, limits.text))


def _check_text(name: str, text: str, most: int) -> None:
    if len(text) > most:
        raise InvalidArgument(f"{name} has {len(text)} characters, more than the limit of {most}: {quoted(text)}")


def json_depth_ok(text: str, max_chars: int = MAX_JSON_CHARS, max_depth: int = MAX_JSON_DEPTH, *,
                  field: str = "") -> None:
    """Refuse a JSON document over `max_chars` or nested deeper than `max_depth`, before it is parsed."""
    what = f"{field}: a JSON document" if field else "a JSON document"
    if len(text) > max_chars:
        raise InvalidArgument(f"{what} of {len(text)} characters, more than {max_chars}")
    depth = 0
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
            if depth > max_depth:
                raise InvalidArgument(f"{what} nested deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1

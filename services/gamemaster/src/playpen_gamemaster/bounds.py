"""The game master's request bounds: playpen_common.bounds' defaults, recorded replies as long as a reply.

Every string field of a request is at most 4096 characters, every repeated field holds at most 10,000 entries,
and a JSON document (experiment_json, instance_json) is at most 1 MiB, nested at most 32 levels. A recorded
reply may be as long as max_reply_chars. The server applies these to every request.
"""

from __future__ import annotations

from google.protobuf.message import Message

from playpen_common import bounds
from playpen_common.bounds import MAX_ITEMS, MAX_JSON_CHARS, MAX_JSON_DEPTH, MAX_TEXT, json_depth_ok, quoted

__all__ = ["MAX_ITEMS", "MAX_JSON_CHARS", "MAX_JSON_DEPTH", "MAX_TEXT", "check_sizes", "json_depth_ok", "limits",
           "quoted"]


def limits(max_reply_chars: int) -> bounds.Limits:
    """Recorded replies may be as long as a reply the game master accepts from a player."""
    return bounds.Limits(long_text={"replies": max(max_reply_chars, MAX_TEXT)})


def check_sizes(message: Message, max_reply_chars: int = 32_768) -> None:
    """INVALID_ARGUMENT for the first field of a game master request beyond its bounds."""
    bounds.check_sizes(message, limits(max_reply_chars))

"""Frame <-> event: JSON text frames and binary audio frames. No I/O."""

import json

from hootproto.errors import ProtocolError
from hootproto.events import EVENT_TYPES, Audio, Event

MAX_TEXT_BYTES = 16384


def decode(frame):
    """Turn one websocket frame (str for text, bytes for binary) into an event."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        if len(frame) == 0:
            raise ProtocolError("empty audio frame", "bad_audio")
        return Audio(bytes(frame))
    if not isinstance(frame, str):
        raise ProtocolError("a frame must be text or binary", "bad_frame")
    if _utf8_size(frame) > MAX_TEXT_BYTES:
        raise ProtocolError("text frame larger than %d bytes" % MAX_TEXT_BYTES, "too_large")
    try:
        data = json.loads(frame)
    except ValueError:
        raise ProtocolError("text frame is not valid JSON", "bad_json")
    except RuntimeError:  # CPython's RecursionError: arrays or objects nested too deeply to parse
        raise ProtocolError("text frame is nested too deeply", "bad_json")
    if not isinstance(data, dict):
        raise ProtocolError("text frame must be a JSON object", "bad_json")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("text frame has no \"type\"", "bad_event")
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ProtocolError("unknown event type %r" % kind, "unknown_type")
    try:
        return cls.from_dict(data)
    except ProtocolError as error:
        raise ProtocolError(error.message, "bad_event")


def _utf8_size(text):
    """The frame's size in UTF-8 bytes (len() counts characters), without copying a short frame."""
    if len(text) * 4 <= MAX_TEXT_BYTES:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def encode(event):
    """Turn an event into a websocket frame: bytes for audio, a JSON string otherwise."""
    if isinstance(event, Audio):
        return bytes(event.data)
    if not isinstance(event, Event):
        raise ProtocolError("cannot encode %r" % (event,), "bad_event")
    return json.dumps(event.to_dict())

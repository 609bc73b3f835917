"""Protocol events: small classes that turn into and out of JSON-ready dicts. No I/O.

Runs unchanged on CPython and MicroPython, so it avoids dataclasses, typing and enum.
"""

from hootproto.errors import ProtocolError

AUDIO_FORMATS = ("pcm16", "opus")
LISTEN_STATES = ("start", "stop", "detect")
LISTEN_MODES = ("auto", "manual", "realtime")
TTS_STATES = ("start", "sentence_start", "sentence_end", "stop")
ALERT_STATUSES = ("info", "warning", "error")
SYSTEM_COMMANDS = ("pause", "resume", "stop", "reboot")
LESSON_STATES = ("start", "step", "end")
PAIR_STATES = ("code", "paired")

_STR = (str,)
_INT = (int,)
_NUM = (int, float)
_DICT = (dict,)
_BOOL = (bool,)


class Field:
    """One field of an event: its name, accepted types, whether it is required, allowed values."""

    def __init__(self, name, types, required=False, choices=None, default=None):
        self.name = name
        self.types = types
        self.required = required
        self.choices = choices
        self.default = default

    def check(self, event_type, value):
        # bool is an int subclass on CPython; never accept it where a number is meant.
        if isinstance(value, bool) and self.types is not _BOOL:
            raise ProtocolError("%s.%s must not be a boolean" % (event_type, self.name))
        if not isinstance(value, self.types):
            raise ProtocolError("%s.%s has the wrong type" % (event_type, self.name))
        if self.choices is not None and value not in self.choices:
            raise ProtocolError(
                "%s.%s must be one of %s, not %r" % (event_type, self.name, "/".join(self.choices), value)
            )


class Event:
    """Base of all text events; subclasses set `type` and `fields`."""

    type = ""
    fields = ()

    def __init__(self, **values):
        known = {}
        for field in self.fields:
            known[field.name] = field
        for name in values:
            if name not in known:
                raise ProtocolError("%s has no field %r" % (self.type, name))
        for field in self.fields:
            value = values.get(field.name)
            if value is None:  # absent or null alike: the field's default (a null version is still version 1)
                value = field.default
            if value is None:
                if field.required:
                    raise ProtocolError("%s needs %r" % (self.type, field.name))
            else:
                field.check(self.type, value)
            setattr(self, field.name, value)
        self.validate()

    def validate(self):
        """Checks that span several fields; subclasses override."""

    def to_dict(self):
        out = {"type": self.type}
        for field in self.fields:
            value = getattr(self, field.name)
            if value is not None:
                out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, data):
        values = {}
        for field in cls.fields:
            if field.name in data:
                values[field.name] = data[field.name]
        return cls(**values)

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return "%s(%r)" % (self.__class__.__name__, self.to_dict())


def check_audio_params(params, where):
    """Validate an `audio_params` dict; returns it unchanged."""
    fmt = params.get("format")
    if fmt not in AUDIO_FORMATS:
        raise ProtocolError("%s.audio_params.format must be one of %s" % (where, "/".join(AUDIO_FORMATS)))
    for name in ("sample_rate", "channels", "frame_duration"):
        value = params.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ProtocolError("%s.audio_params.%s must be a positive integer" % (where, name))
    if params["channels"] != 1:
        raise ProtocolError("%s.audio_params.channels must be 1 (mono)" % where)
    if not 10 <= params["frame_duration"] <= 120:
        raise ProtocolError("%s.audio_params.frame_duration must be 10..120 ms" % where)
    return params


class Hello(Event):
    """Both directions: the device opens with it, the server answers with the downlink format."""

    type = "hello"
    fields = (
        Field("version", _INT, default=1),
        Field("transport", _STR, default="websocket", choices=("websocket",)),
        Field("audio_params", _DICT, required=True),
        Field("features", _DICT),
        Field("session_id", _STR),
    )

    def validate(self):
        check_audio_params(self.audio_params, "hello")


class Listen(Event):
    """Device -> server: open or close the microphone, or report a wake word."""

    type = "listen"
    fields = (
        Field("state", _STR, required=True, choices=LISTEN_STATES),
        Field("mode", _STR, choices=LISTEN_MODES),
        Field("text", _STR),
        Field("session_id", _STR),
    )


class Abort(Event):
    """Device -> server: stop the current reply now (button or barge-in)."""

    type = "abort"
    fields = (Field("reason", _STR), Field("session_id", _STR))


class Stt(Event):
    """Server -> device: what the server heard."""

    type = "stt"
    fields = (Field("text", _STR, required=True), Field("session_id", _STR))


class Llm(Event):
    """Server -> device: the companion's mood for the display."""

    type = "llm"
    fields = (Field("emotion", _STR, required=True), Field("text", _STR), Field("session_id", _STR))


class Tts(Event):
    """Server -> device: reply audio framing; sentence events carry the text being spoken."""

    type = "tts"
    fields = (
        Field("state", _STR, required=True, choices=TTS_STATES),
        Field("text", _STR),
        Field("turn", _INT),
        Field("session_id", _STR),
    )


class Alert(Event):
    """Server -> device: a problem or notice, with a human-readable message."""

    type = "alert"
    fields = (
        Field("status", _STR, required=True, choices=ALERT_STATUSES),
        Field("message", _STR, required=True),
        Field("code", _STR),
        Field("session_id", _STR),
    )


class System(Event):
    """Server -> device: a teacher's command (Hootkit extension)."""

    type = "system"
    fields = (Field("command", _STR, required=True, choices=SYSTEM_COMMANDS), Field("session_id", _STR))


class Lesson(Event):
    """Server -> device: lesson progress (Hootkit extension)."""

    type = "lesson"
    fields = (
        Field("state", _STR, required=True, choices=LESSON_STATES),
        Field("title", _STR),
        Field("step", _INT),
        Field("steps", _INT),
        Field("step_id", _STR),
        Field("correct", _BOOL),
        Field("session_id", _STR),
    )


class Pair(Event):
    """Server -> device: pairing; an unpaired device shows `code`, a paired one keeps `token` (Hootkit extension)."""

    type = "pair"
    fields = (
        Field("state", _STR, required=True, choices=PAIR_STATES),
        Field("code", _STR),
        Field("token", _STR),
        Field("name", _STR),
        Field("session_id", _STR),
    )

    def validate(self):
        if self.state == "code" and not self.code:
            raise ProtocolError("pair.code is needed when state is code")
        if self.state == "paired" and not self.token:
            raise ProtocolError("pair.token is needed when state is paired")


class Metrics(Event):
    """Server -> device: latency parts of one turn in milliseconds (Hootkit extension)."""

    type = "metrics"
    fields = (Field("turn", _INT, required=True), Field("parts", _DICT, required=True), Field("session_id", _STR))

    def validate(self):
        for name in self.parts:
            value = self.parts[name]
            if isinstance(value, bool) or not isinstance(value, _NUM):
                raise ProtocolError("metrics.parts.%s must be a number" % name)


class Audio:
    """A binary frame: audio in the format announced by the sender's hello."""

    type = "audio"

    def __init__(self, data):
        self.data = data

    def __eq__(self, other):
        return isinstance(other, Audio) and bytes(self.data) == bytes(other.data)

    def __repr__(self):
        return "Audio(%d bytes)" % len(self.data)


EVENT_TYPES = {}
for _cls in (Hello, Listen, Abort, Stt, Llm, Tts, Alert, System, Lesson, Pair, Metrics):
    EVENT_TYPES[_cls.type] = _cls

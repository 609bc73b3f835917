"""hootproto: the Hootkit device protocol, sans-I/O, for CPython and MicroPython alike."""

from hootproto.errors import LocalProtocolError, ProtocolError
from hootproto.events import (
    Abort,
    Alert,
    Audio,
    Hello,
    Lesson,
    Listen,
    Llm,
    Metrics,
    Pair,
    Stt,
    System,
    Tts,
    check_audio_params,
)
from hootproto.codec import decode, encode
from hootproto.connection import DeviceConnection, ServerConnection

PROTOCOL_VERSION = 1
PATH = "/v1/device"

CLOSE_NORMAL = 1000
CLOSE_TOO_BIG = 1009
CLOSE_UNAUTHORIZED = 4001
CLOSE_BAD_HELLO = 4002
CLOSE_HELLO_TIMEOUT = 4003
CLOSE_TOO_MANY_ERRORS = 4004
CLOSE_SERVER_SHUTDOWN = 4005

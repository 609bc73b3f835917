"""Per-role protocol state machines: receive(frame) -> events, send(event) -> frame. No I/O.

Like h11: a connection object knows what may happen next and refuses the rest, on both sides.
"""

from hootproto import codec
from hootproto.errors import LocalProtocolError, ProtocolError
from hootproto.events import Abort, Audio, Hello, Listen, Tts

HANDSHAKE = "handshake"
IDLE = "idle"
LISTENING = "listening"
SPEAKING = "speaking"


class _Connection:
    def __init__(self):
        self.ready = False
        self.listening = False
        self.mode = None
        self.speaking = False
        self.turn = None

    @property
    def state(self):
        if not self.ready:
            return HANDSHAKE
        if self.speaking:
            return SPEAKING
        if self.listening:
            return LISTENING
        return IDLE

    def _track_listen(self, event):
        if event.state == "start":
            self.listening = True
            self.mode = event.mode or "auto"
        elif event.state == "stop":
            self.listening = False


class ServerConnection(_Connection):
    """The server's view of one device: it must say hello first, then it may listen and abort."""

    def __init__(self):
        _Connection.__init__(self)
        self.device_hello = None
        self.hello_sent = False

    @property
    def uplink(self):
        """The audio format the device sends, from its hello."""
        return self.device_hello.audio_params if self.device_hello else None

    def receive(self, frame):
        event = codec.decode(frame)
        if not self.ready:
            if not isinstance(event, Hello):
                raise ProtocolError("send hello first (got %s)" % event.type, "out_of_order")
            self.device_hello = event
            self.ready = True
            return [event]
        if isinstance(event, Hello):
            raise ProtocolError("hello was already received", "out_of_order")
        if isinstance(event, Listen):
            self._track_listen(event)
        elif isinstance(event, Abort):
            self.speaking = False
        return [event]

    def send(self, event):
        if isinstance(event, Hello):
            if not self.ready or self.hello_sent:
                raise LocalProtocolError("the server says hello once, after the device's hello")
            self.hello_sent = True
        elif not self.hello_sent and not _is_alert(event):
            raise LocalProtocolError("the server must answer hello before sending %s" % event.type)
        elif isinstance(event, Tts):
            if event.state == "start":
                self.speaking = True
                self.turn = event.turn
            elif event.state == "stop":
                self.speaking = False
        elif isinstance(event, Audio) and not self.speaking:
            raise LocalProtocolError("reply audio outside tts start/stop (turn aborted or over)")
        return codec.encode(event)


class DeviceConnection(_Connection):
    """The device's side: hello first; after an abort it drops reply audio until the next tts start."""

    def __init__(self):
        _Connection.__init__(self)
        self.hello_sent = False
        self.server_hello = None
        self.discarding = False
        self.dropped_frames = 0

    @property
    def downlink(self):
        """The audio format the server sends, from its hello."""
        return self.server_hello.audio_params if self.server_hello else None

    def send(self, event):
        if isinstance(event, Hello):
            if self.hello_sent:
                raise LocalProtocolError("hello was already sent")
            self.hello_sent = True
        elif not self.ready:
            raise LocalProtocolError("wait for the server's hello before sending %s" % event.type)
        elif isinstance(event, Listen):
            self._track_listen(event)
        elif isinstance(event, Abort):
            self.speaking = False
            self.discarding = True
        return codec.encode(event)

    def receive(self, frame):
        event = codec.decode(frame)
        if isinstance(event, Hello):
            if not self.hello_sent or self.ready:
                raise ProtocolError("unexpected hello from the server", "out_of_order")
            self.server_hello = event
            self.ready = True
            return [event]
        if not self.ready and not _is_alert(event):
            raise ProtocolError("server sent %s before hello" % event.type, "out_of_order")
        if isinstance(event, Tts):
            if event.state == "start":
                self.speaking = True
                self.discarding = False
                self.turn = event.turn
            elif event.state == "stop":
                self.speaking = False
        elif isinstance(event, Audio) and (self.discarding or not self.speaking):
            self.dropped_frames += 1
            return []
        return [event]


def _is_alert(event):
    return getattr(event, "type", None) == "alert"

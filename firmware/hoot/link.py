"""The server link: one websocket speaking hootproto, from hello handshake to close."""

from hootproto import Alert, Audio, DeviceConnection, Hello, ProtocolError
from hoot import log, ws


class LinkRefused(Exception):
    """The server will not talk to this device (a bad token, an unsupported format); retrying won't help soon."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


REFUSED_CODES = (4001, 4002)


class Link:
    """Connects, says hello, then turns websocket messages into protocol events and back."""

    def __init__(self, server, token, device_id, rate, frame_ms):
        self.server = server
        self.token = token
        self.device_id = device_id
        self.rate = rate
        self.frame_ms = frame_ms
        self.conn = None
        self.socket = None
        self.session_id = None

    async def open(self):
        headers = {"Device-Id": self.device_id, "Client-Id": "hoot-firmware", "Protocol-Version": "1"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        self.conn = DeviceConnection()
        self.socket = await ws.connect(self.server, headers)
        params = {"format": "pcm16", "sample_rate": self.rate, "channels": 1, "frame_duration": self.frame_ms}
        try:
            await self.socket.send_text(self.conn.send(Hello(audio_params=params, features={"metrics": True})))
            while not self.conn.ready:
                for event in self.conn.receive(await self.socket.recv()):
                    if isinstance(event, Alert):
                        log.event("alert", {"code": event.code, "message": event.message})
        except ws.WsClosed as closed:
            if closed.code in REFUSED_CODES:
                raise LinkRefused(closed.code, closed.reason)
            raise
        self.session_id = self.conn.server_hello.session_id
        return self.conn.server_hello

    async def send(self, event):
        await self.socket.send_text(self.conn.send(event))

    async def send_audio(self, pcm):
        await self.socket.send_binary(self.conn.send(Audio(pcm)))

    async def receive(self):
        """The events of the next message; a malformed one is logged and skipped, never fatal."""
        frame = await self.socket.recv()
        try:
            return self.conn.receive(frame)
        except ProtocolError as error:
            log.event("protocol_error", {"code": error.code, "message": error.message})
            return []

    async def close(self):
        if self.socket is not None:
            await self.socket.close()

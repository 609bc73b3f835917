"""A small websocket client (RFC 6455) on asyncio streams: text and binary messages, ping, close."""

import asyncio
import binascii
import hashlib
import os

import micropython

from hoot import url as urls

OP_CONT = 0
OP_TEXT = 1
OP_BINARY = 2
OP_CLOSE = 8
OP_PING = 9
OP_PONG = 10
MAX_MESSAGE = 65536
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WsClosed(Exception):
    """The connection is over; `code` is the close code (1006 when it was simply lost)."""

    def __init__(self, code, reason):
        super().__init__("websocket closed (%d): %s" % (code, reason))
        self.code = code
        self.reason = reason


@micropython.viper
def _mask(buf: ptr8, start: int, n: int, key: ptr8):
    for i in range(n):
        buf[start + i] = buf[start + i] ^ key[i & 3]


async def connect(url, headers=None, timeout_ms=10000):
    """Open a websocket; `headers` is a dict of extra request headers."""
    scheme, host, port, path = urls.split(url)
    try:
        if scheme == "wss":
            opening = asyncio.open_connection(host, port, ssl=True)
        else:
            opening = asyncio.open_connection(host, port)
        reader, writer = await asyncio.wait_for_ms(opening, timeout_ms)
    except (OSError, asyncio.TimeoutError) as error:
        raise WsClosed(1006, "cannot connect to %s:%d (%r)" % (host, port, error))
    client = WsClient(reader, writer)
    await asyncio.wait_for_ms(client.handshake(host, port, path, headers or {}), timeout_ms)
    return client


class WsClient:
    """One open websocket: `send_text`, `send_binary`, `recv`, `close`."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.lock = asyncio.Lock()
        self.out = bytearray(14 + 2048)
        self.closed = None

    async def handshake(self, host, port, path, headers):
        key = binascii.b2a_base64(os.urandom(16)).strip()
        lines = [
            "GET %s HTTP/1.1" % path,
            "Host: %s:%d" % (host, port),
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: " + key.decode(),
            "Sec-WebSocket-Version: 13",
        ]
        for name in headers:
            lines.append("%s: %s" % (name, headers[name]))
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await self.writer.drain()
            status = await self.reader.readline()
            accept = None
            while True:
                line = await self.reader.readline()
                if not line or line == b"\r\n":
                    break
                if line.lower().startswith(b"sec-websocket-accept:"):
                    accept = line.split(b":", 1)[1].strip()
        except (OSError, EOFError) as error:
            raise self._lost(error)
        parts = status.split()
        if len(parts) < 2 or parts[1] != b"101":
            self._shut()
            raise WsClosed(1006, "server refused the websocket: %s" % status.decode().strip())
        expected = binascii.b2a_base64(hashlib.sha1(key + _GUID).digest()).strip()
        if accept != expected:
            self._shut()
            raise WsClosed(1006, "server answered with a wrong Sec-WebSocket-Accept")

    async def send_text(self, text):
        await self._send(OP_TEXT, text.encode())

    async def send_binary(self, data):
        await self._send(OP_BINARY, data)

    async def _send(self, opcode, data):
        async with self.lock:
            if self.closed is not None:
                raise self.closed
            frame = self._frame(opcode, data)
            try:
                self.writer.write(frame)
                await self.writer.drain()
            except OSError as error:
                raise self._lost(error)

    def _frame(self, opcode, data):
        """One masked frame in the reused output buffer; call it holding the lock."""
        n = len(data)
        if n < 126:
            head = 2
        elif n < 65536:
            head = 4
        else:
            raise ValueError("message too large for this client")
        if len(self.out) < head + 4 + n:
            self.out = bytearray(head + 4 + n)
        out = self.out
        out[0] = 0x80 | opcode
        if head == 2:
            out[1] = 0x80 | n
        else:
            out[1] = 0x80 | 126
            out[2] = n >> 8
            out[3] = n & 0xFF
        key = os.urandom(4)
        out[head : head + 4] = key
        start = head + 4
        out[start : start + n] = data
        _mask(out, start, n, key)
        return memoryview(out)[: start + n]

    async def recv(self):
        """The next message: str for text, bytes for binary. Answers pings; raises WsClosed at the end."""
        message = None
        message_op = None
        while True:
            fin, opcode, payload = await self._read_frame()
            if opcode == OP_PING:
                await self._send(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                await self._closed_by_server(payload)
            if opcode == OP_CONT:
                if message is None:
                    raise self._fail(1002, "continuation without a first frame")
                message.extend(payload)
            elif message is not None:
                raise self._fail(1002, "a new message began inside a fragmented one")
            else:
                message, message_op = bytearray(payload), opcode
            if len(message) > MAX_MESSAGE:
                raise self._fail(1009, "message larger than %d bytes" % MAX_MESSAGE)
            if fin:
                if message_op != OP_TEXT:
                    return bytes(message)
                try:
                    return bytes(message).decode()
                except UnicodeError:
                    raise self._fail(1007, "text message is not valid UTF-8")

    async def _closed_by_server(self, payload):
        if len(payload) == 1:
            raise self._fail(1002, "close frame with a 1-byte payload")
        code = (payload[0] << 8 | payload[1]) if len(payload) >= 2 else 1005
        try:
            reason = bytes(payload[2:]).decode()
        except UnicodeError:
            reason = "(not UTF-8)"
        try:
            await self._send(OP_CLOSE, payload[:2])
        except WsClosed:
            pass
        self.closed = WsClosed(code, reason)
        self._shut()
        raise self.closed

    async def _read_frame(self):
        if self.closed is not None:
            raise self.closed
        try:
            head = await self.reader.readexactly(2)
            n = head[1] & 0x7F
            if n == 126:
                ext = await self.reader.readexactly(2)
                n = ext[0] << 8 | ext[1]
            elif n == 127:
                ext = await self.reader.readexactly(8)
                n = 0
                for byte in ext:
                    n = n << 8 | byte
            if head[1] & 0x80:
                raise self._fail(1002, "the server masked a frame")
            if n > MAX_MESSAGE:
                raise self._fail(1009, "frame larger than %d bytes" % MAX_MESSAGE)
            payload = await self.reader.readexactly(n) if n else b""
        except (OSError, EOFError) as error:
            raise self._lost(error)
        return head[0] & 0x80, head[0] & 0x0F, payload

    async def close(self, code=1000):
        if self.closed is None:
            try:
                await self._send(OP_CLOSE, bytes((code >> 8, code & 0xFF)))
            except WsClosed:
                pass
            self.closed = WsClosed(code, "closed by the device")
        self._shut()

    def _fail(self, code, reason):
        self.closed = WsClosed(code, reason)
        self._shut()
        return self.closed

    def _lost(self, error):
        return self._fail(1006, "connection lost (%r)" % (error,))

    def _shut(self):
        try:
            self.writer.close()
        except OSError:
            pass

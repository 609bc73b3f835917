"""hoot.ws on MicroPython: masking, frame encoding and decoding, pings, closes and broken servers."""

import binascii
import hashlib

from hoot import ws


class Reader:
    """The server side as bytes, read like an asyncio StreamReader (EOFError when it runs out)."""

    def __init__(self, data=b""):
        self.data = bytes(data)
        self.pos = 0

    async def readexactly(self, n):
        if self.pos + n > len(self.data):
            self.pos = len(self.data)
            raise EOFError
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    async def readline(self):
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        line = self.data[self.pos : end]
        self.pos = end
        return line

    async def read(self, n):
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk


class Writer:
    """Keeps a copy of each write (the client reuses its buffer), like StreamWriter does."""

    def __init__(self):
        self.writes = []
        self.drains = 0
        self.closed = False

    def write(self, buf):
        assert not self.closed, "write after close"
        self.writes.append(bytes(buf))

    async def drain(self):
        self.drains += 1

    def close(self):
        self.closed = True


def frame(opcode, payload=b"", fin=True, mask=None, length=None):
    """A frame as a server would send it (unmasked unless `mask` is a 4-byte key)."""
    payload = bytes(payload)
    n = len(payload) if length is None else length
    out = bytearray([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        out.append(bit | n)
    elif n < 65536:
        out.extend(bytes([bit | 126, n >> 8, n & 0xFF]))
    else:
        out.append(bit | 127)
        out.extend(bytes([(n >> shift) & 0xFF for shift in (56, 48, 40, 32, 24, 16, 8, 0)]))
    if mask:
        out.extend(mask)
        payload = bytes([b ^ mask[i & 3] for i, b in enumerate(payload)])
    out.extend(payload)
    return bytes(out)


def parse(data):
    """(fin, opcode, payload) of one client frame; asserts it is masked and exactly one frame."""
    fin = data[0] & 0x80
    opcode = data[0] & 0x0F
    assert data[0] & 0x70 == 0, "reserved bits set"
    assert data[1] & 0x80, "a client frame must be masked"
    n = data[1] & 0x7F
    pos = 2
    if n == 126:
        n = data[2] << 8 | data[3]
        pos = 4
    else:
        assert n < 126, "client used a 64-bit length"
    key = data[pos : pos + 4]
    pos += 4
    assert len(data) == pos + n, "frame length %d but %d bytes written" % (pos + n, len(data))
    payload = bytearray(data[pos:])
    for i in range(n):
        payload[i] ^= key[i & 3]
    return fin, opcode, bytes(payload)


def client(data=b""):
    writer = Writer()
    return ws.WsClient(Reader(data), writer), writer


async def expect_closed(awaitable, code):
    try:
        result = await awaitable
    except ws.WsClosed as closed:
        assert closed.code == code, "closed with %d (%s), expected %d" % (closed.code, closed.reason, code)
        return closed
    raise AssertionError("no WsClosed(%d); got %r" % (code, result))


def payload_of(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


# --- masking ---------------------------------------------------------------------------------------

def test_mask_matches_python_xor_and_is_its_own_inverse():
    key = b"\x12\xa4\x5f\xe0"
    for start, n in ((0, 0), (0, 1), (0, 4), (3, 7), (14, 301)):
        original = bytearray(payload_of(start + n + 5))
        buf = bytearray(original)
        ws._mask(buf, start, n, key)
        expected = bytearray(original)
        for i in range(n):
            expected[start + i] ^= key[i & 3]
        assert buf == expected
        assert buf[:start] == original[:start] and buf[start + n:] == original[start + n:]
        ws._mask(buf, start, n, key)
        assert buf == original


# --- sending -------------------------------------------------------------------------------------

async def test_send_text_and_binary_frames():
    c, w = client()
    await c.send_text("héllo, owl")
    await c.send_binary(b"\x00\x01\xff")
    assert len(w.writes) == 2 and w.drains == 2
    assert parse(w.writes[0]) == (0x80, ws.OP_TEXT, "héllo, owl".encode())
    assert parse(w.writes[1]) == (0x80, ws.OP_BINARY, b"\x00\x01\xff")


async def test_send_lengths():
    c, w = client()
    for n in (0, 1, 125, 126, 300, 2048, 2049, 65535):
        data = payload_of(n)
        await c.send_binary(data)
        raw = w.writes[-1]
        assert raw[1] & 0x7F == (n if n < 126 else 126), n
        assert parse(raw) == (0x80, ws.OP_BINARY, data), n
    await c.send_text("after a big one")
    assert parse(w.writes[-1]) == (0x80, ws.OP_TEXT, b"after a big one")


async def test_send_too_large_is_a_value_error():
    c, w = client()
    for n in (65536, 70000):
        try:
            await c.send_binary(bytes(n))
        except ValueError:
            pass
        else:
            raise AssertionError("sent %d bytes in one frame" % n)
    assert w.writes == []
    await c.send_binary(b"still usable")
    assert parse(w.writes[-1])[2] == b"still usable"


async def test_send_uses_fresh_mask_keys():
    c, w = client()
    await c.send_binary(b"same")
    await c.send_binary(b"same")
    keys = [raw[2:6] for raw in w.writes]
    assert keys[0] != keys[1]  # 32 random bits: equal once in four billion runs


# --- receiving -----------------------------------------------------------------------------------

async def test_recv_text_and_binary():
    c, w = client(frame(ws.OP_TEXT, "hoot ✓".encode()) + frame(ws.OP_BINARY, b"\x00\xff") +
                  frame(ws.OP_TEXT, b"") + frame(ws.OP_BINARY, payload_of(300)))
    assert await c.recv() == "hoot ✓"
    got = await c.recv()
    assert got == b"\x00\xff" and isinstance(got, bytes)
    assert await c.recv() == ""
    assert await c.recv() == payload_of(300)
    assert w.writes == []


async def test_recv_64_bit_length():
    data = payload_of(65536)
    c, w = client(frame(ws.OP_BINARY, data))
    assert await c.recv() == data


async def test_recv_fragmented_message_with_a_ping_in_between():
    c, w = client(frame(ws.OP_TEXT, b"hel", fin=False) + frame(ws.OP_PING, b"?", fin=True) +
                  frame(ws.OP_CONT, b"lo ", fin=False) + frame(ws.OP_CONT, b"owl") +
                  frame(ws.OP_BINARY, b"a", fin=False) + frame(ws.OP_CONT, b"b"))
    assert await c.recv() == "hello owl"
    assert await c.recv() == b"ab"
    assert [parse(raw) for raw in w.writes] == [(0x80, ws.OP_PONG, b"?")]


async def test_recv_answers_ping_with_a_masked_pong():
    c, w = client(frame(ws.OP_PING, b"are you there") + frame(ws.OP_PING) + frame(ws.OP_PONG, b"x") +
                  frame(ws.OP_TEXT, b"yes"))
    assert await c.recv() == "yes"
    assert [parse(raw) for raw in w.writes] == [(0x80, ws.OP_PONG, b"are you there"), (0x80, ws.OP_PONG, b"")]


async def test_recv_close_frame():
    c, w = client(frame(ws.OP_CLOSE, b"\x0f\xa1" + "bad token ✗".encode()) + frame(ws.OP_TEXT, b"never"))
    closed = await expect_closed(c.recv(), 4001)
    assert closed.reason == "bad token ✗"
    assert [parse(raw) for raw in w.writes] == [(0x80, ws.OP_CLOSE, b"\x0f\xa1")]
    assert w.closed
    assert c.closed is closed
    again = await expect_closed(c.recv(), 4001)
    assert again is closed
    await expect_closed(c.send_text("late"), 4001)
    assert len(w.writes) == 1


async def test_recv_close_frame_without_a_code():
    c, w = client(frame(ws.OP_CLOSE))
    closed = await expect_closed(c.recv(), 1005)
    assert closed.reason == ""
    assert [parse(raw) for raw in w.writes] == [(0x80, ws.OP_CLOSE, b"")]


async def test_recv_masked_server_frame_is_a_protocol_error():
    c, w = client(frame(ws.OP_TEXT, b"masked", mask=b"\x01\x02\x03\x04"))
    await expect_closed(c.recv(), 1002)
    assert w.closed
    await expect_closed(c.recv(), 1002)


async def test_recv_continuation_without_a_first_frame():
    c, w = client(frame(ws.OP_CONT, b"orphan"))
    await expect_closed(c.recv(), 1002)
    assert w.closed


async def test_recv_frame_over_max_message():
    # only the header is there: the client must refuse before reading 70000 bytes
    c, w = client(frame(ws.OP_BINARY, length=70000))
    closed = await expect_closed(c.recv(), 1009)
    assert "larger than 65536" in closed.reason
    assert w.closed
    c, w = client(frame(ws.OP_BINARY, length=ws.MAX_MESSAGE + 1))
    await expect_closed(c.recv(), 1009)


async def test_recv_fragments_over_max_message():
    c, w = client(frame(ws.OP_BINARY, bytes(60000), fin=False) + frame(ws.OP_CONT, bytes(6000)))
    await expect_closed(c.recv(), 1009)
    assert w.closed


async def test_recv_eof_is_connection_lost():
    for data in (b"", b"\x81", frame(ws.OP_TEXT, b"0123456789")[:5], frame(ws.OP_BINARY, length=300)[:3],
                 frame(ws.OP_TEXT, b"ok") + b"\x82\x7f\x00"):
        c, w = client(data)
        if data.startswith(frame(ws.OP_TEXT, b"ok")):
            assert await c.recv() == "ok"
        await expect_closed(c.recv(), 1006)
        assert w.closed


async def test_close_sends_a_close_frame_once():
    c, w = client()
    await c.close()
    assert [parse(raw) for raw in w.writes] == [(0x80, ws.OP_CLOSE, b"\x03\xe8")]
    assert w.closed
    await c.close(4000)
    assert len(w.writes) == 1
    await expect_closed(c.send_binary(b"x"), 1000)


# --- the opening handshake -----------------------------------------------------------------------

class HandshakeReader(Reader):
    """Answers the client's upgrade request once it has been written."""

    def __init__(self, writer, status=b"HTTP/1.1 101 Switching Protocols", wrong_accept=False):
        super().__init__()
        self.writer = writer
        self.status = status
        self.wrong_accept = wrong_accept

    async def readline(self):
        if not self.data:
            request = self.writer.writes[0].decode()
            key = [line for line in request.split("\r\n") if line.startswith("Sec-WebSocket-Key: ")][0][19:]
            if self.wrong_accept:
                key = "x" + key
            accept = binascii.b2a_base64(hashlib.sha1(key.encode() + ws._GUID).digest()).strip()
            self.data = (self.status + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        return await super().readline()


async def test_handshake_request_and_accept():
    w = Writer()
    c = ws.WsClient(HandshakeReader(w), w)
    await c.handshake("10.0.0.5", 8765, "/v1/device", {"Device-Id": "24:6F", "Authorization": "Bearer t"})
    request = w.writes[0].decode()
    assert request.startswith("GET /v1/device HTTP/1.1\r\n")
    assert request.endswith("\r\n\r\n")
    lines = request.split("\r\n")
    for expected in ("Host: 10.0.0.5:8765", "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Version: 13", "Device-Id: 24:6F", "Authorization: Bearer t"):
        assert expected in lines, expected
    assert not w.closed


async def test_handshake_refused_or_wrong_accept():
    w = Writer()
    c = ws.WsClient(HandshakeReader(w, status=b"HTTP/1.1 403 Forbidden"), w)
    closed = await expect_closed(c.handshake("h", 80, "/", {}), 1006)
    assert "403" in closed.reason and w.closed
    w = Writer()
    c = ws.WsClient(HandshakeReader(w, wrong_accept=True), w)
    closed = await expect_closed(c.handshake("h", 80, "/", {}), 1006)
    assert "Sec-WebSocket-Accept" in closed.reason and w.closed
    w = Writer()
    c = ws.WsClient(Reader(b""), w)
    await expect_closed(c.handshake("h", 80, "/", {}), 1006)


class GatedWriter(Writer):
    """The first drain waits for `gate`, like a slow network, so other senders queue behind it."""

    def __init__(self):
        Writer.__init__(self)
        import asyncio

        self.gate = asyncio.Event()
        self.first = True

    async def drain(self):
        if self.first:
            self.first = False
            await self.gate.wait()


async def test_concurrent_senders_never_mix_frames():
    import asyncio

    writer = GatedWriter()
    c = ws.WsClient(Reader(), writer)
    tasks = [asyncio.create_task(c.send_text("first")), asyncio.create_task(c.send_binary(b"AUDIO")),
             asyncio.create_task(c.send_text("stop"))]
    await asyncio.sleep_ms(0)
    writer.gate.set()
    for task in tasks:
        await task
    assert [parse(raw) for raw in writer.writes] == [
        (0x80, ws.OP_TEXT, b"first"), (0x80, ws.OP_BINARY, b"AUDIO"), (0x80, ws.OP_TEXT, b"stop")]


async def test_recv_text_that_is_not_utf8_closes_with_1007():
    c, w = client(frame(ws.OP_TEXT, b"\xff\xfe"))
    await expect_closed(c.recv(), 1007)
    assert w.closed


async def test_recv_close_with_a_one_byte_payload_is_a_protocol_error():
    c, w = client(frame(ws.OP_CLOSE, b"\x03"))
    await expect_closed(c.recv(), 1002)


async def test_recv_new_message_inside_a_fragmented_one_is_a_protocol_error():
    c, w = client(frame(ws.OP_TEXT, b"a", fin=False) + frame(ws.OP_TEXT, b"b"))
    await expect_closed(c.recv(), 1002)

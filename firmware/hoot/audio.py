"""Microphone (I2S in, 32-bit slots -> PCM16) and speaker (I2S out behind a small jitter buffer)."""

import asyncio

import micropython
from machine import I2S, Pin


@micropython.viper
def _slots_to_pcm16(src: ptr16, dst: ptr16, n: int, shift: int):
    # each 32-bit slot is two 16-bit halves, low then high; keep bits [shift, shift+16) with clipping
    for i in range(n):
        high = int(src[2 * i + 1])
        if high >= 32768:
            high -= 65536
        value = (high << (16 - shift)) | (int(src[2 * i]) >> shift)
        if value > 32767:
            value = 32767
        elif value < -32768:
            value = -32768
        dst[i] = value


@micropython.viper
def _scale(buf: ptr16, n: int, gain_q8: int):
    for i in range(n):
        value = int(buf[i])
        if value >= 32768:
            value -= 65536
        buf[i] = (value * gain_q8) >> 8


class Mic:
    """INMP441-style microphone: reads 32-bit I2S slots and yields PCM16 frames of `frame_ms`."""

    def __init__(self, pins, frame_ms):
        self.rate = pins["rate"]
        self.shift = pins["shift"]
        self.samples = self.rate * frame_ms // 1000
        self.i2s = I2S(
            pins["i2s_id"], sck=Pin(pins["sck"]), ws=Pin(pins["ws"]), sd=Pin(pins["sd"]),
            mode=I2S.RX, bits=32, format=I2S.MONO, rate=self.rate, ibuf=self.samples * 4 * 4,
        )
        self.stream = asyncio.StreamReader(self.i2s)
        self.slots = bytearray(self.samples * 4)
        self.pcm = bytearray(self.samples * 2)

    async def read_frame(self):
        """The next frame as PCM16 bytes (the same buffer each time: send it before reading again)."""
        got = 0
        view = memoryview(self.slots)
        while got < len(self.slots):
            n = await self.stream.readinto(view[got:])
            if n:
                got += n
        _slots_to_pcm16(self.slots, self.pcm, self.samples, self.shift)
        return self.pcm


class Speaker:
    """MAX98357A-style amplifier fed from a jitter buffer: play after a pre-roll, flush at once on abort."""

    def __init__(self, pins, frame_ms, buffer_ms=1500, preroll_ms=80):
        self.rate = pins["rate"]
        self.gain_q8 = int(pins.get("volume", 1.0) * 256)
        self.chunk = self.rate * frame_ms // 1000 * 2
        self.preroll = self.rate * preroll_ms // 1000 * 2
        self.i2s = I2S(
            pins["i2s_id"], sck=Pin(pins["sck"]), ws=Pin(pins["ws"]), sd=Pin(pins["sd"]),
            mode=I2S.TX, bits=16, format=I2S.MONO, rate=self.rate, ibuf=self.chunk * 4,
        )
        self.stream = asyncio.StreamWriter(self.i2s, {})
        self.ring = bytearray(self.rate * buffer_ms // 1000 * 2)
        self.head = 0
        self.size = 0
        self.out = bytearray(self.chunk)
        self.ending = False
        self.playing = False
        self.overflowed = 0
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()

    def feed(self, pcm):
        """Queue reply audio; what does not fit is dropped and counted, never blocking the link."""
        n = len(pcm)
        room = len(self.ring) - self.size
        if n > room:
            self.overflowed += n - room
            n = room
        tail = (self.head + self.size) % len(self.ring)
        first = min(n, len(self.ring) - tail)
        self.ring[tail : tail + first] = pcm[:first]
        if n > first:
            self.ring[: n - first] = pcm[first:n]
        self.size += n
        self.ending = False
        self.drained.clear()
        self.wake.set()

    def end(self):
        """No more audio for this reply: play out what is buffered, even below the pre-roll."""
        self.ending = True
        if self.size == 0:
            self._idle()
        self.wake.set()

    def flush(self):
        """Drop everything buffered now (abort, pause)."""
        self.size = 0
        self.ending = False
        self._idle()

    def _idle(self):
        self.playing = False
        self.drained.set()

    def _take(self):
        n = min(self.chunk, self.size)
        first = min(n, len(self.ring) - self.head)
        self.out[:first] = self.ring[self.head : self.head + first]
        if n > first:
            self.out[first:n] = self.ring[: n - first]
        self.head = (self.head + n) % len(self.ring)
        self.size -= n
        return n

    async def run(self):
        """The playback task: waits for the pre-roll (again after running dry), then keeps the amplifier fed."""
        while True:
            if self.size == 0:
                self.playing = False
                if self.ending:
                    self.ending = False
                    self._idle()
            if self.size == 0 or (not self.playing and not self.ending and self.size < self.preroll):
                self.wake.clear()
                await self.wake.wait()
                continue
            self.playing = True
            n = self._take()
            _scale(self.out, n // 2, self.gain_q8)
            self.stream.write(memoryview(self.out)[:n])
            await self.stream.drain()

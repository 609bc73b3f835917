"""A fake `machine` for the emulator (MicroPython): Pin, I2S, reset, backed by the emulated world."""

import io
import sys
import time

from _world import RESET_EXIT_CODE, emit, world


_POLL = 3
_POLL_RD = 1
_POLL_WR = 4
_GET_FILENO = 10


def reset():
    emit("reset")
    sys.exit(RESET_EXIT_CODE)


def unique_id():
    return b"\x24\x6f\x28\x00\x00\x01"


def freq(hz=None):
    return 240000000


class Pin:
    """GPIO; the button pin reads the world's button, other pins just remember their value."""

    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, number, mode=-1, pull=-1):
        self.number = number
        self.mode = mode
        self.pull = pull
        self.level = 0

    def value(self, level=None):
        if level is not None:
            self.level = level
            return None
        world.poll()
        if self.mode == Pin.IN:
            down = world.button_down
            if down != world.button_seen:
                world.button_seen = down
                emit("button_seen", {"down": down})
            return (0 if down else 1) if self.pull == Pin.PULL_UP else (1 if down else 0)
        return self.level


class I2S(io.IOBase):
    """I2S in real time: RX hears what the world says into the microphone, TX plays into speaker.pcm.

    Like the DMA buffers of a real chip, both sides are non-blocking and report through poll when a
    quarter of their buffer is ready (RX) or free (TX), so asyncio streams wait on them properly."""

    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1

    def __init__(self, ident, sck=None, ws=None, sd=None, mode=0, bits=16, format=0, rate=16000, ibuf=8192):
        if format != I2S.MONO or bits not in (16, 32):
            raise ValueError("the emulator supports mono 16- or 32-bit I2S")
        self.mode = mode
        self.bits = bits
        self.rate = rate
        self.bytes_per_sample = bits // 8
        self.ibuf_samples = ibuf // self.bytes_per_sample
        self.t0 = time.ticks_ms()
        self.pos = 0
        self.play_end_ms = None
        self.out = open(world.speaker_path, "ab") if mode == I2S.TX else None
        self.source = None
        emit("i2s", {"mode": "rx" if mode == I2S.RX else "tx", "rate": rate, "bits": bits})

    def _now_sample(self):
        return time.ticks_diff(time.ticks_ms(), self.t0) * self.rate // 1000

    def _sample_ms(self, index):
        return time.ticks_add(self.t0, index * 1000 // self.rate)

    def _available(self):
        now = self._now_sample()
        if now - self.pos > self.ibuf_samples:
            emit("mic_overrun", {"dropped_ms": (now - self.ibuf_samples - self.pos) * 1000 // self.rate})
            self.pos = now - self.ibuf_samples
        return now - self.pos

    def _free_samples(self):
        now = time.ticks_ms()
        if self.play_end_ms is None or time.ticks_diff(self.play_end_ms, now) < 0:
            return self.ibuf_samples
        return self.ibuf_samples - time.ticks_diff(self.play_end_ms, now) * self.rate // 1000

    def ioctl(self, request, arg):
        if request == _POLL:
            world.poll()
            quarter = self.ibuf_samples // 4
            if self.mode == I2S.RX:
                return arg & _POLL_RD if self._available() >= quarter else 0
            return arg & _POLL_WR if self._free_samples() >= quarter else 0
        return -1 if request == _GET_FILENO else 0

    def readinto(self, buf):
        n = min(len(buf) // self.bytes_per_sample, self._available())
        if n <= 0:
            return None
        self._fill(buf, n)
        self.pos += n
        return n * self.bytes_per_sample

    def write(self, buf):
        n = min(len(buf) // self.bytes_per_sample, self._free_samples())
        if n <= 0:
            return None
        now = time.ticks_ms()
        if self.play_end_ms is None or time.ticks_diff(self.play_end_ms, now) < 0:
            self.play_end_ms = now
            emit("play_start", {"offset": self.out.tell()})
        self.play_end_ms = time.ticks_add(self.play_end_ms, n * 1000 // self.rate)
        self.out.write(buf[: n * self.bytes_per_sample])
        self.out.flush()
        return n * self.bytes_per_sample

    def _fill(self, buf, n):
        speech = world.speech
        if speech is not None and speech["start"] is None:
            speech["start"] = max(self.pos, self._now_sample())
            self.source = open(speech["path"], "rb")
            emit("speech_start", {"t_world": self._sample_ms(speech["start"])})
        pcm = bytearray(n * 2)
        if speech is not None:
            offset = self.pos - speech["start"]
            if offset + n > 0 and offset < speech["samples"]:
                begin = max(0, offset)
                self.source.seek(begin * 2)
                got = self.source.readinto(memoryview(pcm)[(begin - offset) * 2 :])
                del got
            end = speech["start"] + speech["voiced_end"]
            if self.pos <= end < self.pos + n:
                emit("voiced_end", {"t_world": self._sample_ms(end)})
            if offset + n >= speech["samples"]:
                emit("speech_end")
                world.speech = None
                self.source.close()
        shift = world.mic_shift
        if self.bits == 16:
            buf[: n * 2] = pcm
            return
        for i in range(n):
            value = pcm[2 * i] | pcm[2 * i + 1] << 8
            if value >= 32768:
                value -= 65536
            value = (value << shift) & 0xFFFFFFFF
            j = 4 * i
            buf[j] = value & 0xFF
            buf[j + 1] = (value >> 8) & 0xFF
            buf[j + 2] = (value >> 16) & 0xFF
            buf[j + 3] = value >> 24

    def deinit(self):
        if self.out is not None:
            self.out.close()

"""hoot.audio on MicroPython: the viper sample conversions and the speaker's jitter buffer."""

import os
import struct

import asyncio
from _world import world

from hoot import audio
from tempdir import TempDir

PINS = {"i2s_id": 1, "sck": 15, "ws": 16, "sd": 7, "rate": 16000, "bits": 16, "volume": 1.0}
HANG_GUARD_MS = 10000  # only against a hang; nothing here depends on how fast it runs


def slots(values):
    """32-bit little-endian I2S slots."""
    return struct.pack("<%di" % len(values), *values)


def pcm16(values):
    return bytearray(struct.pack("<%dh" % len(values), *values))


def samples(buf, n=None):
    n = len(buf) // 2 if n is None else n
    return list(struct.unpack("<%dh" % n, bytes(buf[: 2 * n])))


def convert(values, shift):
    dst = bytearray(2 * len(values) + 2)
    dst[-2:] = b"\x5a\xa5"  # a guard sample that must stay untouched
    audio._slots_to_pcm16(slots(values), dst, len(values), shift)
    assert dst[-2:] == b"\x5a\xa5"
    return samples(dst, len(values))


def pattern(n, start=0):
    return bytes((start + i) % 251 for i in range(n))


# --- viper conversions ----------------------------------------------------------------------------

def test_slots_shift_16_keeps_the_high_half():
    values = [0, 1, -1, 12345, -12345, 32767, -32768, 256, -256]
    assert convert([v << 16 for v in values], 16) == values
    # the low half (the microphone's extra bits) does not leak in at shift 16
    assert convert([(v << 16) | 0xFFFF for v in values], 16) == values
    assert convert([(v << 16) | 0x8000 for v in values], 16) == values


def test_slots_shift_14_multiplies_by_four_with_clipping():
    values = [0, 1, -1, 1000, -1000, 8191, -8192, 8192, -8193, 10000, -10000, 32767, -32768]
    expected = [0, 4, -4, 4000, -4000, 32764, -32768, 32767, -32768, 32767, -32768, 32767, -32768]
    assert convert([v << 16 for v in values], 14) == expected


def test_slots_shift_14_keeps_the_top_two_low_bits():
    assert convert([(1000 << 16) | 0xC000, (-1000 << 16) | 0xC000, (-1 << 16) | 0x4000, 0x8000], 14) == [
        4003, -3997, -3, 2]
    assert convert([(8191 << 16) | 0xFFFF, (-8193 << 16) | 0xFFFF], 14) == [32767, -32768]


def test_slots_converts_only_n_samples():
    dst = pcm16([7, 7, 7])
    audio._slots_to_pcm16(slots([100 << 16, 200 << 16, 300 << 16]), dst, 2, 16)
    assert samples(dst) == [100, 200, 7]


def test_scale_half():
    buf = pcm16([0, 1000, -1000, 32767, -32768, 1, -1, 3, -3])
    audio._scale(buf, 9, 128)
    assert samples(buf) == [0, 500, -500, 16383, -16384, 0, -1, 1, -2]


def test_scale_unity_and_partial():
    values = [0, 1, -1, 12345, -12345, 32767, -32768]
    buf = pcm16(values)
    audio._scale(buf, len(values), 256)
    assert samples(buf) == values
    buf = pcm16([1000, 1000, 1000])
    audio._scale(buf, 2, 128)
    assert samples(buf) == [500, 500, 1000]


# --- the speaker's jitter buffer -----------------------------------------------------------------

def make_speaker(buffer_ms=100, preroll_ms=20, volume=1.0):
    pins = dict(PINS)
    pins["volume"] = volume
    return audio.Speaker(pins, 40, buffer_ms=buffer_ms, preroll_ms=preroll_ms)


def take(speaker):
    n = speaker._take()
    return bytes(speaker.out[:n])


def test_speaker_sizes():
    with TempDir():
        sp = make_speaker(buffer_ms=100, preroll_ms=20)
        try:
            assert len(sp.ring) == 3200
            assert sp.chunk == 1280
            assert sp.preroll == 640
            assert sp.gain_q8 == 256
            half = make_speaker(volume=0.5)
            half.i2s.deinit()
            assert half.gain_q8 == 128
            assert sp.size == 0 and sp.drained.is_set() and not sp.playing
        finally:
            sp.i2s.deinit()


def test_speaker_take_returns_data_in_order():
    with TempDir():
        sp = make_speaker()
        try:
            data = pattern(3000)
            sp.feed(data)
            assert sp.size == 3000 and not sp.drained.is_set() and sp.wake.is_set()
            assert take(sp) == data[:1280]
            assert take(sp) == data[1280:2560]
            assert take(sp) == data[2560:]
            assert sp.size == 0
            assert take(sp) == b""
        finally:
            sp.i2s.deinit()


def test_speaker_feed_wraps_around_the_ring_end():
    with TempDir():
        sp = make_speaker()
        try:
            first = pattern(3000)
            sp.feed(first)
            take(sp)
            take(sp)
            assert sp.head == 2560 and sp.size == 440
            second = pattern(1000, start=77)
            sp.feed(second)  # 200 bytes up to the ring's end, 800 from its start
            assert sp.size == 1440 and sp.overflowed == 0
            assert bytes(sp.ring[3000:3200]) == second[:200]
            assert bytes(sp.ring[:800]) == second[200:]
            stream = first[2560:] + second
            assert take(sp) == stream[:1280]  # a take across the ring's end
            assert sp.head == 640
            assert take(sp) == stream[1280:]
            assert sp.size == 0
        finally:
            sp.i2s.deinit()


def test_speaker_overflow_is_dropped_and_counted():
    with TempDir():
        sp = make_speaker()
        try:
            data = pattern(3000)
            sp.feed(data)
            sp.feed(pattern(500, start=9))
            assert sp.size == 3200
            assert sp.overflowed == 300
            sp.feed(b"\x01\x02")
            assert sp.size == 3200 and sp.overflowed == 302
            assert take(sp) == data[:1280]
            assert take(sp) == data[1280:2560]
            assert take(sp) == data[2560:] + pattern(200, start=9)
            # room again after the takes: the overflow count keeps its total
            sp.feed(b"\x03\x04")
            assert sp.overflowed == 302 and take(sp) == b"\x03\x04"
        finally:
            sp.i2s.deinit()


def test_speaker_flush_drops_everything():
    with TempDir():
        sp = make_speaker()
        try:
            sp.feed(pattern(2000))
            sp.end()
            assert sp.ending and not sp.drained.is_set()
            sp.flush()
            assert sp.size == 0 and not sp.ending and not sp.playing
            assert sp.drained.is_set()
            assert take(sp) == b""
            sp.feed(pattern(10, start=5))
            assert take(sp) == pattern(10, start=5)
        finally:
            sp.i2s.deinit()


def test_speaker_end_with_an_empty_buffer_is_drained():
    with TempDir():
        sp = make_speaker()
        try:
            sp.feed(pattern(100))
            take(sp)
            assert sp.size == 0 and not sp.drained.is_set()
            sp.end()
            assert sp.drained.is_set() and not sp.playing
            assert sp.wake.is_set()
            sp.feed(pattern(100))  # a new reply: not drained, not ending any more
            assert not sp.drained.is_set() and not sp.ending
        finally:
            sp.i2s.deinit()


def _speaker_file_size():
    try:
        return os.stat(world.speaker_path)[6]
    except OSError:
        return 0


async def test_speaker_run_waits_for_preroll_then_plays_everything():
    with TempDir():
        sp = make_speaker(buffer_ms=200, preroll_ms=40, volume=0.5)
        start = _speaker_file_size()
        task = asyncio.create_task(sp.run())
        try:
            first = pcm16([i * 37 - 9000 for i in range(500)])  # 1000 bytes, below the 1280-byte pre-roll
            sp.feed(first)
            await asyncio.sleep_ms(0)
            await asyncio.sleep_ms(0)
            assert not sp.playing and sp.size == 1000  # still pre-rolling
            second = pcm16([9000 - i * 41 for i in range(700)])
            sp.feed(second)
            sp.end()
            await asyncio.wait_for_ms(sp.drained.wait(), HANG_GUARD_MS)
            assert sp.size == 0 and not sp.playing and not sp.ending
        finally:
            task.cancel()
            sp.i2s.deinit()
        with open(world.speaker_path, "rb") as f:
            f.seek(start)
            played = f.read()
        expected = [v >> 1 for v in samples(first) + samples(second)]  # volume 0.5, floored like viper
        assert samples(played) == expected


async def test_speaker_run_plays_a_short_reply_on_end():
    with TempDir():
        sp = make_speaker(buffer_ms=200, preroll_ms=80)
        start = _speaker_file_size()
        task = asyncio.create_task(sp.run())
        try:
            reply = pcm16([1, -2, 3, -4, 5])
            sp.feed(reply)
            sp.end()  # below the pre-roll, but it is all there is
            await asyncio.wait_for_ms(sp.drained.wait(), HANG_GUARD_MS)
        finally:
            task.cancel()
            sp.i2s.deinit()
        with open(world.speaker_path, "rb") as f:
            f.seek(start)
            assert f.read() == bytes(reply)

"""Per-frame cost of the firmware's audio path, measured on MicroPython itself (run by bench/firmware_frame.py)."""

import asyncio
import gc
import json
import sys
import time

from hootproto import Audio, DeviceConnection, Hello, Tts, encode
from hoot import ws
from hoot.audio import Speaker, _scale, _slots_to_pcm16

FRAME_MS = 40
RATE = 16000
SAMPLES = RATE * FRAME_MS // 1000
FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 500


class NullWriter:
    def write(self, buf):
        return len(buf)

    async def drain(self):
        pass

    def close(self):
        pass


class FrameReader:
    """Serves the same unmasked server frame again and again."""

    def __init__(self, frame):
        self.frame = frame
        self.pos = 0

    async def readexactly(self, n):
        if self.pos + n > len(self.frame):
            self.pos = 0
        chunk = self.frame[self.pos : self.pos + n]
        self.pos += n
        return chunk


def server_frame(payload):
    n = len(payload)
    return bytes((0x82, 126, n >> 8, n & 0xFF)) + payload


def measure(name, frames, body):
    gc.collect()
    before = gc.mem_alloc()
    start = time.ticks_us()
    for _ in range(frames):
        body()
    elapsed = time.ticks_diff(time.ticks_us(), start)
    allocated = gc.mem_alloc() - before
    return {"stage": name, "us_per_frame": round(elapsed / frames, 1), "bytes_per_frame": max(0, allocated) // frames}


async def run_async(coro_fn):
    await coro_fn()


def main():
    slots = bytearray(SAMPLES * 4)
    for i in range(SAMPLES):
        value = ((i * 37) % 2000 - 1000) << 14
        slots[4 * i : 4 * i + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    pcm = bytearray(SAMPLES * 2)
    conn = DeviceConnection()
    conn.send(Hello(audio_params={"format": "pcm16", "sample_rate": RATE, "channels": 1, "frame_duration": FRAME_MS}))
    conn.receive(encode(Hello(session_id="bench", audio_params={"format": "pcm16", "sample_rate": RATE, "channels": 1, "frame_duration": FRAME_MS})))
    conn.receive(encode(Tts(state="start", turn=1)))
    client = ws.WsClient(FrameReader(server_frame(bytes(SAMPLES * 2))), NullWriter())
    speaker = Speaker({"i2s_id": 1, "sck": 15, "ws": 16, "sd": 7, "rate": RATE, "bits": 16, "volume": 0.5}, FRAME_MS)
    rows = []

    rows.append(measure("mic: 32-bit slots -> pcm16", FRAMES, lambda: _slots_to_pcm16(slots, pcm, SAMPLES, 14)))

    def uplink():
        asyncio.run(client.send_binary(conn.send(Audio(pcm))))

    rows.append(measure("uplink: protocol + ws mask + send", FRAMES, uplink))

    def downlink():
        async def one():
            frame = await client.recv()
            for event in conn.receive(frame):
                speaker.feed(event.data)
            n = speaker._take()
            _scale(speaker.out, n // 2, speaker.gain_q8)

        asyncio.run(one())

    rows.append(measure("downlink: ws + protocol + jitter buffer + volume", FRAMES, downlink))
    text = '{"type": "tts", "state": "sentence_start", "text": "A spider has eight legs."}'
    rows.append(measure("text event decode (per event)", FRAMES, lambda: conn.receive(text)))
    total = sum(row["us_per_frame"] for row in rows[:3])
    rows.append({"stage": "audio path total (mic + uplink + downlink)", "us_per_frame": round(total, 1),
                 "bytes_per_frame": sum(row["bytes_per_frame"] for row in rows[:3])})
    print(json.dumps({"frames": FRAMES, "frame_ms": FRAME_MS, "rows": rows, "asyncio_run_overhead_included": True}))


main()

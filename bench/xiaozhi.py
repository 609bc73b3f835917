"""The XiaoZhi gateway's cost: Opus CPU per talking device, and VTV through a stock XiaoZhi client (Opus) against
the native PCM path, the same questions to the same `hoot serve` (embedded models) in one run.

VTV is measured the same way on both paths: from the moment the last voiced sample is sent, at real-time pace,
to the first reply audio received. Each path keeps one session (the XiaoZhi one is `xiaozhi-sdk`, unchanged,
booted through /xiaozhi/ota/); they take turns by rounds of the questions, after a warm-up round each, so
both see the same machine. Prints a table and writes bench/results/xiaozhi.json.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import opuslib_next as opus

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402
from vtv import QUESTIONS, free_port, percentile, start_server  # noqa: E402

from hootkit.client.device import DeviceClient  # noqa: E402
from hootkit.client.speech import speak  # noqa: E402
from hootkit.client.wavio import last_voiced_sample  # noqa: E402

RATE = 16000
FRAME = RATE * 60 // 1000  # 60 ms, what a XiaoZhi board sends and what Hootkit sends it


def opus_cpu(seconds: float = 60.0) -> dict:
    """CPU seconds per second of audio to decode a device's uplink and encode its downlink (speech-like input)."""
    speech = np.concatenate([speak(question) for question in QUESTIONS])
    pcm = np.resize(speech, int(seconds * RATE)).astype(np.int16)
    frames = [pcm[i:i + FRAME].tobytes() for i in range(0, len(pcm) - FRAME + 1, FRAME)]
    encoder, decoder = opus.Encoder(RATE, 1, opus.APPLICATION_VOIP), opus.Decoder(RATE, 1)
    started = time.process_time()
    packets = [encoder.encode(frame, FRAME) for frame in frames]
    encode_s = time.process_time() - started
    started = time.process_time()
    for packet in packets:
        decoder.decode(packet, FRAME * 2)
    decode_s = time.process_time() - started
    audio_s = len(frames) * FRAME / RATE
    return {"encode_pct": round(100 * encode_s / audio_s, 3), "decode_pct": round(100 * decode_s / audio_s, 3),
            "both_pct": round(100 * (encode_s + decode_s) / audio_s, 3),
            "kbit_s": round(sum(map(len, packets)) * 8 / audio_s / 1000, 1)}


async def both_paths(port: int, audio: dict, runs: int) -> tuple[list[float], list[float]]:
    """Alternate rounds of the questions, one session per path for the whole run; a first round of each is warm-up."""
    from xiaozhi_sdk import XiaoZhiWebsocket

    stopped = asyncio.Event()

    async def on_event(message: dict) -> None:
        if message.get("type") == "tts" and message.get("state") == "stop":
            stopped.set()

    xiaozhi = XiaoZhiWebsocket(on_event, ota_url=f"http://127.0.0.1:{port}/xiaozhi/ota", audio_sample_rate=RATE,
                               audio_output_sample_rate=RATE)
    xiaozhi.mode = "auto"
    if not await xiaozhi.init_connection("be:00:00:00:00:01"):
        raise RuntimeError("the XiaoZhi client could not connect")
    pcm_ms, xiaozhi_ms = [], []
    try:
        async with DeviceClient(f"ws://127.0.0.1:{port}/v1/device", device_id="bench:pcm") as native:
            for run in range(runs + 1):
                for question, samples in audio.items():
                    result = await native.ask(samples)
                    print(f"  pcm      {result.vtv_ms:7.0f} ms  {question}{'  (warm-up)' if not run else ''}", flush=True)
                    if run:
                        pcm_ms.append(result.vtv_ms)
                for question, samples in audio.items():
                    took = await xiaozhi_turn(xiaozhi, samples, stopped)
                    print(f"  xiaozhi  {took:7.0f} ms  {question}{'  (warm-up)' if not run else ''}", flush=True)
                    if run:
                        xiaozhi_ms.append(took)
    finally:
        await xiaozhi.close()
    return pcm_ms, xiaozhi_ms


async def xiaozhi_turn(client, samples: np.ndarray, stopped: asyncio.Event) -> float:
    """Send one question in 60 ms frames at real-time pace; ms from the last voiced frame to the first reply audio."""
    stopped.clear()
    client.output_audio_queue.clear()
    loop = asyncio.get_running_loop()
    last_voiced = last_voiced_sample(samples, RATE)
    padded = np.concatenate([samples, np.zeros(-len(samples) % FRAME + RATE * 3, np.int16)])
    start = loop.time()
    spoke_until = first_audio = None
    for index, offset in enumerate(range(0, len(padded), FRAME)):
        await client.send_audio(padded[offset:offset + FRAME].tobytes())
        if spoke_until is None and offset + FRAME >= last_voiced:
            spoke_until = loop.time()
        while loop.time() < start + (index + 1) * FRAME / RATE:  # real-time pace, watching for the reply
            if first_audio is None and client.output_audio_queue:
                first_audio = loop.time()
            await asyncio.sleep(0.002)
        if first_audio is not None:
            break
    while first_audio is None:
        if client.output_audio_queue:
            first_audio = loop.time()
        await asyncio.sleep(0.002)
    await asyncio.wait_for(stopped.wait(), 60)
    return (first_audio - spoke_until) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="rounds of the questions per phase")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "xiaozhi.json")
    args = parser.parse_args()

    cpu = opus_cpu()
    print_table("Opus per talking device (one core)", [("part", "part", 10), ("% of a core", "pct", 13)],
                [{"part": "encode", "pct": cpu["encode_pct"]}, {"part": "decode", "pct": cpu["decode_pct"]},
                 {"part": "both", "pct": cpu["both_pct"]}])
    audio = {question: np.concatenate([speak(question), np.zeros(RATE // 10, np.int16)]) for question in QUESTIONS}
    port = free_port()
    server, ready_s = start_server(port)
    try:
        pcm, xiaozhi = await both_paths(port, audio, args.runs)
    finally:
        server.terminate()
        server.wait()
    rows = [{"path": name, "p50": round(statistics.median(values)), "p95": round(percentile(values, 95)), "turns": len(values)}
            for name, values in (("native pcm", pcm), ("xiaozhi opus", xiaozhi))]
    print_table("VTV, same server, same questions", [("path", "path", 14), ("p50 ms", "p50", 8), ("p95 ms", "p95", 8),
                                                     ("turns", "turns", 7)], rows)
    print(f"xiaozhi - pcm at p50: {rows[1]['p50'] - rows[0]['p50']} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"opus_cpu": cpu, "vtv": rows, "pcm_ms": pcm, "xiaozhi_ms": xiaozhi,
                                    "server_ready_s": round(ready_s, 1)}, indent=1))


if __name__ == "__main__":
    asyncio.run(main())

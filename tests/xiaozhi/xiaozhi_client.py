"""Drives the stock `xiaozhi-sdk` client (unchanged) the way a XiaoZhi board talks: OTA call, then websocket."""

import asyncio

import numpy as np
from xiaozhi_sdk import XiaoZhiWebsocket

FRAME_BYTES = 960 * 2  # 60 ms of 16 kHz int16, the slices a board sends


class StockXiaoZhi:
    """A `XiaoZhiWebsocket` with its events queued, so a test waits for them in order."""

    def __init__(self, http_base: str, mode: str = "auto"):
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.client = XiaoZhiWebsocket(self._event, ota_url=http_base + "/xiaozhi/ota",
                                       audio_sample_rate=16000, audio_output_sample_rate=16000)
        self.client.mode = mode
        self.answered = asyncio.Event()  # the server answered what was said (`stt`, `tts` or an `alert`)

    async def _event(self, message: dict) -> None:
        if message.get("type") in ("stt", "tts", "alert"):
            self.answered.set()
        await self.events.put(message)

    async def next(self, kind: str, state: str | None = None, timeout_s: float = 60) -> dict:
        async def find() -> dict:
            while True:
                event = await self.events.get()
                if event.get("type") == kind and (state is None or event.get("state") == state):
                    return event
                if event.get("type") == "websocket" and event.get("state") == "close" and kind != "websocket":
                    ws = self.client.websocket
                    raise ConnectionError(f"the connection closed while waiting for {kind!r}: "
                                          f"code {getattr(ws, 'close_code', None)}, {getattr(ws, 'close_reason', None)!r}")

        return await asyncio.wait_for(find(), timeout_s)

    async def say(self, speech: np.ndarray, most_quiet_s: float = 10.0) -> None:
        """Stream int16 speech in 60 ms Opus frames at the pace of a microphone, then quiet, as a listening board
        does, until the server answers (`stt`, `tts` or an `alert`; at least 1.2 s, at most `most_quiet_s`)."""
        self.answered.clear()
        pcm = speech.astype(np.int16).tobytes()
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        frames = [pcm[start:start + FRAME_BYTES] for start in range(0, len(pcm), FRAME_BYTES)]
        least = len(frames) + 20  # the speech, then 1.2 s of quiet at the least
        for number in range(len(frames) + int(most_quiet_s / 0.06)):
            await self.client.send_audio(frames[number] if number < len(frames) else bytes(FRAME_BYTES))
            if number < least:
                await asyncio.sleep(0.06)  # a microphone's pace: the time itself is what is simulated
            elif await self._answered_within(0.06):
                break

    async def _answered_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.answered.wait(), seconds)
            return True
        except TimeoutError:
            return False

    async def reply(self) -> tuple[list[str], np.ndarray]:
        """The sentences of the reply under way, up to its `tts stop`, and its audio."""
        said = []
        while (event := await self.next("tts"))["state"] != "stop":
            if event["state"] == "sentence_start":
                said.append(event["text"])
        return said, self.take_reply_audio()

    def take_reply_audio(self) -> np.ndarray:
        frames = list(self.client.output_audio_queue)
        self.client.output_audio_queue.clear()
        return np.concatenate([np.asarray(frame).reshape(-1) for frame in frames]) if frames else np.zeros(0, np.int16)

"""Remote speech over OpenAI's audio API: /audio/transcriptions (faster-whisper-server, speaches, vLLM) and
/audio/speech (any server that speaks it), under a base url such as http://127.0.0.1:8000/v1.

A request that got no answer because the connection was refused or dropped is retried with backoff (both
requests are idempotent); the answer's headers must come within the time limit and each later read too; any
failure is a BackendError that says which engine, where and why, and a brief without the server's own words.
"""

import asyncio
import io
import json
import logging
import struct
import wave
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlparse

import httpx
import numpy as np

from hootkit.engines.base import REMOTE_VOICE_RATE, STT_RATE, BackendError, Transcript, rate_at_load
from hootkit.pipeline.audio import Resampler

log = logging.getLogger(__name__)

CONNECT_S = 2.0  # a server that does not accept within this is as good as gone
RETRIES = 2  # further tries after a refused or dropped connection, before any answer
BACKOFF_S = 0.1  # the first retry's wait, doubled for each next one
HEALTH_S = 2.0
MAX_TRANSCRIPT_BYTES = 1 << 20  # a transcription answer bigger than this is not one
MAX_CLAUSE_S = 60.0  # a clause's audio longer than this is not a clause (a server that streams forever)
RATES = (8000, 48000)  # the sample rates a WAV answer may have, lowest and highest
_NOT_ANSWERED = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class OpenAiSpeechLink:
    """One OpenAI-compatible server at `base_url` doing `what` ("speech-to-text"): POSTs with deadlines,
    retried while nothing was answered."""

    def __init__(self, what: str, base_url: str, api_key: str, timeout_s: float):
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{what}: an OpenAI-compatible url must look like http://host:port/v1, not {base_url!r}")
        self.what = what
        self.url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client for the running event loop: the load-time probe and `hoot doctor` run loops of their
        own, and pooled connections belong to the loop that opened them."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(base_url=self.url, headers=self._headers,
                                             timeout=httpx.Timeout(self.timeout_s, connect=CONNECT_S))
            self._loop = loop
        return self._client

    def error(self, problem: str, cause: BaseException | None = None, brief: str | None = None) -> BackendError:
        """`brief` (default `problem`) is what devices and /healthz see: never text the server chose."""
        detail = "" if cause is None else f": {type(cause).__name__}" + (f": {cause}" if str(cause) else "")
        return BackendError(f"{self.what} at {self.url} {problem}{detail}", brief=f"{self.what} {brief or problem}")

    @asynccontextmanager
    async def post(self, path: str, timeout_s: float | None = None, **request) -> AsyncIterator[httpx.Response]:
        """`async with link.post(path, json=...) as response:` a 200 answer, its body still to be read."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        response = await self._send("POST", path, timeout_s, request)
        try:
            if response.status_code != 200:
                detail = (await self._read_some(response, 300)).decode(errors="replace")
                raise self.error(f"answered {response.status_code}: {detail}", brief=f"answered {response.status_code}")
            yield response
        except httpx.TimeoutException as error:
            raise self.error(f"stopped answering for {self.timeout_s:g} s") from error
        except httpx.HTTPError as error:
            raise self.error("dropped the connection", error) from error
        finally:  # also when the reader stops early (a child barged in): the server sees the connection close
            await response.aclose()

    async def _send(self, method: str, path: str, timeout_s: float, request: dict) -> httpx.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        delay = BACKOFF_S
        for attempt in range(RETRIES + 1):
            try:
                async with asyncio.timeout_at(deadline):
                    return await self.client.send(self.client.build_request(method, path, **request), stream=True)
            except httpx.ConnectTimeout as error:
                raise self.error(f"did not accept a connection within {CONNECT_S:g} s") from error
            except (TimeoutError, httpx.TimeoutException) as error:
                raise self.error(f"did not answer within {timeout_s:g} s") from error
            except _NOT_ANSWERED as error:
                if attempt == RETRIES or loop.time() + delay >= deadline:
                    raise self.error("is unreachable", error) from error
                log.info("%s at %s: %r; retrying in %.2f s", self.what, self.url, error, delay)
                await asyncio.sleep(delay)
                delay *= 2
            except httpx.HTTPError as error:  # a bad address, an unsupported protocol: retrying will not help
                raise self.error("is unreachable", error) from error
        raise AssertionError("unreachable")

    @staticmethod
    async def _read_some(response: httpx.Response, limit: int) -> bytes:
        """At most `limit` bytes of the body: an error page or a runaway answer is not read whole."""
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= limit:
                break
        return bytes(body[:limit])

    async def health(self) -> None:
        """Raises BackendError unless the server answers HTTP at all within HEALTH_S (a 404 for /models is an
        answer: faster-whisper-server has no such list)."""
        try:
            response = await self.client.get("/models", timeout=HEALTH_S)
        except httpx.HTTPError as error:
            raise self.error("is unreachable", error) from error
        if response.status_code >= 500:
            raise self.error(f"answered {response.status_code}", brief=f"answered {response.status_code}")

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Float samples in [-1, 1] as a 16-bit mono WAV file."""
    pcm = (np.clip(np.asarray(samples, np.float32), -1.0, 1.0) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(pcm.tobytes())
    return out.getvalue()


class OpenAiStt:
    """Speech-to-text on an OpenAI-compatible transcription server: one request per utterance, as WAV.

    `language` "auto" lets the server decide (and asks for verbose_json to learn what it decided); hints go as
    the request's prompt, as Whisper's earlier text.
    """

    def __init__(self, base_url: str, model: str, language: str, api_key: str, timeout_s: float):
        self.link = OpenAiSpeechLink("speech-to-text", base_url, api_key, timeout_s)
        self.model = model
        self.language = None if language == "auto" else language

    async def transcribe(self, pcm: np.ndarray, key: str, hints: Sequence[str] = ()) -> Transcript:
        form = {"model": self.model, "response_format": "verbose_json" if self.language is None else "json"}
        if self.language:
            form["language"] = self.language
        if hints:
            form["prompt"] = ", ".join(hints)
        audio = wav_bytes(pcm, STT_RATE)
        try:
            async with asyncio.timeout(self.link.timeout_s):  # the whole answer, not each read of a slow trickle
                async with self.link.post("/audio/transcriptions", data=form,
                                          files={"file": ("speech.wav", audio, "audio/wav")}) as response:
                    body = await self.link._read_some(response, MAX_TRANSCRIPT_BYTES)
        except TimeoutError as error:
            raise self.link.error(f"did not answer within {self.link.timeout_s:g} s") from error
        try:
            answer = json.loads(body)
            text = answer["text"]
            if not isinstance(text, str):
                raise TypeError("text is not a string")
        except (ValueError, KeyError, TypeError) as error:
            raise self.link.error("sent an answer without a transcript", error, brief="gave an unexpected answer") from error
        language = self.language or _language_code(answer.get("language")) or "en"
        return Transcript(text=text.strip(), language=language, audio_s=len(pcm) / STT_RATE)

    async def health(self) -> None:
        await self.link.health()

    async def aclose(self) -> None:
        await self.link.aclose()


LANGUAGE_NAMES = {"english": "en", "chinese": "zh", "mandarin": "zh", "spanish": "es", "french": "fr", "german": "de"}


def _language_code(name) -> str | None:
    """verbose_json says "en" (faster-whisper-server) or "english" (OpenAI): a two-letter code either way."""
    if not isinstance(name, str):
        return None
    name = name.strip().lower()
    return name if len(name) == 2 else LANGUAGE_NAMES.get(name)


class WavStream:
    """Reads a WAV file as it arrives: `feed` bytes, get 16-bit samples as soon as the header has passed.

    Streaming servers write an unknown data length (0 or 0xFFFFFFFF), so the data chunk runs to the end."""

    def __init__(self):
        self._buffer = b""
        self.rate: int | None = None
        self.channels = 1
        self._in_data = False
        self._odd = b""

    def feed(self, data: bytes) -> np.ndarray:
        if self._in_data:
            return self._samples(data)
        self._buffer += data
        if len(self._buffer) < 12:
            return np.zeros(0, np.int16)
        if self._buffer[:4] != b"RIFF" or self._buffer[8:12] != b"WAVE":
            raise ValueError("not a WAV file")
        position = 12
        while len(self._buffer) >= position + 8:
            chunk, size = self._buffer[position:position + 4], struct.unpack("<I", self._buffer[position + 4:position + 8])[0]
            body = position + 8
            if chunk == b"data":
                if self.rate is None:
                    raise ValueError("audio data came before its format")
                self._in_data = True
                rest, self._buffer = self._buffer[body:], b""
                return self._samples(rest)
            if len(self._buffer) < body + size:
                break
            if chunk == b"fmt ":
                encoding, self.channels, self.rate, _, _, bits = struct.unpack("<HHIIHH", self._buffer[body:body + 16])
                if encoding not in (1, 0xFFFE) or bits != 16 or not self.channels:
                    raise ValueError(f"{bits}-bit audio in encoding {encoding}; 16-bit PCM is needed")
                if not RATES[0] <= self.rate <= RATES[1]:
                    raise ValueError(f"audio at {self.rate} Hz; {RATES[0]}-{RATES[1]} Hz is needed")
            position = body + size + (size & 1)
            if position > 1 << 16:
                raise ValueError("no audio data in the first 64 KiB")
        return np.zeros(0, np.int16)

    def _samples(self, data: bytes) -> np.ndarray:
        data = self._odd + data
        frame = 2 * self.channels
        whole = len(data) - len(data) % frame
        self._odd = data[whole:]
        return np.frombuffer(data[:whole], "<i2")[:: self.channels].astype(np.int16)


class OpenAiTts:
    """Text-to-speech on an OpenAI-compatible speech server: one request per clause, answered as WAV, its
    audio yielded as it arrives (servers that stream start the clause sooner). `sample_rate` is learnt at load
    from a probe; audio at another rate is resampled."""

    def __init__(self, base_url: str, model: str, voice: str, api_key: str, timeout_s: float, probe: bool = True):
        self.link = OpenAiSpeechLink("text-to-speech", base_url, api_key, timeout_s)
        self.model = model
        self.voice = voice
        self.sample_rate = rate_at_load(self.probe) if probe else REMOTE_VOICE_RATE

    def _request(self, text: str) -> dict:
        return {"json": {"model": self.model, "voice": self.voice, "input": text, "response_format": "wav"}}

    async def probe(self) -> int:
        """The rate the server speaks at (it loads the voice, too)."""
        try:
            async with self.link.post("/audio/speech", min(self.link.timeout_s, 5.0), **self._request("Hello.")) as response:
                wav = WavStream()
                async for data in response.aiter_bytes():
                    wav.feed(data)
                    if wav.rate:
                        return wav.rate
        except ValueError as error:
            raise self.link.error("did not answer with WAV audio", error, brief="gave an unexpected answer") from error
        finally:
            await self.link.aclose()
        raise self.link.error("sent no audio", brief="gave an unexpected answer")

    async def synthesize(self, text: str, key: str) -> AsyncIterator[np.ndarray]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.link.timeout_s + MAX_CLAUSE_S
        async with self.link.post("/audio/speech", **self._request(text)) as response:
            wav = WavStream()
            resampler = None
            heard = 0
            async for data in response.aiter_bytes():
                try:
                    samples = wav.feed(data)
                except ValueError as error:
                    raise self.link.error("did not answer with WAV audio", error, brief="gave an unexpected answer") from error
                if wav.rate is None:
                    continue
                heard += len(samples)
                if heard > wav.rate * MAX_CLAUSE_S or loop.time() > deadline:
                    raise self.link.error(f"sent more than {MAX_CLAUSE_S:g} s of audio for one clause",
                                          brief="gave an unexpected answer")
                resampler = resampler or Resampler(wav.rate, self.sample_rate, dtype="int16")
                chunk = resampler.process(samples) if len(samples) else samples
                if len(chunk):
                    yield chunk
            if resampler is None:
                raise self.link.error("sent no audio", brief="gave an unexpected answer")
            tail = resampler.process(np.zeros(0, np.int16), last=True)
            if len(tail):
                yield tail

    async def health(self) -> None:
        await self.link.health()

    async def aclose(self) -> None:
        await self.link.aclose()

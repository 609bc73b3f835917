"""Remote speech over Wyoming, Home Assistant's protocol: wyoming-faster-whisper and wyoming-piper servers.

Each utterance and each clause is one connection (the servers' own pattern: the STT server closes after its
transcript). Connecting and the first answer are retried with backoff when the server refused or dropped
the connection before it answered (the requests are idempotent); every step has a time limit; any failure
is a BackendError that says which engine, where, and why.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from urllib.parse import urlparse

import numpy as np
from wyoming.asr import Transcribe, Transcript as WyomingTranscript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from hootkit.engines.base import REMOTE_VOICE_RATE, STT_RATE, BackendError, Transcript, rate_at_load
from hootkit.pipeline.audio import Resampler

log = logging.getLogger(__name__)

CHUNK_SAMPLES = 1024  # audio sent to the STT server per event
CONNECT_S = 2.0  # a server that does not accept within this is as good as gone
RETRIES = 2  # further tries after a refused or dropped connection, before any answer
BACKOFF_S = 0.1  # the first retry's wait, doubled for each next one
HEALTH_S = 2.0


class WyomingLink:
    """One Wyoming server at `url` (tcp://host:port) doing `what` ("speech-to-text"): connections with
    deadlines, retried while nothing was answered."""

    def __init__(self, what: str, url: str, timeout_s: float):
        parsed = urlparse(url)
        if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
            raise ValueError(f"{what}: Wyoming url must look like tcp://host:port, not {url!r}")
        self.what = what
        self.url = url
        self.host, self.port = parsed.hostname, parsed.port
        self.timeout_s = timeout_s

    def error(self, problem: str, cause: BaseException | None = None, brief: str | None = None) -> BackendError:
        """`brief` (default `problem`) is what devices and /healthz see: never text the server chose."""
        detail = "" if cause is None else f": {type(cause).__name__}" + (f": {cause}" if str(cause) else "")
        return BackendError(f"{self.what} at {self.url} {problem}{detail}", brief=f"{self.what} {brief or problem}")

    async def open(self, send: Callable[[AsyncTcpClient], Awaitable[None]], timeout_s: float | None = None
                   ) -> tuple[AsyncTcpClient, Event]:
        """Connect, `send` the request and read the first answer, within `timeout_s` (default: the link's);
        returns the open client (the caller closes it with `close`) and that answer."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        delay = BACKOFF_S
        for attempt in range(RETRIES + 1):
            client = AsyncTcpClient(self.host, self.port)
            try:
                async with asyncio.timeout_at(deadline):
                    try:
                        await asyncio.wait_for(client.connect(), CONNECT_S)
                    except TimeoutError as error:
                        raise self.error(f"did not accept a connection within {CONNECT_S:g} s") from error
                    await send(client)
                    first = await client.read_event()
                    if first is None:
                        raise ConnectionResetError("closed the connection without answering")
                    _raise_if_error(self, first)
                    return client, first
            except TimeoutError as error:
                await close(client)
                raise self.error(f"did not answer within {timeout_s:g} s") from error
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                await close(client)
                if attempt == RETRIES or loop.time() + delay >= deadline:
                    raise self.error("is unreachable", error) from error
                log.info("%s at %s: %r; retrying in %.2f s", self.what, self.url, error, delay)
                await asyncio.sleep(delay)
                delay *= 2
            except OSError as error:  # no such host, no route: retrying will not help
                await close(client)
                raise self.error("is unreachable", error) from error
            except BaseException:
                await close(client)
                raise
        raise AssertionError("unreachable")

    async def next_event(self, client: AsyncTcpClient) -> Event:
        """The next event of an answer already under way, within the link's time limit."""
        try:
            event = await asyncio.wait_for(client.read_event(), self.timeout_s)
        except TimeoutError as error:
            raise self.error(f"stopped answering for {self.timeout_s:g} s") from error
        except (OSError, asyncio.IncompleteReadError) as error:
            raise self.error("dropped the connection", error) from error
        if event is None:
            raise self.error("closed the connection before its answer was complete")
        _raise_if_error(self, event)
        return event

    async def info(self, timeout_s: float = HEALTH_S) -> Info:
        """The server's description (Describe -> Info), within `timeout_s`."""
        client, event = await self.open(lambda c: c.write_event(Describe().event()), timeout_s)
        await close(client)
        if not Info.is_type(event.type):
            raise self.error(f"answered {event.type!r} to describe", brief="gave an unexpected answer")
        try:
            return Info.from_event(event)
        except (KeyError, TypeError, ValueError) as error:
            raise self.error("sent a description it could not be read from", error) from error


def _raise_if_error(link: WyomingLink, event: Event) -> None:
    if Error.is_type(event.type):
        message = Error.from_event(event)
        raise link.error(f"failed: {message.text} ({message.code or 'no code'})", brief="failed")


async def close(client: AsyncTcpClient) -> None:
    """Close a connection, whatever state it is in, without waiting long on a dead peer; never raises OSError."""
    try:  # disconnect closes the socket at once, then waits for the close to complete
        await asyncio.wait_for(client.disconnect(), 1.0)
    except (OSError, TimeoutError):
        pass


class WyomingStt:
    """Speech-to-text on a Wyoming ASR server (wyoming-faster-whisper): one connection per utterance.

    `language` "auto" lets the server decide; hints go as the request's transcript terms.
    """

    def __init__(self, url: str, language: str, timeout_s: float):
        self.link = WyomingLink("speech-to-text", url, timeout_s)
        self.language = None if language == "auto" else language

    async def transcribe(self, pcm: np.ndarray, key: str, hints: Sequence[str] = ()) -> Transcript:
        samples = np.clip(np.asarray(pcm, np.float32), -1.0, 1.0)
        audio = (samples * 32767).astype("<i2").tobytes()
        step = CHUNK_SAMPLES * 2

        async def send(client: AsyncTcpClient) -> None:
            request = Transcribe(language=self.language, transcript_terms=list(hints) or None)
            await client.write_event(request.event())
            await client.write_event(AudioStart(rate=STT_RATE, width=2, channels=1).event())
            for start in range(0, len(audio), step):
                await client.write_event(AudioChunk(rate=STT_RATE, width=2, channels=1, audio=audio[start : start + step]).event())
            await client.write_event(AudioStop().event())

        client, event = await self.link.open(send)
        try:
            while not WyomingTranscript.is_type(event.type):  # streaming servers send transcript chunks first
                event = await self.link.next_event(client)
        finally:
            await close(client)
        heard = WyomingTranscript.from_event(event)
        return Transcript(text=(heard.text or "").strip(), language=heard.language or self.language or "en",
                          audio_s=len(samples) / STT_RATE)

    async def health(self) -> None:
        """Raises BackendError unless the server answers Describe, offering speech-to-text."""
        if not (await self.link.info()).asr:
            raise self.link.error("offers no speech-to-text")


class WyomingTts:
    """Text-to-speech on a Wyoming TTS server (wyoming-piper): one connection per clause, its audio
    yielded as it arrives. `sample_rate` is learnt at load from a probe; audio at another rate is resampled."""

    def __init__(self, url: str, voice: str | None, timeout_s: float, probe: bool = True):
        self.link = WyomingLink("text-to-speech", url, timeout_s)
        self.voice = voice
        self.sample_rate = rate_at_load(self.probe) if probe else REMOTE_VOICE_RATE

    def _request(self, text: str) -> Event:
        voice = SynthesizeVoice(name=self.voice) if self.voice else None
        return Synthesize(text=text, voice=voice).event()

    async def probe(self) -> int:
        """The rate the server speaks at (it loads the voice, too)."""
        client, event = await self.link.open(lambda c: c.write_event(self._request("Hello.")), min(self.link.timeout_s, 5.0))
        try:
            while not AudioStart.is_type(event.type):
                event = await self.link.next_event(client)
            return AudioStart.from_event(event).rate
        finally:
            await close(client)

    async def synthesize(self, text: str, key: str) -> AsyncIterator[np.ndarray]:
        client, event = await self.link.open(lambda c: c.write_event(self._request(text)))
        resampler = None
        try:
            while not AudioStop.is_type(event.type):
                if AudioStart.is_type(event.type):
                    start = AudioStart.from_event(event)
                    if start.width != 2:
                        raise self.link.error(f"sends {start.width * 8}-bit audio; 16-bit is needed")
                    resampler = Resampler(start.rate, self.sample_rate, dtype="int16")
                    channels = start.channels
                elif AudioChunk.is_type(event.type):
                    if resampler is None:
                        raise self.link.error("sent audio before saying its format")
                    samples = np.frombuffer(AudioChunk.from_event(event).audio, "<i2")[::channels].astype(np.int16)
                    chunk = resampler.process(samples)
                    if len(chunk):
                        yield chunk
                event = await self.link.next_event(client)
            if resampler is not None:
                tail = resampler.process(np.zeros(0, np.int16), last=True)
                if len(tail):
                    yield tail
        finally:  # also when the reader stops early (a child barged in): the server sees the connection close
            await close(client)

    async def health(self) -> None:
        """Raises BackendError unless the server answers Describe, offering text-to-speech."""
        if not (await self.link.info()).tts:
            raise self.link.error("offers no text-to-speech")

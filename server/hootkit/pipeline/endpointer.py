"""Turns per-window speech probabilities into turn events: speech, pause, resume, endpoint. No I/O.

A pause of `speculate_ms` starts a speculative turn; speech before `silence_ms` cancels it;
`silence_ms` of silence commits it (the endpoint). Hysteresis between two thresholds keeps a
wobbly probability near 0.5 from flapping.
"""

from hootkit.settings import VadSettings

SPEECH = "speech"
PAUSE = "pause"
RESUME = "resume"
ENDPOINT = "endpoint"
TOO_LONG = "too_long"


class Endpointer:
    """Feed one probability per window; get back the events that window caused, with window indexes."""

    def __init__(self, config: VadSettings, window_ms: float):
        self.config = config
        self.window_ms = window_ms
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self.speech_started = False
        self.paused = False
        self._voiced_run = 0
        self._silent_run = 0
        self._speech_windows = 0
        self.start_window = None
        self.last_voiced_window = None
        self._index = -1
        self.voiced = False
        self.too_long = False

    def push(self, prob: float) -> list[str]:
        cfg = self.config
        self._index += 1
        events = []
        voiced = prob >= cfg.threshold or (self.in_speech and prob >= cfg.release_threshold)
        self.voiced = voiced
        if voiced:
            self._voiced_run += 1
            self._silent_run = 0
            self.last_voiced_window = self._index
            if not self.in_speech and self._voiced_run * self.window_ms >= cfg.min_speech_ms:
                self.in_speech = True
                if not self.speech_started:
                    self.speech_started = True
                    self.start_window = self._index - self._voiced_run + 1
                    events.append(SPEECH)
                elif self.paused:
                    self.paused = False
                    events.append(RESUME)
        else:
            self._voiced_run = 0
            if self.speech_started:
                self._silent_run += 1
                self.in_speech = False
                silent_ms = self._silent_run * self.window_ms
                if not self.paused and silent_ms >= cfg.speculate_ms:
                    self.paused = True
                    events.append(PAUSE)
                if silent_ms >= cfg.silence_ms:
                    events.append(ENDPOINT)
        if self.speech_started:
            self._speech_windows += 1
            if not self.too_long and ENDPOINT not in events and self._speech_windows * self.window_ms >= cfg.max_utterance_s * 1000:
                self.too_long = True
                events.append(TOO_LONG)
        return events

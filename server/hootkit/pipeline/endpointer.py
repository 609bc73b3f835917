"""Turns per-window speech probabilities into turn events: speech, pause, quiet, resume, endpoint. No I/O.

A pause of `speculate_ms` below the speech threshold starts a speculative turn; speech before
the endpoint cancels it. `quiet_ms` below the release threshold (hysteresis, so a wobbly
probability near 0.5 does not flap) asks whether the turn sounds finished; the answer may bring the
endpoint forward (`end_after`) for this silence; otherwise `silence_ms` commits it whatever it sounds like.
Once a silence has lasted `silence_ms` (`silence_over`), the utterance is over whatever comes after it.
"""

from hootkit.settings import VadSettings

SPEECH = "speech"
PAUSE = "pause"
QUIET = "quiet"
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
        self.speech_started = False
        self.in_speech = False
        self.paused = False
        self.voiced = False
        self.too_long = False
        self.silence_over = False
        self.start_window = None
        self._index = -1
        self._strong_run = 0
        self._weak_run = 0
        self._silent_run = 0
        self._speech_windows = 0
        self._end_after_ms: float | None = None

    def push(self, prob: float) -> list[str]:
        """One window's probability -> the events it causes.

        Speculation (PAUSE/RESUME) looks at the plain threshold, since a wrong guess only costs
        some CPU; the endpoint looks at the hysteresis, since a wrong one cuts the child off.
        """
        cfg, window = self.config, self.window_ms
        self._index += 1
        events = []
        strong = prob >= cfg.threshold
        held = strong or (self.in_speech and prob >= cfg.release_threshold)
        self.voiced = strong
        self._strong_run = self._strong_run + 1 if strong else 0
        self._weak_run = 0 if strong else self._weak_run + 1
        self._silent_run = 0 if held else self._silent_run + 1
        if held:
            self._end_after_ms = None  # a new silence is judged afresh
        if not self.speech_started:
            if self._strong_run * window >= cfg.min_speech_ms:
                self.speech_started = self.in_speech = True
                self.start_window = self._index - self._strong_run + 1
                events.append(SPEECH)
            return events
        self.in_speech = held
        if self.paused and self._strong_run * window >= cfg.min_speech_ms:
            self.paused = False
            events.append(RESUME)
        elif not self.paused and self._weak_run * window >= cfg.speculate_ms:
            self.paused = True
            events.append(PAUSE)
        if cfg.quiet_ms < cfg.silence_ms and self._silence_reached(cfg.quiet_ms):
            events.append(QUIET)
        if self._silence_reached(cfg.silence_ms):
            self.silence_over = True
        endpoint_ms = cfg.silence_ms if self._end_after_ms is None else min(cfg.silence_ms, self._end_after_ms)
        if self._silence_reached(endpoint_ms):
            events.append(ENDPOINT)
        self._speech_windows += 1
        if not self.too_long and ENDPOINT not in events and self._speech_windows * window >= cfg.max_utterance_s * 1000:
            self.too_long = True
            events.append(TOO_LONG)
        return events

    def end_after(self, ms: float) -> bool:
        """End the turn once this silence has lasted `ms` (not later than `silence_ms`). True: it already has."""
        if self._silent_run * self.window_ms >= ms:
            return True
        self._end_after_ms = ms
        return False

    @property
    def quiet(self) -> bool:
        """The child is silent now (no speech since the last silence began)."""
        return self.speech_started and self._silent_run > 0 and self._strong_run == 0

    def _silence_reached(self, ms: int) -> bool:
        """True on the one window where the silence first lasts `ms`."""
        return self._silent_run * self.window_ms >= ms > (self._silent_run - 1) * self.window_ms

"""Per-turn latency marks and parts, and the server's Prometheus metrics."""

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PARTS = (
    "endpoint_wait",
    "stt",
    "llm_first_token",
    "first_clause",
    "tts_first_audio",
    "server_vtv",
)


@dataclass
class TurnClock:
    """Moments in one turn, in time.monotonic() seconds; parts() turns them into milliseconds.

    speech_end is when the last voiced audio reached the server (or push-to-talk was released).
    """

    speech_end: float | None = None
    stt_start: float | None = None
    stt_end: float | None = None
    commit: float | None = None
    llm_start: float | None = None
    llm_first_token: float | None = None
    first_clause: float | None = None
    tts_first_audio: float | None = None
    first_audio_sent: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def parts(self) -> dict[str, float]:
        spans = {
            "endpoint_wait": (self.speech_end, self.commit),
            "stt": (self.stt_start, self.stt_end),
            "llm_first_token": (self.llm_start, self.llm_first_token),
            "first_clause": (self.llm_start, self.first_clause),
            "tts_first_audio": (self.first_clause, self.tts_first_audio),
            "server_vtv": (self.speech_end, self.first_audio_sent),
        }
        out = {name: round((end - start) * 1000, 1) for name, (start, end) in spans.items() if start and end}
        out.update({name: round(value, 1) for name, value in self.extra.items()})
        return out


class ServerMetrics:
    """Prometheus metrics in a registry of this app's own, so several apps can live in one process."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.turn_part = Histogram(
            "hoot_turn_part_seconds",
            "Latency parts of a voice turn",
            ["part"],
            registry=self.registry,
            buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.5, 5.0),
        )
        self.turns = Counter("hoot_turns_total", "Voice turns by outcome", ["outcome"], registry=self.registry)
        self.protocol_errors = Counter(
            "hoot_protocol_errors_total", "Frames refused, by reason", ["code"], registry=self.registry
        )
        self.safety_flags = Counter(
            "hoot_safety_flags_total", "Guard verdicts other than allow", ["stage", "category", "verdict"], registry=self.registry
        )
        self.sessions = Gauge("hoot_sessions", "Connected devices", registry=self.registry)
        self.dropped_audio = Counter(
            "hoot_dropped_uplink_frames_total", "Device audio frames ignored (not listening or busy)", registry=self.registry
        )

    def observe_turn(self, parts: dict[str, float]) -> None:
        for name, value in parts.items():
            if name in PARTS:
                self.turn_part.labels(name).observe(value / 1000)

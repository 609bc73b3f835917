"""Speech for the hearing benchmark: offline voices, child-like pitch and tempo, pauses, fillers, noise."""

import importlib.util
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr

RATE = 16000
PEAK = 0.7  # every synthesized utterance is scaled to this peak, so levels are alike across engines
TRIM_DBFS = -45.0  # quieter 10 ms frames at either end of an utterance are silence
MARGIN_S = 0.03  # silence kept at either end when trimming
VOICED_DBFS = -40.0  # 20 ms frames louder than this count as speech when measuring SNR
ROOM_DBFS = -60.0  # level of the room noise that stands in for silence

# "en" is British English: espeak-ng 1.51 drops the variant of "en-gb+f3" but not of "en+f3"
ESPEAK_EN = (
    "en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
ESPEAK_VARIANTS = ("", "+f1", "+f2", "+f3", "+f4", "+m1", "+m2", "+m3")
PIPER_VOICES = ("piper-joe",)  # hootkit.client.speech's voice
VOICES_EN = [*PIPER_VOICES, *(f"espeak-{base}{variant}" for base in ESPEAK_EN for variant in ESPEAK_VARIANTS)]
# espeak-ng 1.51's "cmn" reads the tone digits of its own pinyin as English numbers ("zhu1": "zhu one")
VOICES_ZH = [f"espeak-cmn-latn-pinyin{variant}" for variant in ESPEAK_VARIANTS]

FILLERS = {"en": ("um", "uh", "um", "uh, um"), "zh": ("嗯", "那个", "嗯，那个")}
CJK = re.compile(r"[\u3400-\u9fff]")


# --- voices ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _espeak_names() -> frozenset[str]:
    """Languages and variants (as "+f3") that this machine's espeak-ng knows; empty without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        return frozenset()
    names = set()
    for flag, prefix in (("--voices", ""), ("--voices=variant", "+")):
        listing = subprocess.run(["espeak-ng", flag], capture_output=True, text=True, check=True).stdout
        for row in listing.splitlines()[1:]:
            fields = row.split()
            if len(fields) >= 5:  # Pty Language Age/Gender VoiceName File: a voice goes by language or file
                file = fields[4].split("/")[-1].lower()
                names.update({prefix + file} if prefix else {fields[1].lower(), file})
    return frozenset(names)


def _works(voice: str) -> bool:
    if voice in PIPER_VOICES:
        try:
            return importlib.util.find_spec("piper") is not None and _joe_installed()
        except (ImportError, RuntimeError):  # hootkit or the voice package (ModelMissing) is missing
            return False
    base, _, variant = voice.removeprefix("espeak-").partition("+")
    known = _espeak_names()
    return base in known and (not variant or f"+{variant}" in known)


def _joe_installed() -> bool:
    from hootkit.engines import models

    return models.joe_voice().is_file()


def available_voices(lang: str) -> list[str]:
    """The voices of `lang` ("en" or "zh") that work on this machine."""
    return [voice for voice in {"en": VOICES_EN, "zh": VOICES_ZH}[lang] if _works(voice)]


# --- synthesis ------------------------------------------------------------------------------------------


def _piper_speech(text: str, voice: str) -> np.ndarray:
    # piper's random noise cannot be seeded per call, so the steady voice (no noise) keeps results repeatable
    from hootkit.client.speech import piper_speech

    return piper_speech(text, RATE, steady=True)


def _espeak_speech(text: str, voice: str) -> np.ndarray:
    from hootkit.client.speech import espeak_speech

    return espeak_speech(text, voice.removeprefix("espeak-"), RATE)


def _frame_dbfs(pcm: np.ndarray, frame_ms: int) -> np.ndarray:
    """Level of each whole frame of `frame_ms`, in dB relative to full scale."""
    size = RATE * frame_ms // 1000
    count = len(pcm) // size
    frames = pcm[: count * size].astype(np.float64).reshape(count, size)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def trim(pcm: np.ndarray, floor_dbfs: float = TRIM_DBFS, margin_s: float = MARGIN_S) -> np.ndarray:
    """`pcm` without the frames quieter than `floor_dbfs` at either end, keeping `margin_s` of them."""
    loud = np.nonzero(_frame_dbfs(pcm, 10) > floor_dbfs)[0]
    if len(loud) == 0:
        return pcm[:0]
    margin = int(margin_s * RATE)
    start = max(0, loud[0] * RATE // 100 - margin)
    end = min(len(pcm), (loud[-1] + 1) * RATE // 100 + margin)
    return pcm[start:end]


def voiced_end(pcm: np.ndarray, floor_dbfs: float = TRIM_DBFS) -> int:
    """Index just past the last 10 ms frame louder than `floor_dbfs` (0 when all of it is quieter)."""
    loud = np.nonzero(_frame_dbfs(pcm, 10) > floor_dbfs)[0]
    return 0 if len(loud) == 0 else int((loud[-1] + 1) * RATE // 100)


@lru_cache(maxsize=2048)
def _synthesize(text: str, voice: str) -> np.ndarray:
    speech = _piper_speech(text, voice) if voice in PIPER_VOICES else _espeak_speech(text, voice)
    speech = speech.astype(np.float32) * (PEAK / max(float(np.abs(speech).max()), 1e-6))
    speech = trim(speech)
    speech.flags.writeable = False
    return speech


def synthesize(text: str, voice: str) -> np.ndarray:
    """`text` spoken by `voice` (from VOICES_EN or VOICES_ZH): float32 at 16 kHz, peak PEAK, ends trimmed."""
    return _synthesize(text, voice).copy()


# --- child-like voice -------------------------------------------------------------------------------------


def _hann(size: int) -> np.ndarray:
    """Periodic Hann window: copies at a hop of size/2 add up to exactly one."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)).astype(np.float32)


def _best_offset(region: np.ndarray, target: np.ndarray) -> int:
    """Where in `region` a stretch of len(target) is most like `target` (normalised cross-correlation)."""
    size = len(target)
    correlation = np.correlate(region, target, mode="valid")
    energy = np.cumsum(np.concatenate([[0.0], region.astype(np.float64) ** 2]))
    norms = np.sqrt(energy[size:] - energy[:-size]) + 1e-6
    return int(np.argmax(correlation / norms))


def time_stretch(pcm: np.ndarray, ratio: float, frame_ms: float = 30.0, search_ms: float = 8.0) -> np.ndarray:
    """WSOLA: `pcm` made `ratio` times as long at the same pitch.

    Hann frames of `frame_ms` are laid at a fixed hop of half a frame; each is taken from near where the
    time map puts it, moved by up to `search_ms` to best continue the frame laid before it.
    """
    size = int(RATE * frame_ms / 1000)
    hop = size // 2
    search = int(RATE * search_ms / 1000)
    window = _hann(size)
    out_len = round(len(pcm) * ratio)
    count = out_len // hop + 1
    padded = np.concatenate([np.zeros(search, np.float32), pcm.astype(np.float32),
                             np.zeros(size + 2 * search + hop, np.float32)])
    out = np.zeros(count * hop + size, np.float32)
    previous = search
    for k in range(count):
        nominal = min(search + round(k * hop / ratio), search + len(pcm))
        if k == 0:
            position = nominal
        else:
            continuation = padded[previous + hop: previous + hop + size]
            region = padded[nominal - search: nominal + search + size]
            position = nominal - search + _best_offset(region, continuation)
        out[k * hop: k * hop + size] += padded[position: position + size] * window
        previous = position
    return out[:out_len]


def child_like(pcm: np.ndarray, cents: float, tempo: float) -> np.ndarray:
    """`pcm` with pitch (and formants) raised by `cents` and, independently, made `tempo` times as fast."""
    factor = 2 ** (cents / 1200)
    stretched = time_stretch(pcm, factor / tempo)  # resampling below shortens it by `factor` again
    shifted = soxr.resample(stretched, RATE * factor, RATE)
    return np.clip(shifted, -1, 1).astype(np.float32)


# --- noise ------------------------------------------------------------------------------------------------


def _coloured(n: int, rng: np.random.Generator, exponent: float, floor_hz: float = 20.0) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f**exponent (1: pink, 2: brown), flat below `floor_hz`."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / RATE), floor_hz)
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def _at_dbfs(pcm: np.ndarray, dbfs: float) -> np.ndarray:
    rms = np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) + 1e-12
    return (pcm * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def room_noise(n: int, rng: np.random.Generator, dbfs: float = ROOM_DBFS) -> np.ndarray:
    """Quiet pink noise: the silence of a real room rather than digital zero."""
    return _at_dbfs(_coloured(max(n, 1), rng, 1.0), dbfs)[:n]


def fan_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Steady fan or air-conditioner noise at -20 dBFS: brown rumble, pink hiss, mains hum with harmonics."""
    t = np.arange(n) / RATE
    mains = rng.choice([50.0, 60.0])
    hum = sum(level * np.sin(2 * np.pi * mains * harmonic * t + rng.uniform(0, 2 * np.pi))
              for harmonic, level in ((1, 1.0), (2, 0.5), (3, 0.25)))
    noise = _coloured(n, rng, 2.0) + 0.5 * _coloured(n, rng, 1.0) + 0.15 * hum
    return _at_dbfs(noise, -20.0)


def _looped(pcm: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`pcm` repeated with short random gaps to `n` samples, starting at a random point."""
    pieces, total = [], 0
    while total < n + len(pcm):
        gap = np.zeros(int(rng.uniform(0.1, 0.6) * RATE), np.float32)
        pieces += [pcm, gap]
        total += len(pcm) + len(gap)
    whole = np.concatenate(pieces)
    start = int(rng.integers(0, len(whole) - n + 1))
    return whole[start: start + n]


def babble(n: int, rng: np.random.Generator, others: list[np.ndarray]) -> np.ndarray:
    """Classroom babble at -20 dBFS: 4-6 of `others` looped at random offsets and levels, and faint hiss."""
    count = min(int(rng.integers(4, 7)), len(others))
    chosen = rng.choice(len(others), size=count, replace=False)
    mix = np.zeros(n, np.float32)
    for index in chosen:
        voice = _at_dbfs(others[index], -20.0) * 10 ** (rng.uniform(-6, 0) / 20)
        mix += _looped(voice.astype(np.float32), n, rng)
    mix += _at_dbfs(_coloured(n, rng, 1.0), -40.0)
    return _at_dbfs(mix, -20.0)


def _fit(noise: np.ndarray, n: int) -> np.ndarray:
    """`noise` tiled or cut to `n` samples."""
    return np.tile(noise, -(-n // len(noise)))[:n]


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`speech` plus `noise` scaled to `snr_db`, both measured over the speech's voiced 20 ms frames.

    The noise is tiled or cut to the speech's length; the mix is scaled down if its peak would pass 0.99.
    """
    noise = _fit(noise, len(speech)).astype(np.float32)
    size = RATE // 50
    voiced = np.nonzero(_frame_dbfs(speech, 20) > VOICED_DBFS)[0]
    if len(voiced) == 0:
        raise ValueError("no voiced frames in the speech to measure its level by")
    samples = (voiced[:, None] * size + np.arange(size)).ravel()
    speech_power = np.mean(speech[samples].astype(np.float64) ** 2)
    noise_power = np.mean(noise[samples].astype(np.float64) ** 2) + 1e-12
    gain = np.sqrt(speech_power / noise_power / 10 ** (snr_db / 10))
    mix = speech + gain * noise
    peak = float(np.abs(mix).max())
    return (mix * (0.99 / peak if peak > 0.99 else 1.0)).astype(np.float32)


# --- how a child talks ----------------------------------------------------------------------------------


def _is_mandarin(text: str) -> bool:
    return bool(CJK.search(text))


def _units(text: str) -> list[str]:
    """Words (English) or characters (Mandarin): what split points and hesitations count in."""
    return list(text) if _is_mandarin(text) else text.split()


def _join(units: list[str], mandarin: bool) -> str:
    return "".join(units) if mandarin else " ".join(units)


def with_pause(text: str, split_at: int, voice: str, pause_ms: float,
               rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """`text` spoken in two parts, split before word (English) or character (Mandarin) `split_at`, with
    `pause_ms` of room noise between them.

    Returns the audio and the index just past its last voiced sample."""
    rng = rng or np.random.default_rng(0)
    units, mandarin = _units(text), _is_mandarin(text)
    if not 0 < split_at < len(units):
        raise ValueError(f"split_at {split_at} is not inside the {len(units)} units of {text!r}")
    before = synthesize(_join(units[:split_at], mandarin), voice)
    after = synthesize(_join(units[split_at:], mandarin), voice)
    audio = np.concatenate([before, room_noise(int(pause_ms * RATE / 1000), rng), after])
    return audio, len(audio) - len(after) + voiced_end(after)


def hesitant_text(text: str, rng: np.random.Generator) -> str:
    """`text` with one or two fillers (um, uh; 嗯, 那个) and, half the time, its opening words restarted.

    English fillers go before any word but the last; Mandarin ones, having no word boundaries to go by,
    at the start or after a comma."""
    mandarin = _is_mandarin(text)
    units = _units(text)
    pause = "，" if mandarin else ","
    if mandarin:
        slots = [0] + [i + 1 for i, unit in enumerate(units[:-1]) if unit in "，,、"]
    else:
        slots = list(range(max(len(units) - 1, 1)))
    words = list(units)
    if not mandarin and not re.match(r"I\b", words[0]):
        words[0] = words[0][:1].lower() + words[0][1:]  # it no longer starts the sentence
    count = min(int(rng.integers(1, 3)), len(slots))
    for at in sorted(rng.choice(slots, size=count, replace=False), reverse=True):
        words.insert(int(at), str(rng.choice(FILLERS["zh" if mandarin else "en"])) + pause)
    if len(units) > 3 and rng.random() < 0.5:
        opening = _join(units[: int(rng.integers(2, 4))], mandarin).rstrip(",，")
        words.insert(0, opening + ("，" if mandarin else "..."))
    if not mandarin:
        words[0] = words[0][:1].upper() + words[0][1:]
    return _join(words, mandarin)


def with_hesitation(text: str, voice: str, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """`text` spoken with fillers and perhaps a restart; returns the words actually spoken and the audio."""
    spoken = hesitant_text(text, rng)
    return spoken, synthesize(spoken, voice)


def frame(pcm: np.ndarray, lead_s: float = 0.3, tail_s: float = 1.5,
          rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """`pcm` between `lead_s` and `tail_s` of room noise; the tail outlasts the server's 1.2 s end-of-turn
    silence. Returns the audio and the index just past the last voiced sample of `pcm` in it."""
    rng = rng or np.random.default_rng(0)
    lead = room_noise(int(lead_s * RATE), rng)
    audio = np.concatenate([lead, pcm.astype(np.float32), room_noise(int(tail_s * RATE), rng)])
    return audio, len(lead) + voiced_end(pcm)


# --- examples to listen to ------------------------------------------------------------------------------


def _write(folder: Path, name: str, pcm: np.ndarray) -> None:
    from hootkit.client.wavio import write_wav

    write_wav(folder / f"{name}.wav", (np.clip(pcm, -1, 1) * 32767).astype(np.int16).tobytes(), RATE)
    print(f"{folder / name}.wav  {len(pcm) / RATE:.2f} s")


def main(folder: Path = Path("/tmp/hearing_examples")) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    text = "How many legs does a spider have?"
    english = available_voices("en")
    plain = synthesize(text, english[0])
    _write(folder, "plain_piper", frame(plain)[0])
    if "espeak-en-us+f3" in english:
        _write(folder, "plain_espeak_en-us+f3", frame(synthesize(text, "espeak-en-us+f3"))[0])
    _write(folder, "child_like_400c_1.1x", frame(child_like(plain, 400, 1.1))[0])
    _write(folder, "pause_900ms", frame(with_pause(text, 3, english[0], 900, rng)[0])[0])
    spoken, hesitant = with_hesitation(text, english[0], rng)
    print(f"hesitation: {spoken!r}")
    _write(folder, "hesitation", frame(hesitant)[0])
    framed = frame(plain)[0]
    _write(folder, "fan_5db", mix_at_snr(framed, fan_noise(len(framed), rng), 5))
    others = [synthesize(line, voice) for line, voice in zip(
        ["Can I have the red crayon please?", "Look at my drawing!", "It's my turn now.",
         "Where is the glue stick?", "I finished my picture.", "The bell is going to ring soon."],
        english[1::7] or english)]
    _write(folder, "babble_10db", mix_at_snr(framed, babble(len(framed), rng, others), 10))
    chinese = available_voices("zh")
    if chinese:
        _write(folder, "mandarin_cmn", frame(synthesize("天空为什么是蓝色的？", chinese[0]))[0])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/hearing_examples"))

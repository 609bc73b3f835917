"""piper voices by name: the packaged one, those in the voices folder, and fetching others on first use."""

import os
import re
from pathlib import Path

import httpx
from tqdm import tqdm

from hootkit.engines import models
from hootkit.settings import Settings, TtsSettings

EMBEDDED = "en_US-joe-medium"
VOICE_URL = TtsSettings().voice_url
NAME = re.compile(
    r"(?P<locale>(?P<lang>[a-z]{2,3})_[A-Z]{2})-(?P<speaker>[A-Za-z0-9_]+)-(?P<quality>x_low|low|medium|high)"
)


class VoiceMissing(models.ModelMissing):
    """A piper voice is not installed and could not be fetched; the message says how to get it."""


def voices_folder(settings: Settings) -> Path:
    return settings.tts.voices_dir or settings.data_dir / "voices"


def is_embedded(name: str) -> bool:
    return name in ("embedded", EMBEDDED)


def voice_path(name: str, voices_dir: Path) -> Path:
    """The voice's .onnx, with its .onnx.json beside it; raises VoiceMissing when it is not installed."""
    if is_embedded(name):
        return models.joe_voice()
    _parse(name)
    model = Path(voices_dir) / f"{name}.onnx"
    if model.is_file() and model.with_name(f"{name}.onnx.json").is_file():
        return model
    raise VoiceMissing(f"piper voice {name} is not installed. {_fix(name, voices_dir)}")


def installed(voices_dir: Path) -> list[str]:
    """Names of the complete voices (.onnx and .onnx.json) in the folder."""
    return sorted(path.stem for path in Path(voices_dir).glob("*.onnx") if path.with_name(f"{path.name}.json").is_file())


def voice_url(name: str, base_url: str = VOICE_URL) -> str:
    """Where rhasspy/piper-voices keeps a voice, without the .onnx / .onnx.json suffix."""
    parts = _parse(name)
    return f"{base_url.rstrip('/')}/{parts['lang']}/{parts['locale']}/{parts['speaker']}/{parts['quality']}/{name}"


def fetch_voice(name: str, voices_dir: Path, base_url: str = VOICE_URL, progress: bool = True) -> Path:
    """The voice's .onnx, downloaded with a progress bar unless installed; raises VoiceMissing."""
    try:
        return voice_path(name, voices_dir)
    except VoiceMissing:
        pass
    url = voice_url(name, base_url)
    folder = Path(voices_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # identity: a gzipped body would not match Content-Length once decoded
    with httpx.Client(follow_redirects=True, timeout=30, headers={"Accept-Encoding": "identity"}) as client:
        for suffix in (".onnx.json", ".onnx"):
            try:
                _download(client, url + suffix, folder / f"{name}{suffix}", progress)
            except httpx.HTTPStatusError as error:
                raise VoiceMissing(
                    f"piper voice {name} is missing and {url + suffix} answered {error.response.status_code}: "
                    f"check the voice name and voice_url. {_fix(name, folder)}"
                ) from error
            except (httpx.TransportError, _Truncated) as error:
                raise VoiceMissing(
                    f"piper voice {name} is missing and could not be downloaded from {url + suffix} ({error}); "
                    f"this machine seems to be offline. {_fix(name, folder)}"
                ) from error
    return voice_path(name, folder)


class _Truncated(Exception):
    pass


def _download(client: httpx.Client, url: str, target: Path, progress: bool) -> None:
    partial = target.with_name(f"{target.name}.part")
    try:
        with client.stream("GET", url) as response:
            response.raise_for_status()
            expected = int(response.headers["content-length"]) if "content-length" in response.headers else None
            with partial.open("wb") as out, tqdm(
                total=expected, desc=target.name, unit="B", unit_scale=True, unit_divisor=1024, disable=not progress
            ) as bar:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        received = partial.stat().st_size
        if expected is not None and received != expected:
            raise _Truncated(f"got {received} of {expected} bytes")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _parse(name: str) -> dict[str, str]:
    match = NAME.fullmatch(name)
    if not match:
        raise VoiceMissing(f"{name!r} is not a piper voice name (language_REGION-speaker-quality, like {EMBEDDED})")
    return match.groupdict()


def _fix(name: str, folder: Path) -> str:
    return (
        f"To fix it, run `hoot voices fetch {name}` on a machine with internet access, or copy {name}.onnx and "
        f"{name}.onnx.json into the voices folder {Path(folder).absolute()}"
    )

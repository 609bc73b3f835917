"""piper voices by name: the packaged one, those in the voices folder, and fetching others on first use."""

import re
from pathlib import Path

from hootkit.engines import downloads, models
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
    for suffix in (".onnx.json", ".onnx"):
        target = folder / f"{name}{suffix}"
        try:
            downloads.download(url + suffix, target, sha256=None, size=None, progress=progress)
        except downloads.DownloadError as error:
            # a voice has no pinned hash to trust a resumed file by, so a broken download starts over
            downloads.partial_path(target).unlink(missing_ok=True)
            if isinstance(error, downloads.HttpStatus):
                raise VoiceMissing(
                    f"piper voice {name} is missing and {url + suffix} answered {error.status}: "
                    f"check the voice name and voice_url. {_fix(name, folder)}"
                ) from error
            raise VoiceMissing(
                f"piper voice {name} is missing and could not be downloaded from {url + suffix} ({error.reason}); "
                f"this machine seems to be offline. {_fix(name, folder)}"
            ) from error
    return voice_path(name, folder)


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

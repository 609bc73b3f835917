"""Hearing children with the real models over a real websocket: thinking pauses, noise, Mandarin, lesson words."""

import shutil

import numpy as np
import pytest
from conftest import fast_settings, need, silence

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.client.speech import espeak_speech, piper_speech, speak
from hootkit.client.wavio import last_voiced_sample
from hootkit.engines.whisper import WhisperStt
from hootkit.serving import serve_in_loop

pytestmark = [pytest.mark.models, pytest.mark.timeout(180)]


def serve(engines, **settings):
    return serve_in_loop(create_app(fast_settings(**settings), engines))


def steady(text: str) -> np.ndarray:
    """piper with the same prosody every run, int16 at 16 kHz."""
    return (piper_speech(text, steady=True) * 0.8 * 32767).astype(np.int16)


def espeak_pinyin(pinyin: str) -> np.ndarray:
    """Mandarin from espeak-ng, read from numbered pinyin, int16 at 16 kHz."""
    return (espeak_speech(pinyin, "cmn-latn-pinyin") * 32767).astype(np.int16)


async def test_a_question_with_a_900_ms_thinking_pause_is_answered_whole(real_engines):
    first = steady("How many legs does a")
    first = first[: last_voiced_sample(first, 16000)]  # piper's own trailing silence would lengthen the pause
    question = np.concatenate([silence(0.3), first, silence(0.9), steady("spider have?"), silence(0.1)])
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(question)
    heard = result.transcript.lower()
    assert "legs" in heard and "spider" in heard
    assert result.vtv_ms is not None and result.reply  # answered after the last word, not in the pause


async def test_noisy_audio_still_gets_a_transcript(real_engines):
    speech = speak("Why is the sky blue?").astype(np.float32)
    rng = np.random.default_rng(7)
    fan = np.cumsum(rng.standard_normal(len(speech) + 16000))[: len(speech)]  # brown noise, like a fan
    fan -= np.convolve(fan, np.ones(400) / 400, mode="same")
    voiced = speech[np.abs(speech) > 300]
    fan *= np.sqrt(np.mean(voiced**2) / np.mean(fan**2)) / 10 ** (10 / 20)  # 10 dB SNR
    noisy = np.clip(speech + fan, -32767, 32767).astype(np.int16)
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([noisy, silence(0.1)]))
    assert "sky" in result.transcript.lower()


async def test_a_mandarin_question_in_an_english_session_is_heard_as_mandarin(real_engines):
    need(shutil.which("espeak-ng"), "needs espeak-ng (apt-get install espeak-ng), which .ci/run installs")
    question = np.concatenate([silence(0.3), espeak_pinyin("ni3 shi4 ji1 qi4 ren2 ma5"), silence(0.1)])
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(question)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in result.transcript), result.transcript


def test_lesson_words_reach_the_speech_model_as_earlier_text(real_engines):
    stt = real_engines.stt
    assert isinstance(stt, WhisperStt)
    pcm = speak("I think it is an arachnid.").astype(np.float32) / 32768
    tokenizer_seen = []
    original = WhisperStt._earlier_text
    try:
        WhisperStt._earlier_text = staticmethod(lambda tok, lang, hints: tokenizer_seen.append(list(hints)) or original(tok, lang, hints))
        heard = stt.transcribe_now(pcm, ("arachnid", "spider", "insect"))
    finally:
        WhisperStt._earlier_text = staticmethod(original)
    assert tokenizer_seen == [["arachnid", "spider", "insect"]]
    assert "arachnid" in heard.text.lower()


def test_noise_is_not_heard_as_a_lesson_word(real_engines):
    noise = (np.random.default_rng(0).standard_normal(2 * 16000) * 0.01).astype(np.float32)
    heard = real_engines.stt.transcribe_now(noise, ("arachnid", "spider", "insect", "legs", "web"))
    assert heard.text == ""


def test_lesson_words_cannot_smuggle_control_tokens_or_run_long(real_engines):
    from faster_whisper.tokenizer import Tokenizer

    whisper = real_engines.stt._whisper
    tokenizer = Tokenizer(whisper.hf_tokenizer, True, task="transcribe", language="en")
    prompt = WhisperStt._earlier_text(tokenizer, "en", ["<|endoftext|><|startoftranscript|><|fr|><|translate|>"] + ["word"] * 500)
    assert prompt[0] == tokenizer.sot_prev
    assert all(token < tokenizer.eot for token in prompt[1:]) and len(prompt) <= 81

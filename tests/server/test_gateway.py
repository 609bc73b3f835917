"""The device websocket with fake engines: turns, barge-in, and every kind of bad input."""

import asyncio
import json

import numpy as np
import pytest
from conftest import fake_engines, fast_settings, silence, tone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hootkit.client.device import DeviceClient, Refused
from hootkit.engines.fakes import FakeLlm, FakeStt
from hootkit.pipeline.prompt import EXAMPLES

HELLO = {"type": "hello", "version": 1, "transport": "websocket",
         "audio_params": {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}}
QUESTION = np.concatenate([silence(0.2), tone(0.6)])


async def raw_session(url: str):
    ws = await connect(url)
    await ws.send(json.dumps(HELLO))
    reply = json.loads(await ws.recv())
    assert reply["type"] == "hello"
    return ws


async def next_alert(ws) -> dict:
    while True:
        frame = await ws.recv()
        if isinstance(frame, str) and json.loads(frame)["type"] == "alert":
            return json.loads(frame)


async def close_code_after(ws, frame) -> int:
    """Send `frame`, read until the server closes, and say with which code."""
    try:
        await ws.send(frame)
        while True:
            await ws.recv()
    except ConnectionClosed:
        return ws.close_code


async def test_auto_turn_streams_clauses_in_order(serve):
    async with serve() as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION)
    assert result.transcript == "how many legs does a spider have"
    assert result.sentences == ["A spider has eight legs.", "Can you count them?"]
    states = [state for state in result.tts_states]
    assert states == ["start", "sentence_start", "sentence_start", "stop"]
    assert len(result.audio) > 0 and result.vtv_ms is not None
    assert {"stt", "llm_first_token", "first_clause", "tts_first_audio", "server_vtv"} <= set(result.parts)


async def test_server_hello_announces_downlink(serve):
    async with serve() as url, DeviceClient(url, sample_rate=24000) as client:
        assert client.conn.downlink == {"format": "pcm16", "sample_rate": 24000, "channels": 1, "frame_duration": 40}
        result = await client.ask(np.concatenate([silence(0.2), tone(0.6, rate=24000)]))
    assert result.sample_rate == 24000 and result.sentences


async def test_manual_push_to_talk(serve):
    async with serve() as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION, mode="manual")
    assert result.transcript and result.sentences
    assert "server_vtv" in result.parts


async def test_history_is_kept_between_turns(serve):
    llm = FakeLlm()
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        await client.ask(QUESTION)
        await client.ask(QUESTION)
    second = llm.requests[-1][1 + len(EXAMPLES):]
    assert [m["role"] for m in second] == ["user", "assistant", "system", "user"]  # the facts found come just before the question
    assert second[1]["content"] == "A spider has eight legs. Can you count them?"


async def test_abort_stops_reply_and_next_question_works(serve):
    gate = asyncio.Event()
    llm = FakeLlm(gate=gate)
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        aborted = await client.ask(QUESTION, abort_after_s=0.05)
        assert aborted.abort_sent_at is not None
        stop = aborted.trace.index("tts:stop")
        assert "audio" not in aborted.trace[stop:], aborted.trace
        assert llm.closed == 1  # the LLM stream of the aborted turn was closed
        gate.set()
        result = await client.ask(QUESTION)
    assert result.sentences == ["A spider has eight legs.", "Can you count them?"]


async def test_two_devices_each_get_their_answer(serve):
    async with serve() as url, DeviceClient(url, device_id="a") as first, DeviceClient(url, device_id="b") as second:
        one, two = await asyncio.gather(first.ask(QUESTION), second.ask(QUESTION))
    assert first.session_id != second.session_id
    assert one.sentences and two.sentences and one.audio and two.audio


async def test_silence_only_gives_no_turn_in_auto_mode(serve):
    stt = FakeStt()
    async with serve(fake_engines(stt=stt)) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([silence(1.0), tone(0.6)]))
    assert stt.calls == 1 and result.sentences


async def test_silence_only_push_to_talk_says_nothing_heard(serve):
    async with serve() as url, DeviceClient(url) as client:
        result = await client.ask(silence(0.5), mode="manual")
    assert [alert.code for alert in result.alerts] == ["no_speech"]
    assert result.transcript is None and not result.audio


async def test_endless_speech_is_cut_with_a_warning(serve):
    settings = fast_settings(vad={"max_utterance_s": 2.0})
    async with serve(settings=settings) as url, DeviceClient(url) as client:
        result = await client.ask(tone(6.0))
    assert "too_long" in [alert.code for alert in result.alerts]
    assert result.sentences


async def test_malformed_json_and_unknown_type_keep_the_session(serve):
    async with serve() as url:
        ws = await raw_session(url)
        await ws.send("{oops")
        assert (await next_alert(ws))["code"] == "bad_json"
        await ws.send('{"type": "dance"}')
        alert = await next_alert(ws)
        assert alert["code"] == "unknown_type" and "dance" in alert["message"]
        await ws.send('{"type": "listen", "state": "sing"}')
        assert (await next_alert(ws))["code"] == "bad_event"
        await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "manual"}))
        await ws.send(tone(0.5).tobytes())
        await ws.send(json.dumps({"type": "listen", "state": "stop"}))
        kinds = []
        while "stop" not in kinds:
            frame = await ws.recv()
            if isinstance(frame, str):
                kinds.append(json.loads(frame).get("state", json.loads(frame)["type"]))
        # after three bad frames the session still hears the question and answers it whole, in order
        assert kinds == ["stt", "start", "sentence_start", "sentence_start", "stop"]
        await ws.close()


async def test_audio_before_hello_is_refused_with_reason(serve):
    async with serve() as url, connect(url) as ws:
        await ws.send(b"\x00\x01" * 320)
        alert = json.loads(await ws.recv())
        assert alert["type"] == "alert" and alert["code"] == "out_of_order"
        assert "hello" in alert["message"]
        await ws.send(json.dumps(HELLO))
        assert json.loads(await ws.recv())["type"] == "hello"


@pytest.mark.parametrize("params,needle", [
    ({"format": "pcm16", "sample_rate": 11000, "channels": 1, "frame_duration": 40}, "sample_rate 11000"),
    ({"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60}, "opus"),
])
async def test_unsupported_audio_closes_with_reason(serve, params, needle):
    async with serve() as url, connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "audio_params": params}))
        alert = json.loads(await ws.recv())
        assert alert["code"] == "unsupported_audio" and needle in alert["message"]
        await ws.wait_closed()
        assert ws.close_code == 4002 and needle in ws.close_reason


async def test_ten_megabyte_frame_is_closed_1009_and_others_talk_on(serve):
    """uvicorn reads at most a little more than the largest legal frame (hootkit.serving.ws_max_size): a
    bigger frame is refused by its header with close 1009, never buffered in full."""
    async with serve() as url:
        ws = await raw_session(url)
        assert await close_code_after(ws, b"\x00" * (10 * 1024 * 1024)) == 1009
        assert "exceeds limit" in ws.close_reason
        async with DeviceClient(url) as other:
            assert (await other.ask(QUESTION)).sentences


async def test_a_frame_just_over_the_frame_limit_gets_an_alert_and_the_session_lives(serve):
    async with serve() as url:
        ws = await raw_session(url)
        await ws.send(b"\x00" * (64 * 1024 + 2))  # over audio.max_frame_bytes, within what uvicorn reads
        alert = await next_alert(ws)
        assert alert["code"] == "too_large" and "limit" in alert["message"]
        await ws.send('{"type": "abort"}')
        await ws.send("{")
        assert (await next_alert(ws))["code"] == "bad_json"
        await ws.close()


async def test_odd_length_pcm_is_refused(serve):
    async with serve() as url:
        ws = await raw_session(url)
        await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
        await ws.send(b"\x00\x01\x02")
        assert (await next_alert(ws))["code"] == "bad_audio"
        await ws.close()


async def test_too_many_bad_frames_closes(serve):
    async with serve(settings=fast_settings(max_errors_per_session=3)) as url:
        ws = await raw_session(url)
        for _ in range(4):
            await ws.send("nope")
        await ws.wait_closed()
        assert ws.close_code == 4004


async def test_hello_timeout_closes(serve):
    async with serve(settings=fast_settings(hello_timeout_s=0.2)) as url, connect(url) as ws:
        await ws.wait_closed()
        assert ws.close_code == 4003


async def test_token_required_when_configured(serve):
    async with serve(settings=fast_settings(device_tokens=["owl-secret"])) as url:
        async with connect(url) as ws:
            alert = json.loads(await ws.recv())
            assert alert["code"] == "unauthorized"
            await ws.wait_closed()
            assert ws.close_code == 4001
        with pytest.raises(Refused) as refused:
            await DeviceClient(url, token="wrong").connect()
        assert refused.value.code == 4001 and "token" in refused.value.reason
        async with DeviceClient(url, token="owl-secret") as client:
            assert client.session_id


async def test_disconnect_mid_reply_leaves_others_unharmed(serve):
    gate = asyncio.Event()
    llm = FakeLlm(gate=gate)
    app_settings = fast_settings()
    async with serve(fake_engines(llm=llm), app_settings) as url:
        leaver = DeviceClient(url)
        await leaver.connect()
        speaking = asyncio.create_task(leaver.ask(QUESTION))
        await leaver.heard_audio.wait()
        await leaver.ws.close()
        await asyncio.gather(speaking, return_exceptions=True)
        gate.set()
        async with DeviceClient(url) as other:
            result = await other.ask(QUESTION)
        assert result.sentences == ["A spider has eight legs.", "Can you count them?"]


async def test_a_misbehaving_device_does_not_disturb_another(serve):
    async with serve() as url, DeviceClient(url, device_id="good") as good:
        async def misbehave():
            async with connect(url) as bad:
                await bad.send(b"\x00" * 640)  # audio before hello
                await bad.send(json.dumps(HELLO))
                for frame in ("{", '{"type": "x"}', b"\x00" * (64 * 1024 + 2), b"\x01", '{"type": "listen"}'):
                    await bad.send(frame)
                await bad.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
                await bad.send(tone(0.5).tobytes()[:30000])
                # in the middle of a possible turn
                assert await close_code_after(bad, b"\x00" * (10 * 1024 * 1024)) == 1009

        result, _ = await asyncio.gather(good.ask(QUESTION), misbehave())
    assert result.sentences == ["A spider has eight legs.", "Can you count them?"]
    assert result.alerts == []


async def test_realtime_mode_speech_during_a_reply_barges_in(serve):
    gate = asyncio.Event()  # never set: the reply stalls after its first sentence, still "speaking"
    async with serve(fake_engines(llm=FakeLlm(gate=gate))) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([QUESTION, silence(0.8), tone(0.6)]), mode="realtime")
    assert result.sentences == ["A spider has eight legs."]
    assert result.trace.index("tts:stop") < result.trace.index("metrics")
    assert result.abort_sent_at is None  # the server stopped on its own


class MemoryReadingLlm(FakeLlm):
    """Says when the session asks it to read the conversation memory ahead (a prompt ending in an empty question)."""

    def __init__(self):
        super().__init__()
        self.read_ahead = asyncio.Event()

    async def stream(self, messages, key):
        if messages[-1] == {"role": "user", "content": ""}:
            self.read_ahead.set()
        async for piece in super().stream(messages, key):
            yield piece


async def test_forgetting_old_turns_has_the_llm_read_the_kept_memory_ahead(serve):
    llm = MemoryReadingLlm()
    settings = fast_settings(llm={"history_turns": 2})
    question = np.concatenate([silence(0.2), tone(0.6)])
    async with serve(fake_engines(llm=llm), settings) as url, DeviceClient(url) as client:
        for _ in range(2):
            await client.ask(question)
        assert not llm.read_ahead.is_set()
        await client.ask(question)  # the third turn makes the memory forget the first
        await asyncio.wait_for(llm.read_ahead.wait(), 10)
    memory = [m["content"] for m in llm.requests[-1][1 + len(EXAMPLES):] if m["role"] in ("user", "assistant")]
    assert len(memory) == 2 * 2 + 1  # two kept turns, then the empty question

"""What an unauthenticated client on the school network cannot do through the XiaoZhi paths (IT review of stop 26):
take a board's token at pairing, plant or cancel a board's code, block the loop with Opus, or flood the log."""

import asyncio
import json
import logging
import struct
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from hootkit.accounts.passwords import token_hash
from hootkit.gateway.pairing import PairingDesk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
from school import lessons_dir, school  # noqa: E402,F401 (fixtures: a server with accounts)

pytestmark = pytest.mark.timeout(60)

NATIVE_HELLO = json.dumps({"type": "hello", "version": 1, "transport": "websocket",
                           "audio_params": {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}})
XIAOZHI_HELLO = json.dumps({"type": "hello", "version": 1, "transport": "websocket",
                            "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60}})
BOARD = "aa:bb:cc:00:00:20"


async def events_until(ws, kind: str, state: str | None = None) -> list[dict]:
    seen = []
    while not seen or seen[-1].get("type") != kind or (state is not None and seen[-1].get("state") != state):
        frame = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(frame, str):
            seen.append(json.loads(frame))
    return seen


async def test_a_stranger_claiming_a_boards_id_gets_neither_its_code_nor_its_token(school):
    async with school() as s, s.login("tom") as tom, s.anonymous() as anyone:
        class_id = await s.new_class(tom, "4B")
        board = (await anyone.post("/xiaozhi/ota/", headers={"Device-Id": BOARD}, content=b"{}")).json()
        code, board_token = board["activation"]["code"], board["websocket"]["token"]
        async with connect(s.url, additional_headers={"Device-Id": BOARD}) as stranger:  # no token
            await stranger.send(NATIVE_HELLO)
            offered = (await events_until(stranger, "pair"))[-1]
            assert offered["code"] != code  # a code of its own, not the board's
            paired = await tom.post("/api/pair", json={"code": code, "class_id": class_id, "name": "Table 9"})
            assert paired.status_code == 201, paired.text
            with pytest.raises(TimeoutError):  # it hears nothing of the pairing
                await asyncio.wait_for(events_until(stranger, "pair", "paired"), 1.0)
    assert (await s.hoot.store.device_by_token(token_hash(board_token))).id == BOARD  # the board's own token


async def test_another_address_cannot_cancel_a_boards_code_but_the_board_asking_again_replaces_its_own():
    desk = PairingDesk()
    board_code = await desk.offer_activation(BOARD, "board-token", "192.168.1.20")
    await desk.offer_activation(BOARD, "stranger-token", "192.168.1.66")  # someone else asks with the board's MAC
    again = await desk.offer_activation(BOARD, "board-token-2", "192.168.1.20")  # the board reboots and asks again
    assert desk.claim(board_code) is None and desk.claim(again).token == "board-token-2"
    first = await desk.offer_activation("aa:bb:cc:00:00:21", "t1", "192.168.1.21")
    await desk.offer_activation("aa:bb:cc:00:00:21", "t2", "192.168.1.66")
    assert desk.claim(first).token == "t1"  # the stranger's call left it alone


async def test_opus_packets_longer_than_opus_allows_and_faster_than_real_time_are_refused_unread(school):
    async with school(pairing="remote") as s:
        url = s.url.replace("/v1/device", "/xiaozhi/v1/")
        async with connect(url, additional_headers={"Device-Id": BOARD, "Protocol-Version": "1"}) as ws:
            await ws.send(XIAOZHI_HELLO)
            await events_until(ws, "hello")
            await ws.send(b"\x03\xbf")  # 63 frames of 10 ms in two bytes: 630 ms of audio to decode
            alert = (await events_until(ws, "alert"))[-1]
            assert alert["code"] == "bad_audio" and "630 ms" in alert["message"]
            silence = bytes([0xF8, 0xFF, 0xFE])  # a 20 ms SILK packet
            for _ in range(200):  # 4 s of audio at once: past the burst allowance
                await ws.send(silence)
            codes = []
            while "too_fast" not in codes and len(codes) < 10:
                codes.append((await events_until(ws, "alert"))[-1]["code"])
            assert "too_fast" in codes  # (before it, "not_listening": this board never said listen start)


async def test_hostile_input_gets_a_clear_answer_and_no_traceback(school, caplog):
    caplog.set_level(logging.ERROR)
    async with school(pairing="remote") as s, s.anonymous() as anyone:
        deep = await anyone.post("/xiaozhi/ota/", headers={"Device-Id": BOARD}, content=b"[" * 16000)
        assert deep.status_code == 400
        huge = await anyone.post("/xiaozhi/ota/", headers={"Device-Id": BOARD}, content=b" " * (64 * 1024))
        assert huge.status_code == 413
        url = s.url.replace("/v1/device", "/xiaozhi/v1/")
        async with connect(url, additional_headers={"Device-Id": BOARD, "Protocol-Version": "\u00b2"}) as odd:
            with pytest.raises(Exception):
                await asyncio.wait_for(odd.recv(), 10)
        assert odd.close_code == 4002
        async with connect(url, additional_headers={"Device-Id": BOARD}) as ws:
            await ws.send("[" * 16000)
            assert (await events_until(ws, "alert"))[-1]["code"] == "bad_json"
            pcm_hello = json.loads(XIAOZHI_HELLO)
            pcm_hello["audio_params"].update(format="pcm16", sample_rate=22050)
            await ws.send(json.dumps(pcm_hello))
            assert (await events_until(ws, "alert"))[-1]["code"] == "unsupported_audio"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]

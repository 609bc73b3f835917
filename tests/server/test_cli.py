"""`hoot talk` as a user runs it: a WAV in, JSON and a reply WAV out; clear errors for bad input."""

import json
import wave

import numpy as np
from conftest import hoot, silence, tone

from hootkit import cli, serving
from hootkit.client.wavio import write_wav


async def test_talk_json_and_reply_wav(serve, tmp_path):
    question = tmp_path / "question.wav"
    write_wav(question, np.concatenate([silence(0.2), tone(0.6)]).tobytes(), 16000)
    reply = tmp_path / "reply.wav"
    async with serve() as url:
        code, out, err = await hoot("talk", "--wav", str(question), "--server", url, "--out", str(reply), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["transcript"] == "how many legs does a spider have"
    assert report["reply"] == "A spider has eight legs. Can you count them?"
    assert report["vtv_ms"] > 0 and "vad_lag_and_network" in report["parts"]
    with wave.open(str(reply)) as wav:
        assert wav.getframerate() == 16000 and wav.getnframes() > 0


async def test_talk_manual_mode_prints_a_readable_report(serve, tmp_path):
    question = tmp_path / "question.wav"
    write_wav(question, np.concatenate([silence(0.2), tone(0.6)]).tobytes(), 44100 // 2)
    async with serve() as url:
        code, out, err = await hoot("talk", "--wav", str(question), "--server", url, "--mode", "manual")
    assert code == 0, err
    assert "heard:" in out and "replied:" in out and "voice-to-voice:" in out


async def test_talk_refuses_a_file_that_is_not_a_wav(tmp_path):
    bogus = tmp_path / "question.wav"
    bogus.write_text("not audio")
    code, _, err = await hoot("talk", "--wav", str(bogus))
    assert code == 2 and "not a PCM WAV file" in err


async def test_talk_says_when_no_server_listens(tmp_path):
    question = tmp_path / "question.wav"
    write_wav(question, tone(0.5).tobytes(), 16000)
    code, _, err = await hoot("talk", "--wav", str(question), "--server", "ws://127.0.0.1:9/v1/device")
    assert code == 1 and "cannot talk to" in err


async def test_guard_reads_lines_and_writes_json_verdicts():
    code, out, err = await hoot("guard", "--json", stdin="how do volcanoes explode\n\ni want to k i l l myself\n我想 自 杀\n".encode())
    assert code == 0, err
    verdicts = [json.loads(line) for line in out.splitlines()]
    assert [v["verdict"] for v in verdicts] == ["allow", "alert", "alert"]
    assert set(verdicts[0]) == {"text", "stage", "verdict", "category", "reply"}
    assert verdicts[1]["category"] == "self_harm" and "grown-up" in verdicts[1]["reply"]
    assert verdicts[2]["stage"] == "input" and "大人" in verdicts[2]["reply"]


def test_serve_runs_uvicorn_with_the_frame_limit_and_no_proxy_headers(monkeypatch, capsys):
    """`hoot serve` builds its uvicorn config with hootkit.serving.uvicorn_config, as the tests do."""
    ran = []
    monkeypatch.setattr(serving.HootServer, "run", lambda server, sockets=None: ran.append(server.config))
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8799", "--log-level", "warning"]) == 0
    (config,) = ran
    settings = config.app.state.settings
    assert (config.host, config.port, settings.host) == ("0.0.0.0", 8799, "0.0.0.0")
    assert 64 * 1024 < config.ws_max_size == serving.ws_max_size(settings) < 16 * 1024 * 1024
    assert config.proxy_headers is False
    assert settings.trust_local is False and "trust_local is off" in capsys.readouterr().out


def test_serve_believes_forwarded_headers_from_configured_proxies_only(monkeypatch):
    ran = []
    monkeypatch.setattr(serving.HootServer, "run", lambda server, sockets=None: ran.append(server.config))
    monkeypatch.setenv("HOOT_FORWARDED_ALLOW_IPS", '["10.0.0.5"]')
    assert cli.main(["serve", "--log-level", "warning"]) == 0
    (config,) = ran
    assert config.proxy_headers is True and config.forwarded_allow_ips == ["10.0.0.5"]
    assert config.app.state.settings.trust_local is True  # 127.0.0.1 by default

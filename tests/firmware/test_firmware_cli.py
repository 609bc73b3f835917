"""`hoot emulate`, `hoot firmware build` and `hoot flash --dry-run` as a developer runs them."""

import json

import numpy as np
from conftest import hoot, silence, tone

from hootkit.client.wavio import write_wav
from hootkit.firmware.signing import signature_matches



def question_wav(tmp_path):
    path = tmp_path / "question.wav"
    write_wav(path, np.concatenate([silence(0.3), tone(0.8), silence(0.2)]).tobytes(), 16000)
    return path


async def test_emulate_prints_the_same_json_as_talk(serve, tmp_path):
    reply = tmp_path / "reply.wav"
    async with serve() as url:
        code, out, err = await hoot("emulate", "--wav", str(question_wav(tmp_path)), "--server", url, "--json", "--out", str(reply))
    assert code == 0, err
    report = json.loads(out)
    assert {"transcript", "reply", "vtv_ms", "parts", "alerts", "reply_audio_s"} <= set(report)
    assert report["transcript"] == "how many legs does a spider have"
    assert report["reply"] == "A spider has eight legs. Can you count them?"
    assert report["vtv_ms"] > 0 and reply.stat().st_size > 44


async def test_emulate_runs_a_session_script(serve, tmp_path):
    question_wav(tmp_path)
    script = tmp_path / "session.yaml"
    script.write_text(
        "mode: manual\n"
        "steps:\n"
        "  - wait: idle\n"
        "  - press\n"
        "  - speak: question.wav\n"
        "  - release\n"
        "  - wait: reply\n"
        "  - network: down\n"
        "  - network: up\n"
        "  - wait: connected\n"
        "  - tap\n"
        "  - speak: question.wav\n"
        "  - wait: reply\n"
    )
    async with serve() as url:
        code, out, err = await hoot("emulate", "--script", str(script), "--server", url, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["turns"]) == 2
    assert all(turn["transcript"] == "how many legs does a spider have" for turn in report["turns"])


async def test_emulate_explains_a_broken_script(tmp_path):
    script = tmp_path / "session.yaml"
    script.write_text("steps:\n  - press\n  - jump\n")
    code, _, err = await hoot("emulate", "--script", str(script))
    assert code == 2 and "step 2: 'jump' is not one of" in err
    script.write_text("steps: [press\n")
    code, _, err = await hoot("emulate", "--script", str(script))
    assert code == 2 and str(script) in err
    code, _, err = await hoot("emulate")
    assert code == 2 and "give --wav" in err


async def test_emulate_says_when_no_server_listens(tmp_path):
    code, _, err = await hoot("emulate", "--wav", str(question_wav(tmp_path)), "--server", "ws://127.0.0.1:9/v1/device")
    assert code == 1 and "cannot reach the server at ws://127.0.0.1:9/v1/device" in err


async def test_firmware_build_compiles_every_module(tmp_path):
    code, out, err = await hoot("firmware", "build", "--board", "diy-s3", "--out", str(tmp_path / "app"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "app" / "manifest.json").read_text())
    paths = {entry["path"] for entry in manifest["files"]}
    assert {"main.py", "board.mpy", "hoot/app.mpy", "hoot/ws.mpy", "hootproto/connection.mpy"} <= paths
    assert manifest["arch"] == "xtensawin" and "built diy-s3" in out
    public = (tmp_path / "app" / "update-key.txt").read_text().strip()
    signature = (tmp_path / "app" / "manifest.sig").read_text()
    assert signature_matches(public, (tmp_path / "app" / "manifest.json").read_bytes(), signature)
    assert "signed with" in out and "firmware-signing.key" in out


async def test_firmware_build_refuses_a_broken_signing_key(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "firmware-signing.key").write_text("not a key")
    code, _, err = await hoot("firmware", "build", "--board", "diy-s3", "--arch", "host")
    assert code == 2 and "firmware-signing.key is not a PEM Ed25519 private key" in err


async def test_firmware_build_refuses_an_unknown_board():
    code, _, err = await hoot("firmware", "build", "--board", "no-such-board")
    assert code == 2 and "no-such-board" in err


async def test_flash_dry_run_prints_every_step_and_runs_nothing():
    code, out, err = await hoot("flash", "--port", "/dev/ttyACM0", "--wifi-ssid", "school", "--server",
                                "ws://192.168.1.10:8765/v1/device", "--dry-run")
    assert code == 0, err
    for words in ("erase-flash", "write-flash 0x0", "mpremote connect /dev/ttyACM0 fs cp -r", ":config.json", "reset",
                  "dry run: nothing was run"):
        assert words in out


async def test_flash_refuses_a_port_that_is_not_one():
    code, _, err = await hoot("flash", "--port", "bogus", "--dry-run")
    assert code == 2 and "bogus" in err

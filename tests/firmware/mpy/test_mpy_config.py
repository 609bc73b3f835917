"""hoot.config on MicroPython: config checks, save/load round trip, first-boot serial setup."""

import json
import os

from hoot import config
from tempdir import TempDir

GOOD = {
    "wifi": {"ssid": "Classroom", "password": "owls"},
    "server": "ws://10.0.0.5:8765/v1/device",
    "token": "t0k3n",
    "mode": "manual",
}


def with_(cfg, **changes):
    copy = dict(cfg)
    copy.update(changes)
    return copy


def without(cfg, key):
    copy = dict(cfg)
    del copy[key]
    return copy


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def expect_config_error(path, fragment):
    try:
        config.load(path)
    except config.ConfigError as error:
        assert fragment in str(error), str(error)
        return
    raise AssertionError("no ConfigError for %s" % path)


def test_problems_of_a_good_config():
    assert config.problems(GOOD) == []
    assert config.problems(without(GOOD, "token")) == []
    assert config.problems(without(GOOD, "mode")) == []
    assert config.problems(with_(GOOD, server="wss://hoot.example.org/v1/device", mode="auto")) == []
    assert config.problems(with_(GOOD, wifi={"ssid": "Open network"})) == []


def test_problems_of_bad_configs():
    ws_only = "server must be a ws:// or wss:// URL"
    assert config.problems(without(GOOD, "server")) == [ws_only]
    assert config.problems(with_(GOOD, server="http://10.0.0.5:8765")) == [ws_only]
    assert config.problems(with_(GOOD, server=8765)) == [ws_only]
    assert config.problems(with_(GOOD, mode="push")) == ["mode must be auto or manual"]
    assert config.problems(without(GOOD, "wifi")) == ["wifi needs an ssid"]
    assert config.problems(with_(GOOD, wifi={"password": "owls"})) == ["wifi needs an ssid"]
    assert config.problems(with_(GOOD, wifi={"ssid": ""})) == ["wifi needs an ssid"]
    assert config.problems(with_(GOOD, wifi="Classroom")) == ["wifi needs an ssid"]
    assert config.problems(with_(GOOD, token=1234)) == ["token must be text"]
    assert len(config.problems({})) == 2
    assert len(config.problems({"server": "http://x", "mode": "x", "wifi": {}, "token": 1})) == 4


def test_save_load_round_trip():
    with TempDir():
        config.save(GOOD)
        assert config.load() == GOOD
        assert "config.json.tmp" not in os.listdir()
        config.save(without(GOOD, "mode"), "other.json")
        loaded = config.load("other.json")
        assert loaded == with_(GOOD, mode="auto")
        config.save(with_(GOOD, token="new"))
        assert config.load()["token"] == "new"


def test_load_missing_file_is_none():
    with TempDir():
        assert config.load() is None
        assert config.load("nowhere/config.json") is None


def test_load_broken_files():
    with TempDir():
        write("config.json", '{"server": "ws://x/v1/device", ')
        expect_config_error("config.json", "not valid JSON")
        write("list.json", json.dumps([GOOD]))
        expect_config_error("list.json", "must hold a JSON object")
        write("bad.json", json.dumps(with_(GOOD, server="http://x:8765")))
        expect_config_error("bad.json", "server must be a ws:// or wss:// URL")


class Console:
    """A scripted serial console: `ask` pops the next answer, `say` records what the device said."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.asked = []
        self.said = []

    def ask(self, prompt):
        self.asked.append(prompt)
        assert self.answers, "provision asked more than scripted: %r" % prompt
        return self.answers.pop(0)

    def say(self, text):
        self.said.append(text)


def test_provision_asks_again_and_builds_a_config():
    console = Console(["", "   ", " Classroom ", " owls ", "http://10.0.0.5:8765", "10.0.0.5",
                       "ws://10.0.0.5:8765/v1/device ", " t0k3n ", "manual"])
    cfg = config.provision(console.ask, console.say)
    assert console.answers == []
    assert cfg == GOOD
    assert config.problems(cfg) == []
    assert [p for p in console.asked if p.startswith("Wi-Fi name")] == ["Wi-Fi name: "] * 3
    assert len([p for p in console.asked if p.startswith("Server address")]) == 3
    retries = [s for s in console.said if s.startswith("That is not a ws://")]
    assert len(retries) == 2, console.said
    assert console.said[0].startswith("Hootkit setup")


def test_provision_without_token_and_default_mode():
    console = Console(["Lab", "", "wss://hoot.example.org/v1/device", "  ", ""])
    cfg = config.provision(console.ask, console.say)
    assert cfg == {"wifi": {"ssid": "Lab", "password": ""}, "server": "wss://hoot.example.org/v1/device",
                   "mode": "auto"}
    assert "token" not in cfg
    assert [s for s in console.said if s.startswith("That is not")] == []


def test_provision_garbage_mode_is_auto():
    console = Console(["Lab", "pw", "ws://h:8765/v1/device", "tok", "push-to-talk"])
    cfg = config.provision(console.ask, console.say)
    assert cfg["mode"] == "auto"
    assert cfg["token"] == "tok"


def test_provision_result_survives_save_and_load():
    console = Console(["Lab", "pw", "ws://h:8765/v1/device", "", "manual"])
    cfg = config.provision(console.ask, console.say)
    with TempDir():
        config.save(cfg)
        assert config.load() == cfg

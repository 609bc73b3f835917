"""The device config file (config.json: Wi-Fi, server URL, token, mode) and first-boot serial setup."""

import json
import os

PATH = "config.json"
MODES = ("auto", "manual")


class ConfigError(Exception):
    """The config file is missing something or says something the device cannot use."""


def problems(cfg):
    """What is wrong with a config dict, as sentences (empty when it is usable)."""
    found = []
    server = cfg.get("server")
    if not isinstance(server, str) or not (server.startswith("ws://") or server.startswith("wss://")):
        found.append("server must be a ws:// or wss:// URL")
    if cfg.get("mode", "auto") not in MODES:
        found.append("mode must be auto or manual")
    wifi = cfg.get("wifi")
    if not (isinstance(wifi, dict) and wifi.get("ssid")):
        found.append("wifi needs an ssid")
    token = cfg.get("token")
    if token is not None and not isinstance(token, str):
        found.append("token must be text")
    return found


def load(path=PATH):
    """The config as a dict, or None when the device has never been set up."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError:
        return None
    except ValueError:
        raise ConfigError("%s is not valid JSON" % path)
    if not isinstance(cfg, dict):
        raise ConfigError("%s must hold a JSON object" % path)
    found = problems(cfg)
    if found:
        raise ConfigError("%s: %s" % (path, "; ".join(found)))
    cfg.setdefault("mode", "auto")
    return cfg


def save(cfg, path=PATH):
    """Write the config atomically: a temporary file, then a rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.rename(tmp, path)


def provision(ask=input, say=print):
    """First boot: ask for Wi-Fi, server and token on the serial console, and return the config."""
    say("Hootkit setup. Answer each question and press Enter.")
    cfg = {"mode": "auto"}
    ssid = ""
    while not ssid:
        ssid = ask("Wi-Fi name: ").strip()
    cfg["wifi"] = {"ssid": ssid, "password": ask("Wi-Fi password: ").strip()}
    while True:
        cfg["server"] = ask("Server address (ws://HOST:8765/v1/device): ").strip()
        if not problems(cfg):
            break
        say("That is not a ws:// or wss:// address. Try again.")
    token = ask("Device token from your teacher (empty for none): ").strip()
    if token:
        cfg["token"] = token
    mode = ask("Listening: auto (just talk) or manual (hold the button)? [auto]: ").strip() or "auto"
    cfg["mode"] = mode if mode in MODES else "auto"
    return cfg

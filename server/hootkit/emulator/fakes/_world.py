"""The emulated world around the device (MicroPython): the host's control file, the clock, the event log."""

import json
import os
import sys
import time

RESET_EXIT_CODE = 75


def emit(kind, fields=None):
    """One `@emu {json}` line on stdout for the host."""
    record = {"ev": kind, "t": time.ticks_ms()}
    if fields:
        record.update(fields)
    print("@emu " + json.dumps(record))


class World:
    """What the host controls: the button, the network, what is said near the microphone."""

    def __init__(self):
        self.button_down = False
        self.button_seen = False
        self.network_up = True
        self.speech = None
        self.mic_shift = int(os.getenv("HOOT_EMU_MIC_SHIFT") or "16")
        self.speaker_path = os.getenv("HOOT_EMU_SPEAKER") or "speaker.pcm"
        path = os.getenv("HOOT_EMU_CONTROL")
        self.control = open(path) if path else None
        self.pending = ""

    def poll(self):
        """Apply the host's new commands (appended JSON lines); cheap when there are none."""
        if self.control is None:
            return
        chunk = self.control.read()
        if not chunk:
            return
        self.pending += chunk
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            if line.strip():
                self.apply(json.loads(line))

    def apply(self, command):
        name = command["cmd"]
        if name == "button":
            self.button_down = command["down"]
        elif name == "network":
            self.network_up = command["up"]
        elif name == "speak":
            self.speech = command
            self.speech["start"] = None
        elif name == "exit":
            emit("exit")
            sys.exit(0)
        emit("applied", {"cmd": name})


world = World()

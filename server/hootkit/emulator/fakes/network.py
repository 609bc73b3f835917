"""A fake `network` for the emulator (MicroPython): a Wi-Fi station that is up unless the host pulls it."""

from _world import emit, world

STA_IF = 0
AP_IF = 1


class WLAN:
    def __init__(self, interface=STA_IF):
        self.interface = interface
        self.on = False
        self.ssid = None

    def active(self, on=None):
        if on is not None:
            self.on = on
        return self.on

    def connect(self, ssid=None, key=None):
        """Like the real driver, keeps trying in the background: connected whenever the network is up."""
        self.ssid = ssid
        emit("wifi_connect", {"ssid": ssid})

    def isconnected(self):
        world.poll()
        return self.on and self.ssid is not None and world.network_up

    def config(self, name):
        if name == "mac":
            return b"\x24\x6f\x28\x00\x00\x01"
        raise ValueError("unknown config " + name)

    def ifconfig(self):
        return ("10.0.0.42", "255.255.255.0", "10.0.0.1", "10.0.0.1")

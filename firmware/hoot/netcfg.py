"""Wi-Fi: join the configured network, and rejoin it with exponential backoff when it drops."""

import asyncio

import network

from hoot import log

FIRST_BACKOFF_MS = 500
MAX_BACKOFF_MS = 30000
JOIN_TIMEOUT_MS = 15000


def backoff(attempt):
    """Milliseconds to wait before the given retry (0, 1, 2, ...): 0.5 s doubling up to 30 s."""
    return min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS << min(attempt, 10))


class Wifi:
    """The station interface; `ensure()` returns once the device is on the network."""

    def __init__(self, wifi_cfg):
        self.cfg = wifi_cfg
        self.sta = network.WLAN(network.STA_IF)

    def mac(self):
        raw = self.sta.config("mac")
        return ":".join("%02X" % b for b in raw)

    def connected(self):
        return self.sta.isconnected()

    async def ensure(self):
        attempt = 0
        while not self.sta.isconnected():
            if attempt:
                await asyncio.sleep_ms(backoff(attempt - 1))
            attempt += 1
            log.event("wifi_join", {"ssid": self.cfg["ssid"], "attempt": attempt})
            self.sta.active(True)
            self.sta.connect(self.cfg["ssid"], self.cfg.get("password", ""))
            waited = 0
            while not self.sta.isconnected() and waited < JOIN_TIMEOUT_MS:
                await asyncio.sleep_ms(100)
                waited += 100
        log.event("wifi_up", {"ip": self.sta.ifconfig()[0]})

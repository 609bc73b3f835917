"""The button (hold to talk, tap to interrupt) and the status LED (one colour per device state)."""

import asyncio
import time

from machine import Pin

HOLD_MS = 350
POLL_MS = 20

PRESS = "press"
HOLD = "hold"
RELEASE = "release"
TAP = "tap"

COLOURS = {
    "connecting": (16, 16, 16),
    "idle": (0, 0, 24),
    "listening": (0, 48, 0),
    "thinking": (40, 24, 0),
    "speaking": (0, 32, 48),
    "paused": (40, 8, 0),
    "error": (64, 0, 0),
}


class Button:
    """Polls a push button and reports gestures: `hold` after HOLD_MS, then `release`; or a short `tap`."""

    def __init__(self, pins):
        pull = Pin.PULL_UP if pins.get("pull", "up") == "up" else Pin.PULL_DOWN
        self.pin = Pin(pins["pin"], Pin.IN, pull)
        self.active = 0 if pins.get("active", "low") == "low" else 1

    def pressed(self):
        return self.pin.value() == self.active

    async def gestures(self, on_gesture):
        """Call `on_gesture(name)` (a coroutine function) for each gesture, forever."""
        down_at = None
        holding = False
        while True:
            now = time.ticks_ms()
            if self.pressed():
                if down_at is None:
                    down_at = now
                elif not holding and time.ticks_diff(now, down_at) >= HOLD_MS:
                    holding = True
                    await on_gesture(HOLD)
            elif down_at is not None:
                await on_gesture(RELEASE if holding else TAP)
                down_at = None
                holding = False
            await asyncio.sleep_ms(POLL_MS)


class Led:
    """A WS2812 status pixel; `show(state)` sets the colour for that device state."""

    def __init__(self, pins):
        from neopixel import NeoPixel

        self.pixels = NeoPixel(Pin(pins["pin"], Pin.OUT), pins.get("count", 1))
        self.state = None

    def show(self, state):
        if state == self.state:
            return
        self.state = state
        colour = COLOURS[state]
        for i in range(len(self.pixels)):
            self.pixels[i] = colour
        self.pixels.write()

"""hoot.ui on MicroPython: button gestures on the fake machine's world, with the real clock."""

import asyncio
from _world import world

from hoot import ui

PINS = {"pin": 17, "pull": "up", "active": "low"}
HANG_GUARD_MS = 10000  # only against a hang; nothing here depends on how fast it runs


class SeenPin:
    """Wraps the button's pin: sets `seen_down` once the button task has read the button pressed."""

    def __init__(self, button):
        self.pin = button.pin
        self.active = button.active
        self.seen_down = asyncio.Event()

    def value(self):
        level = self.pin.value()
        if level == self.active:
            self.seen_down.set()
        return level


class Gestures:
    """The on_gesture callback: records each gesture and wakes the test."""

    def __init__(self):
        self.got = []
        self.event = asyncio.Event()

    async def on_gesture(self, name):
        self.got.append(name)
        self.event.set()

    async def next(self):
        await asyncio.wait_for_ms(self.event.wait(), HANG_GUARD_MS)
        self.event.clear()
        return self.got[-1]


def test_pressed_follows_the_world():
    try:
        for pins in (PINS, {"pin": 17, "pull": "down", "active": "high"}, {"pin": 17}):
            button = ui.Button(pins)
            world.button_down = False
            assert not button.pressed()
            world.button_down = True
            assert button.pressed()
    finally:
        world.button_down = False


async def test_short_press_is_a_tap():
    world.button_down = False
    button = ui.Button(PINS)
    spy = button.pin = SeenPin(button)
    gestures = Gestures()
    task = asyncio.create_task(button.gestures(gestures.on_gesture))
    try:
        world.button_down = True
        await asyncio.wait_for_ms(spy.seen_down.wait(), HANG_GUARD_MS)
        world.button_down = False
        assert await gestures.next() == ui.TAP
        assert gestures.got == [ui.TAP]
    finally:
        task.cancel()
        world.button_down = False


async def test_long_press_is_hold_then_release():
    world.button_down = False
    button = ui.Button(PINS)
    gestures = Gestures()
    task = asyncio.create_task(button.gestures(gestures.on_gesture))
    try:
        world.button_down = True
        assert await gestures.next() == ui.HOLD
        world.button_down = False
        assert await gestures.next() == ui.RELEASE
        assert gestures.got == [ui.HOLD, ui.RELEASE]
    finally:
        task.cancel()
        world.button_down = False


async def test_gestures_repeat():
    world.button_down = False
    button = ui.Button(PINS)
    spy = button.pin = SeenPin(button)
    gestures = Gestures()
    task = asyncio.create_task(button.gestures(gestures.on_gesture))
    try:
        for _ in range(2):
            spy.seen_down.clear()
            world.button_down = True
            await asyncio.wait_for_ms(spy.seen_down.wait(), HANG_GUARD_MS)
            world.button_down = False
            assert await gestures.next() == ui.TAP
        world.button_down = True
        assert await gestures.next() == ui.HOLD
        world.button_down = False
        assert await gestures.next() == ui.RELEASE
        assert gestures.got == [ui.TAP, ui.TAP, ui.HOLD, ui.RELEASE]
    finally:
        task.cancel()
        world.button_down = False

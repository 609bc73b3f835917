"""A fake `neopixel` for the emulator (MicroPython): the LED colour goes to the host's event log."""

from _world import emit


class NeoPixel:
    def __init__(self, pin, n):
        self.pin = pin
        self.pixels = [(0, 0, 0)] * n

    def __len__(self):
        return len(self.pixels)

    def __setitem__(self, index, colour):
        self.pixels[index] = colour

    def __getitem__(self, index):
        return self.pixels[index]

    def write(self):
        emit("led", {"rgb": list(self.pixels[0])})

"""Emulator mode: the real firmware on the MicroPython unix port, with a fake `machine` and a scripted world."""

"""Hootkit device app for MicroPython (ESP32-S3, and the unix port in emulator mode)."""

"""Pins and parts of diy-s3, generated from hardware/boards/diy-s3.toml. Do not edit.

`hoot firmware build --board diy-s3` writes this file again from the TOML.
"""
NAME = "diy-s3"
CHIP = "esp32s3"
MIC = {"i2s_id": 0, "sck": 4, "ws": 5, "sd": 6, "rate": 16000, "bits": 32, "shift": 14}
SPEAKER = {"i2s_id": 1, "sck": 15, "ws": 16, "sd": 7, "rate": 16000, "bits": 16, "volume": 0.5}
BUTTON = {"pin": 17, "pull": "up", "active": "low"}
LED = {"kind": "ws2812", "pin": 18, "count": 1}

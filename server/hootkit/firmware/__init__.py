"""Firmware tooling: board definitions, build, flash."""

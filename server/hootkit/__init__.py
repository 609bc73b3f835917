"""Hootkit server: the streaming voice loop between devices and the embedded models."""

__version__ = "0.1.0"

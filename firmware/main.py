"""Hootkit device entry point: start the app under the update guard."""

from hoot import guard

guard.start()

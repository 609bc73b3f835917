"""Engines: one small interface per capability (vad, stt, llm, tts) and its backends."""

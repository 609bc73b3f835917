"""Lessons: the YAML format teachers write, its validation, and the lesson engine."""

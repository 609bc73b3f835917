"""What a device session reports as it goes: state changes, finished turns, lesson progress. The base ignores it all."""


class SessionObserver:
    """Told by a DeviceSession about itself; the recorder keeps and broadcasts what it hears."""

    def changed(self, session) -> None:
        """Its activity, or whether a teacher holds it, changed."""

    def turn_finished(self, session, turn) -> None:
        """A committed turn ended (answered, aborted, refused or failed)."""

    def lesson_changed(self, session) -> None:
        """Its lesson started, moved on, or ended."""

"""The one error type at the protocol boundary, with a short machine-readable code. No I/O."""


class ProtocolError(Exception):
    """A frame or event that breaks the protocol; `code` names the kind for alerts and close reasons."""

    def __init__(self, message, code="bad_frame"):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


class LocalProtocolError(ProtocolError):
    """Our own side tried to send something the protocol forbids in the current state."""

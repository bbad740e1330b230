"""Typed domain errors. Employees see ``user_message`` plus a reference id; the log has the detail."""

from __future__ import annotations

import secrets


def new_reference() -> str:
    """A short id that ties an employee-facing error to its log entry."""
    return "REF-" + secrets.token_hex(4).upper()


class ConciergeError(Exception):
    """Base for errors whose message may be shown to an employee."""

    code = "error"
    user_message = "Sorry, something went wrong on my side."

    def __init__(self, detail: str = "", *, user_message: str | None = None):
        super().__init__(detail or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class InputRejected(ConciergeError):
    """The message itself cannot be processed (empty, too long, binary)."""

    code = "input_rejected"


class AccessDenied(ConciergeError):
    code = "access_denied"
    user_message = "Sorry, I can't show you that."


class ModelUnavailable(ConciergeError):
    """The language model cannot be reached or loaded."""

    code = "model_unavailable"
    user_message = (
        "The language model is not available right now, so I can't answer fully. Please try again soon."
    )


class StorageError(ConciergeError):
    code = "storage"
    user_message = (
        "I couldn't save your message (the system's storage is unavailable). Please try again later."
    )

"""What stops a pass: the app cannot run as it is, and what the user must fix."""

from __future__ import annotations


class InvalidApp(Exception):
    """The app's spec or manifest cannot be run; `reason` and the message tell the user what to fix."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

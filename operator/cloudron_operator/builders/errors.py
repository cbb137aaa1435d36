"""The error the builders raise for a spec the app's manifest does not allow."""

from __future__ import annotations


class InvalidSpec(ValueError):
    """The spec asks for something the app's manifest does not allow; each problem says what to change."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

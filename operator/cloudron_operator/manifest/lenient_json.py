"""A JSON reader that accepts what hand-edited JSON files tend to contain.

It reads standard JSON plus `//` and `/* */` comments and trailing commas, and lets the
last of several duplicate keys win (as JavaScript's `JSON.parse` does). Every such
liberty is recorded as a `Leniency`, so callers can warn about it. Syntax errors carry
the line and column where reading stopped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final, Literal

LeniencyKind = Literal["comment", "trailing_comma", "duplicate_key"]
JsonPath = tuple[str | int, ...]

_WHITESPACE: Final = " \t\n\r"
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NUMBER: Final = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_LITERALS: Final = {"true": True, "false": False, "null": None}
_MAX_DEPTH: Final = 100
_TEMPLATE_MARKERS: Final = ("{{", "{%", "%%")


@dataclass(frozen=True)
class Position:
    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


@dataclass(frozen=True)
class Leniency:
    """One place where the text is not strict JSON but was read anyway."""

    kind: LeniencyKind
    position: Position
    path: JsonPath  # where in the document: the object holding the key, the array, ...


@dataclass(frozen=True)
class JsonDocument:
    value: object
    leniencies: tuple[Leniency, ...]


class JsonSyntaxError(ValueError):
    def __init__(self, message: str, position: Position) -> None:
        super().__init__(f"{position}: {message}")
        self.reason = message
        self.position = position


def read_json(text: str) -> JsonDocument:
    """Read one JSON value from `text`; raise `JsonSyntaxError` if it cannot be read."""
    reader = _Reader(text)
    value = reader.document()
    return JsonDocument(value, tuple(reader.leniencies))


def position_of(text: str, offset: int) -> Position:
    line_start = text.rfind("\n", 0, offset) + 1
    return Position(line=text.count("\n", 0, offset) + 1, column=offset - line_start + 1)


@dataclass
class _Reader:
    text: str
    pos: int = 0
    leniencies: list[Leniency] = field(default_factory=list)

    def document(self) -> object:
        value = self._value((), depth=0)
        self._skip_blanks(())
        if self.pos < len(self.text):
            raise self._error("unexpected text after the end of the JSON value")
        return value

    def _value(self, path: JsonPath, depth: int) -> object:
        if depth > _MAX_DEPTH:
            raise self._error(f"nested deeper than {_MAX_DEPTH} levels")
        self._skip_blanks(path)
        char = self.text[self.pos : self.pos + 1]
        if char == "{":
            return self._object(path, depth)
        if char == "[":
            return self._array(path, depth)
        if char == '"':
            return self._string()
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            fraction, exponent = number.groups()
            return float(number.group()) if fraction or exponent else int(number.group())
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return literal
        raise self._error("expected a value" if char else "unexpected end of input, expected a value")

    def _object(self, path: JsonPath, depth: int) -> dict[str, object]:
        members: dict[str, object] = {}
        self.pos += 1  # the "{"
        if self._close_or_trailing_comma("}", path, first=True):
            return members
        while True:
            self._skip_blanks(path)
            if not self.text.startswith('"', self.pos):
                raise self._error("expected a property name in double quotes")
            key_position = position_of(self.text, self.pos)
            key = self._string()
            self._skip_blanks(path)
            if not self.text.startswith(":", self.pos):
                raise self._error(f"expected ':' after the property name {key!r}")
            self.pos += 1
            if key in members:  # the last value wins, at the first key's place, as in JSON.parse
                self.leniencies.append(Leniency("duplicate_key", key_position, (*path, key)))
            members[key] = self._value((*path, key), depth + 1)
            if self._close_or_trailing_comma("}", path, first=False):
                return members

    def _array(self, path: JsonPath, depth: int) -> list[object]:
        items: list[object] = []
        self.pos += 1  # the "["
        if self._close_or_trailing_comma("]", path, first=True):
            return items
        while True:
            items.append(self._value((*path, len(items)), depth + 1))
            if self._close_or_trailing_comma("]", path, first=False):
                return items

    def _close_or_trailing_comma(self, closer: str, path: JsonPath, *, first: bool) -> bool:
        """Consume `closer` (True) or the comma before the next member (False)."""
        self._skip_blanks(path)
        if self.text.startswith(closer, self.pos):
            self.pos += 1
            return True
        if first:
            return False
        if not self.text.startswith(",", self.pos):
            raise self._error(f"expected ',' or '{closer}'")
        comma = self.pos
        self.pos += 1
        self._skip_blanks(path)
        if self.text.startswith(closer, self.pos):
            self.leniencies.append(Leniency("trailing_comma", position_of(self.text, comma), path))
            self.pos += 1
            return True
        return False

    def _string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if not match:
            raise self._error("unterminated string")
        try:
            decoded: str = json.loads(match.group())  # the standard library decodes the escapes
        except json.JSONDecodeError as error:
            self.pos += error.pos
            raise self._error(error.msg.removesuffix(" at").lower()) from None
        self.pos = match.end()
        return decoded

    def _skip_blanks(self, path: JsonPath) -> None:
        """Skip whitespace and comments."""
        text = self.text
        while self.pos < len(text):
            if text[self.pos] in _WHITESPACE:
                self.pos += 1
            elif text.startswith("//", self.pos):
                self.leniencies.append(Leniency("comment", position_of(text, self.pos), path))
                newline = text.find("\n", self.pos)
                self.pos = len(text) if newline < 0 else newline + 1
            elif text.startswith("/*", self.pos):
                self.leniencies.append(Leniency("comment", position_of(text, self.pos), path))
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise self._error("unterminated /* comment")
                self.pos = close + 2
            else:
                return

    def _error(self, message: str) -> JsonSyntaxError:
        if self.pos < len(self.text):
            message = f"{message}, found {self.text[self.pos]!r}"
        line_start = self.text.rfind("\n", 0, self.pos) + 1
        line_end = self.text.find("\n", self.pos)
        line = self.text[line_start : len(self.text) if line_end < 0 else line_end]
        if any(marker in line for marker in _TEMPLATE_MARKERS):
            message += " (this looks like an unrendered template placeholder)"
        return JsonSyntaxError(message, position_of(self.text, self.pos))

from __future__ import annotations

import json

import pytest

from cloudron_operator.manifest.lenient_json import JsonSyntaxError, Leniency, Position, read_json

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, -2.5, 3e2, true, false, null], "b": {"c": "d\\n\\u00e9\\ud83d\\ude00"}}',
        "[]",
        '"just a string"',
        "  0  ",
    ],
)
def test_strict_json_reads_as_the_standard_library_reads_it(text: str) -> None:
    document = read_json(text)
    assert document.value == json.loads(text)
    assert document.leniencies == ()


def test_comments_are_skipped_and_recorded_where_they_start() -> None:
    document = read_json('{\n  // line comment\n  "a": /* inline */ 1\n}')
    assert document.value == {"a": 1}
    assert document.leniencies == (
        Leniency("comment", Position(2, 3), ()),
        Leniency("comment", Position(3, 8), ("a",)),
    )


def test_comment_markers_inside_strings_are_text() -> None:
    assert read_json('{"url": "https://example.com/*x*/"}').value == {"url": "https://example.com/*x*/"}


def test_trailing_commas_are_accepted_and_recorded() -> None:
    document = read_json('{"tags": ["a", "b",],\n}')
    assert document.value == {"tags": ["a", "b"]}
    assert [(leniency.kind, leniency.position, leniency.path) for leniency in document.leniencies] == [
        ("trailing_comma", Position(1, 19), ("tags",)),
        ("trailing_comma", Position(1, 21), ()),
    ]


def test_the_last_duplicate_key_wins_in_the_first_place_like_json_parse() -> None:
    document = read_json('{"a": 1, "b": 2, "a": {"c": 1, "c": 3}}')
    assert document.value == {"a": {"c": 3}, "b": 2}
    assert isinstance(document.value, dict)
    assert list(document.value) == ["a", "b"]
    assert [(leniency.kind, leniency.path) for leniency in document.leniencies] == [
        ("duplicate_key", ("a",)),
        ("duplicate_key", ("a", "c")),
    ]


def test_integers_stay_integers_and_fractions_become_floats() -> None:
    value = read_json("[1, 1.0, 1e3, -0]").value
    assert isinstance(value, list)
    assert [(item, type(item)) for item in value] == [(1, int), (1.0, float), (1000.0, float), (0, int)]


@pytest.mark.parametrize(
    ("text", "line", "column", "reason"),
    [
        ("", 1, 1, "unexpected end of input"),
        ('{\n  "a": 1\n  # comment\n}', 3, 3, "expected ',' or '}', found '#'"),
        ('{"a" 1}', 1, 6, "expected ':' after the property name 'a'"),
        ("{'a': 1}", 1, 2, "expected a property name in double quotes"),
        ('{"a": 1,,}', 1, 9, "expected a property name in double quotes, found ','"),
        ("[1 2]", 1, 4, "expected ',' or ']'"),
        ('{"a": tru}', 1, 7, "expected a value"),
        ('{"a": 01}', 1, 8, "expected ',' or '}', found '1'"),
        ('{"a": "b', 1, 7, "unterminated string"),
        ('{"a": "b\nc"}', 1, 9, "invalid control character"),
        ('{"a": "\\q"}', 1, 8, "invalid \\escape"),
        ("{} {}", 1, 4, "unexpected text after the end of the JSON value"),
        ("[1] /* open", 1, 5, "unterminated /* comment"),
        ('{\n  "port": {{ port }}\n}', 2, 12, "this looks like an unrendered template placeholder"),
        ('{"version": %%VERSION%%}', 1, 13, "this looks like an unrendered template placeholder"),
    ],
)
def test_syntax_errors_say_where_and_what(text: str, line: int, column: int, reason: str) -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        read_json(text)
    assert caught.value.position == Position(line, column)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"line {line}, column {column}: ")


def test_columns_count_characters_not_bytes() -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        read_json('{"é": "ü" x}')
    assert caught.value.position == Position(1, 11)


def test_absurd_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(JsonSyntaxError, match="nested deeper than"):
        read_json("[" * 10_000)

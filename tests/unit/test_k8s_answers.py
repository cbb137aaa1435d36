"""Every answer of the API server becomes an object or an ApiError, whatever its body."""

from __future__ import annotations

import pytest
import yaml

from cloudron_operator.k8s.api import NOT_SERVED, UNEXPECTED_ANSWER, ApiError, apply_body, decode_answer

pytestmark = pytest.mark.unit


def _error(status: int, body: bytes | str | None) -> ApiError:
    with pytest.raises(ApiError) as raised:
        decode_answer(status, body)
    return raised.value


def test_an_object_is_decoded() -> None:
    assert decode_answer(200, b'{"kind": "Secret"}') == {"kind": "Secret"}
    assert decode_answer(200, b"") == {}


def test_a_status_names_its_reason_and_message() -> None:
    error = _error(404, b'{"kind": "Status", "reason": "NotFound", "message": "secrets \\"x\\" not found"}')
    assert (error.status, error.reason, error.message) == (404, "NotFound", 'secrets "x" not found')
    assert error.not_found and not error.retriable


def test_a_path_not_served_yet_is_a_retriable_not_found() -> None:
    """The API server's answer for a group whose CRD was installed a moment ago."""
    error = _error(404, b"404 page not found\n")
    assert error.reason == NOT_SERVED
    assert error.not_found and error.retriable
    assert "404 page not found" in error.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (200, b"<html>a proxy's login page</html>"),
        (200, b'["a", "list"]'),
        (200, b'{"kind": "Secr'),  # cut off
    ],
)
def test_an_answer_that_is_no_object_is_a_retriable_error_quoting_it(status: int, body: bytes) -> None:
    error = _error(status, body)
    assert error.status == status
    assert error.retriable
    assert error.reason == UNEXPECTED_ANSWER or status >= 500
    assert body.decode()[:10] in error.message


def test_a_long_body_is_quoted_in_part() -> None:
    error = _error(503, "x" * 10_000)
    assert len(error.message) < 300 and error.message.endswith("...'")


def test_an_apply_patch_keeps_text_beyond_the_basic_plane_as_yaml_reads_it() -> None:
    # The API server reads an apply patch as YAML, where an escaped surrogate pair is no character:
    # a manifest's postInstallMessage with an emoji made the app's Deployment ApplyFailed.
    obj = {"metadata": {"annotations": {"note": "Ready 🎉 — déjà"}}}
    body = apply_body(obj)
    assert b"\\u" not in body
    assert yaml.safe_load(body) == obj

"""Every answer of the API server becomes an object or an ApiError, whatever its body."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
import yaml

from cloudron_operator.k8s.api import (
    API_SERVER_MAX_DEPTH,
    NOT_SERVED,
    UNEXPECTED_ANSWER,
    ApiError,
    allow_api_server_nesting,
    apply_body,
    decode_answer,
)

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


def test_an_apply_patch_escapes_what_yaml_does_not_take_raw() -> None:
    # Found by the fuzzing (issue #25): an env value with a C1 control made the Deployment ApplyFailed.
    obj = {
        "spec": {"env": [{"name": "A", "value": "del\x7f next\x85 c1\x9f bom\ufeff nonchar\ufffe\uffff 🎉"}]}
    }
    body = apply_body(obj)
    assert not re.search("[\x7f-\x9f\ufeff\ufffe\uffff]", body.decode())
    assert yaml.safe_load(body) == obj
    assert json.loads(body) == obj


def test_an_object_nested_as_deep_as_the_api_server_stores_is_decoded_in_any_thread() -> None:
    # Found by the fuzzing (issue #25): a manifest nested 1000 deep made the operator's watch fail.
    allow_api_server_nesting()
    depth = API_SERVER_MAX_DEPTH + 10  # and the object's own levels around the manifest
    text = '{"spec": {"manifest": ' + '{"a": ' * depth + "1" + "}" * depth + "}}"
    decoded: list[Any] = []
    worker = threading.Thread(target=lambda: decoded.append(decode_answer(200, text)))
    worker.start()
    worker.join()
    assert decoded and "manifest" in decoded[0]["spec"]

"""Requests to the API server: server-side apply, get, list, delete; errors mapped to one type."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import urllib3
from kubernetes import client, config

from cloudron_operator.k8s.resources import kind_of

FIELD_MANAGER = "cloudron-operator"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"
# What `request` sends: an apply's text as it is; a JSON object, or a JSON patch's list, serialised.
RequestBody = str | bytes | Mapping[str, Any] | Sequence[Mapping[str, Any]]

KubeObject = dict[str, Any]

# The API server decodes JSON nested up to 10000 deep (apimachinery's limit), so a field kept as
# written (a CloudronApp's manifest, an Addon's options) may hold such a value. Python's JSON decoder
# and the code that walks an object are recursive and stop at 1000 by default: one such app made
# every watch of the apps fail, and the operator exit, at each start (found by the fuzzing, #25).
API_SERVER_MAX_DEPTH = 10_000
RECURSION_LIMIT = 5 * API_SERVER_MAX_DEPTH


def allow_api_server_nesting() -> None:
    """Let this process decode and walk whatever nesting the API server stores."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


# The reason of an answer whose body is not a Kubernetes Status: a path the API server does not
# serve (yet: a CRD just installed), a proxy's or load balancer's page, a cut-off body.
NOT_SERVED, UNEXPECTED_ANSWER = "NotServed", "UnexpectedAnswer"
BODY_EXCERPT_CHARS = 200


class ApiError(Exception):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def retriable(self) -> bool:
        """Conflicts, throttling, server errors, unreachable servers and answers that are no Status
        (a kind not served yet, a proxy in the way) pass; other 4xx do not."""
        return (
            self.status in (0, 409, 429)
            or self.status >= 500
            or self.reason in (NOT_SERVED, UNEXPECTED_ANSWER)
        )


def new_api_client(connections: int = 10) -> client.ApiClient:
    """In a pod: its ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config.

    `connections`: how many threads may use the client at once. Past that, urllib3 opens a new
    connection per request and throws it away after, with a warning each time.
    """
    settings = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=settings)
    except config.ConfigException:
        # $KUBECONFIG as it is now: the client library reads it once, when it is imported.
        config.load_kube_config(
            config_file=os.environ.get("KUBECONFIG") or None, client_configuration=settings
        )
    settings.connection_pool_maxsize = connections
    return client.ApiClient(settings)


def apply(
    api: client.ApiClient,
    obj: Mapping[str, Any],
    *,
    subresource: str = "",
    dry_run: bool = False,
    field_manager: str = FIELD_MANAGER,
) -> KubeObject:
    """Server-side apply `obj` as our field manager; an unchanged object is not written.

    With `dry_run` the server answers with the object as the apply would store it, and stores nothing.
    Another `field_manager` owns only the fields it applies: the fields our own manager set stay.
    """
    return _apply(api, obj, subresource=subresource, dry_run=dry_run, field_manager=field_manager)[1]


def apply_reporting_creation(api: client.ApiClient, obj: Mapping[str, Any]) -> tuple[KubeObject, bool]:
    """`apply`, and whether the object was created by it (the API server answers 201 Created)."""
    status, applied = _apply(api, obj)
    return applied, status == 201


def _apply(
    api: client.ApiClient,
    obj: Mapping[str, Any],
    *,
    subresource: str = "",
    dry_run: bool = False,
    field_manager: str = FIELD_MANAGER,
) -> tuple[int, KubeObject]:
    meta = obj["metadata"]
    path = kind_of(obj["apiVersion"], obj["kind"]).path(meta.get("namespace"), meta["name"])
    query = [("fieldManager", field_manager), ("force", "true")] + ([("dryRun", "All")] if dry_run else [])
    return _exchange(
        api,
        "PATCH",
        path + (f"/{subresource}" if subresource else ""),
        query=query,
        body=apply_body(obj),
        content_type=APPLY_CONTENT_TYPE,
    )


def apply_body(obj: Mapping[str, Any]) -> bytes:
    """The object as an apply patch: JSON, which is YAML, as UTF-8 text.

    Not ASCII with escapes: the API server decodes an apply patch as YAML, whose `\\u` escapes do not
    join a surrogate pair, so `json.dumps`'s default spelling of an emoji (a manifest's
    postInstallMessage has some) is refused as an invalid escape. A lone surrogate, which no text
    holds, is written as its escape and refused so. The characters YAML does not take raw (DEL, the
    C1 controls, U+FEFF, U+FFFE, U+FFFF) are written as their escapes, which YAML reads: raw, they made
    the API server refuse the whole patch ("control characters are not allowed").
    """
    text = json.dumps(obj, ensure_ascii=False)
    text = _NOT_YAML_PRINTABLE.sub(lambda char: f"\\u{ord(char.group()):04x}", text)
    return text.encode("utf-8", errors="backslashreplace")


# Outside YAML's printable set and not escaped by json.dumps (which escapes the C0 controls itself).
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\ufeff\ufffe\uffff]")


def get(
    api: client.ApiClient, api_version: str, kind: str, namespace: str | None, name: str
) -> KubeObject | None:
    try:
        return request(api, "GET", kind_of(api_version, kind).path(namespace, name))
    except ApiError as error:
        if error.not_found:
            return None
        raise


def list_objects(
    api: client.ApiClient,
    api_version: str,
    kind: str,
    namespace: str | None,
    label_selector: str = "",
    *,
    field_selector: str = "",
) -> list[KubeObject]:
    query = [("labelSelector", label_selector)] if label_selector else []
    query += [("fieldSelector", field_selector)] if field_selector else []
    items: list[KubeObject] = request(api, "GET", kind_of(api_version, kind).path(namespace), query=query)[
        "items"
    ]
    return items


def watch(
    api: client.ApiClient,
    path: str,
    *,
    resource_version: str,
    label_selector: str = "",
    timeout_seconds: int = 300,
) -> Iterator[KubeObject]:
    """The watch events of a list path from `resource_version` on, as they come, with bookmarks.

    Ends when the API server ends the watch (after about `timeout_seconds`). An error answer, a
    broken connection or a body that is not JSON raise ApiError; an expired resourceVersion comes
    as an event of type ERROR with a 410 Status, as the API server sends it.
    """
    query = [
        ("watch", "1"),
        ("resourceVersion", resource_version),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", str(timeout_seconds)),
    ] + ([("labelSelector", label_selector)] if label_selector else [])
    method, url, headers, _, _ = api.param_serialize(
        method="GET",
        resource_path=path,
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    try:
        response = api.call_api(
            method, url, header_params=headers, _request_timeout=(10, timeout_seconds + 30)
        )
    except (OSError, urllib3.exceptions.HTTPError) as error:
        raise ApiError(0, "Unreachable", str(error)) from error
    stream = response.response
    try:
        if response.status >= 400:
            decode_answer(response.status, stream.read())
        pending = b""
        for chunk in stream.stream(64 * 1024):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield decode_answer(200, line)
    except (OSError, urllib3.exceptions.HTTPError) as error:
        raise ApiError(0, "Unreachable", f"the watch broke: {error}") from error
    finally:
        stream.release_conn()


def delete(api: client.ApiClient, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
    """Delete in the background (dependents go through garbage collection); False if it was already gone."""
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    try:
        request(api, "DELETE", kind_of(api_version, kind).path(namespace, name), body=body)
    except ApiError as error:
        if error.not_found:
            return False
        raise
    return True


def json_patch(
    api: client.ApiClient,
    api_version: str,
    kind: str,
    namespace: str | None,
    name: str,
    *,
    operations: Sequence[Mapping[str, Any]],
) -> KubeObject:
    """A JSON patch (RFC 6902): its `test` operations make it refuse to apply to another state."""
    path = kind_of(api_version, kind).path(namespace, name)
    return request(api, "PATCH", path, body=list(operations), content_type=JSON_PATCH_CONTENT_TYPE)


def create(api: client.ApiClient, obj: Mapping[str, Any]) -> KubeObject:
    meta = obj["metadata"]
    path = kind_of(obj["apiVersion"], obj["kind"]).path(meta.get("namespace"))
    return request(api, "POST", path, body=obj)


def request(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: RequestBody | None = None,
    content_type: str = "application/json",
) -> KubeObject:
    """One request, answered with an object. JSON bodies go as mappings or lists (the client serialises
    them), apply bodies as text."""
    return _exchange(api, method, path, query=query, body=body, content_type=content_type)[1]


def _exchange(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: RequestBody | None = None,
    content_type: str = "application/json",
) -> tuple[int, KubeObject]:
    """One request: the answer's HTTP status and object; an error status raises ApiError."""
    method_, url, headers, body_, post = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=["BearerToken"],
    )
    try:
        response = api.call_api(method_, url, header_params=headers, body=body_, post_params=post)
        response.read()
    except (OSError, urllib3.exceptions.HTTPError) as error:  # refused, reset, timed out
        raise ApiError(0, "Unreachable", str(error)) from error
    return response.status, decode_answer(response.status, response.data)


def decode_answer(status: int, body: bytes | str | None) -> KubeObject:
    """The object an answer carries; ApiError for an error status or a body that is not a JSON object.

    The API server answers errors with a JSON Status, but not every answer comes from it as a
    Status: a group or resource it does not serve yet gets a plain-text `404 page not found`
    (right after a CRD is installed, until the server serves it), and a proxy in the way may answer
    with a page of its own. Such an answer is an ApiError that says what came back, never a
    decoding error.
    """
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = None
    if isinstance(data, dict):
        if status >= 400:
            message = data.get("message", "")
            raise ApiError(status, str(data.get("reason", "")), str(message or _excerpt(body)))
        return data
    reason = NOT_SERVED if status == 404 else UNEXPECTED_ANSWER
    what = "not JSON" if data is None else f"JSON {type(data).__name__}, not an object"
    raise ApiError(status, reason, f"an answer that is {what}: {_excerpt(body)!r}")


def _excerpt(body: bytes | str | None) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."

"""Reading a catalog's bytes: from a URL (a conditional GET, bounded in time and size, redirects
followed) or from a key of a ConfigMap. Every failure is a CatalogUnavailable whose reason and
message go into the AppCatalog's Ready condition: they never carry a body or a credential.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from kubernetes import client

from cloudron_operator.catalog.cache import CatalogUnavailable
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models.catalog import AppCatalogSpec
from cloudron_operator.models.conditions import Reason

MAX_CATALOG_BYTES: Final = 16 * 1024 * 1024
FETCH_TIMEOUT_SECONDS: Final = 10.0
USER_AGENT: Final = "cloudron-operator (AppCatalog)"
_CHUNK: Final = 64 * 1024
_MIB: Final = 1024 * 1024


@dataclass(frozen=True)
class Validators:
    """What the last good answer said of its content, for the next request's conditions."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass(frozen=True)
class Fetched:
    """The catalog's bytes, or None when the server answered 304 Not Modified."""

    data: bytes | None
    validators: Validators = Validators()


def read_source(api: client.ApiClient, spec: AppCatalogSpec, validators: Validators | None = None) -> Fetched:
    """The bytes the spec names; `validators` make a URL's request conditional."""
    if spec.url is not None:
        return fetch_url(spec.url, validators)
    assert spec.config_map_ref is not None, "the CRD requires exactly one of url and configMapRef"
    ref = spec.config_map_ref
    return Fetched(read_config_map(api, ref.namespace, ref.name, ref.key))


def source_name(spec: AppCatalogSpec) -> str:
    """Where the catalog is read from, as a message says it."""
    if spec.url is not None:
        return shown_url(spec.url)
    assert spec.config_map_ref is not None
    ref = spec.config_map_ref
    return f"ConfigMap {ref.namespace}/{ref.name} key {ref.key}"


def shown_url(url: str) -> str:
    """The URL without what may be a secret: user and password, query, fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an IPv6 host without its closing bracket
        return "(a URL that cannot be parsed)"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", "")) + ("?..." if parts.query else "")


def fetch_url(
    url: str,
    validators: Validators | None = None,
    *,
    timeout: float = FETCH_TIMEOUT_SECONDS,
    max_bytes: int = MAX_CATALOG_BYTES,
) -> Fetched:
    """GET `url`: conditional when `validators` hold something, at most `timeout` seconds and
    `max_bytes` bytes. A 304 is Fetched(None) with the validators it confirmed."""
    shown = shown_url(url)
    sent = validators or Validators()
    try:
        request = _request(url, sent)
        deadline = time.monotonic() + timeout
        with _opener().open(request, timeout=timeout) as answer:
            data = _read_bounded(answer, shown, deadline, timeout, max_bytes)
            return Fetched(data, Validators(answer.headers.get("ETag"), answer.headers.get("Last-Modified")))
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == http.HTTPStatus.NOT_MODIFIED and sent:
            confirmed = Validators(
                error.headers.get("ETag") or sent.etag,
                error.headers.get("Last-Modified") or sent.last_modified,
            )
            return Fetched(None, confirmed)
        raise CatalogUnavailable(
            Reason.CATALOG_UNREACHABLE, f"{shown} answered HTTP {error.code} {str(error.reason)[:100]}"
        ) from None
    except urllib.error.URLError as error:
        raise CatalogUnavailable(
            Reason.CATALOG_UNREACHABLE, f"cannot fetch {shown}: {_why(error.reason, timeout)}"
        ) from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        # A read that timed out or broke after the answer began; a URL urllib cannot use.
        raise CatalogUnavailable(
            Reason.CATALOG_UNREACHABLE, f"cannot fetch {shown}: {_why(error, timeout)}"
        ) from None


def _request(url: str, validators: Validators) -> urllib.request.Request:
    # http and https only, without credentials: the CRD's pattern; the opener has no other handler.
    request = urllib.request.Request(url, method="GET")  # noqa: S310
    request.add_header("User-Agent", USER_AGENT)
    request.add_header("Accept", "application/json")
    if validators.etag:
        request.add_header("If-None-Match", validators.etag)
    if validators.last_modified:
        request.add_header("If-Modified-Since", validators.last_modified)
    return request


class _HttpRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects to http and https only (urllib would follow one to ftp too)."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        scheme = urlsplit(newurl).scheme
        if scheme not in ("http", "https"):
            raise urllib.error.URLError(f"redirected to a URL of scheme {scheme!r}, not http or https")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    """http and https only, with the system's CAs and the environment's proxy settings."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        _HttpRedirects(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def _read_bounded(answer: Any, shown: str, deadline: float, timeout: float, max_bytes: int) -> bytes:
    limit = f"{max_bytes // _MIB} MiB" if max_bytes % _MIB == 0 else f"{max_bytes} bytes"
    too_big = f"{shown} is larger than {limit}, the most a catalog may be"
    declared = answer.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise CatalogUnavailable(Reason.CATALOG_INVALID, too_big)
    chunks: list[bytes] = []
    size = 0
    while chunk := answer.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise CatalogUnavailable(Reason.CATALOG_INVALID, too_big)
        if time.monotonic() > deadline:
            raise CatalogUnavailable(
                Reason.CATALOG_UNREACHABLE, f"cannot fetch {shown}: not read completely within {timeout:g} s"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _why(reason: object, timeout: float) -> str:
    """A failure to connect or read, as a short sentence."""
    if isinstance(reason, socket.gaierror):
        return f"the host name does not resolve ({reason.strerror})"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({reason.verify_message})"
    if isinstance(reason, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return f"the connection closed before the answer was complete ({type(reason).__name__})"
    return str(reason) or type(reason).__name__


def read_config_map(api: client.ApiClient, namespace: str, name: str, key: str) -> bytes:
    """The bytes under `key` of the ConfigMap, in its data or its binaryData."""
    where = f"ConfigMap {namespace}/{name}"
    try:
        config_map = k8s.get(api, "v1", "ConfigMap", namespace, name)
    except k8s.ApiError as error:
        raise CatalogUnavailable(
            Reason.CATALOG_UNREACHABLE, f"cannot read {where}: {error.message}"
        ) from None
    if config_map is None:
        raise CatalogUnavailable(Reason.CONFIG_MAP_NOT_FOUND, f"{where} does not exist")
    text = (config_map.get("data") or {}).get(key)
    if isinstance(text, str):
        return text.encode()
    encoded = (config_map.get("binaryData") or {}).get(key)
    if isinstance(encoded, str):
        return base64.b64decode(encoded)
    keys = sorted({*(config_map.get("data") or {}), *(config_map.get("binaryData") or {})})
    shown = ", ".join(keys[:10]) + (", ..." if len(keys) > 10 else "") if keys else "none"
    raise CatalogUnavailable(Reason.CONFIG_MAP_NOT_FOUND, f"{where} has no key {key} (its keys: {shown})")

"""Reading a catalog from a URL (`catalog.fetch`), against the harness's static server in a thread of
this process: conditional requests and 304, errors with the status and the URL, redirects, the size
cap, the time limit, and no credential in any message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudron_operator.catalog.cache import CatalogUnavailable
from cloudron_operator.catalog.fetch import Validators, fetch_url, shown_url
from cloudron_operator.models.conditions import Reason
from tests.harness.catalog_server import CatalogServer, etag_of

pytestmark = pytest.mark.unit

CATALOG = b'{"stable": true, "versions": {}}'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CatalogServer]:
    served = CatalogServer(tmp_path / "catalogs")
    served.start()
    served.publish("c.json", CATALOG)
    yield served
    served.stop()


def _refused(url: str, **options: object) -> CatalogUnavailable:
    with pytest.raises(CatalogUnavailable) as refused:
        fetch_url(url, **options)  # type: ignore[arg-type]
    return refused.value


def test_a_first_read_is_unconditional_and_keeps_the_validators(server: CatalogServer) -> None:
    fetched = fetch_url(server.url("c.json"))
    assert fetched.data == CATALOG
    assert fetched.validators.etag == etag_of(CATALOG)
    assert fetched.validators.last_modified and fetched.validators.last_modified.endswith(" GMT")
    (request,) = server.requests("c.json")
    assert (request.status, request.conditional) == (200, False)


def test_a_read_with_the_validators_is_answered_304_and_brings_no_bytes(server: CatalogServer) -> None:
    first = fetch_url(server.url("c.json"))
    again = fetch_url(server.url("c.json"), first.validators)
    assert again.data is None and again.validators == first.validators
    request = server.requests("c.json")[-1]
    assert request.status == 304
    assert (request.if_none_match, request.if_modified_since) == (
        first.validators.etag,
        first.validators.last_modified,
    )


def test_if_modified_since_alone_is_enough(server: CatalogServer) -> None:
    first = fetch_url(server.url("c.json"))
    again = fetch_url(server.url("c.json"), Validators(last_modified=first.validators.last_modified))
    assert again.data is None
    assert server.requests("c.json")[-1].if_none_match is None


def test_changed_content_comes_whole_with_new_validators(server: CatalogServer) -> None:
    first = fetch_url(server.url("c.json"))
    server.publish("c.json", CATALOG + b"\n")
    again = fetch_url(server.url("c.json"), first.validators)
    assert again.data == CATALOG + b"\n"
    assert again.validators.etag == etag_of(CATALOG + b"\n") != first.validators.etag


@pytest.mark.parametrize(("status", "phrase"), [(404, "Not Found"), (500, "Internal Server Error")])
def test_an_error_status_says_the_status_and_the_url(server: CatalogServer, status: int, phrase: str) -> None:
    server.fail("c.json", status)
    problem = _refused(server.url("c.json"))
    assert problem.reason == Reason.CATALOG_UNREACHABLE
    assert problem.message == f"{server.url('c.json')} answered HTTP {status} {phrase}"


def test_a_missing_file_is_a_404(server: CatalogServer) -> None:
    assert "answered HTTP 404" in _refused(server.url("nothing.json")).message


def test_redirects_are_followed_with_the_conditions(server: CatalogServer) -> None:
    first = fetch_url(server.url("c.json"))
    server.redirect("moved.json", "/c.json")
    assert fetch_url(server.url("moved.json")).data == CATALOG
    assert fetch_url(server.url("moved.json"), first.validators).data is None
    assert [r.status for r in server.requests()[-2:]] == [302, 304]


def test_a_redirect_to_another_scheme_is_refused(server: CatalogServer) -> None:
    server.redirect("moved.json", "ftp://127.0.0.1/c.json")
    problem = _refused(server.url("moved.json"))
    assert problem.reason == Reason.CATALOG_UNREACHABLE
    assert problem.message.endswith("redirected to a URL of scheme 'ftp', not http or https")


def test_a_catalog_above_the_size_cap_is_refused(server: CatalogServer) -> None:
    problem = _refused(server.url("c.json"), max_bytes=len(CATALOG) - 1)
    assert problem.reason == Reason.CATALOG_INVALID
    assert (
        problem.message
        == f"{server.url('c.json')} is larger than {len(CATALOG) - 1} bytes, the most a catalog may be"
    )
    assert fetch_url(server.url("c.json"), max_bytes=len(CATALOG)).data == CATALOG


def test_a_slow_answer_times_out(server: CatalogServer) -> None:
    server.delay("c.json", 2.0)
    problem = _refused(server.url("c.json"), timeout=0.3)
    assert problem.reason == Reason.CATALOG_UNREACHABLE
    assert problem.message == f"cannot fetch {server.url('c.json')}: no answer within 0.3 s"


def test_a_stopped_server_refuses_the_connection_and_serves_again_when_started(server: CatalogServer) -> None:
    server.stop()
    problem = _refused(server.url("c.json"))
    assert (problem.reason, problem.message) == (
        Reason.CATALOG_UNREACHABLE,
        f"cannot fetch {server.url('c.json')}: connection refused",
    )
    server.start()
    assert fetch_url(server.url("c.json")).data == CATALOG


def test_a_host_that_does_not_resolve() -> None:
    problem = _refused("http://catalog.invalid/CloudronVersions.json")
    assert problem.message.startswith(
        "cannot fetch http://catalog.invalid/CloudronVersions.json: the host name does not resolve"
    )


def test_no_query_of_the_url_is_in_a_message(server: CatalogServer) -> None:
    url = f"http://127.0.0.1:{server.port}/c.json?token=t0ken"
    assert fetch_url(url).data == CATALOG
    server.fail("c.json", 403)
    message = _refused(url).message
    assert message == f"http://127.0.0.1:{server.port}/c.json?... answered HTTP 403 Forbidden"
    assert "t0ken" not in message


def test_shown_url() -> None:
    assert shown_url("https://u:p@example.com:8443/a/b.json?x=1#f") == "https://example.com:8443/a/b.json?..."
    assert shown_url("https://example.com/a.json") == "https://example.com/a.json"

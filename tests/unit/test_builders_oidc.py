"""The client an app with the oidc addon gets: redirect URIs from loginRedirectUri (paths on every
host, own-scheme URIs as written, nothing else), post-logout, the algorithm, and what differs."""

from __future__ import annotations

import pytest

from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.oidc import (
    APP_UID_KEY,
    SECRET_FINGERPRINT_KEY,
    ClientProblem,
    desired_client,
    redirect_uris,
    secret_fingerprint,
)

pytestmark = pytest.mark.unit
WIKI = AppIdentity("wiki", "team", "0c9b-uid")
HOSTS = ["wiki.example.com", "docs.example.com"]


def test_each_path_is_on_every_host_and_own_schemes_are_taken_as_written() -> None:
    assert redirect_uris(HOSTS, "/callback") == (
        "https://wiki.example.com/callback",
        "https://docs.example.com/callback",
    )
    assert redirect_uris(["a.example.com"], " /cb , app.immich:/ ,/api/cb?x=1,/cb") == (
        "https://a.example.com/cb",
        "app.immich:/",
        "https://a.example.com/api/cb?x=1",
    ), "a comma list, spaces trimmed, each once"
    assert redirect_uris(["a.example.com"], "com.example.app:/oauth2redirect") == (
        "com.example.app:/oauth2redirect",
    )


@pytest.mark.parametrize(
    "bad",
    [
        "https://evil.example.net/cb",
        "http://a.example.com/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "callback",
        "//evil.example.net/cb",
        "/cb#fragment",
        "/c b",
        "",
        " , ",
    ],
)
def test_anything_that_could_send_a_code_elsewhere_is_refused(bad: str) -> None:
    with pytest.raises(ClientProblem, match="loginRedirectUri"):
        redirect_uris(["a.example.com"], bad)


def test_the_client_carries_the_apps_identity_and_follows_its_options() -> None:
    client = desired_client(
        WIKI, "The Wiki", HOSTS, {"loginRedirectUri": "/cb", "logoutRedirectUri": "/"}, "s3cret"
    )
    body = client.body("s3cret")
    assert body["client_id"] == "0c9b-uid" and body["client_secret"] == "s3cret"
    assert body["post_logout_redirect_uris"] == ["https://wiki.example.com/", "https://docs.example.com/"]
    assert body["grant_types"] == ["authorization_code", "refresh_token"] and body["response_types"] == [
        "code"
    ]
    assert body["metadata"][APP_UID_KEY] == "0c9b-uid"
    assert body["metadata"][SECRET_FINGERPRINT_KEY] == secret_fingerprint("s3cret") != "s3cret"
    assert client.signature_algorithm == "RS256", "Cloudron's default"
    eddsa = desired_client(
        WIKI, "W", HOSTS, {"loginRedirectUri": "/cb", "tokenSignatureAlgorithm": "EdDSA"}, "s"
    )
    assert eddsa.signature_algorithm == "EdDSA" and eddsa.post_logout_redirect_uris == ()
    for options, why in (
        ({}, "required"),
        ({"loginRedirectUri": "/cb", "logoutRedirectUri": "https://evil.example.net/"}, "logoutRedirectUri"),
        ({"loginRedirectUri": "/cb", "tokenSignatureAlgorithm": "HS256"}, "RS256, EdDSA"),
    ):
        with pytest.raises(ClientProblem, match=why):
            desired_client(WIKI, "W", HOSTS, options, "s")


def test_what_the_provider_holds_is_compared_field_by_field_and_the_secret_by_its_fingerprint() -> None:
    client = desired_client(WIKI, "The Wiki", HOSTS, {"loginRedirectUri": "/cb"}, "s3cret")
    held = {**client.body("s3cret"), "client_secret": "", "created_at": "2026-12-03T00:00:00Z"}
    held["redirect_uris"] = list(reversed(held["redirect_uris"]))
    assert client.differs_from(held, "s3cret") == [], "order and fields the provider adds do not count"
    assert client.differs_from({**held, "redirect_uris": ["https://wiki.example.com/cb"]}, "s3cret") == [
        "redirect_uris"
    ]
    renewed = desired_client(WIKI, "The Wiki", HOSTS, {"loginRedirectUri": "/cb"}, "new-secret")
    assert renewed.differs_from(held, "new-secret") == ["metadata"], "a new secret shows in the fingerprint"

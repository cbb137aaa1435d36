"""The proxyAuth wall's pure parts: which paths skip it, its oauth2-proxy configuration, and that the
app's own container never gets the wall's credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
import yaml

from cloudron_operator.builders import desired_children
from cloudron_operator.builders.proxy_auth import (
    AUTH_CONTAINER,
    ProxyAuthProblem,
    alpha_config,
    proxy_auth_on,
    skip_auth_routes,
)
from tests.builder_cases import BASE_MANIFEST, CONFIG, identity, manifest_of, spec

pytestmark = pytest.mark.unit


def skipped(options: Mapping[str, object], path: str) -> bool:
    """Whether oauth2-proxy lets `path` through without a session (its rule: `!=` negates)."""
    for route in skip_auth_routes(options):
        negated = route.startswith("!=")
        found = re.search(route.removeprefix("!="), path) is not None
        if found != negated:
            return True
    return False


def test_path_protects_only_its_prefix_and_a_bang_protects_all_but_it() -> None:
    assert skip_auth_routes({}) == ["^/login$", "^/logout$"]
    only = {"path": "/dashboard"}
    assert not skipped(only, "/dashboard") and not skipped(only, "/dashboard/x")
    assert skipped(only, "/") and skipped(only, "/collections"), "outside the prefix: no wall"
    but = {"path": "!/public"}
    assert skipped(but, "/public/x") and not skipped(but, "/") and not skipped(but, "/admin")
    dotted = {"path": "/a.b"}
    assert not skipped(dotted, "/a.b") and skipped(dotted, "/aXb"), "the path is escaped, not a pattern"
    for bad in ("admin", "/a,b", "/a b", 7):
        with pytest.raises(ProxyAuthProblem, match="path"):
            skip_auth_routes({"path": bad})


def test_the_configuration_sends_signed_in_requests_to_the_app_with_the_users_identity() -> None:
    config = yaml.safe_load(
        alpha_config(
            upstream_port=6333, issuer="https://login.example.com/", client="uid-proxyauth", secret="s"
        )
    )
    provider = config["providers"][0]
    assert (provider["clientID"], provider["clientSecret"]) == ("uid-proxyauth", "s")
    assert provider["oidcConfig"]["issuerURL"] == "https://login.example.com/"
    assert provider["code_challenge_method"] == "S256"
    upstreams = {u["id"]: u for u in config["upstreamConfig"]["upstreams"]}
    assert upstreams["app"]["uri"] == "http://127.0.0.1:6333/"
    assert upstreams["logout"]["rewriteTarget"] == (
        "/oauth2/sign_out?rd=https%3A%2F%2Flogin.example.com%2Foauth2%2Fsessions%2Flogout"
    )
    headers = {h["name"]: h["values"][0]["claimSource"]["claim"] for h in config["injectRequestHeaders"]}
    assert headers["X-Forwarded-User"] == "preferred_username" and headers["X-Forwarded-Email"] == "email"


def test_the_wall_stands_only_with_single_sign_on_and_its_secret_stays_out_of_the_app() -> None:
    manifest = {**BASE_MANIFEST, "optionalSso": True, "addons": {"proxyAuth": {}}}
    on = spec(manifest)
    secrets = {"wiki-proxyauth": {"PROXY_AUTH_CONFIG": "eA=="}}
    children = {c["kind"]: c for c in desired_children(identity(), on, manifest_of(on), CONFIG, secrets)}
    pod = children["Deployment"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["app", AUTH_CONTAINER]
    assert "envFrom" not in pod["containers"][0], "the wall's credentials are not the app's"
    assert children["Service"]["spec"]["ports"][0]["targetPort"] == "http-auth"
    off = spec(manifest, sso=False)
    assert not proxy_auth_on(off, manifest_of(off))
    pod = next(
        c
        for c in desired_children(identity(), off, manifest_of(off), CONFIG, {})
        if c["kind"] == "Deployment"
    )
    assert [c["name"] for c in pod["spec"]["template"]["spec"]["containers"]] == ["app"]

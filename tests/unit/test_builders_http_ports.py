"""The manifest's httpPorts: each service on its host, routed, covered by the certificate, admitted
by the NetworkPolicy and told to the app."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.builders import InvalidSpec, check_spec, desired_children
from cloudron_operator.builders.http_ports import default_host, location_and_zone
from tests.builder_cases import BASE_MANIFEST, CONFIG, identity, manifest_of, spec

pytestmark = pytest.mark.unit

MANIFEST = {
    **BASE_MANIFEST,
    "httpPorts": {
        "BLOB_DOMAIN": {
            "title": "Blobs",
            "description": "S3 endpoint",
            "containerPort": 9100,
            "defaultValue": "blob",
        },
        "ADMIN_DOMAIN": {"title": "Admin", "description": "Admin console", "containerPort": 9200},
    },
}
ALIASABLE = {
    **MANIFEST,
    "httpPorts": {
        **MANIFEST["httpPorts"],
        "BLOB_DOMAIN": {**MANIFEST["httpPorts"]["BLOB_DOMAIN"], "aliasableDomain": True},
    },
}


def _children(**fields: Any) -> dict[tuple[str, str], dict[str, Any]]:
    app_spec = spec(MANIFEST, **fields)
    children = desired_children(identity(), app_spec, manifest_of(app_spec), CONFIG, {})
    return {(child["kind"], child["metadata"]["name"]): child for child in children}


def test_each_service_is_routed_on_its_host_with_tls_and_told_to_the_app() -> None:
    children = _children(httpPorts={"ADMIN_DOMAIN": "console.example.org"})
    ingress = children[("Ingress", "wiki")]["spec"]
    rules = {rule["host"]: rule["http"]["paths"][0]["backend"]["service"] for rule in ingress["rules"]}
    assert rules == {
        "wiki.example.com": {"name": "wiki", "port": {"name": "http"}},
        "blob.example.com": {"name": "wiki", "port": {"name": "http-9100"}},  # the suggested subdomain
        "console.example.org": {"name": "wiki", "port": {"name": "http-9200"}},
    }
    assert ingress["tls"][0]["hosts"] == ["wiki.example.com", "blob.example.com", "console.example.org"]
    certificate = children[("Certificate", "wiki-tls")]["spec"]
    assert {"blob.example.com", "console.example.org"} <= set(certificate["dnsNames"])
    service_ports = {
        port["name"]: port["targetPort"] for port in children[("Service", "wiki")]["spec"]["ports"]
    }
    assert service_ports == {"http": "http", "http-9100": 9100, "http-9200": 9200}
    policy = children[("NetworkPolicy", "wiki")]["spec"]["ingress"][0]["ports"]
    assert [port["port"] for port in policy] == [8000, 9100, 9200]
    (container,) = children[("Deployment", "wiki")]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert (env["BLOB_DOMAIN"], env["ADMIN_DOMAIN"]) == ("blob.example.com", "console.example.org")
    assert {port["containerPort"] for port in container["ports"]} == {8000, 9100, 9200}


def test_an_app_on_a_bare_domain_has_no_location() -> None:
    assert location_and_zone("example.com") == ("", "example.com")
    assert location_and_zone("git.example.com") == ("git", "example.com")


@pytest.mark.parametrize(
    ("domain", "suggestion", "host"),
    [
        ("git.example.com", "registry", "registry.example.com"),
        ("git.team.example.com", "Registry", "registry.team.example.com"),
        ("example.com", "registry", "registry.example.com"),  # no subdomain to replace
    ],
)
def test_the_default_host_is_the_suggested_subdomain_in_the_apps_domain(
    domain: str, suggestion: str, host: str
) -> None:
    assert default_host(domain, suggestion) == host


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {},
            "spec.httpPorts.ADMIN_DOMAIN: the app's manifest suggests no usable host for this service "
            "(no defaultValue); give it one in spec.httpPorts.ADMIN_DOMAIN",
        ),
        (
            {"httpPorts": {"ADMIN_DOMAIN": "console.example.org", "OTHER": "other.example.org"}},
            "spec.httpPorts.OTHER: the app's manifest declares no httpPorts service of that name "
            "(its services: BLOB_DOMAIN, ADMIN_DOMAIN); remove OTHER from spec.httpPorts",
        ),
        (
            {"httpPorts": {"ADMIN_DOMAIN": "wiki.example.com"}},
            "spec.httpPorts.ADMIN_DOMAIN: wiki.example.com is already another of the app's hosts; "
            "give the service a host of its own",
        ),
    ],
)
def test_a_service_without_a_host_of_its_own_is_refused_saying_what_to_set(
    fields: dict[str, Any], message: str
) -> None:
    app_spec = spec(MANIFEST, **fields)
    with pytest.raises(InvalidSpec) as raised:
        check_spec(app_spec, manifest_of(app_spec))
    assert raised.value.problems == (message,)


def test_the_services_variables_are_the_platforms() -> None:
    app_spec = spec(MANIFEST, httpPorts={"ADMIN_DOMAIN": "console.example.org"}, env={"BLOB_DOMAIN": "x"})
    with pytest.raises(InvalidSpec, match=r"^spec\.env\.BLOB_DOMAIN: the operator sets this variable"):
        check_spec(app_spec, manifest_of(app_spec))


def test_an_aliasable_service_is_served_and_certified_on_its_aliases_too() -> None:
    app_spec = spec(
        ALIASABLE,
        httpPorts={"ADMIN_DOMAIN": "console.example.org"},
        httpPortAliases={"BLOB_DOMAIN": ["*.blob.example.com", "s3.example.org"]},
    )
    check_spec(app_spec, manifest_of(app_spec))
    children = {
        (child["kind"], child["metadata"]["name"]): child
        for child in desired_children(identity(), app_spec, manifest_of(app_spec), CONFIG, {})
    }
    ingress = children[("Ingress", "wiki")]["spec"]
    rules = {
        rule["host"]: rule["http"]["paths"][0]["backend"]["service"]["port"] for rule in ingress["rules"]
    }
    assert rules["*.blob.example.com"] == rules["s3.example.org"] == {"name": "http-9100"}
    assert {"*.blob.example.com", "s3.example.org"} <= set(ingress["tls"][0]["hosts"])
    assert {"*.blob.example.com", "s3.example.org"} <= set(
        children[("Certificate", "wiki-tls")]["spec"]["dnsNames"]
    )


@pytest.mark.parametrize(
    ("manifest", "aliases", "message"),
    [
        (
            MANIFEST,
            {"BLOB_DOMAIN": ["s3.example.org"]},
            "spec.httpPortAliases.BLOB_DOMAIN: the manifest's httpPorts.BLOB_DOMAIN does not accept alias "
            "domains (no aliasableDomain); remove its aliases, or redirect those hosts elsewhere",
        ),
        (
            ALIASABLE,
            {"S3_DOMAIN": ["s3.example.org"]},
            "spec.httpPortAliases.S3_DOMAIN: the app's manifest declares no httpPorts service of that name "
            "(its services: BLOB_DOMAIN, ADMIN_DOMAIN); remove S3_DOMAIN from spec.httpPortAliases",
        ),
        (
            ALIASABLE,
            {"BLOB_DOMAIN": ["wiki.example.com"]},
            "spec.httpPortAliases: wiki.example.com is already another of the app's hosts; "
            "give each host one use",
        ),
    ],
)
def test_aliases_a_service_cannot_have_are_refused(
    manifest: dict[str, Any], aliases: dict[str, list[str]], message: str
) -> None:
    app_spec = spec(manifest, httpPorts={"ADMIN_DOMAIN": "console.example.org"}, httpPortAliases=aliases)
    with pytest.raises(InvalidSpec) as raised:
        check_spec(app_spec, manifest_of(app_spec))
    assert raised.value.problems == (message,)

"""Every object the builders make for real apps, against reviewed YAML in tests/data/golden.

A difference fails with a diff. When it is intended, rewrite the files with
`UPDATE_GOLDEN=1 pytest tests/unit/test_builders_golden.py` and review them: they are the spec.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudron_operator.builders import desired_children
from cloudron_operator.config import OperatorConfig
from tests.builder_cases import CONFIG, corpus_manifest, identity, manifest_of, spec
from tests.paths import TEST_DATA

pytestmark = pytest.mark.unit

GOLDEN = TEST_DATA / "golden"
HEADER = "# Written by tests/unit/test_builders_golden.py (UPDATE_GOLDEN=1); reviewed by hand.\n"


@dataclass(frozen=True)
class GoldenApp:
    name: str
    manifest_file: str
    spec: dict[str, Any]
    addon_secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    config: OperatorConfig = CONFIG


APPS = [
    # manifestVersion 1: un-prefixed variables; a TCP port on its defaultValue; localstorage, kept
    # when the app is deleted.
    GoldenApp(
        "znc",
        "sscotth__cloudron-znc__CloudronManifest.json",
        {
            "domain": "irc.example.com",
            "storage": {"size": "5Gi", "storageClassName": "fast-ssd", "whenDeleted": "Retain"},
        },
    ),
    # postgresql + redis Secrets, memory raised above the manifest's 3 GiB, a redirect host, custom env,
    # an image from a private registry.
    GoldenApp(
        "chatwoot",
        "chatwoot__cloudron-chatwoot__CloudronManifest.json",
        {
            "domain": "support.example.com",
            "imagePullSecrets": [{"name": "registry-example-com"}],
            "redirects": ["chat.example.com"],
            "memoryLimit": "4Gi",
            "env": {"RAILS_MAX_THREADS": "5", "DEFAULT_LOCALE": "de"},
        },
        addon_secrets={
            "chatwoot-postgresql": {"CLOUDRON_POSTGRESQL_PASSWORD": "cGFzcw=="},
            "chatwoot-redis": {"CLOUDRON_REDIS_PASSWORD": "c2VjcmV0"},
        },
    ),
    # proxyAuth with path and supportsBearerAuth: the wall (oauth2-proxy) beside the app, the Service
    # and NetworkPolicy to the wall's port only, the wall's Secret kept from the app's env.
    GoldenApp(
        "qdrant",
        "OrcVole__qdrant-cloudron__CloudronManifest.json",
        {"domain": "vectors.example.com"},
        addon_secrets={
            "qdrant-proxyauth": {
                "PROXY_AUTH_CONFIG": "c2VydmVyOiB7fQ==",
                "OAUTH2_PROXY_COOKIE_SECRET": "Y29va2ll",
            }
        },
    ),
    # runtimeDirs seeded from the image by an init container.
    GoldenApp(
        "nodebb",
        "CongDanhTran__Nodebbcloud__CloudronManifest.json",
        {"domain": "forum.example.com"},
        addon_secrets={"nodebb-mongodb": {"CLOUDRON_MONGODB_PASSWORD": "bW9uZ28="}},
    ),
    # multiDomain: aliases (one wildcard) and redirects; one port moved, one disabled; the tls addon.
    GoldenApp(
        "prosody",
        "OrcVole__prosody-cloudron__CloudronManifest.json",
        {
            "domain": "xmpp.example.com",
            "aliases": ["conference.example.com", "*.muc.example.com"],
            "redirects": ["jabber.example.com", "chat.example.org"],
            "ports": {"C2S_PORT": 15222, "S2S_PORT": None},
        },
    ),
    # Cloudron 9.1's persistentDirs: a second volume, seeded from the image at the first start only.
    GoldenApp(
        "windmill",
        "OrcVole__windmill-cloudron__CloudronManifest.json",
        {"domain": "windmill.example.com", "storage": {"persistentDirsSize": "20Gi"}},
    ),
    # httpPorts: a second HTTP service on the suggested subdomain, in the Ingress, Certificate, Service
    # and NetworkPolicy; two persistentDirs.
    GoldenApp(
        "langfuse",
        "OrcVole__langfuse-cloudron__CloudronManifest.json",
        {"domain": "langfuse.example.com"},
    ),
    # routing=gateway with ListenerSets on a shared Gateway: an HTTPS listener per host (the wildcard
    # alias too), the domain's and aliases' HTTPRoute, the redirect hosts' 302 route; no Ingress.
    GoldenApp(
        "prosody-gateway",
        "OrcVole__prosody-cloudron__CloudronManifest.json",
        {
            "domain": "xmpp.example.com",
            "aliases": ["conference.example.com", "*.muc.example.com"],
            "redirects": ["jabber.example.com"],
        },
        config=CONFIG.model_copy(update={"routing": "gateway", "gateway": "gateway-system/shared"}),
    ),
    # routing=gateway with a Gateway of the app's own (Traefik): the httpPorts service's route.
    GoldenApp(
        "langfuse-gateway",
        "OrcVole__langfuse-cloudron__CloudronManifest.json",
        {"domain": "langfuse.example.com"},
        config=CONFIG.model_copy(
            update={
                "routing": "gateway",
                "gateway_listeners": "Gateway",
                "gateway_class": "traefik",
                "gateway_https_port": 8443,
            }
        ),
    ),
    # The least an app can be: no addons, no ports; the operator's default configuration.
    GoldenApp(
        "astro",
        "Neuroconversio__astro-ssr__CloudronManifest.json",
        {"domain": "www.example.com"},
        config=OperatorConfig(),
    ),
]


class GoldenDumper(yaml.SafeDumper):
    """Block style for multi-line strings (scripts), so they read as they run."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


GoldenDumper.add_representer(str, _string)


def render(app: GoldenApp) -> str:
    app_spec = spec(corpus_manifest(app.manifest_file), **app.spec)
    children = desired_children(
        identity(app.name), app_spec, manifest_of(app_spec), app.config, app.addon_secrets
    )
    return HEADER + yaml.dump_all(children, Dumper=GoldenDumper, sort_keys=False, width=110)


@pytest.mark.parametrize("app", APPS, ids=[app.name for app in APPS])
def test_children_match_the_golden_file(app: GoldenApp) -> None:
    path = GOLDEN / f"{app.name}.yaml"
    actual = render(app)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual != expected:
        pytest.fail(
            f"{_relative(path)} differs (UPDATE_GOLDEN=1 rewrites it):\n{_diff(expected, actual, path)}"
        )


def test_every_golden_file_belongs_to_an_app() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.yaml")) == sorted(app.name for app in APPS)


def _diff(expected: str, actual: str, path: Path) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True), str(path.name), "built"
    )
    return "".join(lines)


def _relative(path: Path) -> str:
    return str(path.relative_to(TEST_DATA.parent.parent))

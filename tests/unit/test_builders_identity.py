"""Child names, labels and the owner reference."""

from __future__ import annotations

import re

import pytest

from cloudron_operator.builders import app_label_value, child_name, desired_children, tls_name
from cloudron_operator.builders.identity import (
    DATA_SUFFIX,
    PORTS_SUFFIX,
    REDIRECTS_SUFFIX,
    TLS_SUFFIX,
    apps_sharing_child_names,
    common_labels,
    owner_reference,
)
from cloudron_operator.builders.redis import RedisOptions, build_redis_children
from cloudron_operator.builders.secrets import addon_secret_name
from tests.builder_cases import BASE_MANIFEST, CONFIG, PORT, UID, identity, manifest_of, spec

pytestmark = pytest.mark.unit

SUFFIXES = ("", DATA_SUFFIX, PORTS_SUFFIX, REDIRECTS_SUFFIX, TLS_SUFFIX)
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
LONG_NAME = "a-very-long-application-name-that-a-team-chose-for-its-internal-wiki"


def test_a_short_name_is_kept() -> None:
    assert [child_name("wiki", suffix) for suffix in SUFFIXES] == [
        "wiki",
        "wiki-data",
        "wiki-ports",
        "wiki-redirects",
        "wiki-tls",
    ]
    assert tls_name("wiki") == "wiki-tls"


@pytest.mark.parametrize("app_name", [LONG_NAME, "wiki.team-a", "2048-game", "1.2.3", "x" * 253])
def test_every_child_name_is_a_dns_label_sharing_one_base(app_name: str) -> None:
    names = [child_name(app_name, suffix) for suffix in SUFFIXES]
    assert all(DNS_1035_LABEL.fullmatch(name) for name in names), names
    assert all(name == names[0] + suffix for name, suffix in zip(names, SUFFIXES, strict=True))


def test_a_shortened_name_keeps_its_start_and_is_stable() -> None:
    name = child_name(LONG_NAME)
    assert name.startswith("a-very-long-application-name")
    assert child_name(LONG_NAME) == name
    assert len(name + REDIRECTS_SUFFIX) <= 63


def test_names_that_would_shorten_alike_stay_apart() -> None:
    assert child_name(LONG_NAME + "-one") != child_name(LONG_NAME + "-two")
    assert child_name("wiki.team-a") != child_name("wiki-team-a")


def test_the_app_label_is_the_app_name_up_to_63_characters() -> None:
    assert app_label_value("wiki.team-a") == "wiki.team-a"
    assert app_label_value("x" * 63) == "x" * 63
    assert app_label_value("x" * 64) == child_name("x" * 64)


def test_labels_say_which_app_and_who_manages_it() -> None:
    assert common_labels(identity("wiki")) == {
        "app.kubernetes.io/name": "cloudron-app",
        "app.kubernetes.io/instance": "wiki",
        "app.kubernetes.io/managed-by": "cloudron-operator",
        "cloudron.io/app": "wiki",
    }


def test_the_app_is_the_controlling_owner() -> None:
    assert owner_reference(identity("wiki")) == {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "name": "wiki",
        "uid": UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def every_child(name: str) -> set[tuple[str, str]]:
    """(kind, name) of every object an app of that name can have: all features, every addon."""
    manifest = {
        **BASE_MANIFEST,
        "addons": {
            addon: {} for addon in ("localstorage", "postgresql", "mysql", "redis", "sendmail", "tls")
        },
        "tcpPorts": {"SSH_PORT": {**PORT, "defaultValue": 2222}},
    }
    app_spec = spec(manifest, redirects=["old.example.com"])
    app = identity(name)
    addon_secrets: dict[str, dict[str, str]] = {
        addon_secret_name(name, addon): {} for addon in ("postgresql", "mysql", "redis", "sendmail")
    }
    children = desired_children(app, app_spec, manifest_of(app_spec), CONFIG, addon_secrets)
    children += build_redis_children(
        app,
        RedisOptions(),
        secret_name=addon_secret_name(name, "redis"),
        password_key="CLOUDRON_REDIS_PASSWORD",
        password="pw",
        app_memory=256 * 1024**2,
        running=True,
    )
    found = {(child["kind"], child["metadata"]["name"]) for child in children}
    found |= {("Secret", secret) for secret in addon_secrets} | {("Secret", tls_name(name))}  # cert-manager's
    return found


APP_NAMES = [
    "wiki",
    "wiki-redis",
    "wiki-ports",
    "wiki-redirects",
    "wiki-data",
    "wiki-tls",
    "wiki-postgresql",
    "wiki-redis-data",
    "wikiredis",
    "redis",
    "a" * 50,
    "a" * 50 + "-redis",
    "a" * 47 + "-redis",
    LONG_NAME,
    LONG_NAME + "-ports",
]


@pytest.mark.parametrize("first", APP_NAMES)
def test_two_apps_share_a_child_name_exactly_when_they_are_named_as_sharing(first: str) -> None:
    """Checked on every object the builders make, so a child added later with a new suffix counts."""
    for second in APP_NAMES:
        if second == first:
            continue
        shared = every_child(first) & every_child(second)
        assert bool(shared) == (second in apps_sharing_child_names(first)), (first, second, shared)

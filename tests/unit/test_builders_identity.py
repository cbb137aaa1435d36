"""Child names, labels and the owner reference."""

from __future__ import annotations

import re

import pytest

from cloudron_operator.builders import app_label_value, child_name, tls_name
from cloudron_operator.builders.identity import (
    DATA_SUFFIX,
    PORTS_SUFFIX,
    REDIRECTS_SUFFIX,
    TLS_SUFFIX,
    common_labels,
    owner_reference,
)
from tests.builder_cases import UID, identity

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

"""kubectl-cloudron's builders: the CloudronApp and CloudronBackup bodies, the patches and the names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloudron_operator.plugin.objects import (
    AppReference,
    UsageError,
    app_body,
    backup_body,
    backup_name,
    default_app_name,
    dns_label,
    parse_app_reference,
    restore_patch,
    version_patch,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("org.wikijs.cloudronapp", AppReference("org.wikijs.cloudronapp")),
        ("org.wikijs.cloudronapp@2.5.300", AppReference("org.wikijs.cloudronapp", "2.5.300")),
        ("io.gitea@1.22.0-rc.1+build", AppReference("io.gitea", "1.22.0-rc.1+build")),
    ],
)
def test_an_app_reference_is_an_id_with_an_optional_version(text: str, reference: AppReference) -> None:
    assert parse_app_reference(text) == reference


@pytest.mark.parametrize("text", ["", "@1.0.0", "org.wikijs.cloudronapp@"])
def test_an_app_reference_without_id_or_with_an_empty_version_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_app_reference(text)


@pytest.mark.parametrize(
    ("app_id", "name"),
    [
        ("org.wikijs.cloudronapp", "wikijs"),  # the generic last part says nothing: the one before it
        ("io.gitea.cloudronapp", "gitea"),
        ("cloudron.owncast.app", "owncast"),
        ("com.github.chatwoot", "chatwoot"),
        ("de.jfilter.ihatemoney", "ihatemoney"),
        ("io.github.bstrana.Game_Streamer", "game-streamer"),
        ("com.example.7zip", "app-7zip"),  # a DNS-1035 label starts with a letter
        ("cloudronapp", "cloudronapp"),  # nothing else to take
        ("org.x." + "a" * 80, "a" * 63),
    ],
)
def test_the_default_name_is_the_last_telling_part_of_the_id_as_a_dns_label(app_id: str, name: str) -> None:
    assert default_app_name(app_id) == name


def test_a_dns_label_of_nothing_usable_is_app() -> None:
    assert dns_label("...___") == "app"
    assert dns_label("-Wiki.JS-") == "wiki-js"


def test_the_app_body_names_the_catalog_package_and_only_what_was_asked_for() -> None:
    body = app_body(
        name="wikijs",
        namespace="apps",
        domain="wiki.example.com",
        catalog="community",
        app_id="org.wikijs.cloudronapp",
    )
    assert body == {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": "wikijs", "namespace": "apps"},
        "spec": {
            "domain": "wiki.example.com",
            "source": {"catalog": "community", "appId": "org.wikijs.cloudronapp"},
        },
    }


def test_the_app_body_carries_the_version_update_policy_and_backup_store_when_given() -> None:
    body = app_body(
        name="wiki",
        namespace="apps",
        domain="wiki.example.com",
        catalog="community",
        app_id="org.wikijs.cloudronapp",
        version="2.5.300",
        health_timeout="15m",
        backup_store="offsite",
    )
    assert body["spec"]["source"] == {
        "catalog": "community",
        "appId": "org.wikijs.cloudronapp",
        "version": "2.5.300",
    }
    assert body["spec"]["updatePolicy"] == {"healthTimeout": "15m"}
    assert body["spec"]["backup"] == {"store": "offsite"}
    automatic = app_body(
        name="w", namespace="a", domain="w.example.com", catalog="c", app_id="x.y", automatic_updates=True
    )
    assert automatic["spec"]["updatePolicy"] == {"automatic": True}
    windowed = app_body(
        name="w",
        namespace="a",
        domain="w.example.com",
        catalog="c",
        app_id="x.y",
        automatic_updates=True,
        update_schedule="30 1 * * *",
        update_window="2h",
    )
    assert windowed["spec"]["updatePolicy"] == {"automatic": True, "schedule": "30 1 * * *", "window": "2h"}


def test_a_backup_is_named_after_the_app_and_the_utc_time() -> None:
    at = datetime(2026, 12, 3, 11, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert backup_name("wiki", at) == "wiki-20261203-100405"


def test_a_long_app_name_is_cut_so_the_backup_name_fits_63_characters() -> None:
    at = datetime(2026, 12, 3, 10, 4, 5, tzinfo=UTC)
    assert backup_name("a" * 63, at) == "a" * 47 + "-20261203-100405"
    assert len(backup_name("a" * 63, at)) == 63
    # A cut that ends at a '-' drops it: the name never has two in a row.
    assert backup_name("a" * 46 + "-" + "b" * 16, at) == "a" * 46 + "-20261203-100405"


def test_the_backup_body_is_a_manual_backup_to_the_store() -> None:
    assert backup_body(name="wiki-20261203-100405", namespace="apps", app="wiki", store="offsite") == {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronBackup",
        "metadata": {"name": "wiki-20261203-100405", "namespace": "apps"},
        "spec": {"app": "wiki", "store": "offsite", "reason": "manual"},
    }


def test_update_and_restore_are_merge_patches_of_one_field() -> None:
    assert version_patch("2.5.301") == {"spec": {"source": {"version": "2.5.301"}}}
    assert restore_patch("wiki-20261203-100405") == {
        "spec": {"restoreFrom": {"backup": "wiki-20261203-100405"}}
    }

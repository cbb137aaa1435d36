"""The addon Secrets and the app's own Redis, built purely from the app and the credentials."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from cloudron_operator.builders.redis import (
    DEFAULT_IMAGE,
    LARGE_APP_MEMORY,
    SMALL_APP_MEMORY,
    RedisOptions,
    build_redis_children,
    redis_env,
    redis_memory,
)
from cloudron_operator.builders.secrets import (
    addon_env_names,
    addon_secret_name,
    build_addon_secret,
    secret_values,
)
from cloudron_operator.builders.sendmail import LoginsSecret, Relay, sendmail_env
from tests.builder_cases import BASE_MANIFEST, UID, identity, manifest_of, spec

pytestmark = pytest.mark.unit

ENV = {"CLOUDRON_POSTGRESQL_PASSWORD": "s3cr:t/@", "CLOUDRON_POSTGRESQL_HOST": "pg.example"}


def test_an_addon_secret_holds_the_variables_under_their_exact_names() -> None:
    secret = build_addon_secret(identity(), "postgresql", ENV)
    assert secret["metadata"]["name"] == "wiki-postgresql"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == UID
    assert secret["metadata"]["labels"]["cloudron.io/app"] == "wiki"
    assert secret_values(secret) == ENV
    assert "stringData" not in secret, (
        "data is encoded by the builder, so an unchanged Secret applies as a no-op"
    )


def test_gitops_tools_are_told_not_to_prune_or_diff_addon_secrets() -> None:
    annotations = build_addon_secret(identity(), "mysql", ENV)["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/compare-options"] == "IgnoreExtraneous"
    assert annotations["argocd.argoproj.io/sync-options"] == "Prune=false"


def test_the_same_variables_give_the_same_secret_byte_for_byte() -> None:
    reordered = dict(reversed(list(ENV.items())))
    assert build_addon_secret(identity(), "postgresql", ENV) == build_addon_secret(
        identity(), "postgresql", reordered
    )


def test_manifest_version_1_apps_read_addon_variables_without_the_prefix() -> None:
    v1 = spec({**BASE_MANIFEST, "manifestVersion": 1})
    assert addon_env_names(ENV, manifest_of(v1)) == {
        "POSTGRESQL_PASSWORD": "s3cr:t/@",
        "POSTGRESQL_HOST": "pg.example",
    }
    assert addon_env_names(ENV, manifest_of(spec())) == ENV


def test_secret_names_stay_within_the_name_limit_for_long_app_names() -> None:
    name = addon_secret_name("a" * 63, "postgresql")
    assert len(name) <= 253 and name.endswith("-postgresql")


def test_redis_env_quotes_the_password_in_the_url() -> None:
    env = redis_env(identity(), "p@ss/word")
    assert env == {
        "CLOUDRON_REDIS_URL": "redis://redisuser:p%40ss%2Fword@wiki-redis:6379",
        "CLOUDRON_REDIS_HOST": "wiki-redis",
        "CLOUDRON_REDIS_PORT": "6379",
        "CLOUDRON_REDIS_PASSWORD": "p@ss/word",
    }


def test_redis_without_password_has_no_password_variable() -> None:
    env = redis_env(identity(), None)
    assert "CLOUDRON_REDIS_PASSWORD" not in env
    assert env["CLOUDRON_REDIS_URL"] == "redis://wiki-redis:6379"


def test_redis_memory_follows_cloudrons_rule_unless_the_addon_sets_it() -> None:
    gib = 1024**3
    assert redis_memory(RedisOptions(), 2 * gib) == SMALL_APP_MEMORY
    assert redis_memory(RedisOptions(), 2 * gib + 1) == LARGE_APP_MEMORY
    assert redis_memory(RedisOptions.from_addon({"memoryLimit": "1Gi"}), 256) == gib


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"memoryLimit": "256MB"}, "options.memoryLimit: '256MB'"),
        ({"memoryLimit": True}, "options.memoryLimit: True"),
        ({"memoryLimit": 2.5}, "options.memoryLimit: 2.5"),
        ({"storageSize": "ten gigs"}, "options.storageSize: 'ten gigs'"),
    ],
)
def test_a_redis_option_that_is_not_a_byte_quantity_is_named(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named + " is not a byte quantity such as 256Mi")):
        RedisOptions.from_addon(options)


def redis_children(
    password: str | None = "pw",  # noqa: S107 - a test value
    **options: object,
) -> dict[str, Any]:
    built = build_redis_children(
        identity(),
        RedisOptions.from_addon(options),
        secret_name="wiki-redis",
        password_key="CLOUDRON_REDIS_PASSWORD" if password else None,
        password=password,
        app_memory=256 * 1024**2,
        running=True,
    )
    return {child["kind"]: child for child in built}


def test_the_apps_redis_is_reachable_only_from_the_apps_own_pods() -> None:
    policy = redis_children()["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"] == {
        "cloudron.io/app": "wiki",
        "app.kubernetes.io/component": "redis",
    }
    source = policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert source == {"cloudron.io/app": "wiki", "app.kubernetes.io/component": "app"}


def test_the_redis_password_comes_from_the_secret_not_the_pod_spec() -> None:
    deployment = redis_children(password="do-not-show")["Deployment"]
    assert "do-not-show" not in str(deployment)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ref = container["env"][0]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "wiki-redis", "key": "CLOUDRON_REDIS_PASSWORD"}
    assert "--requirepass" in container["command"][-1]


def test_redis_options_from_the_addon_reach_the_pod_and_volume() -> None:
    built = redis_children(image="registry.example.com/redis:7", storageSize="5Gi", storageClassName="fast")
    claim = built["PersistentVolumeClaim"]["spec"]
    assert claim == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "fast",
    }
    container = built["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/redis:7"
    assert (
        redis_children()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"] == DEFAULT_IMAGE
    )


def test_a_new_password_restarts_redis() -> None:
    def template_annotations(password: str) -> object:
        return redis_children(password=password)["Deployment"]["spec"]["template"]["metadata"]["annotations"]

    assert template_annotations("one") != template_annotations("two")


def test_secret_values_decode_what_the_api_server_returns() -> None:
    secret = {"data": {"KEY": base64.b64encode(b"value").decode()}}
    assert secret_values(secret) == {"KEY": "value"}
    assert secret_values(None) == {}


RELAY = Relay(host="smtp.mail.svc", port=587, username="relay", password="relay-pass")


def test_sendmail_tells_the_app_the_relay_and_its_own_from_address() -> None:
    app_spec = spec({**BASE_MANIFEST, "addons": {"sendmail": {}}})
    env = sendmail_env(identity(), app_spec, manifest_of(app_spec), {}, RELAY)
    assert env == {
        "CLOUDRON_MAIL_SMTP_SERVER": "smtp.mail.svc",
        "CLOUDRON_MAIL_SMTP_PORT": "587",
        "CLOUDRON_MAIL_SMTP_USERNAME": "relay",
        "CLOUDRON_MAIL_SMTP_PASSWORD": "relay-pass",
        "CLOUDRON_MAIL_FROM": "wiki.app@wiki.example.com",
        "CLOUDRON_MAIL_DOMAIN": "wiki.example.com",
    }


def test_sendmail_options_of_the_addon_and_the_manifest() -> None:
    app_spec = spec({**BASE_MANIFEST, "title": "Wiki", "addons": {"sendmail": {"supportsDisplayName": True}}})
    relay = Relay.from_addon(
        {
            "connection": {"host": "relay", "port": 25},
            "options": {"smtpsPort": 465, "fromDomain": "example.com"},
        }
    )
    env = sendmail_env(identity(), app_spec, manifest_of(app_spec), {"supportsDisplayName": True}, relay)
    assert env["CLOUDRON_MAIL_SMTPS_PORT"] == "465"
    assert env["CLOUDRON_MAIL_FROM"] == "wiki.app@example.com"
    assert env["CLOUDRON_MAIL_FROM_DISPLAY_NAME"] == "Wiki"
    assert env["CLOUDRON_MAIL_SMTP_USERNAME"] == env["CLOUDRON_MAIL_SMTP_PASSWORD"] == ""


def test_the_relay_password_is_not_in_its_repr() -> None:
    assert "relay-pass" not in repr(RELAY)


def test_with_app_logins_each_app_logs_in_as_its_own_address_with_its_own_password() -> None:
    app_spec = spec({**BASE_MANIFEST, "addons": {"sendmail": {}}})
    relay = Relay.from_addon(
        {
            "connection": {"host": "relay", "port": 2525, "adminSecretRef": {"name": "r", "namespace": "m"}},
            "options": {"appLoginsSecretRef": {"name": "relay-logins", "namespace": "mail"}},
        },
        "shared",
        "shared-pass",
    )
    assert relay.app_logins == LoginsSecret("mail", "relay-logins", "passwd")
    env = sendmail_env(identity(), app_spec, manifest_of(app_spec), {}, relay, app_password="apps-own")
    assert env["CLOUDRON_MAIL_SMTP_USERNAME"] == env["CLOUDRON_MAIL_FROM"] == "wiki.app@wiki.example.com"
    assert env["CLOUDRON_MAIL_SMTP_PASSWORD"] == "apps-own"  # never the shared login's


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("relay-logins", "must be an object with name and namespace"),
        ({"name": "relay-logins"}, "namespace must be a namespace's name, got None"),
        ({"name": "Relay_Logins", "namespace": "mail"}, "name must be a Secret's name"),
        ({"name": "r", "namespace": "mail", "key": "a/b"}, "key must be a Secret key"),
        ({"name": "r", "namespace": "mail", "nmae": "x"}, "unknown fields: nmae"),
    ],
)
def test_a_wrong_app_logins_reference_says_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Relay.from_addon(
            {"connection": {"host": "relay", "port": 25}, "options": {"appLoginsSecretRef": value}}
        )

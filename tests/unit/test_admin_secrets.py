"""AdminSecrets: how long an Addon's admin Secret is used once read, and what makes it read again."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cloudron_operator.addons.base import AddonProblem, AddonRecord
from cloudron_operator.addons.flow import AddonsResult, provision_addons
from cloudron_operator.addons.logins import AdminSecrets, server_access
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.addons.sql import SqlAddon
from cloudron_operator.builders import AppIdentity
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import CloudronAppSpec
from cloudron_operator.provisioners import AppDatabase, PostgresqlBackend, ServerAccess, ServerUnreachable

MAX_AGE = 60.0


class SecretStore:
    """Secrets by (namespace, name), and every read of them, as the API server would answer."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads = 0

    def put(self, namespace: str, name: str, **values: str) -> None:
        data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
        self.secrets[(namespace, name)] = {"metadata": {"name": name, "namespace": namespace}, "data": data}

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.secrets.get((namespace, name))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> SecretStore:
    made = SecretStore()
    made.put("ops", "pg-admin", username="postgres", password="first")
    return made


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def secrets(store: SecretStore, clock: Clock) -> AdminSecrets:
    return AdminSecrets(store.read, max_age=MAX_AGE, clock=clock)


ADDON = AddonRecord.from_object(
    "pg",
    {
        "type": "postgresql",
        "connection": {
            "host": "db",
            "port": 5432,
            "adminSecretRef": {"name": "pg-admin", "namespace": "ops"},
        },
    },
)


def test_passes_within_the_max_age_share_one_read(
    secrets: AdminSecrets, store: SecretStore, clock: Clock
) -> None:
    assert server_access(secrets, ADDON).password == "first"
    store.put("ops", "pg-admin", username="postgres", password="second")
    clock.now += MAX_AGE - 1
    assert server_access(secrets, ADDON).password == "first"
    assert store.reads == 1


def test_a_changed_secret_is_used_once_the_max_age_passed(
    secrets: AdminSecrets, store: SecretStore, clock: Clock
) -> None:
    server_access(secrets, ADDON)
    store.put("ops", "pg-admin", username="postgres", password="second")
    clock.now += MAX_AGE
    assert server_access(secrets, ADDON).password == "second"
    assert store.reads == 2


def test_a_fresh_read_asks_and_what_it_read_serves_the_passes_after(
    secrets: AdminSecrets, store: SecretStore, clock: Clock
) -> None:
    server_access(secrets, ADDON)
    store.put("ops", "pg-admin", username="postgres", password="second")
    clock.now += 1
    assert server_access(secrets, ADDON, fresh=True).password == "second"
    clock.now += MAX_AGE - 1
    assert server_access(secrets, ADDON).password == "second"
    assert store.reads == 2


def test_a_forgotten_secret_is_read_again_by_the_next_pass(
    secrets: AdminSecrets, store: SecretStore, clock: Clock
) -> None:
    server_access(secrets, ADDON)
    store.put("ops", "pg-admin", username="postgres", password="second")
    secrets.forget(ADDON)  # a login with it failed
    assert server_access(secrets, ADDON).password == "second"
    assert store.reads == 2


def test_a_missing_secret_is_asked_for_by_every_pass_and_a_deleted_one_is_not_used(
    secrets: AdminSecrets, store: SecretStore, clock: Clock
) -> None:
    server_access(secrets, ADDON)
    del store.secrets[("ops", "pg-admin")]
    with pytest.raises(AddonProblem, match="does not exist"):
        server_access(secrets, ADDON, fresh=True)
    with pytest.raises(AddonProblem, match="does not exist"):
        server_access(secrets, ADDON)
    assert store.reads == 3
    store.put("ops", "pg-admin", username="postgres", password="back")
    assert server_access(secrets, ADDON).password == "back"


class PasswordCheckingBackend(PostgresqlBackend):
    """A postgresql backend whose server accepts one admin password: what a rotated server does."""

    def __init__(self, accepted: str) -> None:
        self.accepted = accepted
        self.logins: list[str] = []

    def env(self, server: ServerAccess, app: AppDatabase, password: str) -> dict[str, str]:
        return {"CLOUDRON_POSTGRESQL_PASSWORD": password}

    def provision(self, server: ServerAccess, app: AppDatabase, password: str) -> None:
        self.logins.append(server.password)
        if server.password != self.accepted:
            raise ServerUnreachable("password authentication failed")


def _provision(secrets: AdminSecrets, server: PasswordCheckingBackend) -> AddonsResult:
    manifest = validate_manifest(
        {"manifestVersion": 2, "version": "1.0.0", "httpPort": 80, "addons": {"postgresql": {}}}
    ).manifest
    assert manifest is not None
    spec = CloudronAppSpec.model_validate({"image": "wiki:1", "manifest": {}, "domain": "wiki.example.com"})
    return provision_addons(
        AddonBackends([SqlAddon(server, secrets)]),
        identity=AppIdentity("wiki", "apps", "0b6a4c3e-0000-4000-8000-000000000001"),
        spec=spec,
        manifest=manifest,
        addons=[AddonRecord.from_object("pg", {**ADDON.spec, "default": True})],
        existing_secrets={},
        apply_child=lambda obj: None,
        metrics=Metrics(),
        recorded={},
    )


def test_a_pass_whose_admin_login_fails_makes_the_next_pass_read_the_secret_again(
    secrets: AdminSecrets, store: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = PasswordCheckingBackend(accepted="first")
    assert _provision(secrets, server).complete
    server.accepted = "second"  # the admin changed the password in the server, then in the Secret
    store.put("ops", "pg-admin", username="postgres", password="second")

    failed = _provision(secrets, server)
    assert failed.retriable and failed.condition().reason == "AddonUnreachable"
    assert _provision(secrets, server).complete
    assert server.logins == ["first", "first", "second"]
    assert store.reads == 2

"""Which addons an app gets provisioned, in which Addon, and what it is told when that cannot be."""

from __future__ import annotations

import pytest

from cloudron_operator.addons.base import AddonProblem, AddonRecord
from cloudron_operator.addons.flow import deprovision_addons
from cloudron_operator.addons.logins import AdminSecrets
from cloudron_operator.addons.plan import (
    addon_options,
    choose_addon,
    provisioned_addons,
    refused_addons,
    unsupported_addons,
)
from cloudron_operator.addons.registry import standard_backends
from cloudron_operator.manifest import Manifest
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import AddonType, CloudronAppSpec
from tests.builder_cases import BASE_MANIFEST, identity, manifest_of, spec

pytestmark = pytest.mark.unit
# The addon types the operator serves, in its order.
SERVED = standard_backends(AdminSecrets(lambda namespace, name: None)).types


def record(name: str, addon_type: str, *, default: bool = False) -> AddonRecord:
    return AddonRecord.from_object(name, {"type": addon_type, "default": default})


def with_addons(addons: dict[str, object], **fields: object) -> tuple[CloudronAppSpec, Manifest]:
    app_spec = spec({**BASE_MANIFEST, "addons": addons}, **fields)
    return app_spec, manifest_of(app_spec)


def test_database_and_redis_addons_are_provisioned_in_a_fixed_order() -> None:
    app_spec, manifest = with_addons(
        {"sendmail": {}, "redis": {}, "localstorage": {}, "mysql": {}, "postgresql": {}}
    )
    assert provisioned_addons(manifest, app_spec, SERVED) == (
        AddonType.POSTGRESQL,
        AddonType.MYSQL,
        AddonType.REDIS,
        AddonType.SENDMAIL,
    )


def test_built_in_addons_need_no_server_and_are_supported() -> None:
    app_spec, manifest = with_addons({"localstorage": {}, "tls": {}, "postgresql": {}})
    assert unsupported_addons(manifest, app_spec, SERVED) == ()


def test_addons_the_operator_does_not_give_yet_are_named() -> None:
    app_spec, manifest = with_addons({"docker": {}, "sendmail": {}, "scheduler": {}, "mongodb": {}})
    assert unsupported_addons(manifest, app_spec, SERVED) == ("mongodb",)


def test_optional_sendmail_and_sso_addons_with_sso_off_are_not_needed() -> None:
    manifest_addons = {"sendmail": {"optional": True}, "ldap": {}, "oidc": {"loginRedirectUri": "/cb"}}
    app_spec, manifest = with_addons(manifest_addons, sso=False)
    assert unsupported_addons(manifest, app_spec, SERVED) == ()
    assert provisioned_addons(manifest, app_spec, SERVED) == ()
    sso_on, manifest_on = with_addons(manifest_addons)
    assert unsupported_addons(manifest_on, sso_on, SERVED) == ("ldap",), "no directory given: no ldap"
    assert provisioned_addons(manifest_on, sso_on, SERVED) == (AddonType.OIDC,), "sendmail is optional"


def test_the_manifest_options_of_an_addon_are_kept() -> None:
    _, manifest = with_addons({"mysql": {"multipleDatabases": True}})
    assert addon_options(manifest, AddonType.MYSQL) == {"multipleDatabases": True}
    assert addon_options(manifest, AddonType.POSTGRESQL) == {}


def test_the_default_addon_of_the_type_is_chosen() -> None:
    app_spec = spec()
    addons = [record("pg-old", "postgresql"), record("pg-main", "postgresql", default=True)]
    addons.append(record("maria", "mysql", default=True))
    assert choose_addon(AddonType.POSTGRESQL, app_spec, addons).name == "pg-main"


def test_the_addon_the_app_names_wins_over_the_default() -> None:
    app_spec = spec(addons={"postgresql": {"addonRef": "pg-old"}})
    addons = [record("pg-old", "postgresql"), record("pg-main", "postgresql", default=True)]
    assert choose_addon(AddonType.POSTGRESQL, app_spec, addons).name == "pg-old"


def test_an_app_keeps_its_database_where_it_is_when_the_default_changes() -> None:
    """The operator moves no data: following a new default, the app would start on an empty database."""
    app_spec = spec()
    now = [record("pg-old", "postgresql"), record("pg-new", "postgresql", default=True)]
    assert choose_addon(AddonType.POSTGRESQL, app_spec, now, holding="pg-old").name == "pg-old"
    two_defaults = [
        record("pg-old", "postgresql", default=True),
        record("pg-new", "postgresql", default=True),
    ]
    assert choose_addon(AddonType.POSTGRESQL, app_spec, two_defaults, holding="pg-old").name == "pg-old"
    named = spec(addons={"postgresql": {"addonRef": "pg-new"}})
    assert choose_addon(AddonType.POSTGRESQL, named, now, holding="pg-old").name == "pg-new", "named: moved"
    with pytest.raises(AddonProblem) as gone:
        choose_addon(AddonType.POSTGRESQL, app_spec, now[1:], holding="pg-old")
    assert gone.value.reason == "AddonNotFound"
    assert "pg-old, which holds the app's database" in str(gone.value)


@pytest.mark.parametrize(
    ("selection", "addons", "reason", "hint"),
    [
        ({}, [record("pg", "postgresql")], "NoDefaultAddon", "spec.default: true"),
        (
            {},
            [record("a", "postgresql", default=True), record("b", "postgresql", default=True)],
            "AmbiguousDefaultAddon",
            "a, b",
        ),
        ({"postgresql": {"addonRef": "gone"}}, [], "AddonNotFound", "no Addon named gone"),
        (
            {"postgresql": {"addonRef": "maria"}},
            [record("maria", "mysql")],
            "AddonTypeMismatch",
            "of type mysql",
        ),
    ],
)
def test_a_missing_or_unclear_addon_tells_what_to_fix(
    selection: dict[str, object], addons: list[AddonRecord], reason: str, hint: str
) -> None:
    with pytest.raises(AddonProblem) as problem:
        choose_addon(AddonType.POSTGRESQL, spec(addons=selection), addons)
    assert problem.value.reason == reason
    assert hint in str(problem.value)


def test_docker_and_the_retired_login_addons_are_refused_for_good_not_as_unsupported() -> None:
    app_spec, manifest = with_addons({"docker": {}, "oauth": {}, "mongodb": {}})
    refused = refused_addons(manifest, app_spec)
    assert list(refused) == ["docker", "oauth"]
    assert "oidc" in refused["oauth"] and "container" in refused["docker"]
    assert unsupported_addons(manifest, app_spec, SERVED) == ("mongodb",)


def test_a_retired_login_addon_with_sso_off_is_not_needed() -> None:
    manifest = {**BASE_MANIFEST, "optionalSso": True, "addons": {"oauth": {}, "docker": {}}}
    app_spec = spec(manifest, sso=False)
    assert list(refused_addons(manifest_of(app_spec), app_spec)) == ["docker"]


def test_simpleauth_is_refused_by_the_manifest_rules_naming_what_replaced_it() -> None:
    result = validate_manifest({**BASE_MANIFEST, "addons": {"simpleauth": {}}})
    assert result.manifest is None
    assert "simpleauth was retired by Cloudron: a current package uses ldap or oidc" in str(result.errors)


@pytest.mark.parametrize("addons", [5, "postgresql", ["postgresql"], True])
def test_deleting_an_app_whose_manifest_addons_are_no_object_drops_nothing_and_does_not_fail(
    addons: object,
) -> None:
    # Found by the fuzzing (issue #25): such an app (Ready=False, InvalidManifest) could not be deleted.
    app = {
        "metadata": {"name": "wiki", "namespace": "team-a", "uid": identity().uid},
        "spec": {"manifest": {**BASE_MANIFEST, "addons": addons}},
    }
    backends = standard_backends(AdminSecrets(lambda namespace, name: None))
    assert deprovision_addons(backends, identity(), app, [record("pg", "postgresql", default=True)]) == []

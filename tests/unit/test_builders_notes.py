"""What the package tells the admin, as the app's status carries it (`builders.notes`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudron_operator.builders.notes import TRUNCATED, package_notes
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import CloudronAppSpec, CloudronAppStatus
from cloudron_operator.models.app import MAX_NOTE_LENGTH, MAX_WARNING_LENGTH, MAX_WARNINGS
from tests.builder_cases import BASE_MANIFEST, UID, identity, manifest_of, spec
from tests.paths import CORPUS

pytestmark = pytest.mark.unit

API_ORIGIN = "https://my.example.com"
MESSAGE = (
    "Open $CLOUDRON-APP-ORIGIN/admin.\n"
    "<sso>Log in with your directory account.</sso>"
    "<nosso>Log in as admin / changeme and change the password.</nosso>\n"
    "App $CLOUDRON-APP-ID at $CLOUDRON-APP-LOCATION in $CLOUDRON-APP-DOMAIN ($CLOUDRON-APP-FQDN), "
    "dashboard $CLOUDRON-API-ORIGIN on $CLOUDRON-API-DOMAIN, installed by $CLOUDRON-USERNAME."
)
CHECKLIST = {
    "set_password": {"message": "Change the admin password of $CLOUDRON-APP-FQDN", "sso": False},
    "add_users": {"message": "Give your directory users access", "sso": True},
    "smtp": {"message": "Configure a mail relay"},
}


def _notes(
    manifest_fields: dict[str, Any], api_origin: str = API_ORIGIN, **spec_fields: Any
) -> dict[str, Any]:
    app_spec = spec({**BASE_MANIFEST, **manifest_fields}, **spec_fields)
    return package_notes(identity(), app_spec, manifest_of(app_spec), api_origin)


def test_the_message_without_single_sign_on_keeps_the_nosso_part_with_the_apps_values() -> None:
    message = _notes({"postInstallMessage": MESSAGE})["postInstallMessage"]
    assert message == (
        "Open https://wiki.example.com/admin.\n"
        "Log in as admin / changeme and change the password.\n"
        f"App {UID} at wiki in example.com (wiki.example.com), "
        "dashboard https://my.example.com on my.example.com, installed by $CLOUDRON-USERNAME."
    )


def test_an_app_logging_in_through_the_directory_gets_the_sso_part() -> None:
    notes = _notes({"postInstallMessage": MESSAGE, "addons": {"ldap": {}}})
    assert "Log in with your directory account." in notes["postInstallMessage"]
    assert "changeme" not in notes["postInstallMessage"]
    # The same package with single sign-on turned off, where the manifest allows it.
    off = _notes({"postInstallMessage": MESSAGE, "addons": {"ldap": {}}, "optionalSso": True}, sso=False)
    assert "changeme" in off["postInstallMessage"]


def test_without_an_api_origin_the_dashboard_placeholders_stay_as_written() -> None:
    message = _notes({"postInstallMessage": MESSAGE}, api_origin="")["postInstallMessage"]
    assert "dashboard $CLOUDRON-API-ORIGIN on $CLOUDRON-API-DOMAIN" in message


def test_the_checklist_has_the_items_that_apply_and_marks_those_done() -> None:
    notes = _notes({"checklist": CHECKLIST}, checklistDone=["smtp", "not-in-the-manifest"])
    assert notes["checklist"] == [
        {"key": "set_password", "message": "Change the admin password of wiki.example.com", "done": False},
        {"key": "smtp", "message": "Configure a mail relay", "done": True},
    ]
    assert notes["checklistPending"] == 1
    with_sso = _notes({"checklist": CHECKLIST, "addons": {"oidc": {"loginRedirectUri": "/callback"}}})
    assert [item["key"] for item in with_sso["checklist"]] == ["add_users", "smtp"]


def test_title_icon_and_settings_page() -> None:
    notes = _notes(
        {"title": "Wiki", "iconUrl": "https://example.org/icon.png", "configurePath": "/settings/general"}
    )
    assert notes == {
        "title": "Wiki",
        "iconUrl": "https://example.org/icon.png",
        "configureUrl": "https://wiki.example.com/settings/general",
    }


def test_a_message_left_in_a_file_and_a_manifest_without_notes_give_nothing() -> None:
    assert _notes({"postInstallMessage": "file://POSTINSTALL.md"}) == {}
    assert _notes({}) == {}


def test_a_message_longer_than_the_status_holds_is_cut_and_says_so() -> None:
    message = _notes({"postInstallMessage": "x" * (2 * MAX_NOTE_LENGTH)})["postInstallMessage"]
    assert len(message) == MAX_NOTE_LENGTH and message.endswith(TRUNCATED)


def test_every_corpus_manifests_notes_fit_the_status_schema() -> None:
    """Real packages' texts, whatever they hold, make a status the CRD accepts."""
    with_notes = 0
    for path in sorted(CORPUS.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        result = validate_manifest(raw)
        if result.manifest is None:
            continue
        app_spec = CloudronAppSpec.model_validate(
            {
                "image": "registry.example.com/app:1",
                "domain": "app.example.com",
                "manifest": raw,
                "sso": False,
            }
        )
        notes = package_notes(identity(), app_spec, result.manifest, API_ORIGIN)
        CloudronAppStatus.model_validate(notes)
        with_notes += bool(notes)
    assert with_notes >= 40, "most real packages have a title, a message or a checklist"


def test_manifest_warnings_reach_the_status_capped_and_cut() -> None:
    app_spec = spec(BASE_MANIFEST)
    manifest = manifest_of(app_spec)
    notes = package_notes(identity(), app_spec, manifest, API_ORIGIN, warnings=["a: one", "b: two"])
    assert notes["manifestWarnings"] == ["a: one", "b: two"]
    assert "manifestWarnings" not in package_notes(identity(), app_spec, manifest, API_ORIGIN)
    many = [f"w{i}: " + "x" * 2000 for i in range(MAX_WARNINGS + 5)]
    listed = package_notes(identity(), app_spec, manifest, API_ORIGIN, warnings=many)["manifestWarnings"]
    assert len(listed) == MAX_WARNINGS
    assert all(len(warning) <= MAX_WARNING_LENGTH for warning in listed)
    assert listed[-1] == "... and 6 more: python -m cloudron_operator manifest check"

"""kubectl-cloudron's printing: kubectl's tables, the rows of `list` and `users`, YAML and JSON."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import yaml

from cloudron_operator.plugin.output import cell, document, no_resources, object_list, print_listing, table
from cloudron_operator.plugin.views import app_headers, app_row, app_state, user_row

pytestmark = pytest.mark.unit


def app(name: str = "wiki", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "domain": f"{name}.example.com",
            "source": {"catalog": "community", "appId": "org.wikijs.cloudronapp"},
        },
        "status": status,
    }


def ready(status: str, reason: str) -> dict[str, str]:
    return {"type": "Ready", "status": status, "reason": reason, "message": "..."}


def test_a_table_pads_each_column_to_its_widest_cell_plus_three_and_leaves_no_trailing_space() -> None:
    text = table(["NAME", "DOMAIN", "UPDATE"], [["wiki", "wiki.example.com", "<none>"], ["a", "b", ""]])
    assert text == ("NAME   DOMAIN             UPDATE\nwiki   wiki.example.com   <none>\na      b\n")


def test_a_narrow_column_is_still_six_wide_as_kubectl_s() -> None:
    assert table(["A", "B"], [["x", "y"]]) == "A     B\nx     y\n"


def test_cells_say_none_for_absent_and_empty_values_and_booleans_in_lower_case() -> None:
    assert [cell(None), cell(""), cell([]), cell(True), cell(False), cell(3)] == ["<none>"] * 3 + [
        "true",
        "false",
        "3",
    ]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ({"phase": "Running", "conditions": [ready("True", "Running")]}, "Running"),
        ({"phase": "Installing", "conditions": [ready("False", "PodsNotReady")]}, "Installing/PodsNotReady"),
        ({"phase": "Restoring", "conditions": [ready("False", "Restoring")]}, "Restoring"),
        ({"phase": "Error", "conditions": [ready("False", "InvalidManifest")]}, "Error/InvalidManifest"),
        ({"conditions": [ready("False", "CatalogNotFound")]}, "CatalogNotFound"),
        ({}, "<none>"),
    ],
)
def test_the_state_is_the_phase_with_the_ready_reason_when_not_ready(
    status: dict[str, Any], state: str
) -> None:
    assert app_state(app(**status)) == state


def test_an_app_row_and_its_wide_and_all_namespaces_forms() -> None:
    running = app(
        phase="Running",
        version="2.5.300",
        availableUpdate="2.5.301",
        url="https://wiki.example.com",
        conditions=[ready("True", "Running")],
    )
    assert app_headers(wide=False, with_namespace=False) == ["NAME", "DOMAIN", "VERSION", "STATE", "UPDATE"]
    assert app_row(running, wide=False, with_namespace=False) == [
        "wiki",
        "wiki.example.com",
        "2.5.300",
        "Running",
        "2.5.301",
    ]
    assert app_headers(wide=True, with_namespace=True)[0] == "NAMESPACE"
    assert app_headers(wide=True, with_namespace=False)[5:] == ["CATALOG", "APP ID", "URL"]
    assert app_row(running, wide=True, with_namespace=True) == [
        "apps",
        "wiki",
        "wiki.example.com",
        "2.5.300",
        "Running",
        "2.5.301",
        "community",
        "org.wikijs.cloudronapp",
        "https://wiki.example.com",
    ]


def test_an_app_of_a_custom_image_has_no_catalog_or_app_id() -> None:
    custom = {
        "metadata": {"name": "znc", "namespace": "apps"},
        "spec": {"domain": "znc.example.com", "image": "x"},
    }
    assert app_row(custom, wide=True, with_namespace=False) == [
        "znc",
        "znc.example.com",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
    ]


def test_a_user_row() -> None:
    user = {
        "metadata": {"name": "alice"},
        "spec": {
            "username": "alice",
            "email": "alice@example.com",
            "role": "admin",
            "groups": ["ops", "dev"],
        },
    }
    assert user_row(user, wide=False) == ["alice", "alice@example.com", "admin", "ops,dev", "true"]
    inactive = {
        "metadata": {"name": "bob-1"},
        "spec": {"username": "bob", "email": "b@example.com", "active": False},
    }
    assert user_row(inactive, wide=True) == [
        "bob",
        "b@example.com",
        "user",
        "<none>",
        "false",
        "bob-1",
        "<none>",
    ]


def test_documents_keep_the_key_order_in_yaml_and_json() -> None:
    value = {
        "kind": "CloudronApp",
        "apiVersion": "cloudron.io/v1alpha1",
        "spec": {"domain": "wiki.example.com"},
    }
    assert document(value, "yaml").splitlines()[0] == "kind: CloudronApp"
    assert yaml.safe_load(document(value, "yaml")) == value
    assert json.loads(document(value, "json")) == value
    assert document(value, "json").endswith("}\n")


def test_an_empty_listing_says_so_on_stderr_as_kubectl_does() -> None:
    out, err = io.StringIO(), io.StringIO()
    print_listing(
        out, err, headers=["NAME"], rows=[], value=object_list([]), output_format=None, namespace="apps"
    )
    assert (out.getvalue(), err.getvalue()) == ("", "No resources found in apps namespace.\n")
    assert no_resources(None) == "No resources found"


def test_an_empty_listing_in_yaml_is_an_empty_list() -> None:
    out, err = io.StringIO(), io.StringIO()
    print_listing(
        out, err, headers=["NAME"], rows=[], value=object_list([]), output_format="yaml", namespace="apps"
    )
    assert yaml.safe_load(out.getvalue()) == {
        "apiVersion": "v1",
        "items": [],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }
    assert err.getvalue() == ""

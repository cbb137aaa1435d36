"""kubectl-cloudron's `logs`: which pods and containers it reads."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.plugin.logs import Stream, label_selector, streams

pytestmark = pytest.mark.unit


def pod(name: str, *containers: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"initContainers": [{"name": "seed"}], "containers": [{"name": c} for c in containers]},
    }


def test_the_selector_is_the_operator_s_workload_selector() -> None:
    app = {"metadata": {"name": "wiki", "namespace": "apps", "uid": "u-1"}}
    assert label_selector(app) == "app.kubernetes.io/component=app,cloudron.io/app=wiki"


def test_a_name_past_63_characters_selects_by_its_shortened_label() -> None:
    selector = label_selector({"metadata": {"name": "w" * 70, "namespace": "apps"}})
    label = selector.split("cloudron.io/app=")[1]
    assert len(label) <= 63
    assert label != "w" * 70


def test_every_container_of_every_pod_by_pod_name_without_init_containers() -> None:
    found = streams([pod("wiki-b", "app"), pod("wiki-a", "app", "logs")], None)
    assert found == [Stream("wiki-a", "app"), Stream("wiki-a", "logs"), Stream("wiki-b", "app")]
    assert found[1].prefix == "[pod/wiki-a/logs] "


def test_a_container_named_narrows_the_streams() -> None:
    assert streams([pod("wiki-a", "app", "logs"), pod("wiki-b", "app")], "logs") == [Stream("wiki-a", "logs")]
    assert streams([pod("wiki-a", "app")], "auth") == []

"""Whether this replica is paused, read from kopf's peering object with kopf's rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloudron_operator.kopf_adapters.peering import Identity, PeeringView

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ME = Identity("replica-a", 500)


def _peering(
    peers: dict[str, dict[str, Any]], name: str = "peers", namespace: str = "apps"
) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "status": peers}


def _peer(priority: int, seen: timedelta = timedelta(0), lifetime: int = 60) -> dict[str, Any]:
    return {"priority": priority, "lifetime": lifetime, "lastseen": (NOW - seen).isoformat()}


def _view(*objects: dict[str, Any]) -> PeeringView:
    view = PeeringView(ME, "peers", clock=lambda: NOW)
    view.replace(objects, None)
    return view


def test_alone_or_highest_it_acts() -> None:
    assert not _view().paused()
    assert not _view(_peering({"replica-a": _peer(500)})).paused()
    assert not _view(_peering({"replica-a": _peer(500), "replica-b": _peer(100)})).paused()


def test_a_live_peer_of_higher_or_equal_priority_pauses_it() -> None:
    assert _view(_peering({"replica-a": _peer(500), "replica-b": _peer(900)})).paused()
    assert _view(_peering({"replica-b": _peer(500)})).paused()  # equal: kopf pauses both


def test_a_peer_whose_keep_alive_lapsed_does_not() -> None:
    lapsed = _peer(900, seen=timedelta(seconds=61))
    assert not _view(_peering({"replica-a": _peer(500), "replica-b": lapsed})).paused()


def test_other_peering_objects_and_deleted_ones_do_not_count() -> None:
    view = _view(_peering({"replica-b": _peer(900)}, name="another-release"))
    assert not view.paused()
    view.upsert(_peering({"replica-b": _peer(900)}))
    assert view.paused()
    view.remove(_peering({}))
    assert not view.paused()


def test_any_namespace_whose_peering_pauses_it_pauses_it() -> None:
    view = _view(
        _peering({"replica-b": _peer(100)}, namespace="one"),
        _peering({"replica-b": _peer(900)}, namespace="two"),
    )
    assert view.paused()
    view.replace([], "two")
    assert not view.paused()


def test_a_replica_is_named_by_its_pod_as_kopf_names_it() -> None:
    assert Identity.new("replica-a").id == "replica-a"
    assert Identity.new(None).id != Identity.new(None).id
    assert 0 < Identity.new(None).priority < 2**31

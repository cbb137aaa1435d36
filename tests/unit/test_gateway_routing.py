"""routing=gateway: the settings, the HTTPRoutes and listeners built, the limits, the Routed condition,
and the host an app made first keeps."""

from __future__ import annotations

import json
from typing import Any

import kopf
import pytest
from kubernetes import client

from cloudron_operator.builders import desired_children
from cloudron_operator.builders.errors import InvalidSpec
from cloudron_operator.builders.gateway import (
    MAX_ROUTE_HOSTNAMES,
    build_listeners,
    build_routes,
    check_gateway_limits,
    listener_name,
)
from cloudron_operator.builders.http_ports import http_services
from cloudron_operator.builders.ingress import BODY_SIZE_ANNOTATION, build_ingress, build_redirect_ingress
from cloudron_operator.children import routing_condition
from cloudron_operator.config import ConfigError, OperatorConfig, load_config
from cloudron_operator.reconcile.parse import host_conflict
from cloudron_operator.store import Store
from cloudron_operator.store.routing import GatewayRouting, ParentSeen, gateway_routing
from tests.builder_cases import BASE_MANIFEST, identity, manifest_of, spec

pytestmark = pytest.mark.unit

LISTENER_SETS = OperatorConfig(routing="gateway", gateway="gateway-system/shared")
OWN_GATEWAYS = OperatorConfig(routing="gateway", gateway_listeners="Gateway", gateway_class="traefik")
MULTI_DOMAIN = {**BASE_MANIFEST, "multiDomain": True}
HTTP_PORTS = {
    **BASE_MANIFEST,
    "httpPorts": {
        "API_SERVER_DOMAIN": {
            "title": "API",
            "description": "The API server",
            "containerPort": 3000,
            "defaultValue": "api",
        }
    },
}


def test_gateway_routing_names_where_the_listeners_go() -> None:
    with pytest.raises(ConfigError, match="gateway=<namespace>/<name>"):
        load_config({"CLOUDRON_OPERATOR_ROUTING": "gateway"})
    with pytest.raises(ConfigError, match="needs gateway_class"):
        load_config(
            {"CLOUDRON_OPERATOR_ROUTING": "gateway", "CLOUDRON_OPERATOR_GATEWAY_LISTENERS": "Gateway"}
        )
    config = load_config({"CLOUDRON_OPERATOR_ROUTING": "gateway", "CLOUDRON_OPERATOR_GATEWAY": "gw/shared"})
    assert config.gateway_ref == ("gw", "shared")
    assert load_config({}).routing == "ingress", "Ingresses stay the default"


def test_ingress_annotations_are_a_json_object_so_values_may_have_commas() -> None:
    middlewares = "a-auth@kubernetescrd,a-ip@kubernetescrd"
    annotations = {"traefik.ingress.kubernetes.io/router.middlewares": middlewares}
    config = load_config({"CLOUDRON_OPERATOR_INGRESS_ANNOTATIONS": json.dumps(annotations)})
    assert config.ingress_annotations == annotations
    with pytest.raises(ConfigError, match="not a JSON object"):
        load_config({"CLOUDRON_OPERATOR_INGRESS_ANNOTATIONS": "a=b"})


def test_ingress_nginx_annotations_only_for_the_nginx_class() -> None:
    app = spec(MULTI_DOMAIN, redirects=["old.example.com"])
    extra = {"example.com/team": "a"}
    for ingress_class, nginx in (("nginx", True), ("traefik", False), (None, False)):
        config = OperatorConfig(ingress_class=ingress_class, ingress_annotations=extra)
        ingress = build_ingress(identity(), app, config)
        redirects = build_redirect_ingress(identity(), app, config)
        assert redirects is not None
        assert (BODY_SIZE_ANNOTATION in ingress["metadata"]["annotations"]) is nginx
        assert ingress["metadata"]["annotations"]["example.com/team"] == "a"
        assert redirects["metadata"]["annotations"]["example.com/team"] == "a"
        assert len(redirects["metadata"]["annotations"]) == (2 if nginx else 1)


def test_routes_serve_the_domain_and_aliases_and_redirect_the_redirect_hosts_keeping_the_path() -> None:
    app = spec(MULTI_DOMAIN, aliases=["www.example.com", "*.wiki.example.com"], redirects=["old.example.com"])
    main, redirects = build_routes(identity(), app, LISTENER_SETS)
    assert main["spec"]["hostnames"] == ["wiki.example.com", "www.example.com", "*.wiki.example.com"]
    assert main["spec"]["rules"] == [{"backendRefs": [{"name": "wiki", "port": 80}]}]
    assert main["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "name": "wiki"}
    ]
    assert redirects["metadata"]["name"] == "wiki-redirects"
    assert redirects["spec"]["hostnames"] == ["old.example.com"]
    # No path modifier: every implementation keeps the request's path; 302 as Cloudron.
    assert redirects["spec"]["rules"] == [
        {
            "filters": [
                {
                    "type": "RequestRedirect",
                    "requestRedirect": {"scheme": "https", "hostname": "wiki.example.com", "statusCode": 302},
                }
            ]
        }
    ]


def test_an_http_ports_service_gets_a_route_to_its_port_whose_name_no_app_can_have() -> None:
    app = spec(HTTP_PORTS)
    services = http_services(app, manifest_of(app))
    main, api = build_routes(identity(), app, OWN_GATEWAYS, services)
    assert api["metadata"]["name"] == "wiki.http-3000"
    assert api["spec"]["hostnames"] == ["api.example.com"]
    assert api["spec"]["rules"] == [{"backendRefs": [{"name": "wiki", "port": 3000}]}]
    assert main["spec"]["parentRefs"][0]["kind"] == "Gateway"


def test_one_https_listener_per_host_with_the_apps_certificate_for_routes_of_its_namespace_only() -> None:
    app = spec(MULTI_DOMAIN, aliases=["*.wiki.example.com"], redirects=["old.example.com"])
    listener_set = build_listeners(identity(), app, LISTENER_SETS)
    assert listener_set["kind"] == "ListenerSet"
    assert listener_set["spec"]["parentRef"] == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "namespace": "gateway-system",
        "name": "shared",
    }
    listeners = listener_set["spec"]["listeners"]
    assert [entry["hostname"] for entry in listeners] == [
        "wiki.example.com",
        "*.wiki.example.com",
        "old.example.com",
    ]
    for entry in listeners:
        assert entry["protocol"] == "HTTPS" and entry["port"] == 443
        assert entry["tls"] == {
            "mode": "Terminate",
            "certificateRefs": [{"kind": "Secret", "name": "wiki-tls"}],
        }
        selector = entry["allowedRoutes"]["namespaces"]
        assert selector == {
            "from": "Selector",
            "selector": {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}},
        }
    own = build_listeners(identity(), app, OWN_GATEWAYS.model_copy(update={"gateway_https_port": 8443}))
    assert own["kind"] == "Gateway" and own["spec"]["gatewayClassName"] == "traefik"
    assert {entry["port"] for entry in own["spec"]["listeners"]} == {8443}


def test_a_listener_keeps_its_name_when_other_hosts_come_and_go() -> None:
    before = build_listeners(identity(), spec(MULTI_DOMAIN, aliases=["a.example.com"]), LISTENER_SETS)
    after = build_listeners(
        identity(), spec(MULTI_DOMAIN, aliases=["b.example.com", "a.example.com"]), LISTENER_SETS
    )
    names_before = {entry["hostname"]: entry["name"] for entry in before["spec"]["listeners"]}
    names_after = {entry["hostname"]: entry["name"] for entry in after["spec"]["listeners"]}
    assert names_before["a.example.com"] == names_after["a.example.com"]
    assert len(set(names_after.values())) == 3
    assert listener_name("*.example.com") != listener_name("wildcard.example.com")


def test_what_the_gateway_api_cannot_hold_is_refused_before_anything_is_applied() -> None:
    aliases = [f"a{i}.example.com" for i in range(MAX_ROUTE_HOSTNAMES)]
    with pytest.raises(InvalidSpec, match="domain and aliases have 17 hosts; an HTTPRoute holds at most 16"):
        check_gateway_limits(spec(MULTI_DOMAIN, aliases=aliases))
    check_gateway_limits(spec(MULTI_DOMAIN, aliases=aliases[:-1]))
    redirects = [f"r{i}.example.com" for i in range(MAX_ROUTE_HOSTNAMES)]
    many = spec(MULTI_DOMAIN, aliases=aliases[:-1], redirects=redirects)
    check_gateway_limits(many)  # 32 listeners: within 64
    with pytest.raises(InvalidSpec, match="redirects have 17 hosts"):
        check_gateway_limits(spec(MULTI_DOMAIN, redirects=[*redirects, "r.example.com"]))


def test_gateway_mode_replaces_the_ingresses() -> None:
    app = spec(MULTI_DOMAIN, redirects=["old.example.com"])
    kinds = [child["kind"] for child in desired_children(identity(), app, manifest_of(app), OWN_GATEWAYS, {})]
    assert "Ingress" not in kinds
    assert kinds.count("HTTPRoute") == 2 and kinds.count("Gateway") == 1 and "Certificate" in kinds
    ingress_kinds = [
        child["kind"] for child in desired_children(identity(), app, manifest_of(app), OperatorConfig(), {})
    ]
    assert ingress_kinds.count("Ingress") == 2 and "HTTPRoute" not in ingress_kinds


# The Routed condition, from the controller's conditions.

ROUTING = gateway_routing(LISTENER_SETS)
assert ROUTING is not None
GATEWAY = ParentSeen("uid", "1", "shared", "gateway-system", "All")


def condition(
    kind: str, status: str, reason: str = "Reason", generation: int = 1, message: str = ""
) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def listener_set(
    conditions: list[dict[str, Any]], listeners: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "kind": "ListenerSet",
        "metadata": {"name": "wiki", "generation": 1},
        "spec": {"listeners": [{"name": "https-1", "hostname": "wiki.example.com"}]},
        "status": {"conditions": conditions, "listeners": listeners or []},
    }


def route(conditions: list[dict[str, Any]] | None, generation: int = 1) -> dict[str, Any]:
    parents = (
        []
        if conditions is None
        else [{"parentRef": {"kind": "ListenerSet", "name": "wiki"}, "conditions": conditions}]
    )
    return {
        "kind": "HTTPRoute",
        "metadata": {"name": "wiki", "generation": generation},
        "status": {"parents": parents},
    }


ACCEPTED = [condition("Accepted", "True"), condition("Programmed", "True")]
ROUTE_OK = [condition("Accepted", "True"), condition("ResolvedRefs", "True")]


def routed(
    listeners: dict[str, Any] | None,
    routes: list[dict[str, Any]],
    parent: ParentSeen | None = GATEWAY,
    routing: GatewayRouting = ROUTING,
) -> tuple[str, str, str]:
    update = routing_condition(listeners, routes, parent, routing, "team-a")
    return update.status, update.reason, update.message


def test_routed_when_the_controller_accepted_the_listeners_and_every_route() -> None:
    assert routed(listener_set(ACCEPTED), [route(ROUTE_OK)])[:2] == ("True", "Routed")


def test_a_missing_gateway_or_one_that_does_not_allow_the_namespace_is_named() -> None:
    assert routed(listener_set(ACCEPTED), [route(ROUTE_OK)], parent=None) == (
        "False",
        "NotRouted",
        "Gateway gateway-system/shared does not exist: create it",
    )
    closed = ParentSeen("uid", "1", "shared", "gateway-system", "None")
    status, _, message = routed(listener_set(ACCEPTED), [route(ROUTE_OK)], parent=closed)
    assert status == "False" and "does not allow ListenerSets from namespace team-a" in message
    same = ParentSeen("uid", "1", "shared", "team-a", "Same")
    assert routed(listener_set(ACCEPTED), [route(ROUTE_OK)], parent=same)[0] == "True"
    own = gateway_routing(OWN_GATEWAYS)
    assert own is not None
    assert routed(None, [], parent=None, routing=own)[2] == "GatewayClass traefik does not exist: create it"


def test_waiting_while_no_controller_said_anything_of_this_generation() -> None:
    assert routed(None, [])[:2] == ("Unknown", "Creating")
    assert routed(listener_set([]), [route(ROUTE_OK)]) == (
        "Unknown",
        "WaitingForGateway",
        "waiting for the controller of Gateway gateway-system/shared to accept ListenerSet wiki",
    )
    assert routed(listener_set(ACCEPTED), [route(None)])[2].endswith("to accept HTTPRoute wiki")
    stale = route([condition("Accepted", "True", generation=1)], generation=2)
    assert routed(listener_set(ACCEPTED), [stale])[:2] == ("Unknown", "WaitingForGateway")


def test_the_controllers_refusal_is_the_apps_reason_to_be_not_ready() -> None:
    refused = listener_set([condition("Accepted", "False", "NotAllowed", message="namespace not allowed")])
    assert routed(refused, [route(ROUTE_OK)]) == (
        "False",
        "NotRouted",
        "ListenerSet wiki: Accepted=False: NotAllowed: namespace not allowed",
    )
    bad_certificate = listener_set(
        ACCEPTED,
        [{"name": "https-1", "conditions": [condition("ResolvedRefs", "False", "InvalidCertificateRef")]}],
    )
    assert routed(bad_certificate, [route(ROUTE_OK)])[2] == (
        "ListenerSet wiki, the listener of wiki.example.com: ResolvedRefs=False: InvalidCertificateRef"
    )
    conflicted = listener_set(
        ACCEPTED, [{"name": "https-1", "conditions": [condition("Conflicted", "True", "HostnameConflict")]}]
    )
    assert "Conflicted=True: HostnameConflict" in routed(conflicted, [route(ROUTE_OK)])[2]
    backend = route([condition("Accepted", "True"), condition("ResolvedRefs", "False", "BackendNotFound")])
    assert (
        routed(listener_set(ACCEPTED), [backend])[2] == "HTTPRoute wiki: ResolvedRefs=False: BackendNotFound"
    )


# The host an app made first keeps.


def app_body(name: str, namespace: str, created: str, uid: str, **spec_fields: Any) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "cloudron.io/v1alpha1",
            "kind": "CloudronApp",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": uid,
                "creationTimestamp": created,
                "resourceVersion": "1",
            },
            "spec": {"domain": f"{name}.example.com", **spec_fields},
        }
    )


def test_a_host_another_app_has_is_refused_to_the_app_made_later_in_any_namespace() -> None:
    first = app_body("wiki", "team-a", "2026-12-01T10:00:00Z", "uid-1", aliases=["www.example.com"])
    later = app_body("blog", "team-b", "2026-12-01T11:00:00Z", "uid-2", redirects=["WWW.example.com"])
    store = Store(client.ApiClient(), ())
    store.apps.replace([dict(first), dict(later)])
    message = host_conflict(store, later, ["blog.example.com", "www.example.com"])
    assert (
        message is not None and "www.example.com is already an app's host: team-a/wiki, made first" in message
    )
    assert host_conflict(store, first, ["wiki.example.com", "www.example.com"]) is None, "the first keeps it"
    deleting = app_body("wiki", "team-a", "2026-12-01T10:00:00Z", "uid-1", aliases=["www.example.com"])
    deleting["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z"
    store.apps.upsert(dict(deleting))
    assert host_conflict(store, later, ["www.example.com"]) is None, "an app being deleted gives its hosts up"

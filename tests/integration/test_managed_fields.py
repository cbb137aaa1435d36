"""An unchanged apply is told from the live object's managed fields, against the real API server.

Every child an example app gets is applied, read back, and judged: unchanged as it is; changed once
the object to apply differs, once another writer changed or took over a field, and once the object
to apply drops a field the last apply set.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.builders.redis import RedisOptions, build_redis_children
from cloudron_operator.builders.secrets import build_addon_secret
from cloudron_operator.config import OperatorConfig
from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.managed_fields import apply_changes_nothing, owned_view
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import CloudronAppSpec
from tests.integration.apps_support import example

OTHER_MANAGER = "kubectl-edit"


def _children(api: client.ApiClient, namespace: str, name: str) -> list[dict[str, Any]]:
    app = k8s.create(api, example(name, namespace))  # the owner: without it GC removes the children
    spec = CloudronAppSpec.model_validate(app["spec"])
    manifest = validate_manifest(spec.package_manifest).manifest
    assert manifest is not None
    identity = builders.AppIdentity(name, namespace, app["metadata"]["uid"])
    secret = build_addon_secret(identity, "redis", {"CLOUDRON_REDIS_PASSWORD": "a password"})
    redis = build_redis_children(
        identity,
        RedisOptions(),
        secret_name=secret["metadata"]["name"],
        password_key="CLOUDRON_REDIS_PASSWORD",
        password="a password",
        app_memory=256 * 1024**2,
        running=True,
    )
    addon_secrets = {secret["metadata"]["name"]: {"CLOUDRON_REDIS_PASSWORD": "a password"}}
    desired = builders.desired_children(identity, spec, manifest, OperatorConfig(), addon_secrets)
    return [secret, *redis, *desired]


def _live(api: client.ApiClient, obj: dict[str, Any]) -> k8s.KubeObject:
    meta = obj["metadata"]
    live = k8s.get(api, obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
    assert live is not None
    return live


@pytest.mark.parametrize("name", ["znc", "chatwoot", "ihatemoney"])
def test_every_child_applied_is_judged_unchanged_from_its_managed_fields(
    api_client: client.ApiClient, namespace: str, installed_crds: None, name: str
) -> None:
    children = _children(api_client, namespace, name)
    for child in children:
        k8s.apply(api_client, child)
    for child in children:
        view = owned_view(_live(api_client, child), k8s.FIELD_MANAGER)
        assert apply_changes_nothing(child, view), f"{child['kind']} {child['metadata']['name']}"
        assert not apply_changes_nothing(child, owned_view(_live(api_client, child), OTHER_MANAGER))

        relabelled = copy.deepcopy(child)
        relabelled["metadata"]["labels"]["cloudron.io/test"] = "new"
        assert not apply_changes_nothing(relabelled, view), "a label the apply would add"


def test_a_field_another_writer_changed_or_that_the_object_no_longer_sets_is_a_change(
    api_client: client.ApiClient, namespace: str, installed_crds: None
) -> None:
    children = {c["kind"]: c for c in _children(api_client, namespace, "znc")}
    deployment = children["Deployment"]
    k8s.apply(api_client, deployment)

    # Another manager takes the image over (as `kubectl edit` or `kubectl set image` does).
    container = deployment["spec"]["template"]["spec"]["containers"][0]["name"]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": "other:2"}]}}}}
    client.AppsV1Api(api_client).patch_namespaced_deployment(
        deployment["metadata"]["name"], namespace, patch, field_manager=OTHER_MANAGER
    )
    assert not apply_changes_nothing(deployment, owned_view(_live(api_client, deployment), k8s.FIELD_MANAGER))
    k8s.apply(api_client, deployment)  # taken back
    assert apply_changes_nothing(deployment, owned_view(_live(api_client, deployment), k8s.FIELD_MANAGER))

    # The last apply set an annotation that the object to apply no longer has: applying removes it.
    annotated = copy.deepcopy(deployment)
    annotated["metadata"].setdefault("annotations", {})["cloudron.io/test"] = "x"
    k8s.apply(api_client, annotated)
    assert not apply_changes_nothing(deployment, owned_view(_live(api_client, deployment), k8s.FIELD_MANAGER))
    k8s.apply(api_client, deployment)
    assert apply_changes_nothing(deployment, owned_view(_live(api_client, deployment), k8s.FIELD_MANAGER))

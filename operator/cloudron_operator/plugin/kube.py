"""The plugin's connection to the cluster, as kubectl makes it: --kubeconfig (else $KUBECONFIG, else
~/.kube/config), --context, and the context's namespace; API errors said as kubectl says them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import urllib3
from kubernetes import client, config

from cloudron_operator.plugin.resources import Resource

FIELD_MANAGER: Final = "kubectl-cloudron"
DEFAULT_NAMESPACE: Final = "default"
DEFAULT_KUBECONFIG: Final = Path.home() / ".kube" / "config"

KubeObject = dict[str, Any]


class PluginError(Exception):
    """What `main` prints as `error: <message>` before it exits 1.

    `server_reason`: the reason of the API server's refusal (BadRequest, NotFound, ...), when it refused.
    """

    def __init__(self, message: str, server_reason: str | None = None) -> None:
        super().__init__(message)
        self.server_reason = server_reason


@dataclass(frozen=True)
class Target:
    """Which cluster, as the command line and the environment name it."""

    kubeconfig: str | None = None
    context: str | None = None

    @property
    def kubeconfig_path(self) -> str:
        """--kubeconfig, else $KUBECONFIG (which may list several files), else ~/.kube/config."""
        return self.kubeconfig or os.environ.get("KUBECONFIG") or str(DEFAULT_KUBECONFIG)


def context_namespace(target: Target) -> str:
    """The namespace of the context in use (--context, else the current one); "default" when it has none."""
    try:
        contexts, current = config.list_kube_config_contexts(config_file=target.kubeconfig_path)
    except (config.ConfigException, OSError) as error:
        raise PluginError(f"cannot read kubeconfig {target.kubeconfig_path}: {error}") from error
    if target.context is None:
        chosen = current
    else:
        chosen = next((c for c in contexts or [] if c.get("name") == target.context), None)
        if chosen is None:
            raise PluginError(f'context "{target.context}" does not exist')
    namespace: str = ((chosen or {}).get("context") or {}).get("namespace") or DEFAULT_NAMESPACE
    return namespace


def connect(target: Target) -> client.ApiClient:
    try:
        return config.new_client_from_config(
            config_file=target.kubeconfig_path, context=target.context, persist_config=False
        )
    except (config.ConfigException, OSError) as error:
        raise PluginError(f"cannot read kubeconfig {target.kubeconfig_path}: {error}") from error


def api_error_message(error: client.ApiException, resource: Resource | None = None) -> str:
    """The API server's own message (`cloudronapps.cloudron.io "wiki" not found`), or, for an answer
    that is no Status, what it means: a kind the cluster does not serve, or the status and body."""
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else str(error.body or "")
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    if error.status == 404 and resource is not None:
        return (
            f'the server doesn\'t have a resource type "{resource.plural}" '
            "(are the cloudron-operator's CRDs installed and up to date?)"
        )
    return f"the API server answered {error.status} {error.reason}: {body.strip()[:500]}"


def _status_reason(error: client.ApiException) -> str:
    try:
        status = json.loads(error.body or "")
    except (ValueError, TypeError):
        status = None
    reason = status.get("reason") if isinstance(status, dict) else None
    return str(reason or error.reason or error.status)


class Cluster:
    """Reads and writes of the plugin's kinds through CustomObjectsApi; every failure a PluginError."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> KubeObject:
        def read() -> Any:
            if resource.namespaced:
                return self.objects.get_namespaced_custom_object(
                    resource.group, resource.version, namespace, resource.plural, name
                )
            return self.objects.get_cluster_custom_object(
                resource.group, resource.version, resource.plural, name
            )

        return dict(self.call(read, resource))

    def list(self, resource: Resource, namespace: str | None = None) -> list[KubeObject]:
        """Every object of the kind: in `namespace`, or in all namespaces (None) or cluster-scoped."""

        def read() -> Any:
            if resource.namespaced and namespace is not None:
                return self.objects.list_namespaced_custom_object(
                    resource.group, resource.version, namespace, resource.plural
                )
            return self.objects.list_cluster_custom_object(resource.group, resource.version, resource.plural)

        return [dict(item) for item in self.call(read, resource).get("items") or []]

    def create(self, resource: Resource, body: KubeObject) -> KubeObject:
        namespace = body["metadata"]["namespace"]
        created = self.call(
            lambda: self.objects.create_namespaced_custom_object(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                body,
                field_manager=FIELD_MANAGER,
            ),
            resource,
        )
        return dict(created)

    def patch(self, resource: Resource, namespace: str, name: str, patch: KubeObject) -> KubeObject:
        """A JSON merge patch (RFC 7386) of a namespaced object."""
        patched = self.call(
            lambda: self.objects.patch_namespaced_custom_object(
                resource.group,
                resource.version,
                namespace,
                resource.plural,
                name,
                patch,
                field_manager=FIELD_MANAGER,
            ),
            resource,
        )
        return dict(patched)

    def call(self, request: Any, resource: Resource | None = None) -> Any:
        """`request()`, with the API server's refusal or its absence raised as a PluginError."""
        try:
            return request()
        except client.ApiException as error:
            raise PluginError(api_error_message(error, resource), _status_reason(error)) from error
        except urllib3.exceptions.HTTPError as error:
            # After the retries, what the last attempt met (connection refused, a TLS error, ...).
            cause = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
            raise PluginError(
                f"cannot reach the API server at {self.api.configuration.host}: {cause}"
            ) from error

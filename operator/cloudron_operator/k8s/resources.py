"""REST paths of the kinds the operator reads and writes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None) -> str:
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        # A namespaced kind without a namespace is listed across all namespaces.
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{root}{scope}/{self.plural}" + (f"/{name}" if name else "")


KINDS: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (
        Kind("v1", "Secret", "secrets"),
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("v1", "Service", "services"),
        Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Kind("v1", "PersistentVolume", "persistentvolumes", namespaced=False),
        Kind("v1", "Event", "events"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("batch/v1", "CronJob", "cronjobs"),
        Kind("batch/v1", "Job", "jobs"),
        Kind("v1", "Pod", "pods"),
        Kind("networking.k8s.io/v1", "Ingress", "ingresses"),
        Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        Kind("cert-manager.io/v1", "Certificate", "certificates"),
        Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
        Kind("gateway.networking.k8s.io/v1", "ListenerSet", "listenersets"),
        Kind("gateway.networking.k8s.io/v1", "Gateway", "gateways"),
        Kind("gateway.networking.k8s.io/v1", "GatewayClass", "gatewayclasses", namespaced=False),
        Kind("cloudron.io/v1alpha1", "CloudronApp", "cloudronapps"),
        Kind("cloudron.io/v1alpha1", "Addon", "addons", namespaced=False),
        Kind("cloudron.io/v1alpha1", "CloudronUser", "cloudronusers", namespaced=False),
        Kind("cloudron.io/v1alpha1", "BackupStore", "backupstores", namespaced=False),
        Kind("cloudron.io/v1alpha1", "CloudronBackup", "cloudronbackups"),
        Kind("cloudron.io/v1alpha1", "AppCatalog", "appcatalogs", namespaced=False),
        Kind(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            namespaced=False,
        ),
    )
}


def kind_of(api_version: str, kind: str) -> Kind:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the operator does not manage {kind} ({api_version})") from None

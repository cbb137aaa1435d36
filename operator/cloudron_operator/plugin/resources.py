"""The kinds the plugin reads and writes, and how kubectl names them in its messages."""

from __future__ import annotations

from dataclasses import dataclass

from cloudron_operator.models import GROUP, VERSION


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    namespaced: bool

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION

    @property
    def api_version(self) -> str:
        return f"{GROUP}/{VERSION}"

    @property
    def type_name(self) -> str:
        """As kubectl names the type in errors: `cloudronapps.cloudron.io`."""
        return f"{self.plural}.{GROUP}"

    def reference(self, name: str) -> str:
        """As kubectl names one object when it reports a write: `cloudronapp.cloudron.io/wiki`."""
        return f"{self.kind.lower()}.{GROUP}/{name}"


APPS = Resource("cloudronapps", "CloudronApp", namespaced=True)
BACKUPS = Resource("cloudronbackups", "CloudronBackup", namespaced=True)
CATALOGS = Resource("appcatalogs", "AppCatalog", namespaced=False)
USERS = Resource("cloudronusers", "CloudronUser", namespaced=False)

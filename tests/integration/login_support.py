"""The pieces of a login test: the directory (slapd), the provider (Hydra), the login service and
the operator, wired as a cluster would wire them; the test's users and apps, with unique names."""

from __future__ import annotations

import base64
import io
import secrets
from typing import Any

from kubernetes import client

from cloudron_operator.directory.cli import set_password
from cloudron_operator.k8s import api as k8s
from tests.harness.hydra import HydraServer
from tests.harness.ldap import ADMIN_DN, LdapServer
from tests.harness.localenv import LocalEnv
from tests.harness.login_service import LoginService
from tests.harness.operator_process import OperatorProcess
from tests.integration.apps_support import kubectl_apply

API = "cloudron.io/v1alpha1"


class Platform:
    """One test's identity platform: its ldap and oidc Addons, users and apps, in its namespace."""

    def __init__(
        self,
        api: client.ApiClient,
        env: LocalEnv,
        namespace: str,
        *,
        ldap: LdapServer,
        hydra: HydraServer,
        login: LoginService,
        operator: OperatorProcess,
    ) -> None:
        self.api, self.env, self.namespace = api, env, namespace
        self.ldap, self.hydra, self.login, self.operator = ldap, hydra, login, operator
        self.tag = secrets.token_hex(3)
        self.ldap_addon, self.oidc_addon = f"ldap-{self.tag}", f"oidc-{self.tag}"
        self.passwords: dict[str, str] = {}

    def name(self, base: str) -> str:
        return f"{base}-{self.tag}"

    def create_addons(self, **oidc_options: Any) -> None:
        k8s.apply(
            self.api,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/basic-auth",
                "metadata": {"name": self.ldap_addon, "namespace": self.namespace},
                "stringData": {"username": ADMIN_DN, "password": self.ldap.admin_password},
            },
        )
        ref = {"name": self.ldap_addon, "namespace": self.namespace}
        ldap_spec = {
            "type": "ldap",
            "connection": {"host": self.ldap.host, "port": self.ldap.port, "adminSecretRef": ref},
        }
        oidc_spec = {
            "type": "oidc",
            "connection": {"host": "127.0.0.1", "port": self.hydra.admin_port},
            "options": {"issuer": self.hydra.issuer, **oidc_options},
        }
        for name, spec in ((self.ldap_addon, ldap_spec), (self.oidc_addon, oidc_spec)):
            k8s.apply(
                self.api, {"apiVersion": API, "kind": "Addon", "metadata": {"name": name}, "spec": spec}
            )

    def create_user(self, base: str, *, password: bool = True, **spec: Any) -> str:
        username = self.name(base)
        body = {"username": username, "email": f"{username}@example.com", **spec}
        k8s.apply(
            self.api,
            {"apiVersion": API, "kind": "CloudronUser", "metadata": {"name": username}, "spec": body},
        )
        if password:
            self.passwords[username] = f"{base}-password-{self.tag}"
            set_password(self.api, username, self.namespace, io.StringIO(self.passwords[username] + "\n"))
        return username

    def domain(self, app: str) -> str:
        return f"{app}-{self.tag}.example.com"

    def install(self, app: str, oidc: dict[str, Any], access: dict[str, list[str]] | None = None) -> None:
        """An app with the oidc addon (and ldap, as packages that offer both have)."""
        self.install_app(app, {"oidc": oidc, "ldap": {}}, access)

    def install_walled(
        self, app: str, http_port: int, options: dict[str, Any], access: dict[str, list[str]]
    ) -> None:
        """An app behind the proxyAuth wall (its httpPort: where the test's stand-in app listens)."""
        self.install_app(app, {"proxyAuth": options}, access, http_port=http_port)

    def install_ldap_only(self, app: str) -> None:
        self.install_app(app, {"ldap": {}})

    def install_app(
        self,
        app: str,
        addons: dict[str, Any],
        access: dict[str, list[str]] | None = None,
        *,
        http_port: int = 8000,
    ) -> None:
        """An app whose manifest asks for `addons`, each in this test's Addon of its type."""
        served_by = {"oidc": self.oidc_addon, "proxyAuth": self.oidc_addon, "ldap": self.ldap_addon}
        spec: dict[str, Any] = {
            "image": f"registry.example.com/{app}:1",
            "domain": self.domain(app),
            "manifest": {
                "manifestVersion": 2,
                "version": "1.0.0",
                "title": f"The {app.capitalize()}",
                "httpPort": http_port,
                "addons": addons,
            },
            "addons": {addon: {"addonRef": served_by[addon]} for addon in addons},
        }
        if access is not None:
            spec["access"] = access
        kubectl_apply(
            self.env.cluster,
            {
                "apiVersion": API,
                "kind": "CloudronApp",
                "metadata": {"name": app, "namespace": self.namespace},
                "spec": spec,
            },
        )

    def oidc_env(self, app: str) -> dict[str, str]:
        secret = k8s.get(self.api, "v1", "Secret", self.namespace, f"{app}-oidc") or {}
        return {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}

    def app_uid(self, app: str) -> str:
        found = k8s.get(self.api, API, "CloudronApp", self.namespace, app) or {}
        return str(found.get("metadata", {}).get("uid", ""))

    def cleanup(self) -> None:
        for username in self.passwords:
            k8s.delete(self.api, API, "CloudronUser", None, username)
        for addon in (self.ldap_addon, self.oidc_addon):
            k8s.delete(self.api, API, "Addon", None, addon)

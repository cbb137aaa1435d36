"""`make demo`: the local cluster, the database servers, the operator, the CRDs and the example apps."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudron_operator.models import API_VERSION
from tests.harness import cert_manager, gateway_api, traefik
from tests.harness.binaries import REPO_ROOT, bin_dir
from tests.harness.databases import DatabaseKind, DatabaseServer
from tests.harness.hydra import HydraServer, hydra_database
from tests.harness.ldap import ADMIN_DN as LDAP_ADMIN_DN
from tests.harness.ldap import start_ldap_server
from tests.harness.localenv import LocalEnv
from tests.harness.login_service import LoginService
from tests.harness.operator_process import OperatorProcess, answers_healthy
from tests.harness.processes import LOOPBACK, HarnessError, free_port, spawn, stop_process_group
from tests.harness.turn import TurnServer

DEMO = "demo"
READY_TIMEOUT = "180s"
SYSTEM_NAMESPACE = "cloudron-system"
EXAMPLES_NAMESPACE = "demo"  # examples/00-namespace.yaml
SHARED_SERVERS: tuple[DatabaseKind, ...] = ("postgresql", "mysql")
USERS_NAMESPACE = "cloudron-users"


def demo() -> None:
    env = LocalEnv.named(DEMO)
    say(f"cluster {env.cluster.name}: starting (or reusing)")
    env.cluster.ensure_running()
    servers = {kind: env.database(kind) for kind in SHARED_SERVERS}
    for server in servers.values():
        say(f"{server.kind} {server.version} on {server.host}:{server.port}")
    kubectl = env.cluster.kubectl
    # Our CRDs and cert-manager's; cert-manager's controllers, with the cluster's own CA issuer.
    for crds in (REPO_ROOT / "crds", cert_manager.crds()):
        kubectl("apply", "--server-side", "-f", str(crds))
        kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds))
    _ensure_process(env, "cert-manager", _start_cert_manager)
    cert_manager.install_issuers(env.cluster)
    say(f"cert-manager: ClusterIssuer {cert_manager.LOCAL_CA_ISSUER} issues the apps' certificates")
    # Traefik routes the apps: each app's HTTPRoutes, on a Gateway of its own (Traefik has no ListenerSet).
    gateway_api.install_crds(env.cluster)
    if _ensure_process(env, "traefik", _start_traefik):
        _stop_process(env, "operator")  # one started before gives the apps' Gateways the old port
    router = traefik.TraefikProcess(**json.loads(_state(env, "traefik").read_text()))
    traefik.install_classes(env.cluster, router)
    say(f"traefik: HTTPS on {LOOPBACK}:{router.websecure_port}, its API on {LOOPBACK}:{router.api_port}")
    _ensure_process(env, "stand-ins", _start_stand_ins)
    _ensure_process(env, "turn", _start_turn)
    # Central login: the directory (slapd), the OpenID provider (Hydra, its database in the demo's
    # PostgreSQL) and the login service, whose port the provider must know before either starts.
    _ensure_process(env, "ldap", _start_ldap)
    _ensure_process(env, "hydra", lambda env: _start_hydra(env, servers["postgresql"]))
    kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(_users_namespace()))
    _ensure_process(env, "login", _start_login)
    smtp_port = json.loads(_state(env, "stand-ins").read_text())["smtp_port"]
    turn = json.loads(_state(env, "turn").read_text())
    identity = {process: json.loads(_state(env, process).read_text()) for process in ("ldap", "hydra")}
    kubectl("apply", "--server-side", "-f", "-", stdin=_addon_objects(servers, smtp_port, turn, identity))
    say("stand-ins: claims are bound, as a volume provisioner would")
    _ensure_process(env, "operator", _start_operator)
    examples = REPO_ROOT / "examples"
    kubectl("apply", "--server-side", "-f", str(examples))
    say("applied the example apps from examples/; waiting for them to become Ready")
    try:
        # The examples' namespace only: `make corpus` leaves apps in another that never become Ready.
        wait_for = ("--for=condition=Ready", f"--timeout={READY_TIMEOUT}", "--all", "-n", EXAMPLES_NAMESPACE)
        kubectl("wait", *wait_for, "cloudronapps")
    except HarnessError as error:
        print(kubectl("get", "cloudronapps", "-n", EXAMPLES_NAMESPACE, "-o", "wide"))
        raise HarnessError(
            f"the example apps are not all Ready (log: {_log(env, 'operator')}): {error}"
        ) from error
    print(kubectl("get", "addons"))
    print(kubectl("get", "cloudronapps", "-n", EXAMPLES_NAMESPACE))
    say(f"operator log: {_log(env, 'operator')}")
    say(f"Traefik's routers: curl http://{LOOPBACK}:{router.api_port}/api/http/routers")
    say(
        f"a certificate as Traefik serves it: openssl s_client -connect {LOOPBACK}:{router.websecure_port} "
        "-servername chat.example.com"
    )
    say(f"sign-in pages: {json.loads(_state(env, 'login').read_text())['url']}/account")
    say(f"explore: export PATH={bin_dir()}:$PATH KUBECONFIG={env.cluster.kubeconfig}")
    say("stop everything: make down")


def down() -> None:
    env = LocalEnv.named(DEMO)
    for process in ("operator", "login", "hydra", "ldap", "stand-ins", "turn", "traefik", "cert-manager"):
        _stop_process(env, process)
    env.down()
    say("demo environment removed")


def _addon_objects(
    servers: dict[DatabaseKind, DatabaseServer],
    smtp_port: int,
    turn: dict[str, Any],
    identity: dict[str, Any],
) -> str:
    """A List of the Addons that serve the demo's apps, with the admin Secrets of the shared servers."""
    ldap, hydra = identity["ldap"], identity["hydra"]
    items: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
        # Redis is not shared: the operator runs one per app, so its Addon names no server.
        {
            "apiVersion": API_VERSION,
            "kind": "Addon",
            "metadata": {"name": "redis"},
            "spec": {"type": "redis", "default": True},
        },
        # The stand-ins' SMTP server: it keeps the apps' mail instead of delivering it.
        {
            "apiVersion": API_VERSION,
            "kind": "Addon",
            "metadata": {"name": "sendmail"},
            "spec": {
                "type": "sendmail",
                "default": True,
                "connection": {"host": LOOPBACK, "port": smtp_port},
            },
        },
    ]
    # coturn on loopback: apps derive their TURN credentials from its shared secret.
    items += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "turn-secret", "namespace": SYSTEM_NAMESPACE},
            "stringData": {"secret": turn["secret"]},
        },
        {
            "apiVersion": API_VERSION,
            "kind": "Addon",
            "metadata": {"name": "turn"},
            "spec": {
                "type": "turn",
                "default": True,
                "connection": {
                    "host": LOOPBACK,
                    "port": turn["port"],
                    "adminSecretRef": {"name": "turn-secret", "namespace": SYSTEM_NAMESPACE, "key": "secret"},
                },
            },
        },
    ]
    # The directory and the OpenID provider (proxyAuth apps use the oidc Addon too).
    items += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {"name": "ldap-admin", "namespace": SYSTEM_NAMESPACE},
            "stringData": {"username": LDAP_ADMIN_DN, "password": ldap["admin_password"]},
        },
        {
            "apiVersion": API_VERSION,
            "kind": "Addon",
            "metadata": {"name": "ldap"},
            "spec": {
                "type": "ldap",
                "default": True,
                "connection": {
                    "host": LOOPBACK,
                    "port": ldap["port"],
                    "adminSecretRef": {"name": "ldap-admin", "namespace": SYSTEM_NAMESPACE},
                },
            },
        },
        {
            "apiVersion": API_VERSION,
            "kind": "Addon",
            "metadata": {"name": "oidc"},
            "spec": {
                "type": "oidc",
                "default": True,
                "connection": {"host": LOOPBACK, "port": hydra["admin_port"]},
                "options": {"issuer": f"http://{LOOPBACK}:{hydra['public_port']}/"},
            },
        },
    ]
    for kind in SHARED_SERVERS:
        server, secret_name = servers[kind], f"{kind}-admin"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/basic-auth",
                "metadata": {"name": secret_name, "namespace": SYSTEM_NAMESPACE},
                "stringData": {"username": server.admin_user, "password": server.admin_password},
            }
        )
        connection = {
            "host": server.host,
            "port": server.port,
            "adminSecretRef": {"name": secret_name, "namespace": SYSTEM_NAMESPACE},
        }
        items.append(
            {
                "apiVersion": API_VERSION,
                "kind": "Addon",
                "metadata": {"name": kind},
                "spec": {"type": kind, "default": True, "connection": connection},
            }
        )
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def _state(env: LocalEnv, process: str) -> Path:
    return env.root / f"{process}.json"


def _log(env: LocalEnv, process: str) -> Path:
    return env.root / f"{process}.log"


def _ensure_process(env: LocalEnv, process: str, start: Callable[[LocalEnv], dict[str, Any]]) -> bool:
    """Start `process` unless the one recorded in the state file still answers; whether it started."""
    state = _state(env, process)
    if state.exists():
        recorded = json.loads(state.read_text())
        if _alive(recorded):
            say(f"{process}: already running (pid {recorded['pid']})")
            return False
        stop_process_group(recorded["pid"])
    recorded = start(env)
    state.write_text(json.dumps(recorded))
    state.chmod(0o600)  # the TURN server's secret
    say(f"{process}: running (pid {recorded['pid']}), log {_log(env, process)}")
    return True


def _users_namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": USERS_NAMESPACE}}


def _start_ldap(env: LocalEnv) -> dict[str, Any]:
    server = start_ldap_server(env.root / "ldap")
    return {"pid": server.pid, "port": server.port, "admin_password": server.admin_password}


def _start_hydra(env: LocalEnv, postgres: DatabaseServer) -> dict[str, Any]:
    """Hydra, on the database of the demo's earlier runs if there is one (its clients are kept)."""
    state = _state(env, "hydra")
    recorded = json.loads(state.read_text()) if state.exists() else {}
    dsn = recorded.get("dsn") or hydra_database(postgres)
    login_url = recorded.get("login_url") or f"http://{LOOPBACK}:{free_port()}"
    public, admin = recorded.get("public_port") or free_port(), recorded.get("admin_port") or free_port()
    server = HydraServer(env.root / "hydra", public, admin, login_url, dsn)
    server.system_secret = recorded.get("system_secret") or server.system_secret  # its keys' encryption
    server.start()
    return {
        "pid": server.pid,
        "public_port": public,
        "admin_port": admin,
        "login_url": login_url,
        "dsn": dsn,
        "system_secret": server.system_secret,
    }


def _start_login(env: LocalEnv) -> dict[str, Any]:
    hydra = json.loads(_state(env, "hydra").read_text())
    ldap = json.loads(_state(env, "ldap").read_text())
    port = int(hydra["login_url"].rsplit(":", 1)[1])
    service = LoginService(
        env.cluster.kubeconfig,
        _log(env, "login"),
        f"ldap://{LOOPBACK}:{ldap['port']}",
        USERS_NAMESPACE,
        port=port,
        hydra_admin_url=f"http://{LOOPBACK}:{hydra['admin_port']}",
    ).start()
    return {"pid": service.pid, "url": service.url}


def _start_operator(env: LocalEnv) -> dict[str, int]:
    router = json.loads(_state(env, "traefik").read_text())
    hydra = json.loads(_state(env, "hydra").read_text())
    settings = {
        "CLOUDRON_OPERATOR_USERS_NAMESPACE": USERS_NAMESPACE,
        "CLOUDRON_OPERATOR_LOGIN_URL": hydra["login_url"],
        "CLOUDRON_OPERATOR_ROUTING": "gateway",
        "CLOUDRON_OPERATOR_GATEWAY_LISTENERS": "Gateway",
        "CLOUDRON_OPERATOR_GATEWAY_CLASS": traefik.GATEWAY_CLASS,
        "CLOUDRON_OPERATOR_GATEWAY_HTTPS_PORT": str(router["websecure_port"]),
    }
    operator = OperatorProcess(env.cluster.kubeconfig, _log(env, "operator"), env=settings)
    operator.start()
    say(f"operator: metrics at {operator.metrics_url}")
    return {"pid": operator.pid, "health_port": operator.health_port}


def _start_cert_manager(env: LocalEnv) -> dict[str, int]:
    process = cert_manager.start_controller(env.cluster.kubeconfig, _log(env, "cert-manager"))
    return {"pid": process.pid}


def _start_traefik(env: LocalEnv) -> dict[str, Any]:
    return dataclasses.asdict(traefik.start(env.cluster.kubeconfig, _log(env, "traefik")))


def _start_stand_ins(env: LocalEnv) -> dict[str, int]:
    smtp_port = free_port()
    argv = [sys.executable, "-m", "tests.harness.stand_ins", "--kubeconfig", str(env.cluster.kubeconfig)]
    process = spawn([*argv, "--smtp-port", str(smtp_port)], _log(env, "stand-ins"))
    return {"pid": process.pid, "smtp_port": smtp_port}


def _start_turn(env: LocalEnv) -> dict[str, Any]:
    server = TurnServer(directory=env.root / "turn").start()
    return {"pid": server.pid, "port": server.port, "secret": server.secret}


def _stop_process(env: LocalEnv, process: str) -> None:
    state = _state(env, process)
    if state.exists():
        stop_process_group(json.loads(state.read_text())["pid"])
        state.unlink()


def _alive(recorded: dict[str, Any]) -> bool:
    if "health_port" in recorded:
        return _healthy(recorded["health_port"])
    try:
        os.kill(recorded["pid"], 0)
    except OSError:
        return False
    return True


def _healthy(port: int) -> bool:
    try:
        return answers_healthy(port)
    except OSError:
        return False


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)

"""`make demo`: the local cluster, the database servers, the operator, the CRDs and the example apps."""

from __future__ import annotations

import json
from pathlib import Path

from cloudron_operator.models import API_VERSION
from tests.harness.binaries import REPO_ROOT, bin_dir
from tests.harness.databases import DatabaseKind, DatabaseServer
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess, answers_healthy
from tests.harness.processes import stop_process_group

DEMO = "demo"
SYSTEM_NAMESPACE = "cloudron-system"
SHARED_SERVERS: tuple[DatabaseKind, ...] = ("postgresql", "mysql")


def demo() -> None:
    env = LocalEnv.named(DEMO)
    say(f"cluster {env.cluster.name}: starting (or reusing)")
    env.cluster.ensure_running()
    servers = {kind: env.database(kind) for kind in SHARED_SERVERS}
    for server in servers.values():
        say(f"{server.kind} {server.version} on {server.host}:{server.port}")
    kubectl = env.cluster.kubectl
    kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO_ROOT / "crds"))
    kubectl("apply", "--server-side", "-f", "-", stdin=_addon_objects(servers))
    _ensure_operator(env)
    examples = REPO_ROOT / "examples"
    kubectl("apply", "--server-side", "-f", str(examples))
    say("applied the example apps from examples/")
    print(kubectl("get", "addons"))
    print(kubectl("get", "cloudronapps", "--all-namespaces"))
    say(f"operator log: {_operator_log(env)}")
    say(f"explore: export PATH={bin_dir()}:$PATH KUBECONFIG={env.cluster.kubeconfig}")
    say("stop everything: make down")


def down() -> None:
    env = LocalEnv.named(DEMO)
    _stop_operator(env)
    env.down()
    say("demo environment removed")


def _addon_objects(servers: dict[DatabaseKind, DatabaseServer]) -> str:
    """A List of the Addons that serve the demo's apps, with the admin Secrets of the shared servers."""
    items: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
        # Redis is not shared: the operator runs one per app, so its Addon names no server.
        {
            "apiVersion": API_VERSION,
            "kind": "Addon",
            "metadata": {"name": "redis"},
            "spec": {"type": "redis", "default": True},
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


def _operator_state(env: LocalEnv) -> Path:
    return env.root / "operator.json"


def _operator_log(env: LocalEnv) -> Path:
    return env.root / "operator.log"


def _ensure_operator(env: LocalEnv) -> None:
    state = _operator_state(env)
    if state.exists():
        recorded = json.loads(state.read_text())
        if _healthy(recorded["health_port"]):
            say(f"operator: already running (pid {recorded['pid']})")
            return
        stop_process_group(recorded["pid"])
    operator = OperatorProcess(env.cluster.kubeconfig, _operator_log(env))
    operator.start()
    state.write_text(json.dumps({"pid": operator.pid, "health_port": operator.health_port}))
    say(f"operator: running (pid {operator.pid}), metrics at {operator.metrics_url}")


def _stop_operator(env: LocalEnv) -> None:
    state = _operator_state(env)
    if state.exists():
        stop_process_group(json.loads(state.read_text())["pid"])
        state.unlink()


def _healthy(port: int) -> bool:
    try:
        return answers_healthy(port)
    except OSError:
        return False


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)

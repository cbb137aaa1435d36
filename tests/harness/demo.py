"""`make demo`: the local cluster, the database servers, the operator, the CRDs and the example apps."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.harness.binaries import REPO_ROOT, bin_dir
from tests.harness.databases import DatabaseKind, DatabaseServer
from tests.harness.localenv import DATABASE_KINDS, LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import stop_process_group

DEMO = "demo"
SYSTEM_NAMESPACE = "cloudron-system"
ADDON_NAMES: dict[DatabaseKind, str] = {"postgresql": "postgresql", "mysql": "mysql", "redis": "redis"}


def demo() -> None:
    env = LocalEnv.named(DEMO)
    say(f"cluster {env.cluster.name}: starting (or reusing)")
    env.cluster.ensure_running()
    servers = {kind: env.database(kind) for kind in DATABASE_KINDS}
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
    """A List of the admin Secrets and Addon objects that describe the demo's database servers."""
    items: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}}
    ]
    for kind, server in servers.items():
        secret_name = f"{ADDON_NAMES[kind]}-admin"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret_name, "namespace": SYSTEM_NAMESPACE},
                "stringData": {"username": server.admin_user, "password": server.admin_password},
            }
        )
        items.append(
            {
                "apiVersion": "cloudron.io/v1alpha1",
                "kind": "Addon",
                "metadata": {"name": ADDON_NAMES[kind]},
                "spec": {
                    "type": kind,
                    "default": True,
                    "connection": {
                        "host": server.host,
                        "port": server.port,
                        "adminSecretRef": {"name": secret_name, "namespace": SYSTEM_NAMESPACE},
                    },
                },
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
    say(f"operator: running (pid {operator.pid})")


def _stop_operator(env: LocalEnv) -> None:
    state = _operator_state(env)
    if state.exists():
        stop_process_group(json.loads(state.read_text())["pid"])
        state.unlink()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)

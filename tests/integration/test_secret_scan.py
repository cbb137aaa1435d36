"""The secret scan's collection against the real API server: a namespace's Secrets go into the ledger,
its Events and statuses into the texts, and a secret in either is found. (The session's own scan,
tests/integration/conftest.py, runs the same code over every namespace of the suite.)"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from kubernetes import client

from tests.harness.secret_scan import SecretLedger, collect_namespace, scan_files


def test_a_secret_in_an_event_of_the_namespace_is_found(api_client: client.ApiClient, tmp_path: Path) -> None:
    core = client.CoreV1Api(api_client)
    # A namespace of the test's own, emptied before it goes: the session's scan must not see the leak.
    namespace = f"leak-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(24)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        core.create_namespaced_secret(
            namespace,
            {
                "metadata": {"name": "app-postgresql"},
                "data": {"CLOUDRON_POSTGRESQL_PASSWORD": base64.b64encode(password.encode()).decode()},
            },
        )
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"name": "leak"},
                "involvedObject": {"kind": "Secret", "name": "app-postgresql", "namespace": namespace},
                "reason": "Leak",
                "message": f"connecting with postgres://user:{password}@db/app",
                "type": "Warning",
            },
        )
        ledger = SecretLedger()
        collect_namespace(api_client, namespace, ledger, tmp_path / f"{namespace}.texts")
        hits, _ = scan_files(ledger, [tmp_path / f"{namespace}.texts"])
        (hit,) = hits
        assert hit.secret == f"Secret {namespace}/app-postgresql key CLOUDRON_POSTGRESQL_PASSWORD"
        assert hit.context.startswith(f"Event {namespace}/leak: ") and password not in hit.context
    finally:
        core.delete_collection_namespaced_event(namespace)
        core.delete_collection_namespaced_secret(namespace)
        core.delete_namespace(namespace)

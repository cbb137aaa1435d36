"""How the central directory syncs: N users by M apps into a real slapd (tests/harness/ldap.py), with
the operator's own sync (`cloudron_operator.directory`). Prints figures; not a test.

    python -m bench.directory --users 1000 --apps 50

Figures: the first sync (every entry written), a change of one user (the entries it touches), the
no-op sync at rest (a read of the whole tree, no write), each with its time and LDAP operations, and
the peak RSS of this process (the sync's own memory: it holds the desired and the observed tree).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.harness.binaries import REPO_ROOT
from tests.harness.ldap import ADMIN_DN, LdapServer, start_ldap_server
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess

from bench.audit import OPERATOR_NAMESPACE, AuditLog, count
from bench.environment import APPS_NAMESPACE, prepare
from bench.procstats import cpu_seconds, peak_rss_mib
from cloudron_operator.directory.dit import BASE_DN, DirectoryApp, DirectoryUser, desired_dit
from cloudron_operator.directory.passwords import bind_password_hash, hash_user_password
from cloudron_operator.directory.state import password_secret
from cloudron_operator.directory.sync import (
    PAGE_SIZE,
    DirectoryLogin,
    SyncResult,
    connected,
    converge,
    read_subtree,
)
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION, AccessSpec, CloudronUserSpec

GROUPS = 10


def population(users: int, apps: int) -> tuple[list[DirectoryUser], list[DirectoryApp]]:
    password_hash = hash_user_password("the same password for every user")  # bcrypt is slow: once
    people = [
        DirectoryUser(
            CloudronUserSpec.model_validate(
                {
                    "username": f"user{i}",
                    "email": f"user{i}@example.com",
                    "displayName": f"User Number{i}",
                    "groups": [f"group{i % GROUPS}"],
                    "role": "admin" if i % 100 == 0 else "user",
                }
            ),
            password_hash,
        )
        for i in range(users)
    ]
    # Half the apps are open to everyone, the others to two groups each.
    services = [
        DirectoryApp(
            f"app{j}",
            None if j % 2 == 0 else AccessSpec(groups=(f"group{j % GROUPS}", f"group{(j + 1) % GROUPS}")),
            bind_password_hash(f"bind{j}", f"app{j}"),
        )
        for j in range(apps)
    ]
    return people, services


def timed(step: Callable[[], SyncResult]) -> tuple[float, SyncResult]:
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.directory", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument(
        "--through-operator",
        action="store_true",
        help="on a bench cluster, with the API requests the operator makes",
    )
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.through_operator:
        return through_operator(args.users, args.apps, args.idle_seconds)
    people, services = population(args.users, args.apps)
    with tempfile.TemporaryDirectory(prefix="bench-directory-") as root:
        server = start_ldap_server(Path(root))
        login = DirectoryLogin(server.host, server.port, ADMIN_DN, server.admin_password)
        try:
            desired = desired_dit(people, services)
            with connected(login) as connection:
                first = timed(lambda: converge(connection, desired))
                changed = [*people]
                spec = changed[1].spec.model_copy(update={"groups": ("group1", "group2")})
                changed[1] = DirectoryUser(spec, changed[1].password_hash)
                one = timed(lambda: converge(connection, desired_dit(changed, services)))
                rest = timed(lambda: converge(connection, desired_dit(changed, services)))
        finally:
            server.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    title = f"directory sync, {args.users} users by {args.apps} apps: {len(desired)} entries"
    print(f"| {title} | time (s) | LDAP writes |")
    print("|---|---|---|")
    for what, (seconds, result) in (
        ("first sync", first),
        ("one user changes groups", one),
        ("at rest (no-op)", rest),
    ):
        writes = (
            f"{result.writes} ({result.added} added, {result.modified} changed, {result.deleted} deleted)"
        )
        print(f"| {what} | {seconds:.2f} | {writes} |")
    print(f"| peak RSS of the syncing process (MiB) | {peak:.0f} | |")
    print(f"each sync reads the tree once: {len(desired) // PAGE_SIZE + 1} paged searches of {PAGE_SIZE}")
    return 0


def through_operator(users: int, apps: int, idle_seconds: float) -> int:
    """The same population through the operator on a bench cluster (bench/environment.py: an audit log
    of the operator's own requests): CloudronUsers and password Secrets made first, then the apps,
    then the operator started; converged when the server holds every desired entry."""
    env = LocalEnv.named("bench-directory")
    bench = prepare(env, apps, REPO_ROOT / "crds")
    ldap = start_ldap_server(env.root / "slapd")
    api = bench.admin_client()
    operator = OperatorProcess(
        bench.operator_kubeconfig,
        env.root / "operator.log",
        env={"CLOUDRON_OPERATOR_USERS_NAMESPACE": USERS_NAMESPACE},
    )
    try:
        people, services = population(users, apps)
        keys = _install(api, ldap, people, services)
        expected = len(desired_dit(people, [DirectoryApp(keys[app.key], app.access, "") for app in services]))
        login = DirectoryLogin(ldap.host, ldap.port, ADMIN_DN, ldap.admin_password)
        audit = AuditLog(bench.audit_log)
        started = time.time()
        operator.start()
        while _entries(login) < expected:
            if time.time() - started > CONVERGE_TIMEOUT:
                raise TimeoutError(f"{_entries(login)} of {expected} entries after {CONVERGE_TIMEOUT}s")
            time.sleep(2.0)
        converged = time.time()
        time.sleep(idle_seconds)
        audit.refresh()
        during, rest = count(audit.between(started, converged)), count(audit.between(converged, time.time()))
        operator_rss, operator_cpu = peak_rss_mib(operator.pid), cpu_seconds(operator.pid)
        by_resource = Counter(r.resource for r in audit.between(started, converged))
    finally:
        operator.stop()
        ldap.stop()
        api.close()
        env.down()
    print(f"| through the operator, {users} users by {apps} apps: {expected} entries | |")
    print("|---|---|")
    print(f"| operator start to every entry in the directory (s) | {converged - started:.1f} |")
    print(f"| API requests meanwhile: reads / writes | {during.reads} / {during.writes} |")
    users_requests = by_resource["cloudronusers"] + by_resource["cloudronusers/status"]
    print(f"| of which on CloudronUsers (status included) | {users_requests} |")
    print(f"| API requests in {idle_seconds:.0f}s at rest: reads / writes | {rest.reads} / {rest.writes} |")
    print(f"| operator peak RSS (MiB) · CPU (s) | {operator_rss:.0f} · {operator_cpu:.1f} |")
    return 0


USERS_NAMESPACE = "bench-users"
CONVERGE_TIMEOUT = 900.0


def _install(
    api: client.ApiClient, ldap: LdapServer, people: list[DirectoryUser], services: list[DirectoryApp]
) -> dict[str, str]:
    """Users, their password Secrets, the ldap Addon and the apps; the apps' uids by population key."""
    client.CoreV1Api(api).create_namespace({"metadata": {"name": USERS_NAMESPACE}})
    meta = {"name": "bench-ldap", "namespace": OPERATOR_NAMESPACE}
    login = {"username": ADMIN_DN, "password": ldap.admin_password}
    k8s.create(api, {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": login})
    where = {"host": ldap.host, "port": ldap.port, "adminSecretRef": meta}
    k8s.create(api, _object("Addon", "bench-ldap", {"type": "ldap", "default": True, "connection": where}))
    for person in people:
        user = k8s.apply(
            api,
            _object(
                "CloudronUser", person.spec.username, person.spec.model_dump(mode="json", exclude_none=True)
            ),
        )
        k8s.apply(api, password_secret(user, USERS_NAMESPACE, person.password_hash or ""))
    keys = {}
    manifest = {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000, "addons": {"ldap": {}}}
    for app in services:
        body: dict[str, Any] = {"image": "registry.example.com/bench:1", "manifest": manifest}
        body["domain"] = f"{app.key}.bench.example.com"
        if app.access is not None:
            body["access"] = app.access.model_dump(mode="json")
        created = k8s.apply(api, _object("CloudronApp", app.key, body, APPS_NAMESPACE))
        keys[app.key] = created["metadata"]["uid"]
    return keys


def _object(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def _entries(login: DirectoryLogin) -> int:
    with connected(login) as connection:
        return len(read_subtree(connection, BASE_DN))


if __name__ == "__main__":
    raise SystemExit(main())

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
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.harness.ldap import ADMIN_DN, start_ldap_server

from cloudron_operator.directory.dit import DirectoryApp, DirectoryUser, desired_dit
from cloudron_operator.directory.passwords import bind_password_hash, hash_user_password
from cloudron_operator.directory.sync import PAGE_SIZE, DirectoryLogin, SyncResult, connected, converge
from cloudron_operator.models import AccessSpec, CloudronUserSpec

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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m bench.fuzz --objects 5000`: the long fuzz run (issue #25), on an environment of its own.

A fresh local cluster (LocalEnv "fuzz") with our CRDs and cert-manager's controllers, the harness's
real PostgreSQL and MariaDB, a slapd of its own, and the operator as a subprocess watching one
namespace. Generated CloudronApps, Addons and CloudronUsers (`tests/fuzz/strategies.py`) go to the
API server in batches and are held to `tests/fuzz/invariants.py`; the figures are printed at the end
(per kind and outcome, writes per object, restarts, tracebacks, the injection probes, the time), and
the run exits 1 when any invariant broke. The same seed draws the same objects.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

from kubernetes import client, config
from tests.fuzz.invariants import (
    FuzzEnv,
    FuzzRun,
    LdapProbe,
    Report,
    RunSettings,
    ShellProbe,
    SqlProbe,
    addons_ready,
    closed_port,
    operator_settings,
    prepare,
)
from tests.fuzz.strategies import FuzzContext, FuzzObject, fuzz_objects, generate, regressions, uniquified
from tests.harness import cert_manager
from tests.harness.ldap import start_ldap_server
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.harness.smtp_sink import SmtpSink
from tests.integration.apps_support import install_crds

from bench.phases import say

ENV_NAME = "fuzz"
NAMESPACE = "fuzz"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000, help="objects to generate (5000)")
    parser.add_argument("--batch", type=int, default=100, help="objects sent and waited for at once (100)")
    parser.add_argument("--seed", type=int, default=25, help="hypothesis seed of the first batch (25)")
    parser.add_argument("--resync-seconds", type=float, default=10.0, help="the operator's resync (10)")
    parser.add_argument("--settle-timeout", type=float, default=180.0, help="per batch, seconds (180)")
    parser.add_argument("--max-writes", type=int, default=RunSettings.max_writes)
    parser.add_argument("--max-writes-settled", type=int, default=RunSettings.max_writes_settled)
    parser.add_argument("--keep", action="store_true", help="leave the cluster and servers running")
    parser.add_argument(
        "--env", default=ENV_NAME, help=f"the local environment to create and remove ({ENV_NAME})"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)  # `kill` cleans up as Ctrl-C does
    settings = RunSettings(
        batch_size=args.batch,
        settle_timeout=args.settle_timeout,
        hold_seconds=args.resync_seconds + 3,
        max_writes=args.max_writes,
        max_writes_settled=args.max_writes_settled,
    )
    started = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="cloudron-fuzz-"))
    env = LocalEnv.named(args.env)
    try:
        report = _run(env, args, settings, work)
    finally:
        if not args.keep:
            env.down()
    header = [
        f"# python -m bench.fuzz {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"started {started:%Y-%m-%d %H:%M} UTC; seed {args.seed}; batches of {args.batch}; operator resync "
        f"{args.resync_seconds:.0f} s; {os.cpu_count()} cores, load average at the end "
        f"{os.getloadavg()[0]:.1f}",
        f"work directory (operator log, scratch): {work}",
    ]
    print("\n" + "\n".join(header) + "\n" + report.render(), flush=True)
    return 1 if report.violations else 0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def _run(env: LocalEnv, args: argparse.Namespace, settings: RunSettings, work: Path) -> Report:
    say("a fresh cluster, the CRDs, cert-manager, the database servers and slapd")
    env.cluster.delete()
    env.cluster.create()
    install_crds(env)
    issuer = cert_manager.start_controller(env.cluster.kubeconfig, work / "cert-manager.log")
    ldap = start_ldap_server(work / "ldap")
    smtp = SmtpSink().start()
    api = config.new_client_from_config(config_file=str(env.cluster.kubeconfig))
    try:
        cert_manager.install_issuers(env.cluster)
        postgres, mariadb = env.database("postgresql"), env.database("mysql")
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
        with closed_port() as port:
            context = prepare(
                api,
                NAMESPACE,
                postgres=postgres,
                mariadb=mariadb,
                ldap=ldap,
                smtp_port=smtp.port,
                closed_port=port,
            )
            operator = OperatorProcess(
                env.cluster.kubeconfig,
                work / "operator.log",
                env=operator_settings(NAMESPACE, args.resync_seconds),
            )
            operator.start()
            try:
                wait_until(lambda: addons_ready(api, context), 120, "the run's Addons to be Ready")
                fuzz_env = FuzzEnv(
                    factory=lambda: config.new_client_from_config(config_file=str(env.cluster.kubeconfig)),
                    context=context,
                    operator=operator,
                    sql=SqlProbe(postgres, mariadb),
                    ldap=LdapProbe(ldap),
                    shell=ShellProbe(work),
                    admin_passwords=(postgres.admin_password, mariadb.admin_password, ldap.admin_password),
                )
                say(f"{args.objects} objects in batches of {args.batch}")
                run = FuzzRun(fuzz_env, settings, say=say)
                return run.run(_batches(context, args.objects, args.batch, args.seed))
            finally:
                operator.stop()
    finally:
        api.close()
        ldap.stop()
        smtp.stop()
        cert_manager.stop_controller(issuer.pid)
        shutil.rmtree(work / "ldap", ignore_errors=True)


def _batches(context: FuzzContext, total: int, size: int, seed: int) -> Iterator[list[FuzzObject]]:
    """Drawn a batch at a time, so that a long run holds one batch's objects, not all of them."""
    for number, first in enumerate(range(0, total, size)):
        began = time.monotonic()
        drawn = generate(fuzz_objects(context), min(size, total - first), seed + number)
        say(f"drew {len(drawn)} objects in {time.monotonic() - began:.1f} s")
        if number == 0:  # an object for each bug found so far, beside the first batch
            drawn += regressions(context)
        yield [uniquified(obj, first + i) for i, obj in enumerate(drawn)]


if __name__ == "__main__":
    sys.exit(main())

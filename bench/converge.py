"""`python -m bench.converge --apps N [--apps M ...]`: how the operator converges N apps at once.

Per N, on a fresh cluster of the bench's own environment (LocalEnv "bench") with the harness's real
PostgreSQL server: the API server's ceiling for the same objects from a plain client, the operator's
time to all Ready and its requests per app (counted from the API server's audit log), what it does
at rest, and how it catches up after a SIGKILL. Prints a Markdown table, appends it to
bench/results/<date>.md, and exits 1 when apps do not converge. Method: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.paths import REPO

from bench import apps as bench_apps
from bench import snapshot
from bench.audit import AuditLog
from bench.environment import APPS_NAMESPACE, ENV_NAME, create_volumes, prepare
from bench.phases import (
    SPEC_CHANGE_SAMPLE,
    Settings,
    at_rest,
    converge,
    measure_ceiling,
    restart,
    say,
    spec_change,
    watching,
)
from bench.procstats import processes_named
from bench.report import Run, append_results, table
from cloudron_operator.config import OperatorConfig, load_config

DEFAULT_APPS = (50, 200, 1000)
NOT_READY_SHOWN = 10


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.converge", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--apps", type=int, action="append", help="apps to apply at once; repeatable (default: 50, 200, 1000)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=300.0, help="at-rest window, at least (default 300)"
    )
    parser.add_argument(
        "--wait-for-resyncs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="make the at-rest window longer than --idle-seconds if needed, until every app had its "
        "resync pass (default: on)",
    )
    parser.add_argument(
        "--quiet-seconds", type=float, default=5.0, help="restart: no request for this long = caught up (5)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="limit of each wait, seconds (1800)")
    parser.add_argument("--client-workers", type=int, default=4, help="threads of the bench's clients (4)")
    parser.add_argument("--max-workers", type=int, help="CLOUDRON_OPERATOR_MAX_WORKERS (operator default)")
    parser.add_argument("--resync-seconds", type=float, help="CLOUDRON_OPERATOR_RESYNC_SECONDS (default)")
    parser.add_argument(
        "--operator-ref",
        help="measure the operator (and CRDs) of this git ref, e.g. HEAD (default: working tree)",
    )
    parser.add_argument(
        "--py-spy",
        choices=("wall", "cpu"),
        help="record the operator with py-spy: every thread (wall) or the GIL holder (cpu)",
    )
    parser.add_argument(
        "--no-qps-limits",
        action="store_true",
        help="run controller-manager, scheduler and kwok without their client rate limits",
    )
    parser.add_argument("--keep", action="store_true", help="leave the last cluster and servers running")
    parser.add_argument(
        "--env", default=ENV_NAME, help=f"name of the local environment to create and remove ({ENV_NAME})"
    )
    parser.add_argument("--no-save", action="store_true", help="print only; do not append to bench/results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # `kill` stops a run as Ctrl-C does: the cluster and database servers are removed on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    counts: list[int] = args.apps or list(DEFAULT_APPS)
    operator_env = {"CLOUDRON_OPERATOR_NAMESPACES": APPS_NAMESPACE}
    if args.max_workers is not None:
        operator_env["CLOUDRON_OPERATOR_MAX_WORKERS"] = str(args.max_workers)
    if args.resync_seconds is not None:
        operator_env["CLOUDRON_OPERATOR_RESYNC_SECONDS"] = str(args.resync_seconds)
    work_dir = Path(tempfile.mkdtemp(prefix="cloudron-bench-"))
    # The operator runs from a copy taken now: edits to the working tree during a long run do not mix in.
    code = snapshot.take(work_dir / "src", args.operator_ref)
    operator_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(code.pythonpath), os.environ.get("PYTHONPATH")])
    )
    config = load_config({**os.environ, **operator_env})
    settings = Settings(
        args.idle_seconds,
        args.quiet_seconds,
        args.timeout,
        args.client_workers,
        work_dir,
        args.py_spy,
        config.resync_seconds if args.wait_for_resyncs else None,
        qps_limits=not args.no_qps_limits,
    )
    started = datetime.now(UTC)
    header = _context(argv, settings, config, code)
    env = LocalEnv.named(args.env)
    runs: list[Run] = []
    try:
        for n in counts:
            runs.append(_run(env, n, settings, operator_env, code.crds))
    finally:
        if not args.keep:
            env.down()
    text = _render(started, header, runs)
    print("\n" + text, flush=True)
    if not args.no_save:
        results = append_results(started, text)
        say(f"appended to {results.relative_to(REPO)}")
    failed = [run for run in runs if run.failed]
    if failed:
        print(f"error: {len(failed)} run(s) did not converge or catch up: see the table", file=sys.stderr)
        return 1
    return 0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def _run(env: LocalEnv, n: int, settings: Settings, operator_env: dict[str, str], crds: Path) -> Run:
    run = Run(n, load_average=os.getloadavg()[0])
    operator: OperatorProcess | None = None
    bench = None
    try:
        say(f"N={n}: a fresh cluster")
        bench = prepare(env, n, crds, qps_limits=settings.qps_limits)
        run.other_clusters = len(processes_named("kube-apiserver")) - 1
        run.ceiling = measure_ceiling(bench, n, settings)
        api = bench.admin_client()
        names = [bench_apps.app_name(i) for i in range(n)]
        claims = [bench_apps.data_claim(name) for name in names]
        create_volumes(api, APPS_NAMESPACE, claims, settings.client_workers, settings.timeout)
        api.close()
        operator = OperatorProcess(
            bench.operator_kubeconfig, settings.work_dir / f"operator-{n}.log", operator_env
        )
        audit = AuditLog(bench.audit_log)
        with watching(bench, names) as timeline:
            say(f"N={n}: applying {n} apps")
            run.convergence = converge(bench, operator, audit, timeline, settings)
            if run.convergence.all_ready_seconds is None:
                return run
            ready_after = run.convergence.all_ready_seconds
            say(
                f"N={n}: all Ready after {ready_after:.1f}s; at rest for {settings.idle_seconds:.0f}s or more"
            )
            run.rest = at_rest(operator, audit, timeline, run.convergence.ended_at, settings)
            say(f"N={n}: SIGKILL and restart")
            run.restart = restart(operator, audit, timeline, settings)
            say(f"N={n}: a spec change of up to {SPEC_CHANGE_SAMPLE} apps at rest")
            run.spec_change = spec_change(bench, audit, timeline, settings)
    except Exception as error:  # noqa: BLE001 - the table still shows what was measured; the run fails
        traceback.print_exc()
        run.errors.append(f"{type(error).__name__}: {error}".splitlines()[0])
    finally:
        if operator is not None:
            operator.stop()
        if bench is not None and bench.audit_log.exists():
            shutil.copy(bench.audit_log, settings.work_dir / f"audit-{n}.log")
    return run


def _context(
    argv: Sequence[str] | None, settings: Settings, config: OperatorConfig, code: snapshot.Snapshot
) -> list[str]:
    command = " ".join(["python -m bench.converge", *(sys.argv[1:] if argv is None else argv)])
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"`{command}`",
        f"- machine: {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, shared (see the load row)",
        f"- operator: {code.description} (code digest {code.digest}); resync {config.resync_seconds:.0f} s, "
        f"max workers {config.max_workers}, watching namespace {APPS_NAMESPACE}, "
        "as its own ServiceAccount (cluster-admin)",
        "- apps: manifestVersion 2, localstorage on every app (a pre-bound PersistentVolume), postgresql on "
        "half (the harness's PostgreSQL server), one replica each; the bench marks Certificates issued",
        f"- cluster: controller-manager, scheduler and kwok {'with' if settings.qps_limits else 'without'} "
        "their client rate limits (QPS)",
        f"- bench: {settings.client_workers} client threads; at rest {settings.idle_seconds:.0f} s"
        f"{' or until every app had its resync' if settings.resync_seconds else ''}; "
        f"restart quiet period {settings.quiet_seconds:.0f} s; "
        f"logs, audit logs and profiles in {settings.work_dir}",
    ]


def _render(started: datetime, header: list[str], runs: list[Run]) -> str:
    lines = [f"## {started:%Y-%m-%d %H:%M} UTC", "", *header, "", table(runs)]
    for run in runs:
        for error in run.errors:
            lines.append(f"\n**N = {run.apps} failed**: {error}")
        if run.convergence is not None and run.convergence.not_ready:
            shown = run.convergence.not_ready[:NOT_READY_SHOWN]
            lines.append(f"\nN = {run.apps}, not Ready: " + "; ".join(shown))
    return "\n".join(lines)


if __name__ == "__main__":
    started_at = time.monotonic()
    exit_code = main()
    say(f"done in {time.monotonic() - started_at:.0f}s")
    sys.exit(exit_code)

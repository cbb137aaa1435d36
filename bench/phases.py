"""The four measurements of one run: the API server's ceiling, convergence, at rest, restart."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until

from bench import apps as bench_apps
from bench.audit import AuditLog, Counts, apps_touched, count, last_activity
from bench.environment import (
    APPS_NAMESPACE,
    CEILING_NAMESPACE,
    BenchCluster,
    addon_ready,
    create_volumes,
    delete_namespace,
    delete_volumes,
)
from bench.oplog import RESUME_DONE, RESYNC_DONE, apps_handled
from bench.procstats import cpu_seconds, peak_rss_mib, pid_from_file, profiled, total_cpu_seconds
from bench.watchers import CertificateIssuer, Timeline, Watcher
from cloudron_operator.k8s import api as k8s

APPS = ("cloudron.io", "v1alpha1", "cloudronapps")
CERTIFICATES = ("cert-manager.io", "v1", "certificates")
DEPLOYMENTS = ("apps", "v1", "deployments")
PROGRESS_EVERY = 15.0
SETTLE_LIMIT = 120.0  # how long after the last app is Ready the operator may go on writing


@dataclass(frozen=True)
class Settings:
    idle_seconds: float
    quiet_seconds: float
    timeout: float
    client_workers: int
    work_dir: Path
    py_spy: str | None  # wall, cpu or None
    resync_seconds: float | None  # the operator's; None: the at-rest window does not wait for resyncs
    qps_limits: bool = True  # the cluster's controllers keep their client rate limits


@dataclass
class Ceiling:
    objects: int = 0
    seconds: float = 0.0
    control_plane_cpu: float = 0.0
    # Until every app's Deployment had its pods ready and its Certificate was issued: the cluster's
    # own path after the creates (controller-manager, scheduler, kwok, the cert-manager stand-in).
    running_seconds: float | None = None


@dataclass
class Convergence:
    apps: int = 0
    postgresql_apps: int = 0
    apply_seconds: float = 0.0
    ready: int = 0
    all_ready_seconds: float | None = None
    latencies: list[float] = field(default_factory=list)  # create -> Ready, per app
    lags: list[float] = field(default_factory=list)  # last child ready -> Ready, per app
    requests: Counts | None = None
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    control_plane_cpu: float = 0.0
    bench_cpu: float = 0.0  # the bench's own watches and cert-manager stand-in, on the same CPUs
    not_ready: list[str] = field(default_factory=list)  # "name: reason: message" of those not Ready
    ready_when_settled: int = 0  # apps whose latest Ready was True once the operator settled
    regressions: int = 0  # Ready True -> not True, over all apps, until settled
    regressed_apps: int = 0
    settled_seconds: float | None = None  # until the operator's last write before a quiet period
    first_pass_seconds: float | None = None  # until every app's Certificate existed (its first pass)
    ended_at: float = 0.0  # when it settled (or the wait for it ended)


@dataclass
class AtRest:
    seconds: float = 0.0
    requests: Counts | None = None
    apps_resynced: int = 0  # apps whose resync pass kopf logged in the window
    apps_requested: int = 0  # apps the operator sent a request about in the window
    cpu_seconds: float = 0.0
    ready_at_end: int = 0  # apps whose latest Ready is True at the end of the window


@dataclass
class Restart:
    healthy_seconds: float = 0.0
    caught_up_seconds: float | None = None
    apps_reconciled: int = 0
    resumes_logged: int = 0
    requests: Counts | None = None
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    ready_after: int = 0  # apps whose latest Ready is True once caught up


@dataclass
class SpecChange:
    """One field of sampled apps changed at rest: how long until the operator patched each Deployment."""

    apps: int = 0
    latencies: list[float] = field(default_factory=list)  # spec change -> the Deployment's write, per app
    missing: int = 0  # apps whose Deployment was not written within the timeout


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def _pool_map(workers: int, function: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def control_plane_cpu(bench: BenchCluster) -> float:
    pids = [pid for path in bench.control_plane_pid_files() if (pid := pid_from_file(path)) is not None]
    return total_cpu_seconds(pids)


def measure_ceiling(bench: BenchCluster, n: int, settings: Settings) -> Ceiling:
    """A plain client applies what the operator would for `n` apps, as fast as the API server takes it;
    then the cluster makes them run, as it does for the operator's (the clock goes on until it has)."""
    api = bench.admin_client()
    names = [bench_apps.app_name(i) for i in range(n)]
    try:
        created = _pool_map(
            settings.client_workers,
            lambda i: k8s.create(api, bench_apps.app_object(i, CEILING_NAMESPACE)),
            list(range(n)),
        )
        objects = [obj for app in created for obj in bench_apps.operator_children(app, bench.postgres)]
        claims = [bench_apps.data_claim(name) for name in names]
        create_volumes(api, CEILING_NAMESPACE, claims, settings.client_workers, settings.timeout)
        with watching(bench, names, CEILING_NAMESPACE) as timeline:
            cpu_before = control_plane_cpu(bench)
            start = time.time()
            _pool_map(settings.client_workers, lambda obj: k8s.apply(api, obj), objects)
            result = Ceiling(len(objects), time.time() - start, control_plane_cpu(bench) - cpu_before)
            say(f"ceiling: {result.objects} objects in {result.seconds:.1f}s; waiting until they run")
            result.running_seconds = _running_after(timeline, start, settings.timeout)
        running = result.running_seconds
        say(f"ceiling: {'not running in time' if running is None else f'running after {running:.1f}s'}")
        delete_namespace(api, CEILING_NAMESPACE, settings.timeout)
        delete_volumes(api, CEILING_NAMESPACE, settings.client_workers, settings.timeout)
        return result
    finally:
        api.close()


def _running_after(timeline: Timeline, start: float, timeout: float) -> float | None:
    """Seconds from `start` until every app's children were ready; None past `timeout`."""
    deadline = start + timeout
    while time.time() < deadline:
        done = [t.children_ready for t in timeline.apps.values()]
        if all(done):
            return max(at for at in done if at is not None) - start
        time.sleep(0.2)
    return None


@contextmanager
def watching(bench: BenchCluster, names: list[str], namespace: str = APPS_NAMESPACE) -> Iterator[Timeline]:
    timeline = Timeline(names)
    issuer = CertificateIssuer(bench.admin_client, timeline)
    watchers = [
        Watcher(bench.admin_client, APPS, namespace, timeline.on_app),
        Watcher(bench.admin_client, CERTIFICATES, namespace, issuer.on_certificate),
        Watcher(bench.admin_client, DEPLOYMENTS, namespace, timeline.on_deployment),
    ]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.synced.wait(30)
    try:
        yield timeline
    finally:
        for watcher in watchers:
            watcher.stop()


def converge(
    bench: BenchCluster, operator: OperatorProcess, audit: AuditLog, timeline: Timeline, settings: Settings
) -> Convergence:
    """Apply every app at once (the operator already running and idle); wait until all are Ready."""
    n = len(timeline.apps)
    api = bench.admin_client()
    operator.start()
    wait_until(lambda: addon_ready(api), 60, "the operator to find the PostgreSQL Addon ready")
    time.sleep(2)  # kopf's initial lists and watches are done; they are not the apps' cost
    result = Convergence(apps=n, postgresql_apps=sum(bench_apps.uses_postgresql(i) for i in range(n)))
    cpu_before, control_before = cpu_seconds(operator.pid), control_plane_cpu(bench)
    bench_before = cpu_seconds(os.getpid())

    def create(index: int) -> None:
        k8s.create(api, bench_apps.app_object(index, APPS_NAMESPACE))
        timeline.mark(bench_apps.app_name(index), "created")

    start = time.time()
    with profiled(operator.pid, settings.work_dir, f"converge-{n}", settings.py_spy):
        _pool_map(settings.client_workers, create, list(range(n)))
        result.apply_seconds = time.time() - start
        deadline, next_report = start + settings.timeout, start + PROGRESS_EVERY
        while (waiting := timeline.not_ready()) and time.time() < deadline:
            if time.time() >= next_report:
                say(f"{n - len(waiting)}/{n} apps Ready after {time.time() - start:.0f}s")
                next_report += PROGRESS_EVERY
            time.sleep(0.2)
        ready_at = max((t.ready for t in timeline.apps.values() if t.ready), default=start)
        settled = None if waiting else quiet_after(audit, ready_at, settings.quiet_seconds, SETTLE_LIMIT)
    result.cpu_seconds = cpu_seconds(operator.pid) - cpu_before
    result.peak_rss_mib = peak_rss_mib(operator.pid)
    result.control_plane_cpu = control_plane_cpu(bench) - control_before
    result.bench_cpu = cpu_seconds(os.getpid()) - bench_before
    api.close()
    times = timeline.apps.values()
    ready = [t for t in times if t.ready is not None and t.created is not None]
    result.ready = len(ready)
    result.latencies = [t.ready - t.created for t in ready if t.ready and t.created]
    result.lags = [max(0.0, t.ready - c) for t in ready if t.ready and (c := t.children_ready)]
    end = settled if settled is not None else time.time()
    not_ready_now = timeline.not_ready_now()
    result.ready_when_settled = n - len(not_ready_now)
    result.regressions = sum(t.regressions for t in times)
    result.regressed_apps = sum(t.regressions > 0 for t in times)
    certificates = [t.certificate_seen for t in times if t.certificate_seen is not None]
    if len(certificates) == n:
        result.first_pass_seconds = max(certificates) - start
    if len(ready) == n:
        result.all_ready_seconds = ready_at - start
        result.settled_seconds = None if settled is None else settled - start
    result.not_ready = [
        f"{name}: {timeline.apps[name].ready_reason}: {timeline.apps[name].ready_message}"
        for name in not_ready_now
    ]
    audit.refresh()
    result.requests = count(audit.between(start, end))
    result.ended_at = end
    _save_timeline(timeline, start, settings.work_dir / f"timeline-{n}.json")
    return result


def _save_timeline(timeline: Timeline, start: float, path: Path) -> None:
    """Each app's milestones in seconds from the first create, for a closer look after the run."""
    relative = {
        name: {
            key: (value - start if isinstance(value, float) else value) for key, value in asdict(t).items()
        }
        for name, t in timeline.apps.items()
    }
    path.write_text(json.dumps(relative, indent=1))


def quiet_after(audit: AuditLog, since: float, quiet: float, limit: float) -> float | None:
    """The operator's last write after `since` that no write followed for `quiet` seconds (at most
    `limit` seconds after `since`); `since` itself when it wrote nothing more; None if it never paused.
    """
    while True:
        audit.refresh()
        now = time.time()
        writes = [r.at for r in audit.between(since, now + 1) if r.category == "write"]
        last = max(writes, default=since)
        if now - last >= quiet:
            return last
        if now >= since + limit:
            return None
        time.sleep(0.5)


def at_rest(
    operator: OperatorProcess, audit: AuditLog, timeline: Timeline, since: float, settings: Settings
) -> AtRest:
    """Nothing changes after the operator settled: what does it do meanwhile?

    The window lasts `idle_seconds`, and longer if need be, until every app has had its resync pass
    since it began (kopf logs it; a pass that changes nothing sends no request) and the operator has
    then been quiet for `quiet_seconds`: an app's first resync comes one to two intervals after it was
    created, which a short convergence can leave past the end of a 300 s window. It ends at the latest
    two intervals after `idle_seconds`. Without `settings.resync_seconds`, it lasts `idle_seconds`.
    """
    cpu_before = cpu_seconds(operator.pid)
    end = since + settings.idle_seconds
    limit = end + 2 * (settings.resync_seconds or 0.0)
    time.sleep(max(0.0, end - time.time()))
    while (end := time.time()) < limit:
        audit.refresh()
        requests = audit.between(since, end)
        quiet_since = last_activity(requests) or since
        resynced = apps_handled(operator.log, since, RESYNC_DONE)
        if len(resynced) >= len(timeline.apps) and end - quiet_since >= settings.quiet_seconds:
            break
        time.sleep(1.0)
    audit.refresh()
    requests = audit.between(since, end)
    return AtRest(
        seconds=end - since,
        requests=count(requests),
        apps_resynced=len(apps_handled(operator.log, since, RESYNC_DONE)),
        apps_requested=len(apps_touched(requests)),
        cpu_seconds=cpu_seconds(operator.pid) - cpu_before,
        ready_at_end=len(timeline.apps) - len(timeline.not_ready_now()),
    )


def restart(operator: OperatorProcess, audit: AuditLog, timeline: Timeline, settings: Settings) -> Restart:
    """SIGKILL and start again with every app in place; caught up = every app resumed (kopf logs each
    one; a resume that changes nothing sends no request), then no request for `quiet_seconds`."""
    n = len(timeline.apps)
    killed = time.time()
    operator.kill()
    operator.start()
    result = Restart(healthy_seconds=time.time() - killed)
    caught_up: float | None = None
    with profiled(operator.pid, settings.work_dir, f"restart-{n}", settings.py_spy):
        while time.time() < killed + settings.timeout:
            audit.refresh()
            requests = audit.between(killed, time.time() + 1)
            result.apps_reconciled = len(apps_touched(requests))
            resumed = apps_handled(operator.log, killed, RESUME_DONE, last_start_only=True)
            last = max([*resumed.values(), last_activity(requests) or killed])
            if len(resumed) >= n and time.time() - last >= settings.quiet_seconds:
                caught_up = last
                break
            time.sleep(0.5)
    end = caught_up if caught_up is not None else time.time()
    result.caught_up_seconds = None if caught_up is None else caught_up - killed
    result.requests = count(audit.between(killed, end + 0.001))
    result.cpu_seconds = cpu_seconds(operator.pid)
    result.peak_rss_mib = peak_rss_mib(operator.pid)
    result.resumes_logged = len(apps_handled(operator.log, killed, RESUME_DONE, last_start_only=True))
    result.ready_after = n - len(timeline.not_ready_now())
    return result


SPEC_CHANGE_SAMPLE = 100


def spec_change(bench: BenchCluster, audit: AuditLog, timeline: Timeline, settings: Settings) -> SpecChange:
    """Change one field (a custom env variable) of up to 100 random apps at rest, one after the other,
    and time each from the change to the operator's write of that app's Deployment (audit log)."""
    api = bench.admin_client()
    sampler = random.Random(len(timeline.apps))  # noqa: S311 - which apps to change, not a secret
    names = sampler.sample(sorted(timeline.apps), min(SPEC_CHANGE_SAMPLE, len(timeline.apps)))
    changed: dict[str, float] = {}
    custom = client.CustomObjectsApi(api)
    for name in names:
        changed[name] = time.time()
        patch = {"spec": {"env": {"BENCH_CHANGED_AT": f"{changed[name]:.3f}"}}}
        custom.patch_namespaced_custom_object(*APPS[:2], APPS_NAMESPACE, APPS[2], name, patch)
    api.close()
    written: dict[str, float] = {}
    deadline = time.time() + settings.timeout
    while len(written) < len(names) and time.time() < deadline:
        time.sleep(0.5)
        audit.refresh()
        for request in audit.between(min(changed.values()), time.time() + 1):
            if (
                request.category == "write"
                and request.resource == "deployments"
                and request.name in changed
                and request.at >= changed[request.name]
            ):
                written.setdefault(request.name, request.at)
    return SpecChange(
        apps=len(names),
        latencies=[written[name] - changed[name] for name in names if name in written],
        missing=len(names) - len(written),
    )

"""The chaos run's faults (bench/chaos.py): what is broken, how, and how it is put back.

- `operator`: the operator process SIGKILLed (no cleanup runs, as when its node dies), down for a
  moment, then started again; a watchdog also restarts it when it exits by itself, and counts that.
- `control-plane`: kube-apiserver and etcd SIGKILLed together, down for a moment, then started again
  by kwokctl (`LocalCluster.start`, which leaves the components still running alone). The
  controller manager, the scheduler and kwok keep running and reconnect, as they would.
- `database`: a PostgreSQL or MariaDB server stopped (SIGTERM to its process group), down for a
  moment, then started again on its port with its data (`restart_server`).
- `network`: the loopback proxy in front of a PostgreSQL or MariaDB server cut (every open
  connection closed, new ones dropped), then healed (tests/harness/tcp_proxy.py).

Faults start at random moments and may overlap, at most one per target at a time; each one is
repaired before the run ends, and the time of the last repair is when recovery is measured from.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

from tests.harness.cluster import LocalCluster
from tests.harness.databases import DatabaseServer, restart_server, stop_server
from tests.harness.operator_process import OperatorProcess, answers_healthy
from tests.harness.processes import HarnessError, wait_until
from tests.harness.tcp_proxy import TcpProxy

from bench.procstats import pid_from_file

KINDS = ("operator", "control-plane", "database", "network")
CONTROL_PLANE = ("kube-apiserver", "etcd")
WATCHDOG_SECONDS = 1.0
OPERATOR_START_LIMIT = 600.0  # the operator must answer /healthz within this once the cluster is back
RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Timing:
    """Seconds: between the starts of two faults, and how long each kind of fault lasts."""

    gap: tuple[float, float] = (5.0, 30.0)
    operator_down: tuple[float, float] = (0.0, 10.0)
    control_plane_down: tuple[float, float] = (1.0, 10.0)
    database_down: tuple[float, float] = (2.0, 30.0)
    network_cut: tuple[float, float] = (2.0, 30.0)


@dataclass
class Fault:
    kind: str
    target: str  # operator, kube-apiserver+etcd, postgresql, mysql
    started: float  # epoch seconds
    repaired: float | None = None
    error: str = ""  # the repair failed: the run cannot be trusted

    @property
    def label(self) -> str:
        what = {
            "operator": "SIGKILLed",
            "control-plane": "SIGKILLed and started",
            "database": "stopped and started",
        }
        return f"{self.target} {what.get(self.kind, 'network cut')}"


class SupervisedOperator:
    """The operator process, killed and started by the faults, restarted by a watchdog when it ends by
    itself (counted: a crash the chaos did not cause is a finding)."""

    def __init__(self, process: OperatorProcess) -> None:
        self.process = process
        self.kills = 0
        # The log's tail at each exit nobody asked for: while running, and while starting (which it
        # may do while the API server is away, as a pod in CrashLoopBackOff would).
        self.crashes: list[str] = []
        self.exits_at_start: list[str] = []
        self.slow_starts = 0  # starts that took longer than OperatorProcess's own limit
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, daemon=True, name="operator-watchdog")

    def start(self) -> None:
        with self._lock:
            self._start()
        self._watchdog.start()

    def kill_for(self, seconds: float) -> None:
        """SIGKILL, `seconds` down, then start again (the watchdog stays out of it meanwhile)."""
        with self._lock:
            self.process.kill()
            self.kills += 1
            time.sleep(seconds)
            self._start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self.process.stop()

    def _start(self) -> None:
        """Start and wait for /healthz, also when the API server is away for longer than
        OperatorProcess waits: a process still running is waited for, one that ended is started again."""
        deadline = time.monotonic() + OPERATOR_START_LIMIT
        while True:
            try:
                self.process.start()
                return
            except HarnessError:
                if time.monotonic() > deadline:
                    raise
            if self.process.is_running():
                self.slow_starts += 1
                wait_until(
                    self._ended_or_healthy,
                    max(1.0, deadline - time.monotonic()),
                    "the operator's /healthz",
                )
                if self.process.is_running():
                    return
            self.exits_at_start.append(self._forget())
            time.sleep(RETRY_SECONDS)

    def _ended_or_healthy(self) -> bool:
        return not self.process.is_running() or answers_healthy(self.process.health_port)

    def _forget(self) -> str:
        """The ended process's last words; start() then starts a new one."""
        tail = self.process.log_tail(2000)
        self.process.stop()
        return tail

    def _watch(self) -> None:
        while not self._stopping.wait(WATCHDOG_SECONDS):
            if not self._lock.acquire(blocking=False):
                continue  # a fault holds it: killed on purpose, or starting
            try:
                if not self._stopping.is_set() and not self.process.is_running():
                    self.crashes.append(self._forget())
                    self._start()
            except HarnessError:
                traceback.print_exc()
            finally:
                self._lock.release()


def kill_control_plane(cluster: LocalCluster) -> None:
    """SIGKILL kube-apiserver and etcd, as a crash of the control plane's machine would."""
    for name in CONTROL_PLANE:
        pid = pid_from_file(cluster.directory / "pids" / f"{name}.pid")
        if pid is None:
            raise HarnessError(f"no pid file for {name} in {cluster.directory}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def restart_database(server: DatabaseServer, down: float) -> DatabaseServer:
    """Stop the server, keep its data, and start it again on its port after `down` seconds."""
    stop_server(server, remove_data=False)
    time.sleep(down)
    return restart_server(server)


@dataclass
class Injector:
    """Faults at random moments until `until`; `repair_all` waits for every one to be repaired."""

    cluster: LocalCluster
    operator: SupervisedOperator
    servers: dict[str, DatabaseServer]  # postgresql, mysql: the current process of each (pids change)
    proxies: dict[str, TcpProxy]  # the same kinds: the proxy its Addon points at
    rng: random.Random
    timing: Timing = field(default_factory=Timing)
    faults: list[Fault] = field(default_factory=list)
    _busy: set[str] = field(default_factory=set)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def run(self, until: float) -> None:
        """Inject faults, one every `timing.gap` seconds, until the epoch time `until` or `stop`."""
        while (now := time.time()) < until:
            pause = min(self.rng.uniform(*self.timing.gap), max(0.0, until - now))
            if self._stopping.wait(pause) or time.time() >= until:
                break
            kind = self.rng.choice(KINDS)
            target = self._target(kind)
            with self._lock:
                if target in self._busy:
                    continue
                self._busy.add(target)
            fault = Fault(kind, target, time.time())
            self.faults.append(fault)
            thread = threading.Thread(target=self._inject, args=(fault,), daemon=True, name=fault.label)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """No new fault; those under way are repaired as planned."""
        self._stopping.set()

    def repair_all(self) -> float:
        """Wait until every fault is repaired; when the last repair was (epoch seconds)."""
        for thread in self._threads:
            thread.join()
        return max((fault.repaired or 0.0 for fault in self.faults), default=time.time())

    def counts(self) -> Counter[str]:
        return Counter(fault.label for fault in self.faults)

    @property
    def failed_repairs(self) -> list[Fault]:
        return [fault for fault in self.faults if fault.error]

    def _target(self, kind: str) -> str:
        if kind == "operator":
            return "operator"
        if kind == "control-plane":
            return "kube-apiserver+etcd"
        return self.rng.choice(sorted(self.servers))

    def _inject(self, fault: Fault) -> None:
        try:
            self._break_and_repair(fault)
        except Exception as error:  # noqa: BLE001 - reported with the run: it cannot be trusted
            traceback.print_exc()
            fault.error = f"{type(error).__name__}: {error}".splitlines()[0]
        finally:
            fault.repaired = time.time()
            with self._lock:
                self._busy.discard(fault.target)

    def _break_and_repair(self, fault: Fault) -> None:
        timing, target = self.timing, fault.target
        if fault.kind == "operator":
            self.operator.kill_for(self.rng.uniform(*timing.operator_down))
        elif fault.kind == "control-plane":
            kill_control_plane(self.cluster)
            time.sleep(self.rng.uniform(*timing.control_plane_down))
            self.cluster.start()
        elif fault.kind == "database":
            down = self.rng.uniform(*timing.database_down)
            self.servers[target] = restart_database(self.servers[target], down)
        else:
            self.proxies[target].cut()
            time.sleep(self.rng.uniform(*timing.network_cut))
            self.proxies[target].heal()

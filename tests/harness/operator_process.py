"""The operator as a real subprocess (`python -m cloudron_operator`), which a test can SIGKILL and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.harness.cert_manager import LOCAL_CA_ISSUER
from tests.harness.processes import LOOPBACK, HarnessError, free_port, spawn, stop_process_group, wait_until

START_TIMEOUT = 60.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (name, labels) -> value


class OperatorProcess:
    """One operator instance against a cluster; `start`, `kill` (SIGKILL) and `restart` it at will."""

    def __init__(
        self, kubeconfig: Path, log: Path, env: dict[str, str] | None = None, health_port: int | None = None
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.extra_env = dict(env or {})
        self.health_port = health_port or free_port()
        self.metrics_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def health_url(self) -> str:
        return health_url(self.health_port)

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise HarnessError("the operator is not running")
        return self._process.pid

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            raise HarnessError("the operator is already running")
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            # The local cluster's CA issuer (tests/harness/cert_manager.py): there is no ACME server here.
            "CLOUDRON_OPERATOR_CLUSTER_ISSUER": LOCAL_CA_ISSUER,
            "CLOUDRON_OPERATOR_HEALTH_ADDRESS": f"{LOOPBACK}:{self.health_port}",
            "CLOUDRON_OPERATOR_METRICS_ADDRESS": f"{LOOPBACK}:{self.metrics_port}",
            **self.extra_env,
        }
        with self.log.open("ab") as out:
            out.write(b"--- operator starting ---\n")
        self._process = spawn([sys.executable, "-m", "cloudron_operator", "run"], self.log, env=env)
        try:
            wait_until(self._healthy, START_TIMEOUT, "the operator's /healthz")
        except HarnessError as error:
            raise HarnessError(f"{error}\n--- {self.log} ---\n{self.log_tail()}") from error

    @property
    def saved_metrics(self) -> Path:
        """Each instance's last /metrics, kept as it stops for the session's secret scan."""
        return self.log.with_name(self.log.name + ".metrics")

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers run, as when a node dies or the OOM killer strikes."""
        if self._process is None:
            return
        self._save_metrics()
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        if self._process is None:
            return
        self._save_metrics()
        stop_process_group(self._process.pid)
        self._process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def _save_metrics(self) -> None:
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as response:  # noqa: S310 - loopback http
                text = response.read().decode()
        except OSError as error:  # an operator that is not serving: its log says why
            text = f"# /metrics did not answer: {error}\n"
        with self.saved_metrics.open("a") as out:
            out.write(text)

    def _healthy(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise HarnessError(f"the operator exited with {self._process.returncode}")
        return answers_healthy(self.health_port)


def health_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/healthz"


def answers_healthy(port: int) -> bool:
    """Whether an operator answers 200 on /healthz at `port`; raises OSError when nothing listens."""
    with urllib.request.urlopen(health_url(port), timeout=2) as response:  # noqa: S310 - loopback http
        return int(response.status) == 200


def scrape(operator: OperatorProcess) -> Samples:
    """Every sample the operator's /metrics serves now."""
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:  # noqa: S310 - loopback http
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample of that name and labels; 0 if the operator has not served it yet."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)

"""A real Kubernetes control plane on loopback: kwokctl with its binary runtime.

kwokctl starts etcd, kube-apiserver (RBAC and admission on), kube-controller-manager,
kube-scheduler and the kwok controller as local processes from the binaries that
hack/build-binaries.sh built. kwok simulates nodes and moves scheduled pods to Running/Ready.

kwok's own stages would also end every pod a Job owns as Succeeded at once, so that any Job completes
whatever its container would have done. Here only the scheduler's runs end so (a shell command in the
app's image: nothing runs it here); any other Job's pod stays Running until a test runs its container
as a local process and reports how it ended (`tests.harness.job_process`), as a kubelet would.

kwok serves a pod's logs only from the files its ClusterLogs name, and no program runs to write any:
every container of every pod gets, as its log, one file the harness writes, which says so
(`POD_LOG_LINE`). kwok cannot name the pod or container in it: a ClusterLogs entry names one file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cloudron_operator.builders.identity import COMPONENT_LABEL
from cloudron_operator.builders.redis import TASK_COMPONENT
from tests.harness.binaries import binary, cache_dir, pinned_versions
from tests.harness.processes import LOOPBACK, HarnessError, run, wait_until

NODE_COUNT = 2
START_TIMEOUT = 180.0
START_ATTEMPTS = 3
NODE_LEASE_SECONDS = 8

# What `kubectl logs` prints for any container of any pod of the local cluster.
POD_LOG_LINE = (
    "kwok runs no container: this is the harness's stand-in log, the same for every container of every pod"
)


@dataclass(frozen=True)
class LocalCluster:
    """One kwokctl cluster, identified by its name and kwokctl's working directory."""

    name: str
    workdir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "clusters" / self.name / "kubeconfig.yaml"

    @property
    def directory(self) -> Path:
        return self.workdir / "clusters" / self.name

    def exists(self) -> bool:
        return self.kubeconfig.exists()

    @property
    def audit_log(self) -> Path:
        """Where the API server writes its audit log when the cluster was created with kubeAuditPolicy."""
        return self.directory / "logs" / "audit.log"

    @property
    def pod_log(self) -> Path:
        """The log kwok serves for every container of every pod, in the CRI log format (module doc)."""
        return self.directory / "harness" / "pod.log"

    @property
    def _configuration_stamp(self) -> Path:
        """The digest of the kwokctl configuration the cluster was created with, written once it was."""
        return self.directory / "harness" / "configuration.sha256"

    def _documents(
        self, options: Mapping[str, object] | None, apiserver_args: Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        return [
            _kwokctl_configuration(options, apiserver_args),
            *kwok_stages(),
            _cluster_logs(self.pod_log),
        ]

    def create(
        self, *, options: Mapping[str, object] | None = None, apiserver_args: Mapping[str, str] | None = None
    ) -> None:
        """Create the cluster and its simulated nodes, and wait until the nodes are Ready.

        `options` are more KwokctlConfiguration options, e.g. {"kubeAuditPolicy": path} (the API
        server then writes `audit_log`); `apiserver_args` are more kube-apiserver flags, e.g.
        {"service-cluster-ip-range": "10.96.0.0/16"}.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.name}.kwokctl.yaml"
        documents = self._documents(options, apiserver_args)
        config.write_text("\n---\n".join(json.dumps(document, indent=2) for document in documents))
        # Before the cluster: no pod can ask for its log before the file is there.
        self.pod_log.parent.mkdir(parents=True, exist_ok=True)
        self.pod_log.write_text(_cri_log_line(POD_LOG_LINE))
        self._kwokctl("create", "cluster", "--config", str(config), "--wait", f"{int(START_TIMEOUT)}s")
        self._configuration_stamp.write_text(_digest(documents) + "\n")
        self._kwokctl("scale", "node", "--replicas", str(NODE_COUNT))
        self.wait_ready()

    def start(self) -> None:
        """Start a stopped cluster again (a no-op for the parts already running).

        kwokctl never restarts a component that exits right after it started, and then waits out its
        whole `--wait` (kubernetes-sigs/kwok#1741; the fix, #1742, is not released): a restarted
        cluster hung here once in a CI run. Each shorter attempt starts again what is not running;
        the last failure is raised.
        """
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                wait = START_TIMEOUT / START_ATTEMPTS
                self._kwokctl("start", "cluster", "--wait", f"{int(wait)}s", timeout=wait + 30)
            except HarnessError:
                if attempt == START_ATTEMPTS:
                    raise
            else:
                break
        self.wait_ready()

    def stop(self) -> None:
        self._kwokctl("stop", "cluster")

    def scale_nodes(self, replicas: int, *params: str) -> None:
        """Scale the simulated nodes to `replicas`; `params` are kwokctl `--param` jq expressions.

        For example ".allocatable.pods = 1000" for new nodes: kwokctl's default node takes 110 pods.
        """
        self._kwokctl("scale", "node", "--replicas", str(replicas), *(f"--param={p}" for p in params))

    def delete(self) -> None:
        if self.exists():
            self._kwokctl("delete", "cluster")
        shutil.rmtree(self.directory, ignore_errors=True)

    def ensure_running(self, *, options: Mapping[str, object] | None = None) -> None:
        """Create the cluster (with `options`, see `create`) unless it exists; start it if stopped.

        kwokctl reads the configuration only when it creates a cluster: one created with another (an
        older harness's, without the pod logs or with other stages, or other `options`) is refused
        with a HarnessError rather than reused as if it were this one. Recreating it here would leave
        what runs against it (the demo's operator, Traefik, ...) talking to a cluster that is gone.
        """
        if not self.exists():
            self.create(options=options)
            return
        self._check_configuration(options)
        if not self.is_ready():
            self.start()

    def _check_configuration(self, options: Mapping[str, object] | None) -> None:
        stamp = self._configuration_stamp
        recorded = stamp.read_text().strip() if stamp.is_file() else None
        if recorded == _digest(self._documents(options, None)):
            return
        how = (
            "by a harness that did not record its configuration"
            if recorded is None
            else "with another kwokctl configuration than the harness now gives it"
        )
        raise HarnessError(
            f"cluster {self.name} was created {how} (tests/harness/cluster.py: pod logs, kwok's stages, "
            "options), and kwokctl reads that only at creation: remove it and run again "
            "(`make down` for the demo's cluster, `python -m tests.harness down ENV` for another)"
        )

    def is_ready(self) -> bool:
        try:
            self.kubectl("get", "--raw", "/readyz")
        except HarnessError:
            return False
        return True

    def wait_ready(self) -> None:
        wait_until(self.is_ready, START_TIMEOUT, f"the API server of cluster {self.name}")
        wait_until(self._nodes_ready, START_TIMEOUT, f"{NODE_COUNT} Ready nodes in cluster {self.name}")

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return run([str(binary("kubectl")), "--kubeconfig", str(self.kubeconfig), *args], stdin=stdin)

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """Server-side apply `objects` as the harness's own: its fields are taken over from anyone."""
        items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(items))

    def _nodes_ready(self) -> bool:
        nodes = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
        ready = [
            n
            for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
        ]
        return len(ready) >= NODE_COUNT

    def _kwokctl(self, *args: str, timeout: float = 600) -> str:
        env = {**os.environ, "KWOK_WORKDIR": str(self.workdir)}
        return run([str(binary("kwokctl")), "--name", self.name, *args], env=env, timeout=timeout)


def _kwokctl_configuration(
    options: Mapping[str, object] | None = None, apiserver_args: Mapping[str, str] | None = None
) -> dict[str, object]:
    """kwokctl options: binary runtime, our binaries, loopback only, authorization and admission on."""
    extra_args = [{"key": key, "value": value} for key, value in (apiserver_args or {}).items()]
    patches = [{"name": "kube-apiserver", "extraArgs": extra_args}] if extra_args else []
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        **({"componentsPatches": patches} if patches else {}),
        "options": {
            "runtime": "binary",
            "bindAddress": LOOPBACK,
            # kwok holds each node's Lease (this times the heartbeat factor 5: 40 s; kwokctl's default
            # is 200 s). A restarted kwok is a new holder and manages no pod until the old holder's
            # Lease expires: a cluster restart (tests/integration/test_store.py) left every new pod
            # unready for over three minutes.
            "nodeLeaseDurationSeconds": NODE_LEASE_SECONDS,
            "securePort": True,
            "kubeAuthorization": True,
            "kubeAdmission": True,
            "kubeApiserverBinary": str(binary("kube-apiserver")),
            "kubeControllerManagerBinary": str(binary("kube-controller-manager")),
            "kubeSchedulerBinary": str(binary("kube-scheduler")),
            "kubectlBinary": str(binary("kubectl")),
            "kwokControllerBinary": str(binary("kwok")),
            "etcdBinary": str(binary("etcd")),
            **(options or {}),
        },
    }


def _cluster_logs(pod_log: Path) -> dict[str, Any]:
    """kwok's ClusterLogs: `pod_log` for every container (no `containers`) of every pod (no selector)."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "harness-stand-in-log"},
        "spec": {"logs": [{"logsFile": str(pod_log)}]},
    }


def _cri_log_line(text: str) -> str:
    """`text` as a container runtime logs a line of stdout, which is what kwok reads: `<RFC 3339 time>
    stdout F <text>` (F: a full line). kwok refuses a file of plain lines ("unsupported log format")."""
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return f"{now} stdout F {text}\n"


def _digest(documents: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(list(documents), sort_keys=True).encode()).hexdigest()


# kwok runs no container, so no health check answers: a pod whose readiness probe asks this path
# never becomes Ready (an update whose new version is broken, for the rollback tests). Every other
# pod becomes Ready as kwok's stage makes it.
SIMULATED_UNHEALTHY_PATH = "/simulated-unhealthy"


def kwok_stages() -> list[dict[str, Any]]:
    """kwok's default stages, but `pod-complete` ends only the scheduler's runs (see the module's doc),
    and `pod-ready` leaves alone the pods whose health check is SIMULATED_UNHEALTHY_PATH.

    kwokctl uses its defaults only when its configuration has no Stage at all: these are all of them.
    """
    stages = kwok_default_stages()
    (complete,) = [stage for stage in stages if stage["metadata"]["name"] == "pod-complete"]
    complete["spec"]["selector"]["matchExpressions"].append(
        {"key": f'.metadata.labels["{COMPONENT_LABEL}"]', "operator": "In", "values": [TASK_COMPONENT]}
    )
    (ready,) = [stage for stage in stages if stage["metadata"]["name"] == "pod-ready"]
    unhealthy = (
        f'.spec.containers.[] | select( .readinessProbe.httpGet.path == "{SIMULATED_UNHEALTHY_PATH}" )'
    )
    ready["spec"]["selector"]["matchExpressions"].append(
        {"key": f"{unhealthy} | .name", "operator": "DoesNotExist"}
    )
    return stages


# kwokctl's defaults for a cluster of the binary runtime with a node lease (40 s by default), in its
# order; hack/build-binaries.sh exports them from kwok's module (kustomize/stage/node/fast,
# node/heartbeat-with-lease, pod/fast) into the cache.
KWOK_DEFAULT_STAGES = (
    "node-initialize",
    "node-heartbeat-with-lease",
    "pod-ready",
    "pod-complete",
    "pod-delete",
)


def kwok_stages_dir() -> Path:
    """The directory of kwok's default stages, of the pinned KWOK_VERSION; a HarnessError when not built."""
    directory = cache_dir() / "kwok-stages"
    wanted = pinned_versions()["KWOK_VERSION"]
    stamp = directory / ".version"
    missing = [name for name in KWOK_DEFAULT_STAGES if not (directory / f"{name}.yaml").is_file()]
    if not stamp.is_file() or stamp.read_text().strip() != wanted or missing:
        raise HarnessError(f"kwok {wanted}'s default stages are not in {directory}: run `make binaries`")
    return directory


def kwok_default_stages() -> list[dict[str, Any]]:
    """The Stages kwokctl would give kwok for this cluster, read from the files of kwok's module.

    kwokctl writes them as they are but for the heartbeat's delay: it raises `durationMilliseconds`
    to the node status update frequency and `jitterDurationMilliseconds` to 1.1 times it when those
    are larger. Here that frequency is kwokctl's 10 s default times its heartbeat factor 5, 50 s, below
    the file's 600000/610000 ms: kwokctl keeps the file's values, so nothing is substituted (the
    `{{ }}` in the status templates are kwok's own, which its controller renders for each object).
    Options that raise that frequency above 600 s (nodeStatusUpdateFrequencyMilliseconds,
    heartbeatFactor) would need the rule here.
    """
    directory = kwok_stages_dir()
    return [yaml.safe_load((directory / f"{name}.yaml").read_text()) for name in KWOK_DEFAULT_STAGES]

"""A real Kubernetes control plane on loopback: kwokctl with its binary runtime.

kwokctl starts etcd, kube-apiserver (RBAC and admission on), kube-controller-manager,
kube-scheduler and the kwok controller as local processes from the binaries that
hack/build-binaries.sh built. kwok simulates nodes and moves scheduled pods to Running/Ready.

kwok's own stages would also end every pod a Job owns as Succeeded at once, so that any Job completes
whatever its container would have done. Here only the scheduler's runs end so (a shell command in the
app's image: nothing runs it here); any other Job's pod stays Running until a test runs its container
as a local process and reports how it ended (`tests.harness.job_process`), as a kubelet would.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cloudron_operator.builders.identity import COMPONENT_LABEL
from cloudron_operator.builders.redis import TASK_COMPONENT
from tests.harness.binaries import binary
from tests.harness.processes import LOOPBACK, HarnessError, run, wait_until

NODE_COUNT = 2
START_TIMEOUT = 180.0
START_ATTEMPTS = 3


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
        documents = [_kwokctl_configuration(options, apiserver_args), *kwok_stages()]
        config.write_text("\n---\n".join(json.dumps(document, indent=2) for document in documents))
        self._kwokctl("create", "cluster", "--config", str(config), "--wait", f"{int(START_TIMEOUT)}s")
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
        """Create the cluster (with `options`, see `create`) unless it exists; start it if stopped."""
        if not self.exists():
            self.create(options=options)
        elif not self.is_ready():
            self.start()

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


def kwok_stages() -> list[dict[str, Any]]:
    """kwok's default stages, but `pod-complete` ends only the scheduler's runs (see the module's doc).

    kwokctl uses its defaults only when its configuration has no Stage at all: these are all of them.
    """
    stages: list[dict[str, Any]] = list(yaml.safe_load_all(_KWOK_DEFAULT_STAGES))
    (complete,) = [stage for stage in stages if stage["metadata"]["name"] == "pod-complete"]
    complete["spec"]["selector"]["matchExpressions"].append(
        {"key": f'.metadata.labels["{COMPONENT_LABEL}"]', "operator": "In", "values": [TASK_COMPONENT]}
    )
    return stages


# kwok v0.8.0's defaults as kwokctl would write them for this cluster (the node heartbeat's delay is
# already above its 50 s status update frequency): kustomize/stage/node/fast/node-initialize.yaml,
# node/heartbeat-with-lease/node-heartbeat-with-lease.yaml, pod/fast/pod-{ready,complete,delete}.yaml.
_KWOK_DEFAULT_STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type  | Quote}}
      {{ end }}

      {{ $hasInternalIP := false }}
      {{ $hasHostname := false }}
      {{ range .status.addresses }}
        {{ if eq .type "InternalIP" }}
          {{ $hasInternalIP = true }}
        {{ end }}
        {{ if eq .type "Hostname" }}
          {{ $hasHostname = true }}
        {{ end }}
      {{ end }}
      {{ if or (not $hasInternalIP) (not $hasHostname) }}
      addresses:
      {{ end }}
      {{ if not $hasInternalIP }}
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ end }}
      {{ if not $hasHostname }}
      {{ with NodeName }}
      - address: {{ . | Quote }}
        type: Hostname
      {{ end }}
      {{ end }}

      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}

      allocatable:
      {{ with .status.allocatable }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}
      capacity:
      {{ with .status.capacity }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}

      {{ $nodeInfo := .status.nodeInfo }}
      {{ $kwokVersion := printf "kwok-%s" Version }}
      nodeInfo:
        architecture: {{ or $nodeInfo.architecture "amd64" }}
        bootID: {{ or $nodeInfo.bootID `""` }}
        containerRuntimeVersion: {{ or $nodeInfo.containerRuntimeVersion $kwokVersion }}
        kernelVersion: {{ or $nodeInfo.kernelVersion $kwokVersion }}
        kubeProxyVersion: {{ or $nodeInfo.kubeProxyVersion $kwokVersion }}
        kubeletVersion: {{ or $nodeInfo.kubeletVersion $kwokVersion }}
        machineID: {{ or $nodeInfo.machineID `""` }}
        operatingSystem: {{ or $nodeInfo.operatingSystem "linux" }}
        osImage: {{ or $nodeInfo.osImage `""` }}
        systemUUID: {{ or $nodeInfo.systemUUID `""` }}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat-with-lease
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
  delay:
    durationMilliseconds: 600000
    jitterDurationMilliseconds: 610000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}

      addresses:
      {{ with .status.addresses }}
      {{ YAML . 1 }}
      {{ else }}
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ with NodeName }}
      - address: {{ . | Quote }}
        type: Hostname
      {{ end }}
      {{ end }}

      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}

      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}

      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq .restartPolicy "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      {{ $hostIPs := NodeIPsWith .spec.nodeName }}
      {{ with $hostIPs }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values:
      - 'Job'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    delete: true
"""  # noqa: E501 - kwok's own text, unwrapped

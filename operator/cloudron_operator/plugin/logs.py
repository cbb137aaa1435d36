"""`logs`: the app's pods' logs from the API server's pod log endpoint, every container by default.

With several streams each line starts with `[pod/<pod>/<container>] `, as `kubectl logs --prefix`
writes it; `--follow` reads every stream at once, each on a thread of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import urllib3

from cloudron_operator.builders.identity import AppIdentity, workload_selector
from cloudron_operator.plugin.kube import Cluster, PluginError


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail: int | None = None
    since_seconds: int | None = None
    container: str | None = None


@dataclass(frozen=True)
class Stream:
    pod: str
    container: str

    @property
    def prefix(self) -> str:
        return f"[pod/{self.pod}/{self.container}] "


def label_selector(app: Mapping[str, Any]) -> str:
    """The selector of the app's own pods, as the operator labels them."""
    meta = app["metadata"]
    identity = AppIdentity(name=meta["name"], namespace=meta["namespace"], uid=meta.get("uid", ""))
    return ",".join(f"{key}={value}" for key, value in sorted(workload_selector(identity).items()))


def streams(pods: Iterable[Mapping[str, Any]], container: str | None) -> list[Stream]:
    """Each pod's containers (init containers left out), or only `container`, by pod name."""
    found = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        found += [Stream(pod["metadata"]["name"], name) for name in names if container in (None, name)]
    return found


def show_logs(
    cluster: Cluster, app: Mapping[str, Any], options: LogOptions, out: TextIO, err: TextIO
) -> bool:
    """Write the logs of the app's pods to `out`, and to `err` as it comes each stream the API server
    refuses; whether every stream was read."""
    namespace, selector = app["metadata"]["namespace"], label_selector(app)
    pods = cluster.call(lambda: cluster.core.list_namespaced_pod(namespace, label_selector=selector))
    pod_dicts = [cluster.api.sanitize_for_serialization(pod) for pod in pods.items]
    if not pod_dicts:
        raise PluginError(f"app {app['metadata']['name']} has no pods in namespace {namespace} ({selector})")
    chosen = streams(pod_dicts, options.container)
    if not chosen:
        raise PluginError(f"no pod of app {app['metadata']['name']} has a container {options.container}")
    prefixed = len(chosen) > 1
    lock = threading.Lock()
    failed: list[Stream] = []

    def copy(stream: Stream) -> None:
        try:
            for line in _lines(cluster, namespace, stream, options):
                with lock:
                    out.write((stream.prefix if prefixed else "") + line)
                    out.flush()
        except PluginError as error:
            said = (
                f"the API server answered {error.server_reason}: {error}"
                if error.server_reason
                else str(error)
            )
            with lock:
                failed.append(stream)
                err.write(f"error: pod {stream.pod}, container {stream.container}: {said}\n")
                err.flush()

    _run_all(copy, chosen, at_once=options.follow)
    return not failed


def _run_all(copy: Callable[[Stream], None], chosen: list[Stream], *, at_once: bool) -> None:
    if not at_once:
        for stream in chosen:
            copy(stream)
        return
    threads = [threading.Thread(target=copy, args=(stream,), daemon=True) for stream in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A timeout lets Ctrl-C reach the main thread; the daemon threads end with the process.
        while thread.is_alive():
            thread.join(timeout=0.5)


def _lines(cluster: Cluster, namespace: str, stream: Stream, options: LogOptions) -> Iterable[str]:
    """The stream's lines as the API server sends them; a refusal (kwok serves no logs unless its
    ClusterLogs say where they are) raised as PluginError with the server's message."""
    response = cluster.call(
        lambda: cluster.core.read_namespaced_pod_log(
            stream.pod,
            namespace,
            container=stream.container,
            follow=options.follow,
            tail_lines=options.tail,
            since_seconds=options.since_seconds,
            _preload_content=False,
        )
    )
    try:
        pending = b""
        for chunk in response.stream(4096, decode_content=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode(errors="replace") + "\n"
        if pending:
            yield pending.decode(errors="replace") + "\n"
    except urllib3.exceptions.HTTPError as error:
        raise PluginError(f"the log stream broke off: {error}") from error
    finally:
        response.release_conn()

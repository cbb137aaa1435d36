"""What every command is given: the parsed command line, the cluster it connects to on first use,
the namespace it works in, and where it prints."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from typing import TextIO

from cloudron_operator.plugin.kube import Cluster, Target, connect, context_namespace


@dataclass
class Session:
    args: argparse.Namespace
    out: TextIO
    err: TextIO
    _cluster: Cluster | None = field(default=None, init=False)

    @property
    def target(self) -> Target:
        return Target(
            kubeconfig=getattr(self.args, "kubeconfig", None), context=getattr(self.args, "context", None)
        )

    @cached_property
    def namespace(self) -> str:
        """-n, else the kubeconfig context's namespace, else "default"."""
        given: str | None = getattr(self.args, "namespace", None)
        return given or context_namespace(self.target)

    @property
    def listed_namespace(self) -> str | None:
        """The namespace a listing reads: None with -A (every namespace)."""
        return None if getattr(self.args, "all_namespaces", False) else self.namespace

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = Cluster(connect(self.target))
        return self._cluster

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.api.close()

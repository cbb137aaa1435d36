"""Prometheus metrics: reconciles per kind, apps by phase, addon provisioning time, child applies.

One registry of our own (not the client's global one), served on CLOUDRON_OPERATOR_METRICS_ADDRESS.
Handlers are wrapped by `instrumented`, which keeps the handler's name: kopf identifies a handler
by its qualified name in the progress it stores on objects, so a wrapper must not change it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final, ParamSpec, TypeVar

import kopf
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX: Final = "cloudron_operator"
P = ParamSpec("P")
R = TypeVar("R")


class AppPhases(Collector):
    """CloudronApps by status.phase, counted at scrape time from the apps the operator knows."""

    def __init__(self) -> None:
        self._count: Callable[[], Mapping[str, int]] = dict

    def attach(self, count: Callable[[], Mapping[str, int]]) -> None:
        """Count with `count` (phase -> how many apps), at every scrape."""
        self._count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(f"{PREFIX}_apps", "CloudronApps by status.phase", labels=["phase"])
        counts = self._count()
        for phase in ("Pending", "Installing", "Running", "Stopped", "Error"):
            family.add_metric([phase], counts.get(phase, 0))
        yield family


class Metrics:
    """Every metric of one operator process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            f"{PREFIX}_reconcile",
            "Handler runs per kind and result (ok, retry, error)",
            ["kind", "result"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Handler run time per kind",
            ["kind"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.provision_seconds = Histogram(
            f"{PREFIX}_addon_provision_duration_seconds",
            "Time to provision one addon of one app in its server, per addon type",
            ["type"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.child_applies = Counter(
            f"{PREFIX}_child_applies",
            "Children the apps' passes brought to their desired state, per outcome: created, updated, "
            "unchanged (an apply that changed nothing), known (the live object's managed fields showed "
            "nothing to change: no request)",
            ["outcome"],
            registry=self.registry,
        )
        self.app_phases = AppPhases()
        self.registry.register(self.app_phases)

    def serve(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0", registry=self.registry)  # noqa: S104

    @contextmanager
    def provisioning(self, addon_type: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.provision_seconds.labels(addon_type).observe(time.perf_counter() - started)

    def instrumented(self, kind: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Count and time each run of a handler; its name stays the same for kopf."""

        def wrap(handler: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(handler)
            def run(*args: P.args, **kwargs: P.kwargs) -> R:
                started = time.perf_counter()
                result = "error"
                try:
                    value = handler(*args, **kwargs)
                    result = "ok"
                    return value
                except kopf.TemporaryError:
                    result = "retry"
                    raise
                finally:
                    self.reconciles.labels(kind, result).inc()
                    self.reconcile_seconds.labels(kind).observe(time.perf_counter() - started)

            return run

        return wrap

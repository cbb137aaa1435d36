"""The results as one Markdown table: a row per figure, a column per app count."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.paths import REPO

from bench.audit import Counts
from bench.phases import AtRest, Ceiling, Convergence, Restart, SpecChange

RESULTS_DIR = REPO / "bench" / "results"


def append_results(started: datetime, text: str) -> Path:
    """Append a run's section to bench/results/<date>.md (made with its title the first time)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    results = RESULTS_DIR / f"{started:%Y-%m-%d}.md"
    prefix = "" if results.exists() else f"# Benchmark results of {started:%Y-%m-%d}\n\n"
    with results.open("a") as out:
        out.write(prefix + text + "\n\n")
    return results


TOP_KINDS = 6


@dataclass
class Run:
    apps: int
    ceiling: Ceiling | None = None
    convergence: Convergence | None = None
    rest: AtRest | None = None
    restart: Restart | None = None
    spec_change: SpecChange | None = None
    errors: list[str] = field(default_factory=list)
    load_average: float = 0.0  # the machine's 1-minute load when the run started
    other_clusters: int = 0  # other kube-apiservers running on the machine (other people's tests)

    @property
    def failed(self) -> bool:
        """Some app never became Ready, or was not Ready at a later check, or the restart did not catch up."""
        conv, rest, restart = self.convergence, self.rest, self.restart
        converged = conv is not None and conv.all_ready_seconds is not None
        still_ready = (
            conv is not None
            and conv.ready_when_settled == self.apps
            and rest is not None
            and rest.ready_at_end == self.apps
            and restart is not None
            and restart.ready_after == self.apps
        )
        caught_up = restart is not None and restart.caught_up_seconds is not None
        return bool(self.errors) or not converged or not still_ready or not caught_up


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of fewer than 100 values is the maximum)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "—"
    return f"{numerator / denominator:.2f}x"


def _per_app(counts: Counts | None, apps: int) -> str:
    if counts is None or not apps:
        return "—"
    return (
        f"{counts.total / apps:.1f} ({counts.reads / apps:.1f} read / {counts.writes / apps:.1f} write"
        f" / {counts.dry_runs / apps:.1f} dry-run)"
    )


def _kinds(kinds: Counter[str] | None, divisor: float = 1, digits: int = 0) -> str:
    if not kinds:
        return "0"
    listed = [f"{label} {count / divisor:.{digits}f}" for label, count in kinds.most_common(TOP_KINDS)]
    more = sum(kinds.values()) - sum(count for _, count in kinds.most_common(TOP_KINDS))
    return "; ".join(listed) + (f"; other {more / divisor:.{digits}f}" if more else "")


def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} / {max(values):.1f}"


def rows(run: Run) -> dict[str, str]:
    """The figures of one run by row label, in display order."""
    out = {"machine load at start · other clusters running": f"{run.load_average:.1f} · {run.other_clusters}"}
    out |= _ceiling_rows(run.ceiling, run.apps)
    if run.convergence is not None:
        out |= _convergence_rows(run.convergence, run.ceiling, run.apps)
    if run.rest is not None and run.rest.requests is not None:
        out |= _rest_rows(run.rest, run.rest.requests, run.apps)
    if run.restart is not None and run.restart.requests is not None:
        out |= _restart_rows(run.restart, run.restart.requests, run.apps)
    if run.spec_change is not None:
        out |= _spec_change_rows(run.spec_change)
    return out


def _spec_change_rows(change: SpecChange) -> dict[str, str]:
    latencies = sorted(change.latencies)
    figures = " · ".join(_num(percentile(latencies, q), 2) for q in (50, 99)) if latencies else "—"
    return {
        f"**Spec change at rest**: one field of {change.apps} apps": "",
        "change → Deployment written, p50 · p99 · max (s)": (
            f"{figures} · {_num(latencies[-1], 2) if latencies else '—'}"
        ),
        "Deployments not written": str(change.missing),
    }


def _ceiling_apps_rate(ceiling: Ceiling | None, n: int) -> float | None:
    return n / ceiling.seconds if ceiling and ceiling.seconds else None


def _ceiling_rows(ceiling: Ceiling | None, n: int) -> dict[str, str]:
    if ceiling is None or not n:
        return {"**Ceiling**: plain client, server-side apply": "—"}
    rate = ceiling.objects / ceiling.seconds if ceiling.seconds else None
    return {
        "**Ceiling**: plain client, server-side apply": "",
        "objects applied (per app)": f"{ceiling.objects} ({ceiling.objects / n:.1f})",
        "time (s)": _num(ceiling.seconds),
        "objects/s · apps/s": f"{_num(rate, 0)} · {_num(_ceiling_apps_rate(ceiling, n))}",
        "control-plane CPU (s, apiserver+etcd)": _num(ceiling.control_plane_cpu),
        "every app running after (s): pods ready, Certificate issued · apps/s": (
            f"{_num(ceiling.running_seconds)} · {_num(_running_rate(ceiling, n), 2)}"
        ),
    }


def _running_rate(ceiling: Ceiling | None, n: int) -> float | None:
    return n / ceiling.running_seconds if ceiling and ceiling.running_seconds else None


def _convergence_rows(conv: Convergence, ceiling: Ceiling | None, n: int) -> dict[str, str]:
    all_ready, first_pass, requests = conv.all_ready_seconds, conv.first_pass_seconds, conv.requests
    ceiling_rate = _ceiling_apps_rate(ceiling, n)
    operator_rate = n / all_ready if all_ready else None
    first_rate = n / first_pass if first_pass else None
    settled = "—" if all_ready is None else "still writing 120 s after the last Ready"
    per_app_objects = ceiling.objects / n if ceiling else None
    control_ratio = _ratio(conv.control_plane_cpu, ceiling.control_plane_cpu if ceiling else None)
    return {
        "**Operator: convergence**": "",
        "apps (with postgresql)": f"{conv.apps} ({conv.postgresql_apps})",
        "apps created in (s)": _num(conv.apply_seconds),
        "all Ready after (s)": (
            _num(all_ready) if all_ready is not None else f"**NOT CONVERGED**: {conv.ready}/{n} Ready"
        ),
        "operator's last write (settled) after (s)": (
            _num(conv.settled_seconds) if conv.settled_seconds is not None else settled
        ),
        "apps Ready once settled (Ready→not Ready flips, in apps)": (
            f"{conv.ready_when_settled}/{n} ({conv.regressions} in {conv.regressed_apps})"
        ),
        "apps/s (operator/ceiling)": f"{_num(operator_rate, 2)} ({_ratio(operator_rate, ceiling_rate)})",
        "apps/s, operator/ceiling running (both until the pods are ready)": _ratio(
            operator_rate, _running_rate(ceiling, n)
        ),
        "every app's Certificate created after (s) · apps/s (operator/ceiling)": (
            f"{_num(first_pass)} · {_num(first_rate, 2)} ({_ratio(first_rate, ceiling_rate)})"
        ),
        "create→Ready p50 / p99 / max (s)": _spread(conv.latencies),
        "Ready after its last child was ready p50 / p99 / max (s)": _spread(conv.lags),
        "operator requests per app until settled (read / write / dry-run)": _per_app(requests, n),
        "requests per app, operator/ceiling": _ratio(
            requests.total / n if requests else None, per_app_objects
        ),
        "writes per app, by verb and resource": _kinds(requests.writes_by_kind if requests else None, n, 2),
        "reads per app, by verb and resource": _kinds(requests.reads_by_kind if requests else None, n, 2),
        "operator CPU (s) · per app (ms)": f"{conv.cpu_seconds:.1f} · {1000 * conv.cpu_seconds / n:.0f}",
        "operator peak RSS (MiB)": _num(conv.peak_rss_mib, 0),
        "control-plane CPU (s) (operator/ceiling)": f"{conv.control_plane_cpu:.1f} ({control_ratio})",
        "the bench's own CPU meanwhile (s)": _num(conv.bench_cpu),
    }


def _rest_rows(rest: AtRest, requests: Counts, n: int) -> dict[str, str]:
    return {
        f"**At rest**: {rest.seconds:.0f} s from when the operator settled": "",
        "writes at rest (target 0)": f"{requests.writes}: {_kinds(requests.writes_by_kind)}",
        "reads · dry-run applies at rest": f"{requests.reads} · {requests.dry_runs}",
        "apps resynced (operator log) · sent a request about (audit)": (
            f"{rest.apps_resynced}/{n} · {rest.apps_requested}/{n}"
        ),
        "operator CPU at rest (s)": _num(rest.cpu_seconds, 2),
        "apps Ready at the end of the window": f"{rest.ready_at_end}/{n}",
    }


def _restart_rows(restart: Restart, requests: Counts, n: int) -> dict[str, str]:
    caught_up = restart.caught_up_seconds
    return {
        "**Restart**: SIGKILL, start again": "",
        "/healthz answers after (s)": _num(restart.healthy_seconds),
        "caught up after (s)": _num(caught_up) if caught_up is not None else "**NOT CAUGHT UP**",
        "apps Ready once caught up": f"{restart.ready_after}/{n}",
        "apps sent a request about (audit) · resumed (operator log)": (
            f"{restart.apps_reconciled}/{n} · {restart.resumes_logged}"
        ),
        "requests per app after restart (read / write / dry-run)": _per_app(requests, n),
        "writes after restart (target 0)": f"{requests.writes}: {_kinds(requests.writes_by_kind)}",
        "operator CPU (s) · peak RSS (MiB)": f"{restart.cpu_seconds:.1f} · {restart.peak_rss_mib:.0f}",
    }


def table(runs: list[Run]) -> str:
    """Rows in first-seen order, one column per run."""
    columns = [rows(run) for run in runs]
    labels: list[str] = []
    for column in columns:
        labels += [label for label in column if label not in labels]
    header = "| figure | " + " | ".join(f"N = {run.apps}" for run in runs) + " |"
    lines = [header, "|---|" + "---:|" * len(runs)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(column.get(label, "") for column in columns) + " |")
    return "\n".join(lines)

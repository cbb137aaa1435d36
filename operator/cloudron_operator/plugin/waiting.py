"""`--wait`: read an object until a verdict says it is done or failed, with a progress line on stderr.

The verdicts are pure functions of the object read. Each first waits for the operator to have seen
the spec written (status.observedGeneration): the conditions of an older spec say nothing of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TextIO

from cloudron_operator.plugin.kube import PluginError
from cloudron_operator.plugin.views import condition

POLL_SECONDS: Final = 1.0
UPDATE_IN_PROGRESS: Final = frozenset({"BackingUp", "Updating", "RollingBack"})
UPDATE_FAILED: Final = frozenset({"Failed", "RolledBack"})

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    state: str  # what the progress line says
    done: bool = False
    failure: str | None = None  # set: the wait ends with this error


class Progress:
    """One line rewritten in place on a terminal; elsewhere (a log, CI) a plain line per new state."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.last_state: str | None = None

    def show(self, subject: str, state: str, elapsed: float) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{subject}: {state} ({int(elapsed)}s)")
        elif state != self.last_state:
            self.stream.write(f"{subject}: {state}\n")
        self.last_state = state
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.last_state is not None:
            self.stream.write("\n")
            self.stream.flush()


def wait_for(
    read: Callable[[], Obj],
    judge: Callable[[Obj], Verdict],
    *,
    subject: str,
    timeout: float,
    progress: Progress,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Obj:
    """Read and judge until done (the object is returned) or failed or out of time (PluginError)."""
    start = clock()
    try:
        while True:
            obj = read()
            verdict = judge(obj)
            progress.show(subject, verdict.state, clock() - start)
            if verdict.failure is not None:
                raise PluginError(verdict.failure)
            if verdict.done:
                return obj
            if clock() - start >= timeout:
                raise PluginError(f"timed out after {int(timeout)}s waiting for {subject}: {verdict.state}")
            sleep(POLL_SECONDS)
    finally:
        progress.finish()


def _stale(obj: Obj, generation: int) -> bool:
    observed = (obj.get("status") or {}).get("observedGeneration")
    return observed is None or int(observed) < generation


def _said(cond: Mapping[str, Any]) -> str:
    """A condition as a progress line or an error says it: `False PodsNotReady: 0/1 pods ready`."""
    if not cond:
        return "no condition yet"
    text = f"{cond.get('status')} {cond.get('reason', '')}".strip()
    return f"{text}: {cond['message']}" if cond.get("message") else text


def installed(app: Obj) -> Verdict:
    """Ready=True at the app's generation; Stalled=True (a spec to fix) fails."""
    if _stale(app, int(app["metadata"].get("generation", 1))):
        return Verdict("waiting for the operator")
    ready = condition(app, "Ready")
    phase = (app.get("status") or {}).get("phase") or "Pending"
    if ready.get("status") == "True":
        return Verdict(f"{phase}, Ready", done=True)
    if condition(app, "Stalled").get("status") == "True":
        return Verdict(phase, failure=f"{app['metadata']['name']} cannot become Ready: {_said(ready)}")
    return Verdict(f"{phase}, Ready={_said(ready)}")


def updated(target: str, generation: int) -> Callable[[Obj], Verdict]:
    """The app runs `target` (status.version) and no update to it is under way; Updated=False (the
    update rolled back, or a rule blocks it) fails."""

    def judge(app: Obj) -> Verdict:
        if _stale(app, generation):
            return Verdict("waiting for the operator")
        status = app.get("status") or {}
        update = status.get("update") or {}
        this_update = update.get("toVersion") == target
        name = app["metadata"]["name"]
        cond = condition(app, "Updated")
        if cond.get("status") == "False":
            return Verdict(_said(cond), failure=f"{name} was not updated to {target}: {_said(cond)}")
        if this_update and update.get("phase") in UPDATE_FAILED:
            why = update.get("message") or update.get("reason") or "see its events"
            return Verdict(
                update["phase"], failure=f"{name} was not updated to {target}: {update['phase']}: {why}"
            )
        running = status.get("version")
        if running == target and not (this_update and update.get("phase") in UPDATE_IN_PROGRESS):
            return Verdict(f"running {target}", done=True)
        if this_update and update.get("phase"):
            return Verdict(f"{update['phase']} {update.get('fromVersion', '?')} -> {target}")
        return Verdict(f"running {running or '<none>'}, waiting for {target}")

    return judge


def restored(backup: str, generation: int) -> Callable[[Obj], Verdict]:
    """Restored=True at the generation that asked for `backup`; False fails."""

    def judge(app: Obj) -> Verdict:
        if _stale(app, generation):
            return Verdict("waiting for the operator")
        cond = condition(app, "Restored")
        name = app["metadata"]["name"]
        if cond.get("status") == "True":
            return Verdict(_said(cond), done=True)
        if cond.get("status") == "False":
            return Verdict(_said(cond), failure=f"{name} was not restored from {backup}: {_said(cond)}")
        return Verdict(_said(cond))

    return judge


def backed_up(backup: Obj) -> Verdict:
    """The CloudronBackup's phase Succeeded; Failed fails (with its Ready condition's message)."""
    phase = (backup.get("status") or {}).get("phase") or "Pending"
    if phase == "Succeeded":
        return Verdict(phase, done=True)
    if phase == "Failed":
        ready = condition(backup, "Ready")
        return Verdict(phase, failure=f"backup {backup['metadata']['name']} failed: {_said(ready)}")
    return Verdict(phase)

"""The API server's audit log: every request the operator made, by verb, resource and time.

The bench runs the operator as a ServiceAccount of its own and gives the API server a policy
that logs only that user's requests: reads at Metadata level, writes with their request body (to
see *what* a write changed when a figure needs explaining). Each request is kept once
(by auditID: a watch logs a ResponseStarted and a ResponseComplete event), timed by
`requestReceivedTimestamp`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

OPERATOR_NAMESPACE = "bench-system"
OPERATOR_ACCOUNT = "cloudron-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"

POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Request", "users": [OPERATOR_USER], "verbs": ["create", "update", "patch", "delete"]},
        {"level": "Metadata", "users": [OPERATOR_USER]},
        {"level": "None"},
    ],
}
READ_VERBS = frozenset({"get", "list", "watch"})
# Bench apps are named app-0000, app-0001...; their children and databases carry the name.
_APP_NAME = re.compile(r"\bapp-\d{4,}\b")


@dataclass(frozen=True)
class Request:
    at: float  # when the API server received it, epoch seconds
    verb: str
    resource: str  # "deployments", "cloudronapps/status", ...
    name: str
    query: str
    user_agent: str

    @property
    def dry_run(self) -> bool:
        return "dryRun" in parse_qs(self.query)

    @property
    def category(self) -> str:
        """read (get, list, watch), dry-run (a write the server only simulates) or write."""
        if self.verb in READ_VERBS:
            return "read"
        return "dry-run" if self.dry_run else "write"

    @property
    def label(self) -> str:
        return f"{self.verb} {self.resource}"

    def app(self) -> str | None:
        """The bench app this request is about, from the object's name or the label selector."""
        found = _APP_NAME.search(self.name) or _APP_NAME.search(
            " ".join(parse_qs(self.query).get("labelSelector", []))
        )
        return found.group(0) if found else None


@dataclass
class AuditLog:
    """Reads the log incrementally; `requests` grows with every `refresh`."""

    path: Path
    requests: list[Request] = field(default_factory=list)
    _offset: int = 0
    _inode: int | None = None
    _seen: set[str] = field(default_factory=set)

    def refresh(self) -> None:
        with self.path.open("rb") as log:
            inode = os.fstat(log.fileno()).st_ino
            if self._inode is not None and inode != self._inode:
                raise RuntimeError(f"{self.path} was rotated: requests would be missed")
            self._inode = inode
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk.rfind(b"\n") + 1  # a line still being written waits for the next refresh
        self._offset += complete
        for line in chunk[:complete].splitlines():
            if line.strip():
                self._add(json.loads(line))

    def between(self, start: float, end: float) -> list[Request]:
        return [r for r in self.requests if start <= r.at < end]

    def _add(self, event: dict[str, Any]) -> None:
        if event.get("user", {}).get("username") != OPERATOR_USER or event["auditID"] in self._seen:
            return
        self._seen.add(event["auditID"])
        ref = event.get("objectRef", {})
        resource = ref.get("resource", event.get("requestURI", "?"))
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        self.requests.append(
            Request(
                at=datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp(),
                verb=event["verb"],
                resource=resource,
                name=ref.get("name", ""),
                query=event.get("requestURI", "").partition("?")[2],
                user_agent=event.get("userAgent", ""),
            )
        )


@dataclass(frozen=True)
class Counts:
    reads: int
    writes: int
    dry_runs: int
    writes_by_kind: Counter[str]
    reads_by_kind: Counter[str]

    @property
    def total(self) -> int:
        return self.reads + self.writes + self.dry_runs


def count(requests: Iterable[Request]) -> Counts:
    by_category: Counter[str] = Counter()
    writes: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    for request in requests:
        by_category[request.category] += 1
        if request.category == "write":
            writes[request.label] += 1
        elif request.category == "read":
            reads[request.label] += 1
    return Counts(by_category["read"], by_category["write"], by_category["dry-run"], writes, reads)


def apps_touched(requests: Iterable[Request]) -> set[str]:
    return {app for request in requests if (app := request.app()) is not None}


def last_activity(requests: Iterable[Request]) -> float | None:
    """When the last request that is not a long-running watch arrived."""
    times = [r.at for r in requests if r.verb != "watch"]
    return max(times) if times else None

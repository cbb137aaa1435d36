"""`python -m tests.harness corpus`: every manifest of the corpus as a CloudronApp in the demo environment.

Each manifest of `../shared/corpus/manifests` (or $CLOUDRON_CORPUS) is applied as an app, with the
Addons the demo provides (PostgreSQL, MariaDB, Redis, the SMTP sink, coturn, the directory, the
OpenID provider); then, per addon, how
many apps that ask for it became Ready and, for the others, the reason of their Ready condition.
The apps run no container (kwok), so Ready means the operator did everything an app needs.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import config

from cloudron_operator.k8s import api as k8s
from cloudron_operator.manifest.fidelity import unhonoured
from cloudron_operator.manifest.lenient_json import JsonSyntaxError, read_json
from cloudron_operator.models import API_VERSION
from cloudron_operator.models.conditions import INVALID_REASONS
from tests.harness import demo
from tests.harness.localenv import LocalEnv
from tests.paths import corpus_files

NAMESPACE = "corpus"
WAIT_SECONDS = 240.0
PLACEHOLDER_IMAGE = "registry.example.com/corpus:1.0.0"
NAME_LENGTH = 40


@dataclass
class Outcome:
    file: str
    addons: tuple[str, ...] = ()
    ready: bool = False
    reason: str = "NoStatus"
    message: str = ""
    unhonoured: dict[str, str] = field(default_factory=dict)  # field path -> why it changes nothing


@dataclass
class Coverage:
    outcomes: list[Outcome] = field(default_factory=list)

    def table(self) -> str:
        by_addon: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in self.outcomes:
            for addon in outcome.addons or ("(none)",):
                by_addon[addon].append(outcome)
        ready = sum(o.ready for o in self.outcomes)
        share = f" ({100 * ready / len(self.outcomes):.0f}%)" if self.outcomes else ""
        lines = [
            f"{len(self.outcomes)} manifests; Ready: {ready}{share}",
            "",
            "| addon | apps | Ready | why the others are not |",
            "|---|---:|---:|---|",
        ]
        for addon in sorted(by_addon):
            outcomes = by_addon[addon]
            reasons = Counter(o.reason for o in outcomes if not o.ready)
            why = ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
            lines.append(f"| {addon} | {len(outcomes)} | {sum(o.ready for o in outcomes)} | {why} |")
        reasons = Counter(o.reason for o in self.outcomes if not o.ready)
        lines += ["", "Not Ready, by reason: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common())]
        return "\n".join(lines + self._unhonoured())

    def _unhonoured(self) -> list[str]:
        """The fields of the Ready apps' manifests that are accepted and change nothing, and why."""
        ready = [o for o in self.outcomes if o.ready]
        apps = Counter(path for o in ready for path in o.unhonoured)
        why = {path: reason for o in ready for path, reason in o.unhonoured.items()}
        lines = ["", f"Accepted but not honoured, in the {len(ready)} Ready apps' manifests:"]
        if not apps:
            return [*lines, "none"]
        lines += ["", "| field | apps | why |", "|---|---:|---|"]
        return lines + [f"| {path} | {count} | {why[path]} |" for path, count in sorted(apps.items())]


def corpus(wait: float = WAIT_SECONDS) -> Coverage:
    demo.demo()
    env = LocalEnv.named(demo.DEMO)
    api = config.new_client_from_config(config_file=str(env.cluster.kubeconfig))
    try:
        fresh_namespace(env, NAMESPACE)
        coverage = Coverage()
        apps: dict[str, Outcome] = {}
        used: set[str] = set()
        for path in corpus_files():
            outcome = Outcome(path.name)
            coverage.outcomes.append(outcome)
            manifest = _manifest(path, outcome)
            if manifest is None:
                continue
            name = _app_name(path, used)
            try:
                k8s.create(api, _app(name, manifest))
            except k8s.ApiError as error:
                outcome.reason, outcome.message = "RefusedByTheApiServer", error.message[:300]
                continue
            apps[name] = outcome
        wait_for_apps(api, NAMESPACE, apps, wait)
        return coverage
    finally:
        api.close()


def fresh_namespace(env: LocalEnv, namespace: str) -> None:
    """`namespace`, empty: the one of an earlier run is deleted (with its apps) first."""
    kubectl = env.cluster.kubectl
    kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=180s")
    kubectl("create", "namespace", namespace)


def _manifest(path: Path, outcome: Outcome) -> dict[str, Any] | None:
    try:
        document = read_json(path.read_text(encoding="utf-8"))
    except (JsonSyntaxError, UnicodeDecodeError) as error:
        outcome.reason, outcome.message = "UnreadableJson", str(error)[:300]
        return None
    if not isinstance(document.value, dict):
        outcome.reason = "NotAnObject"
        return None
    addons = document.value.get("addons")
    outcome.addons = tuple(sorted(addons)) if isinstance(addons, Mapping) else ()
    outcome.unhonoured = unhonoured(document.value)
    return document.value


def _app_name(path: Path, used: set[str]) -> str:
    """A DNS name from the file's repository part (`owner__repo__...`), unique in the run."""
    parts = path.stem.split("__")
    stem = re.sub(r"[^a-z0-9]+", "-", (parts[1] if len(parts) > 1 else parts[0]).lower()).strip("-")
    stem = ("app-" + stem if not stem[:1].isalpha() else stem)[:NAME_LENGTH].rstrip("-")
    name, index = stem, 1
    while name in used:
        index += 1
        name = f"{stem[: NAME_LENGTH - 4]}-{index}"
    used.add(name)
    return name


def _app(name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    image = manifest.get("dockerImage")
    return {
        "apiVersion": API_VERSION,
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "image": image if isinstance(image, str) and image else PLACEHOLDER_IMAGE,
            "domain": f"{name}.corpus.example.com",
            "manifest": manifest,
        },
    }


def wait_for_apps(api: Any, namespace: str, apps: dict[str, Outcome], wait: float) -> None:
    """Until every app (by name) is Ready or stuck for a reason only a change of its spec clears, or
    `wait` ends; each app's outcome is its Ready condition as last seen."""
    deadline = time.monotonic() + wait
    while True:
        settled = 0
        for item in k8s.list_objects(api, API_VERSION, "CloudronApp", namespace):
            outcome = apps.get(item["metadata"]["name"])
            ready = next(
                (c for c in item.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None
            )
            if outcome is None or ready is None:
                continue
            outcome.ready = ready["status"] == "True"
            outcome.reason, outcome.message = str(ready.get("reason", "")), str(ready.get("message", ""))
            settled += outcome.ready or outcome.reason in INVALID_REASONS
        if settled == len(apps) or time.monotonic() >= deadline:
            return
        time.sleep(2.0)

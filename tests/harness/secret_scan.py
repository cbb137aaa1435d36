"""No secret anywhere: a ledger of every secret value a test session met, and a scan of text for them.

The ledger takes the values of Secrets (the keys that hold passwords, tokens and private keys) and of
the harness's own servers. The scan looks for each value, and for its base64 form (a Secret's data as
the API serves it), in log files, Events, condition messages and metrics. A hit names the secret by
where it came from and the place it was found, never by its value.

Generated secrets are URL-safe tokens (`secrets.token_urlsafe`), so the text is cut into runs of
token characters once and every run is looked up in a set: a scan is linear in the text, whatever
the number of secrets. A value inside a URL (`postgres://user:secret@host`), after `password=` or in
JSON is found, since `:@=/"` end a run. A value with other characters (a password a test chose,
with spaces) is looked for as a plain substring.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kubernetes import client

from cloudron_operator.k8s import api as k8s

# Keys whose values are secrets: passwords, client secrets, tokens, private keys; not an access key's
# id, an endpoint or a username.
SECRET_KEY: Final = re.compile(r"(?i)(password|passwd|secret|token|private|(^|[._-])key$|^key$)")
NOT_SECRET_KEY: Final = re.compile(r"(?i)(_id$|endpoint|_url$|username|_file$)")
MIN_LENGTH: Final = 16  # shorter values (ports, names, "true") would be found everywhere
RUN_CHARACTERS: Final = r"[A-Za-z0-9_\-+/=.~]"
RUN: Final = re.compile(RUN_CHARACTERS + "{" + str(MIN_LENGTH) + ",}")
WHOLE_RUN: Final = re.compile(RUN_CHARACTERS + "+")
SEPARATORS: Final = re.compile(r"[+/=.~]")
SCANNED_SUFFIXES: Final = (".log", ".metrics", ".texts")
MAX_FILE_BYTES: Final = 512 * 1024 * 1024


CONTEXT_CHARACTERS: Final = 160


@dataclass(frozen=True)
class Hit:
    secret: str  # where the secret came from, e.g. "Secret ns/name key CLOUDRON_POSTGRESQL_PASSWORD"
    place: str  # "file:line"
    context: str  # the line's start, every secret in it replaced by <redacted>

    def __str__(self) -> str:
        return f"{self.secret} found in {self.place}: {self.context}"


@dataclass
class SecretLedger:
    """Secret values -> where each was first seen. Kept in memory only: never written anywhere."""

    _sources: dict[str, str] = field(default_factory=dict)
    _literals: dict[str, str] = field(default_factory=dict)  # needles a run cannot hold

    def add(self, value: str, source: str) -> None:
        for needle in _needles(value):
            found_as = self._sources if WHOLE_RUN.fullmatch(needle) else self._literals
            found_as.setdefault(needle, source)

    def add_secret_data(self, data: Mapping[str, str] | None, source: str) -> None:
        """A Secret's `data` (base64 values, as the API serves them): the keys that hold secrets."""
        for key, encoded in (data or {}).items():
            if SECRET_KEY.search(key) and not NOT_SECRET_KEY.search(key):
                try:
                    value = base64.b64decode(encoded).decode()
                except (ValueError, UnicodeDecodeError):
                    continue  # binary: a keystore, not text a log line could carry
                self.add(value, f"{source} key {key}")

    def __len__(self) -> int:
        return len(self._sources) + len(self._literals)

    def scan(self, text: str, place: str) -> list[Hit]:
        hits: list[Hit] = []
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            for found in self._found_in(line):
                hits.append(Hit(self._sources[found], f"{place}:{number}", self._redacted(line)))
        for literal, source in self._literals.items():
            at = text.find(literal)
            if at >= 0:
                number = text.count("\n", 0, at) + 1
                hits.append(Hit(source, f"{place}:{number}", self._redacted(lines[number - 1])))
        return hits

    def _redacted(self, line: str) -> str:
        for found in set(self._found_in(line)):
            line = line.replace(found, "<redacted>")
        for literal in self._literals:
            line = line.replace(literal, "<redacted>")
        return line[:CONTEXT_CHARACTERS]

    def _found_in(self, line: str) -> Iterator[str]:
        for match in RUN.finditer(line):
            run = match.group(0)
            if run in self._sources:
                yield run
                continue
            for part in SEPARATORS.split(run):
                if part in self._sources:
                    yield part
                    break


def _needles(value: str) -> list[str]:
    """What a leak of `value` would look like: itself and its base64 form; of a multi-line value
    (a PEM key), its long lines."""
    lines = [line.strip() for line in value.splitlines()] if "\n" in value.strip() else [value.strip()]
    needles = [line for line in lines if len(line) >= MIN_LENGTH and not line.startswith("-----")]
    if len(value) >= MIN_LENGTH:
        needles.append(base64.b64encode(value.encode()).decode())
    return needles


def scanned_files(roots: Iterable[Path]) -> list[Path]:
    """The log files under `roots`: `*.log`, the operators' saved metrics and the collected texts."""
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files.extend(
                path
                for path in sorted(root.rglob("*"))
                if path.is_file() and path.name.endswith(SCANNED_SUFFIXES)
            )
    return files


def scan_files(ledger: SecretLedger, files: Iterable[Path]) -> tuple[list[Hit], int]:
    """Every hit in `files`, and how many bytes were read."""
    hits: list[Hit] = []
    read = 0
    for path in files:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"{path} is larger than {MAX_FILE_BYTES} bytes: scan it in parts")
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            continue  # removed by its owner between the listing and the read
        read += len(text)
        hits.extend(ledger.scan(text, str(path)))
    return hits, read


# What the operator writes besides Secrets, where a secret must never be: every Event, every status
# (conditions and their messages), ConfigMaps and the pod templates of what it runs (a password as a
# plain env value instead of a secretKeyRef).
NAMESPACED_TEXTS: Final = (
    ("v1", "Event"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("cloudron.io/v1alpha1", "CloudronApp"),
    ("cloudron.io/v1alpha1", "CloudronBackup"),
)
CLUSTER_TEXTS: Final = (
    ("cloudron.io/v1alpha1", "Addon"),
    ("cloudron.io/v1alpha1", "CloudronUser"),
    ("cloudron.io/v1alpha1", "BackupStore"),
    ("cloudron.io/v1alpha1", "AppCatalog"),
)


def collect_namespace(api: client.ApiClient, namespace: str | None, ledger: SecretLedger, out: Path) -> None:
    """Take the namespace's Secrets into the ledger and write what else it holds to `out` (a `.texts`
    file the session's scan reads); None: every namespace and the cluster-scoped kinds."""
    for secret in k8s.list_objects(api, "v1", "Secret", namespace):
        meta = secret["metadata"]
        ledger.add_secret_data(secret.get("data"), f"Secret {meta['namespace']}/{meta['name']}")
    kinds = NAMESPACED_TEXTS + (CLUSTER_TEXTS if namespace is None else ())
    with out.open("a") as texts:
        for api_version, kind in kinds:
            try:
                objects = k8s.list_objects(api, api_version, kind, namespace)
            except k8s.ApiError as error:
                if error.not_found:
                    continue  # a kind whose CRD this session never installed
                raise
            for obj in objects:
                texts.write(_text_of(kind, obj) + "\n")


def _text_of(kind: str, obj: dict[str, Any]) -> str:
    """One line: what the object is, then everything but its metadata (a list's items have no kind)."""
    meta = obj.get("metadata", {})
    where = f"{kind} {meta.get('namespace', '')}/{meta.get('name', '')}"
    kept = {key: value for key, value in obj.items() if key != "metadata"}
    kept["annotations"] = meta.get("annotations", {})
    return f"{where}: {json.dumps(kept, ensure_ascii=False, sort_keys=True)}"

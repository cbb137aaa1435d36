"""`kubectl cloudron ...` run through the harness's kubectl, which finds the installed kubectl-cloudron
on PATH, against the session's cluster.

No operator runs: a test writes the AppCatalogs, apps and backups, and their status as the operator
would report it (through the status subresource), then checks what the plugin prints and writes.
"""

from __future__ import annotations

import re
import secrets
import selectors
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from cloudron_operator.models import GROUP, VERSION
from tests.harness.cluster import POD_LOG_LINE
from tests.harness.processes import wait_until
from tests.integration.plugin_support import WAIT, finish, kubectl_cloudron, start_kubectl_cloudron

NOW = "2026-12-03T10:00:00Z"


def lines_naming(text: str, *words: str) -> list[list[str]]:
    """The table lines that contain one of `words`, split into cells (cells hold no spaces here)."""
    return [line.split() for line in text.splitlines() if any(word in line for word in words)]


def condition(kind: str, status: str, reason: str, message: str = "-") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


class Objects:
    """The test's own cloudron.io objects: created, their status written, deleted at the end."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api = client.CustomObjectsApi(api_client)
        self.cluster_scoped: list[tuple[str, str]] = []

    def create(
        self, plural: str, body: dict[str, Any], status: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{VERSION}", **body}
        meta = body["metadata"]
        if "namespace" in meta:
            created = self.api.create_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], plural, body
            )
        else:
            created = self.api.create_cluster_custom_object(GROUP, VERSION, plural, body)
            self.cluster_scoped.append((plural, meta["name"]))
        return (
            self.write_status(plural, meta["name"], status, meta.get("namespace"))
            if status
            else dict(created)
        )

    def write_status(
        self, plural: str, name: str, status: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """As the operator reports: a merge patch of the status subresource."""
        patch = {"status": status}
        if namespace is None:
            return dict(self.api.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, patch))
        return dict(
            self.api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, patch)
        )

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name))
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def list(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        return list(self.api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"])

    def delete_cluster_scoped(self) -> None:
        for plural, name in self.cluster_scoped:
            self.api.delete_cluster_custom_object(GROUP, VERSION, plural, name)


@pytest.fixture
def objects(api_client: client.ApiClient, installed_crds: None) -> Iterator[Objects]:
    made = Objects(api_client)
    yield made
    made.delete_cluster_scoped()


@pytest.fixture
def token() -> str:
    """Makes the test's cluster-scoped names and app ids its own: other tests' catalogs may list apps too."""
    return secrets.token_hex(3)


def entry(
    app_id: str, title: str, tagline: str, tags: list[str], versions: list[tuple[str, str]]
) -> dict[str, Any]:
    published = [version for version, state in versions if state == "published"]
    found: dict[str, Any] = {
        "id": app_id,
        "title": title,
        "tagline": tagline,
        "tags": tags,
        "versions": [
            {"version": v, "state": s, "image": f"cloudron/{title.lower()}:{v}"} for v, s in versions
        ],
    }
    return found | ({"latest": published[0]} if published else {})


def catalog_status(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "conditions": [condition("Ready", "True", "Fetched", "read")],
        "apps": len(entries),
        "versions": sum(len(e["versions"]) for e in entries),
        "invalid": 0,
        "digest": "sha256:" + "0" * 64,
        "lastFetched": NOW,
        "lastChanged": NOW,
        "entries": list(entries),
    }


@pytest.fixture
def catalogs(objects: Objects, token: str) -> dict[str, str]:
    """Catalog `community-<token>` with a wiki and a gitea, `team-<token>` with the same wiki, and
    `new-<token>` not read yet; their names and app ids by role."""
    names = {
        "community": f"community-{token}",
        "team": f"team-{token}",
        "new": f"new-{token}",
        "wiki": f"org.wiki{token}.cloudronapp",
        "gitea": f"io.gitea{token}.cloudronapp",
    }
    wiki = entry(
        names["wiki"],
        "Wiki.js",
        "A-modern-wiki",
        ["wiki"],
        [("3.0.0", "published"), ("2.5.301", "published"), ("2.5.300", "published"), ("2.5.299", "revoked")],
    )
    gitea = entry(names["gitea"], "Gitea", "Painless-Git", ["dev", "git"], [("1.22.0", "published")])
    spec = {"url": "https://example.com/CloudronVersions.json", "interval": "1h"}
    objects.create(
        "appcatalogs",
        {"kind": "AppCatalog", "metadata": {"name": names["community"]}, "spec": spec},
        catalog_status(wiki, gitea),
    )
    objects.create(
        "appcatalogs",
        {"kind": "AppCatalog", "metadata": {"name": names["team"]}, "spec": spec},
        catalog_status(wiki),
    )
    objects.create("appcatalogs", {"kind": "AppCatalog", "metadata": {"name": names["new"]}, "spec": spec})
    return names


def source_app(
    objects: Objects,
    namespace: str,
    name: str,
    catalogs: dict[str, str],
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body = {
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "domain": f"{name}.example.com",
            "source": {"catalog": catalogs["community"], "appId": catalogs["wiki"]},
            **spec,
        },
    }
    return objects.create("cloudronapps", body, status)


def running(version: str, generation: int = 1, **more: Any) -> dict[str, Any]:
    """An app's status as the operator writes it once the app is Ready at `generation`."""
    return {
        "observedGeneration": generation,
        "phase": "Running",
        "version": version,
        "url": "https://x.example.com",
        "conditions": [condition("Ready", "True", "Running", "served")],
        **more,
    }


def test_catalog_list_and_search(kubeconfig: Path, catalogs: dict[str, str], token: str) -> None:
    listed = kubectl_cloudron(kubeconfig, "catalog", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["CATALOG", "APP", "ID", "TITLE", "LATEST", "VERSIONS"]
    mine = lines_naming(listed.stdout, catalogs["community"], catalogs["team"])
    assert mine == [
        [catalogs["community"], catalogs["gitea"], "Gitea", "1.22.0", "1"],
        [catalogs["community"], catalogs["wiki"], "Wiki.js", "3.0.0", "4"],
        [catalogs["team"], catalogs["wiki"], "Wiki.js", "3.0.0", "4"],
    ]
    assert f"Warning: catalog {catalogs['new']} is not Ready: not read yet" in listed.stderr

    wide = kubectl_cloudron(kubeconfig, "catalog", "list", "-o", "wide")
    assert [catalogs["community"], catalogs["gitea"], "Gitea", "1.22.0", "1", "Painless-Git", "dev,git"] in (
        lines_naming(wide.stdout, catalogs["gitea"])
    )

    as_json = kubectl_cloudron(kubeconfig, "catalog", "list", "-o", "yaml")
    entries = [e for e in yaml.safe_load(as_json.stdout) if e["catalog"] == catalogs["community"]]
    assert [(e["id"], len(e["versions"])) for e in entries] == [(catalogs["gitea"], 1), (catalogs["wiki"], 4)]

    found = kubectl_cloudron(kubeconfig, "catalog", "search", "PAINLESS")
    assert found.returncode == 0
    assert lines_naming(found.stdout, catalogs["community"], catalogs["team"]) == [
        [catalogs["community"], catalogs["gitea"], "Gitea", "1.22.0", "1"]
    ]
    by_id = kubectl_cloudron(kubeconfig, "catalog", "search", f"WIKI{token.upper()}")
    assert len(lines_naming(by_id.stdout, catalogs["wiki"])) == 2

    nothing = kubectl_cloudron(kubeconfig, "catalog", "search", "no-such-app-anywhere")
    assert (nothing.returncode, nothing.stdout) == (0, "")
    assert 'No apps match "no-such-app-anywhere".' in nothing.stderr


def test_install_writes_an_app_from_a_catalog(
    kubeconfig: Path, objects: Objects, catalogs: dict[str, str], namespace: str, token: str
) -> None:
    ambiguous = kubectl_cloudron(
        kubeconfig, "install", catalogs["wiki"], "--domain", "wiki.example.com", "-n", namespace
    )
    assert ambiguous.returncode == 1
    assert ambiguous.stderr == (
        f"error: app {catalogs['wiki']} is in several catalogs "
        f"({catalogs['community']}, {catalogs['team']}): choose one with --catalog\n"
    )
    unknown = kubectl_cloudron(
        kubeconfig, "install", "com.example.nothing", "--domain", "x.example.com", "-n", namespace
    )
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: no catalog has app com.example.nothing")
    revoked = kubectl_cloudron(
        kubeconfig,
        "install",
        f"{catalogs['wiki']}@2.5.299",
        "--catalog",
        catalogs["team"],
        "--domain",
        "w.example.com",
        "-n",
        namespace,
    )
    assert revoked.returncode == 1
    assert "is revoked" in revoked.stderr

    gitea = catalogs["gitea"]
    printed = kubectl_cloudron(
        kubeconfig, "install", gitea, "--domain", "git.example.com", "-n", namespace, "-o", "yaml"
    )
    assert printed.returncode == 0, printed.stderr
    name = f"gitea{token}"  # from the id io.gitea<token>.cloudronapp
    assert yaml.safe_load(printed.stdout) == {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"domain": "git.example.com", "source": {"catalog": catalogs["community"], "appId": gitea}},
    }
    assert objects.get("cloudronapps", namespace, name) is None  # -o writes nothing

    created = kubectl_cloudron(
        kubeconfig,
        "install",
        gitea,
        "--domain",
        "git.example.com",
        "-n",
        namespace,
        "--automatic-updates",
        "--health-timeout",
        "15m",
        "--backup-store",
        "offsite",
    )
    assert (created.returncode, created.stdout) == (0, f"cloudronapp.cloudron.io/{name} created\n"), (
        created.stderr
    )
    spec = (objects.get("cloudronapps", namespace, name) or {})["spec"]
    assert spec["source"] == {"catalog": catalogs["community"], "appId": gitea}
    assert spec["updatePolicy"] == {"automatic": True, "healthTimeout": "15m"}
    assert spec["backup"]["store"] == "offsite"

    pinned = kubectl_cloudron(
        kubeconfig,
        "install",
        f"{catalogs['wiki']}@2.5.300",
        "--catalog",
        catalogs["team"],
        "--name",
        "wiki",
        "--domain",
        "wiki.example.com",
        "-n",
        namespace,
    )
    assert pinned.returncode == 0, pinned.stderr
    assert (objects.get("cloudronapps", namespace, "wiki") or {})["spec"]["source"] == {
        "catalog": catalogs["team"],
        "appId": catalogs["wiki"],
        "version": "2.5.300",
    }


def test_install_wait_reports_progress_until_ready(
    kubeconfig: Path, objects: Objects, catalogs: dict[str, str], namespace: str
) -> None:
    process = start_kubectl_cloudron(
        kubeconfig,
        "install",
        catalogs["gitea"],
        "--name",
        "git",
        "--domain",
        "git.example.com",
        "-n",
        namespace,
        "--wait",
        "--timeout",
        "1m",
    )
    wait_until(
        lambda: objects.get("cloudronapps", namespace, "git") is not None, WAIT, "the plugin to write app git"
    )
    objects.write_status(
        "cloudronapps",
        "git",
        {
            "observedGeneration": 1,
            "phase": "Installing",
            "conditions": [condition("Ready", "False", "PodsNotReady", "0/1 pods ready")],
        },
        namespace,
    )
    time.sleep(2.5)  # the plugin reads the app every second: it sees the app Installing
    objects.write_status("cloudronapps", "git", running("1.22.0"), namespace)
    code, out, err = finish(process)
    assert (code, out) == (0, "cloudronapp.cloudron.io/git created\n"), err
    # Not a terminal: one plain line per state seen.
    progress = err.splitlines()
    assert "git to become Ready: Installing, Ready=False PodsNotReady: 0/1 pods ready" in progress
    assert progress[-1] == "git to become Ready: Running, Ready"


def test_list_shows_apps_with_version_state_and_update(
    kubeconfig: Path, objects: Objects, catalogs: dict[str, str], namespace: str, tmp_path: Path
) -> None:
    source_app(objects, namespace, "wiki", catalogs, running("2.5.300", availableUpdate="3.0.0"))
    source_app(
        objects,
        namespace,
        "notes",
        catalogs,
        {
            "observedGeneration": 1,
            "phase": "Installing",
            "conditions": [condition("Ready", "False", "PodsNotReady", "0/1 pods ready")],
        },
    )
    listed = kubectl_cloudron(kubeconfig, "list", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["NAME", "DOMAIN", "VERSION", "STATE", "UPDATE"],
        ["notes", "notes.example.com", "<none>", "Installing/PodsNotReady", "<none>"],
        ["wiki", "wiki.example.com", "2.5.300", "Running", "3.0.0"],
    ]
    wide = kubectl_cloudron(kubeconfig, "list", "-n", namespace, "-o", "wide")
    assert lines_naming(wide.stdout, "wiki.example.com") == [
        [
            "wiki",
            "wiki.example.com",
            "2.5.300",
            "Running",
            "3.0.0",
            catalogs["community"],
            catalogs["wiki"],
            "https://x.example.com",
        ]
    ]
    every = kubectl_cloudron(kubeconfig, "list", "-A")
    assert every.stdout.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [namespace, "wiki"] in [cells[:2] for cells in lines_naming(every.stdout, namespace)]
    as_json = kubectl_cloudron(kubeconfig, "list", "-n", namespace, "-o", "json")
    listing = yaml.safe_load(as_json.stdout)
    assert (listing["kind"], [i["metadata"]["name"] for i in listing["items"]]) == ("List", ["notes", "wiki"])

    # Without -n: the kubeconfig context's namespace (here one that has the apps), given by --kubeconfig.
    config = yaml.safe_load(kubeconfig.read_text())
    for context in config["contexts"]:
        context["context"]["namespace"] = namespace
    with_namespace = tmp_path / "kubeconfig.yaml"
    with_namespace.write_text(yaml.safe_dump(config))
    by_context = kubectl_cloudron(kubeconfig, "list", "--kubeconfig", str(with_namespace))
    assert by_context.stdout == listed.stdout

    empty = kubectl_cloudron(kubeconfig, "list", "-n", "kube-public")
    assert (empty.returncode, empty.stdout, empty.stderr) == (
        0,
        "",
        "No resources found in kube-public namespace.\n",
    )


def test_update_sets_the_version_and_waits_for_it(
    kubeconfig: Path, objects: Objects, catalogs: dict[str, str], namespace: str
) -> None:
    source_app(objects, namespace, "wiki", catalogs, running("2.5.300", availableUpdate="2.5.301"))
    source_app(objects, namespace, "current", catalogs, running("3.0.0"))
    objects.create(
        "cloudronapps",
        {
            "kind": "CloudronApp",
            "metadata": {"name": "custom", "namespace": namespace},
            "spec": {
                "domain": "custom.example.com",
                "image": "example/app:1",
                "manifest": {"version": "1.0.0"},
            },
        },
    )
    up_to_date = kubectl_cloudron(kubeconfig, "update", "current", "-n", namespace)
    assert (up_to_date.returncode, up_to_date.stderr) == (1, "error: current is up to date\n")
    custom = kubectl_cloudron(kubeconfig, "update", "custom", "-n", namespace, "--to", "2.0.0")
    assert (custom.returncode, custom.stderr) == (
        1,
        "error: custom has no spec.source: apps of a custom image get no updates\n",
    )
    revoked = kubectl_cloudron(kubeconfig, "update", "wiki", "-n", namespace, "--to", "2.5.299")
    assert revoked.returncode == 1
    assert "is revoked" in revoked.stderr

    process = start_kubectl_cloudron(
        kubeconfig, "update", "wiki", "-n", namespace, "--wait", "--timeout", "1m"
    )
    wait_until(
        lambda: (
            (objects.get("cloudronapps", namespace, "wiki") or {})["spec"]["source"].get("version")
            == "2.5.301"
        ),
        WAIT,
        "the plugin to set wiki's version",
    )
    generation = (objects.get("cloudronapps", namespace, "wiki") or {})["metadata"]["generation"]
    update = {"phase": "Succeeded", "fromVersion": "2.5.300", "toVersion": "2.5.301"}
    objects.write_status("cloudronapps", "wiki", running("2.5.301", generation, update=update), namespace)
    code, out, err = finish(process)
    assert (code, out) == (0, "cloudronapp.cloudron.io/wiki patched (spec.source.version: 2.5.301)\n"), err
    assert err.splitlines()[-1] == "wiki to run 2.5.301: running 2.5.301"

    # To a major version the operator refuses, then rolls back: exit 1 with its reason.
    process = start_kubectl_cloudron(kubeconfig, "update", "wiki", "--to", "3.0.0", "-n", namespace, "--wait")
    wait_until(
        lambda: (
            (objects.get("cloudronapps", namespace, "wiki") or {})["spec"]["source"].get("version") == "3.0.0"
        ),
        WAIT,
        "the plugin to set wiki's version",
    )
    generation = (objects.get("cloudronapps", namespace, "wiki") or {})["metadata"]["generation"]
    rolled_back = running(
        "2.5.301",
        generation,
        update={
            "phase": "RolledBack",
            "fromVersion": "2.5.301",
            "toVersion": "3.0.0",
            "message": "not Ready within 10m",
        },
    )
    rolled_back["conditions"].append(
        condition("Updated", "False", "UpdateRolledBack", "not Ready within 10m")
    )
    objects.write_status("cloudronapps", "wiki", rolled_back, namespace)
    code, _, err = finish(process)
    assert code == 1
    assert err.splitlines()[-1] == (
        "error: wiki was not updated to 3.0.0: False UpdateRolledBack: not Ready within 10m"
    )


def test_backup_creates_a_manual_backup_and_waits_for_it(
    kubeconfig: Path, objects: Objects, catalogs: dict[str, str], namespace: str
) -> None:
    source_app(objects, namespace, "wiki", catalogs, running("2.5.300"), backup={"store": "offsite"})
    source_app(objects, namespace, "notes", catalogs, running("2.5.300"))
    no_store = kubectl_cloudron(kubeconfig, "backup", "notes", "-n", namespace)
    assert (no_store.returncode, no_store.stderr) == (
        1,
        "error: notes has no spec.backup.store: name a BackupStore with --store\n",
    )
    made = kubectl_cloudron(kubeconfig, "backup", "notes", "-n", namespace, "--store", "elsewhere")
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(r"cloudronbackup\.cloudron\.io/notes-\d{8}-\d{6} created\n", made.stdout)
    (backup,) = objects.list("cloudronbackups", namespace)
    assert backup["spec"] == {"app": "notes", "store": "elsewhere", "reason": "manual"}

    succeeded = backup_and_answer(kubeconfig, objects, namespace, {"phase": "Succeeded"})
    assert succeeded[0] == 0, succeeded[2]
    assert succeeded[2].splitlines()[-1].endswith(": Succeeded")
    time.sleep(1.1)  # two backups of one app in one second would have one name
    failed = backup_and_answer(
        kubeconfig,
        objects,
        namespace,
        {
            "phase": "Failed",
            "conditions": [condition("Ready", "False", "BackupFailed", "bucket is gone")],
        },
    )
    assert failed[0] == 1
    assert re.fullmatch(
        r"error: backup wiki-\d{8}-\d{6} failed: False BackupFailed: bucket is gone",
        failed[2].splitlines()[-1],
    )


def backup_and_answer(
    kubeconfig: Path, objects: Objects, namespace: str, status: dict[str, Any]
) -> tuple[int, str, str]:
    """`backup wiki --wait` with the new backup's status written as `status`: the plugin's exit code and
    output."""

    def of_wiki() -> list[str]:
        return sorted(
            b["metadata"]["name"]
            for b in objects.list("cloudronbackups", namespace)
            if b["spec"]["app"] == "wiki"
        )

    before = of_wiki()
    process = start_kubectl_cloudron(
        kubeconfig, "backup", "wiki", "-n", namespace, "--wait", "--timeout", "1m"
    )
    wait_until(lambda: len(of_wiki()) > len(before), WAIT, "the plugin to create wiki's backup")
    (name,) = set(of_wiki()) - set(before)
    assert (objects.get("cloudronbackups", namespace, name) or {})["spec"] == {
        "app": "wiki",
        "store": "offsite",
        "reason": "manual",
    }
    objects.write_status("cloudronbackups", name, status, namespace)
    code, out, err = finish(process)
    assert out == f"cloudronbackup.cloudron.io/{name} created\n"
    return code, out, err


def test_restore_sets_restore_from_and_waits_for_the_restored_condition(
    kubeconfig: Path, objects: Objects, catalogs: dict[str, str], namespace: str
) -> None:
    source_app(objects, namespace, "wiki", catalogs, running("2.5.300"), backup={"store": "offsite"})
    objects.create(
        "cloudronbackups",
        {
            "kind": "CloudronBackup",
            "metadata": {"name": "wiki-20261203-100000", "namespace": namespace},
            "spec": {"app": "wiki", "store": "offsite", "reason": "manual"},
        },
        {"phase": "Succeeded"},
    )
    missing = kubectl_cloudron(kubeconfig, "restore", "wiki", "--backup", "nope", "-n", namespace)
    assert (missing.returncode, missing.stderr) == (
        1,
        'error: cloudronbackups.cloudron.io "nope" not found\n',
    )

    process = start_kubectl_cloudron(
        kubeconfig,
        "restore",
        "wiki",
        "--backup",
        "wiki-20261203-100000",
        "-n",
        namespace,
        "--wait",
        "--timeout",
        "1m",
    )
    wait_until(
        lambda: "restoreFrom" in (objects.get("cloudronapps", namespace, "wiki") or {})["spec"],
        WAIT,
        "the plugin to set wiki's restoreFrom",
    )
    app = objects.get("cloudronapps", namespace, "wiki") or {}
    assert app["spec"]["restoreFrom"] == {"backup": "wiki-20261203-100000"}
    restoring = running("2.5.300", app["metadata"]["generation"])
    restoring["conditions"].append(
        condition("Restored", "Unknown", "Restoring", "Job wiki-restore restores it")
    )
    objects.write_status("cloudronapps", "wiki", restoring, namespace)
    restoring["conditions"][-1] = condition(
        "Restored", "True", "Restored", "restored from backup wiki-20261203-100000"
    )
    objects.write_status("cloudronapps", "wiki", restoring, namespace)
    code, out, err = finish(process)
    assert code == 0, err
    assert out == "cloudronapp.cloudron.io/wiki patched (spec.restoreFrom.backup: wiki-20261203-100000)\n"
    assert err.splitlines()[-1].endswith("True Restored: restored from backup wiki-20261203-100000")


def test_users_lists_the_cloudron_users(kubeconfig: Path, objects: Objects, token: str) -> None:
    for username, spec in (
        (f"alice{token}", {"role": "admin", "groups": ["ops", "dev"]}),
        (f"bob{token}", {"active": False}),
    ):
        objects.create(
            "cloudronusers",
            {
                "kind": "CloudronUser",
                "metadata": {"name": username},
                "spec": {"username": username, "email": f"{username}@example.com", **spec},
            },
        )
    listed = kubectl_cloudron(kubeconfig, "users")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["USERNAME", "EMAIL", "ROLE", "GROUPS", "ACTIVE"]
    assert lines_naming(listed.stdout, token) == [
        [f"alice{token}", f"alice{token}@example.com", "admin", "ops,dev", "true"],
        [f"bob{token}", f"bob{token}@example.com", "user", "<none>", "false"],
    ]
    as_yaml = yaml.safe_load(kubectl_cloudron(kubeconfig, "users", "-o", "yaml").stdout)
    assert {f"alice{token}", f"bob{token}"} <= {u["spec"]["username"] for u in as_yaml["items"]}


def test_logs_prints_the_app_s_pods_logs(
    kubeconfig: Path, api_client: client.ApiClient, objects: Objects, catalogs: dict[str, str], namespace: str
) -> None:
    """kwok runs no container: the harness gives every container of every pod of the cluster its
    stand-in log (POD_LOG_LINE), which kwok serves as a kubelet would serve the container's own."""
    source_app(objects, namespace, "wiki", catalogs, running("2.5.300"))
    source_app(objects, namespace, "quiet", catalogs, running("2.5.300"))
    source_app(objects, namespace, "stray", catalogs, running("2.5.300"))
    core = client.CoreV1Api(api_client)
    for pod, app in (("wiki-abc12", "wiki"), ("other-xyz34", "other")):
        core.create_namespaced_pod(namespace, app_pod(pod, app, ["app", "logs"]))
    wait_until(
        lambda: core.read_namespaced_pod("wiki-abc12", namespace).status.phase == "Running",
        WAIT,
        "kwok to run the pod",
    )
    logs = kubectl_cloudron(kubeconfig, "logs", "wiki", "-n", namespace, "--tail", "10")
    assert (logs.returncode, logs.stderr) == (0, "")
    # Two streams: each line with its pod and container, as `kubectl logs --prefix` writes it.
    assert logs.stdout.splitlines() == [
        f"[pod/wiki-abc12/app] {POD_LOG_LINE}",
        f"[pod/wiki-abc12/logs] {POD_LOG_LINE}",
    ]
    only_app = kubectl_cloudron(kubeconfig, "logs", "wiki", "-n", namespace, "-c", "app")
    assert (only_app.returncode, only_app.stdout, only_app.stderr) == (0, f"{POD_LOG_LINE}\n", "")

    following = start_kubectl_cloudron(kubeconfig, "logs", "wiki", "-n", namespace, "-c", "app", "-f")
    try:
        # The log is never written again: -f prints it and waits for more until stopped.
        assert first_line(following) == f"{POD_LOG_LINE}\n"
        assert following.poll() is None
    finally:
        following.terminate()
        following.communicate(timeout=WAIT)

    no_container = kubectl_cloudron(kubeconfig, "logs", "wiki", "-n", namespace, "-c", "nginx")
    assert (no_container.returncode, no_container.stderr) == (
        1,
        "error: no pod of app wiki has a container nginx\n",
    )
    no_pods = kubectl_cloudron(kubeconfig, "logs", "quiet", "-n", namespace)
    assert (no_pods.returncode, no_pods.stderr) == (
        1,
        f"error: app quiet has no pods in namespace {namespace} "
        "(app.kubernetes.io/component=app,cloudron.io/app=quiet)\n",
    )
    no_app = kubectl_cloudron(kubeconfig, "logs", "gone", "-n", namespace)
    assert (no_app.returncode, no_app.stderr) == (1, 'error: cloudronapps.cloudron.io "gone" not found\n')

    # A pod bound to a node that does not exist: the API server cannot reach its kubelet and says so
    # for that stream; the others are still printed, and the exit code is 1. (Deleted at once: pod GC
    # would delete it after 40 s.)
    core.create_namespaced_pod(namespace, app_pod("stray-a", "stray", ["app"]))
    core.create_namespaced_pod(namespace, app_pod("stray-b", "stray", ["app"], node="no-such-node"))
    wait_until(
        lambda: core.read_namespaced_pod("stray-a", namespace).status.phase == "Running",
        WAIT,
        "kwok to run the pod",
    )
    try:
        stray = kubectl_cloudron(kubeconfig, "logs", "stray", "-n", namespace)
    finally:
        core.delete_namespaced_pod("stray-b", namespace, grace_period_seconds=0)
    assert (stray.returncode, stray.stdout) == (1, f"[pod/stray-a/app] {POD_LOG_LINE}\n")
    # Then the API server's own words, as kubectl logs prints them: v1.36 says `pods "no-such-node" not
    # found` (its node lookup's NotFound, under the pods resource).
    (refused,) = stray.stderr.splitlines()
    assert refused.startswith("error: pod stray-b, container app: the API server answered NotFound: ")
    assert '"no-such-node" not found' in refused


def app_pod(name: str, app: str, containers: list[str], node: str | None = None) -> dict[str, Any]:
    """A pod as the operator labels an app's own; `node`: bound to that node, past the scheduler."""
    return {
        "metadata": {"name": name, "labels": {"cloudron.io/app": app, "app.kubernetes.io/component": "app"}},
        "spec": {
            "containers": [{"name": c, "image": "example/app:1"} for c in containers],
            **({"nodeName": node} if node else {}),
        },
    }


def first_line(process: subprocess.Popen[str]) -> str:
    """The first line `process` prints, waiting at most WAIT seconds for it."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=WAIT):
            raise AssertionError(f"nothing printed within {WAIT} s")
    return process.stdout.readline()

"""A named local environment: one cluster plus database and S3 servers, with state kept on disk.

The state directory records each running server (port, admin password, pid) so that `make demo`
can reuse what a previous run started, and `make down` can stop it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.harness import s3 as s3_harness
from tests.harness.binaries import cache_dir
from tests.harness.cluster import LocalCluster
from tests.harness.databases import DatabaseKind, DatabaseServer, is_running, start_server, stop_server

DATABASE_KINDS: tuple[DatabaseKind, ...] = ("postgresql", "mysql", "redis")
KEPT_MARKER = "kept"  # in an environment's root: left running on purpose (CLOUDRON_TEST_KEEP=1)


@dataclass(frozen=True)
class LocalEnv:
    name: str
    root: Path

    @classmethod
    def named(cls, name: str) -> LocalEnv:
        return cls(name, cache_dir() / "envs" / name)

    @property
    def cluster(self) -> LocalCluster:
        return LocalCluster(f"cloudron-{self.name}", cache_dir() / "kwok")

    def database(self, kind: DatabaseKind) -> DatabaseServer:
        """The running server of `kind`, started fresh if none is recorded or the recorded one is gone."""
        recorded = self.recorded_database(kind)
        if recorded is not None and is_running(recorded):
            return recorded
        if recorded is not None:
            stop_server(recorded)
        self.root.mkdir(parents=True, exist_ok=True)
        self._database_root.mkdir(exist_ok=True)
        self._database_root.chmod(0o755)  # the servers run as their own users and must reach their dirs
        server = start_server(kind, self._database_dir(kind))
        self._state_file(kind).write_text(server.to_json())
        self._state_file(kind).chmod(0o600)
        return server

    def recorded_database(self, kind: DatabaseKind) -> DatabaseServer | None:
        state = self._state_file(kind)
        return DatabaseServer.from_json(state.read_text()) if state.exists() else None

    def stop_database(self, kind: DatabaseKind) -> None:
        recorded = self.recorded_database(kind)
        if recorded is not None:
            stop_server(recorded)
        self._state_file(kind).unlink(missing_ok=True)
        shutil.rmtree(self._database_dir(kind), ignore_errors=True)

    def s3(self) -> s3_harness.S3Server:
        """The running S3 server, started fresh if none is recorded or the recorded one is gone."""
        recorded = self.recorded_s3()
        if recorded is not None and s3_harness.is_running(recorded):
            return recorded
        if recorded is not None:
            s3_harness.stop_s3(recorded)
        self.root.mkdir(parents=True, exist_ok=True)
        self._database_root.mkdir(exist_ok=True)
        self._database_root.chmod(0o755)
        server = s3_harness.start_s3(self._database_dir("s3"))
        self._state_file("s3").write_text(server.to_json())
        self._state_file("s3").chmod(0o600)
        return server

    def recorded_s3(self) -> s3_harness.S3Server | None:
        state = self._state_file("s3")
        return s3_harness.S3Server.from_json(state.read_text()) if state.exists() else None

    def stop_s3(self) -> None:
        recorded = self.recorded_s3()
        if recorded is not None:
            s3_harness.stop_s3(recorded)
        self._state_file("s3").unlink(missing_ok=True)
        shutil.rmtree(self._database_dir("s3"), ignore_errors=True)

    def down(self) -> None:
        """Stop and remove everything this environment started."""
        for kind in DATABASE_KINDS:
            self.stop_database(kind)
        self.stop_s3()
        self.cluster.delete()
        shutil.rmtree(self._database_root, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def keep(self) -> None:
        """Leave it running for inspection: `abandoned_test_envs` passes it over."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / KEPT_MARKER).touch()

    @property
    def kept(self) -> bool:
        return (self.root / KEPT_MARKER).exists()

    def _state_file(self, kind: DatabaseKind | Literal["s3"]) -> Path:
        return self.root / f"{kind}.json"

    @property
    def _database_root(self) -> Path:
        """Data lives in the temp dir: a root-owned home is not traversable by the servers' own users."""
        return Path(tempfile.gettempdir()) / f"cloudron-operator-{self.name}"

    def _database_dir(self, kind: DatabaseKind | Literal["s3"]) -> Path:
        return self._database_root / kind


def session_env_name(pid: int) -> str:
    """A test session's environment is named after its process."""
    return f"test-{pid}"


def abandoned_test_envs() -> list[LocalEnv]:
    """Environments of test sessions whose process is gone without removing them (SIGKILL, a crash).

    Their control plane and database servers would run on, taking the CPU the next sessions and
    benchmarks measure with. Found by what they leave on disk: kwokctl's cluster directory, the
    recorded servers, the servers' data.
    """
    traces = [
        (cache_dir() / "kwok" / "clusters", r"cloudron-test-(\d+)"),
        (cache_dir() / "envs", r"test-(\d+)"),
        (Path(tempfile.gettempdir()), r"cloudron-operator-test-(\d+)"),
    ]
    pids = {
        int(match.group(1))
        for directory, pattern in traces
        if directory.is_dir()
        for entry in directory.iterdir()
        if (match := re.fullmatch(pattern, entry.name))
    }
    envs = [LocalEnv.named(session_env_name(pid)) for pid in sorted(pids) if not _alive(pid)]
    return [env for env in envs if not env.kept]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True

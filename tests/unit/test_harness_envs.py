"""A test session removes its environment when it is terminated, and the next session removes what a
killed one left: else its control plane and database servers run on, taking the CPU that later
sessions and benchmarks measure with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from cloudron_operator.config import ConfigError, load_config
from tests.harness.binaries import cache_dir
from tests.harness.localenv import LocalEnv, abandoned_test_envs, session_env_name
from tests.harness.processes import HarnessError
from tests.paths import REPO

pytestmark = pytest.mark.unit


def a_finished_process() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_environments_of_sessions_whose_process_is_gone_are_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDRON_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    killed, kept, servers_only = a_finished_process(), a_finished_process(), a_finished_process()
    running = os.getpid()
    for pid in (killed, kept, running):
        (tmp_path / "cache" / "kwok" / "clusters" / f"cloudron-test-{pid}").mkdir(parents=True)
    (tmp_path / "tmp" / f"cloudron-operator-test-{servers_only}").mkdir(parents=True)
    (tmp_path / "cache" / "kwok" / "clusters" / "cloudron-demo").mkdir()
    LocalEnv.named(session_env_name(kept)).keep()

    abandoned = {env.name for env in abandoned_test_envs()}

    assert abandoned == {session_env_name(killed), session_env_name(servers_only)}


NESTED_SESSION = """
import os, time
from pathlib import Path

def test_waits_to_be_terminated(local_env):
    local_env.root.mkdir(parents=True)
    started = Path(os.environ["SESSION_STARTED"])
    Path(f"{started}.tmp").write_text(str(local_env.root))
    os.replace(f"{started}.tmp", started)  # whole, or not there yet
    time.sleep(60)
"""


def test_a_terminated_session_removes_its_environment(tmp_path: Path) -> None:
    (tmp_path / "test_nested.py").write_text(textwrap.dedent(NESTED_SESSION))
    started = tmp_path / "started"
    env = {**os.environ, "CLOUDRON_CACHE": str(tmp_path / "cache"), "SESSION_STARTED": str(started)}
    pytest_args = ["-q", "-p", "tests.conftest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", *pytest_args, "-c", os.devnull, str(tmp_path / "test_nested.py")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists():
        assert session.poll() is None, session.communicate()[0]
        assert time.monotonic() < deadline, "the nested session did not start"
        time.sleep(0.05)
    root = Path(started.read_text())
    assert root.is_dir()

    session.send_signal(signal.SIGTERM)
    try:
        output = session.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        # What it was doing, and its signal masks (a SIGTERM blocked since its parent forked it?).
        dump = ["py-spy", "dump", "--pid", str(session.pid)]
        stacks = subprocess.run(dump, check=False, capture_output=True, text=True)
        masks = [
            line for line in Path(f"/proc/{session.pid}/status").read_text().splitlines() if "Sig" in line
        ]
        session.kill()
        raise AssertionError(
            f"the session did not end on SIGTERM: {masks}\n{stacks.stdout}{stacks.stderr}\n"
            f"{session.communicate()[0]}"
        ) from None

    assert "SIGTERM: removing the test environment" in output
    assert not root.exists(), output


def test_the_build_cache_is_moved_with_a_variable_the_operator_does_not_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness starts the operator with its own environment: a CLOUDRON_OPERATOR_* variable for
    the build would stop the operator (it refuses settings it does not know)."""
    monkeypatch.setenv("CLOUDRON_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"
    load_config({"CLOUDRON_CACHE": str(tmp_path / "elsewhere")})  # accepted: not the operator's prefix
    monkeypatch.setenv("CLOUDRON_OPERATOR_CACHE", str(tmp_path / "old"))
    with pytest.raises(HarnessError, match="CLOUDRON_OPERATOR_CACHE is now CLOUDRON_CACHE"):
        cache_dir()
    with pytest.raises(ConfigError, match="cache"):
        load_config({"CLOUDRON_OPERATOR_CACHE": str(tmp_path / "old")})

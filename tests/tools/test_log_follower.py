"""The log follower's script (builders/logs.py) run by a real /bin/sh with coreutils, as the sidecar
runs it: on a run directory and a logPath in a temporary directory, with a short scan interval."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudron_operator.builders.logs import FOLLOW_SCRIPT
from tests.harness.processes import wait_until

WAIT = 20.0
ROTATE_BYTES = 1000


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """The script following <tmp>/run and <tmp>/data/app.log; yields those and its stdout's file."""
    run, data, out = tmp_path / "run", tmp_path / "data", tmp_path / "follower.out"
    (run / "app" / "deep").mkdir(parents=True)
    data.mkdir()
    args = ["0.2", str(ROTATE_BYTES), "3", str(run), str(data / "app.log")]
    with out.open("wb") as sink:
        # Its own process group: the script's `tail`s go with it.
        process = subprocess.Popen(
            ["/bin/sh", "-c", FOLLOW_SCRIPT, "logs", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield run, data, out
        finally:
            subprocess.run(["kill", "--", f"-{process.pid}"], check=False)
            process.wait(timeout=10)


def test_files_under_run_and_log_paths_reach_the_followers_output(follower: tuple[Path, Path, Path]) -> None:
    run, data, out = follower
    (run / "app" / "server.log").write_text("started\n")
    (run / "app" / "deep" / "worker.log").write_text("working\n")
    (run / "app" / "not-a-log.txt").write_text("ignored\n")
    (data / "app.log").write_text("from logPaths\n")
    wait_until(
        lambda: {"started", "working", "from logPaths"} <= set(out.read_text().splitlines()),
        WAIT,
        "every log file's lines in the follower's output",
    )
    with (run / "app" / "server.log").open("a") as log:
        log.write("a line written later\n")
    wait_until(lambda: "a line written later" in out.read_text(), WAIT, "a later line")
    assert "ignored" not in out.read_text()


def test_a_file_past_the_size_is_copied_aside_emptied_in_place_and_copies_are_capped(
    follower: tuple[Path, Path, Path],
) -> None:
    run, _, _ = follower
    log = run / "app" / "server.log"
    with log.open("a") as appending:  # the app's open file, kept open as an app keeps it
        for round_ in range(5):
            appending.write(f"round {round_}\n" + "x" * ROTATE_BYTES + "\n")
            appending.flush()
            wait_until(lambda: log.stat().st_size == 0, WAIT, f"rotation {round_}")
        copies = sorted(path.name for path in log.parent.glob("server.log.*"))
        assert copies == ["server.log.1", "server.log.2", "server.log.3"]  # 3 kept, the oldest dropped
        assert (log.parent / "server.log.1").read_text().startswith("round 4")
        appending.write("after the rotations\n")
        appending.flush()
    # copytruncate: the app's file is the same one, written from its start again.
    assert log.read_text().endswith("after the rotations\n")

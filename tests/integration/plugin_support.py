"""Running the installed `kubectl cloudron ...` through the harness's kubectl, which finds the
kubectl-cloudron console script on PATH, against a cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness.binaries import binary

WAIT = 30.0


def plugin_env(kubeconfig: Path) -> dict[str, str]:
    """kubectl's environment: pip's script directory (with kubectl-cloudron) first on PATH, the cluster's
    kubeconfig in KUBECONFIG."""
    scripts = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig),
    }


def kubectl_cloudron(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary("kubectl")), "cloudron", *args],
        env=plugin_env(kubeconfig),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_kubectl_cloudron(kubeconfig: Path, *args: str) -> subprocess.Popen[str]:
    """A command that waits (--wait): the test plays the operator while it runs."""
    return subprocess.Popen(
        [str(binary("kubectl")), "cloudron", *args],
        env=plugin_env(kubeconfig),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=WAIT)
    return process.returncode, out, err

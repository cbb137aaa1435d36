"""The app's log files, for apps that cannot log to stdout (CLOUDRON.md §3.2): `*.log` files under
`/run/<dir>/` (three levels deep) and the manifest's `logPaths`. A sidecar follows them into its own
stdout, so `kubectl logs <pod> -c logs` shows them, and rotates them, so `/run` does not fill.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from cloudron_operator.manifest import Manifest

LOGS_CONTAINER: Final = "logs"
RUN_DIR: Final = "/run"
# As Cloudron's logrotate: a file past 1 MiB is copied aside and emptied in place (the app keeps
# writing to the same open file), and 7 copies are kept.
ROTATE_BYTES: Final = 1024 * 1024
KEEP_COPIES: Final = 7
SCAN_SECONDS: Final = 10
RESOURCES: Final = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}

# POSIX sh and the tools of any base image (busybox's too): find, tail, wc, cp, mv.
# Arguments: seconds between scans, bytes before a rotation, copies to keep, the run directory,
# then the logPaths. Each file found is followed from its first line by its own `tail -F`.
FOLLOW_SCRIPT: Final = r"""
scan=$1 max=$2 keep=$3 run=$4
shift 4
followed=' '
while :; do
  for file in "$run"/*/*.log "$run"/*/*/*.log "$run"/*/*/*/*.log "$@"; do
    [ -f "$file" ] || continue
    case $followed in
      *" $file "*) ;;
      *) followed="$followed$file "; tail -n +1 -F "$file" 2>/dev/null & ;;
    esac
    if [ "$(wc -c < "$file")" -gt "$max" ]; then
      copy=$keep
      while [ "$copy" -gt 1 ]; do
        [ -f "$file.$((copy - 1))" ] && mv "$file.$((copy - 1))" "$file.$copy"
        copy=$((copy - 1))
      done
      cp "$file" "$file.1" && : > "$file"
    fi
  done
  sleep "$scan"
done
""".strip()


def logs_sidecar(
    image: str,
    manifest: Manifest,
    security_context: dict[str, Any],
    mounts: list[dict[str, Any]],
) -> dict[str, Any]:
    """The follower: a native sidecar (an init container that keeps running) from the app's image,
    with the app's mounts, so it sees the files where the app writes them."""
    args = [str(SCAN_SECONDS), str(ROTATE_BYTES), str(KEEP_COPIES), RUN_DIR, *manifest.log_paths]
    return {
        "name": LOGS_CONTAINER,
        "image": image,
        "restartPolicy": "Always",
        "command": ["/bin/sh", "-c", FOLLOW_SCRIPT, LOGS_CONTAINER, *args],
        "resources": copy.deepcopy(RESOURCES),
        "securityContext": security_context,
        "volumeMounts": mounts,
    }

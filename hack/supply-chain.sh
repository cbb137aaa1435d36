#!/usr/bin/env bash
# The Python supply chain: the locks, the operator image's SBOM and the vulnerability audit.
#   lock   resolve requirements/{operator,dev,tools}.lock, every file pinned with its sha256 hashes
#          (pip-compile; pins already in a lock are kept: `UPGRADE=1` resolves everything anew)
#   sbom   sbom/cloudron-operator.cdx.json: CycloneDX of what the operator image installs (the
#          operator lock, then the operator), read from a virtual environment that holds just that
#   audit  pip-audit of the operator and dev locks; fails on a known vulnerability, and on a
#          package it could not look up (--strict: an audit that skips is no audit)
# The tools run in a virtual environment of their own under the cache, installed from tools.lock.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CLOUDRON_CACHE:-$HOME/.cache/cloudron-operator}
BOOT_PYTHON=${BOOT_PYTHON:-python3}
REQ=$REPO/requirements
TOOLS=$CACHE/supply-chain-venv
log() { printf '[supply-chain] %s\n' "$*" >&2; }

tools() {
  local stamp=$TOOLS/.tools.lock.sha256 want
  want=$(sha256sum "$REQ/tools.lock" | cut -d' ' -f1)
  if [[ ! -x $TOOLS/bin/pip-compile || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    log "tools: installing pip-tools, pip-audit and cyclonedx-bom from requirements/tools.lock"
    rm -rf "$TOOLS"
    "$BOOT_PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --require-hashes --no-deps -r "$REQ/tools.lock"
    echo "$want" >"$stamp"
  fi
}

compile() {  # compile OUTPUT SOURCE... [pip-compile options]
  local output=$1; shift
  # Relative paths in the header and in `# via` lines: the lock reads the same from any checkout.
  (cd "$REPO" && CUSTOM_COMPILE_COMMAND="make lock" "$TOOLS/bin/pip-compile" --quiet --generate-hashes \
    --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url --resolver=backtracking \
    ${UPGRADE:+--upgrade} --output-file "$output" "$@")
}

lock() {
  tools
  log "lock: requirements/operator.lock (pyproject.toml's dependencies)"
  compile requirements/operator.lock pyproject.toml
  # The dev lock pins the operator's packages at the operator lock's versions (a constraint), so
  # the tests run what the image ships.
  log "lock: requirements/dev.lock (+ the dev extras and the editable install's build tools)"
  compile requirements/dev.lock --extra dev pyproject.toml requirements/build.in requirements/dev-constraints.in
  log "lock: requirements/tools.lock"
  compile requirements/tools.lock requirements/tools.in
}

sbom() {
  tools
  local venv=$CACHE/sbom-venv
  rm -rf "$venv"
  # No pip of its own: the environment holds what the image installs and nothing that varies by machine.
  "$BOOT_PYTHON" -m venv --without-pip "$venv"
  "$TOOLS/bin/pip" --python "$venv/bin/python" install --quiet --require-hashes --no-deps -r "$REQ/operator.lock"
  "$TOOLS/bin/pip" --python "$venv/bin/python" install --quiet --no-deps "$REPO"
  mkdir -p "$REPO/sbom"
  "$TOOLS/bin/cyclonedx-py" environment --pyproject "$REPO/pyproject.toml" --output-reproducible \
    --of JSON -o "$REPO/sbom/cloudron-operator.cdx.json" "$venv/bin/python"
  log "sbom: sbom/cloudron-operator.cdx.json"
}

audit() {
  tools
  local lockfile
  for lockfile in operator dev; do
    log "audit: requirements/$lockfile.lock"
    "$TOOLS/bin/pip-audit" --strict --require-hashes --disable-pip --progress-spinner off \
      -r "$REQ/$lockfile.lock"
  done
}

case ${1:-} in
  lock | sbom | audit) "$1" ;;
  *) echo "usage: $0 lock|sbom|audit" >&2; exit 2 ;;
esac

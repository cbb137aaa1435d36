#!/usr/bin/env bash
# Install everything the tests and the demo need, skipping what is already in place:
#   Debian packages (database servers), the project's virtual environment (.venv) from the dev lock,
#   the control-plane binaries (hack/build-binaries.sh) and the npm reference validator.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n "${CLOUDRON_OPERATOR_CACHE:-}" ]]; then
  echo "CLOUDRON_OPERATOR_CACHE is now CLOUDRON_CACHE (the operator refuses unknown CLOUDRON_OPERATOR_* variables)" >&2
  exit 2
fi
CACHE=${CLOUDRON_CACHE:-$HOME/.cache/cloudron-operator}
# The interpreter the virtual environment is made from (3.11 or newer).
BOOT_PYTHON=${BOOT_PYTHON:-python3}
mkdir -p "$CACHE"
log() { printf '[install-deps] %s\n' "$*" >&2; }

# stamp_fresh NAME FILE...: true when FILE's content has not changed since `stamp_write NAME FILE...`
stamp_fresh() { local name=$1; shift; [[ -f "$CACHE/$name.stamp" && "$(cat "$@" | sha256sum)" == "$(cat "$CACHE/$name.stamp")" ]]; }
stamp_write() { local name=$1; shift; cat "$@" | sha256sum >"$CACHE/$name.stamp"; }

# pgextwlist and PostGIS: the test server lets an app's role create Cloudron's extensions; Postfix and
# Dovecot: the mail relay with a login per app (docs/provisioning.md); slapd and its clients: the
# directory of the ldap addon (docs/identity.md); Chromium and its driver: the login pages' browser
# tests (nothing downloads a browser at run time); the database clients: the backup program's pg_dump,
# psql, mysqldump and mysql (as in the operator's image).
APT_PACKAGES=(postgresql postgresql-15-pgextwlist postgresql-15-postgis-3 mariadb-server redis-server openssl coturn
  postfix dovecot-core slapd ldap-utils chromium chromium-driver postgresql-client mariadb-client)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || { log "need root to install: ${missing[*]} (or install them yourself)"; exit 1; }
  log "apt: installing ${missing[*]}"
  # Postfix unconfigured: the tests start their own instances, none is the system's mail service.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # slapd without a database of its own: the tests start theirs with addons/openldap/slapd.conf.
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The project's own virtual environment (.venv, or $VENV): the machine's interpreter and its packages
# are never touched. It holds exactly requirements/dev.lock, every file checked against the lock's
# hashes, then this checkout, editable. Rebuilt when the lock changes or it is another checkout's.
VENV=${VENV:-$REPO/.venv}
if ! "$BOOT_PYTHON" -c 'import ensurepip' 2>/dev/null; then
  [[ $(id -u) == 0 ]] || { log "need root to install python3-venv (or install it yourself)"; exit 1; }
  log "apt: installing python3-venv"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
installed_from=$("$VENV/bin/python" -c 'import cloudron_operator; print(cloudron_operator.__file__)' 2>/dev/null || true)
if ! stamp_fresh venv "$REPO/requirements/dev.lock" "$REPO/pyproject.toml" || [[ "$installed_from" != "$REPO/operator/"* ]]; then
  log "venv: $VENV from requirements/dev.lock (hashes checked), then this checkout (editable)"
  [[ ! -e "$VENV" || -f "$VENV/pyvenv.cfg" ]] || { log "$VENV exists and is no virtual environment"; exit 1; }
  rm -rf "$VENV"
  "$BOOT_PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$REPO/requirements/dev.lock"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$REPO"
  "$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check >&2; exit 1; }
  stamp_write venv "$REPO/requirements/dev.lock" "$REPO/pyproject.toml"
fi

"$REPO/hack/build-binaries.sh"

if [[ -f "$REPO/tests/reference/package-lock.json" ]]; then
  if ! stamp_fresh npm "$REPO/tests/reference/package-lock.json" || [[ ! -d "$REPO/tests/reference/node_modules" ]]; then
    log "npm: installing the reference manifest validator"
    npm ci --prefix "$REPO/tests/reference" --no-audit --no-fund --loglevel=error
    stamp_write npm "$REPO/tests/reference/package-lock.json"
  fi
fi
log "ready"

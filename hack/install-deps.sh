#!/usr/bin/env bash
# Install everything the tests and the demo need, skipping what is already in place:
#   Debian packages (database servers), the Python package with its dev extras,
#   the control-plane binaries (hack/build-binaries.sh) and the npm reference validator.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n "${CLOUDRON_OPERATOR_CACHE:-}" ]]; then
  echo "CLOUDRON_OPERATOR_CACHE is now CLOUDRON_CACHE (the operator refuses unknown CLOUDRON_OPERATOR_* variables)" >&2
  exit 2
fi
CACHE=${CLOUDRON_CACHE:-$HOME/.cache/cloudron-operator}
PYTHON=${PYTHON:-python3}
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

# Reinstall when pyproject.toml changed or the installed package is another checkout's (editable installs).
installed_from=$("$PYTHON" -c 'import cloudron_operator, kopf, pytest; print(cloudron_operator.__file__)' 2>/dev/null || true)
if ! stamp_fresh python "$REPO/pyproject.toml" || [[ "$installed_from" != "$REPO/operator/"* ]]; then
  log "pip: installing cloudron-operator[dev]"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e "$REPO[dev]"
  stamp_write python "$REPO/pyproject.toml"
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

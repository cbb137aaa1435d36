#!/bin/sh
# Fill slapd.conf's placeholders and run slapd in the foreground on port 3890 (no root needed).
# ADMIN_PASSWORD (from the Addon's admin Secret) is hashed here and never written in clear.
set -eu
: "${ADMIN_PASSWORD:?ADMIN_PASSWORD is required}"
# -T hashes the file's bytes as they are: printf '%s' gives it no newline.
hash=$(printf '%s' "$ADMIN_PASSWORD" | slappasswd -h '{SSHA}' -T /dev/stdin)
unset ADMIN_PASSWORD
sed -e "s|@@SCHEMA_DIR@@|/etc/ldap/schema|" \
    -e "s|@@CLOUDRON_SCHEMA@@|/etc/cloudron-ldap/cloudron.schema|" \
    -e "s|@@RUN_DIR@@|/run/slapd|" \
    -e "s|@@MODULE_DIR@@|/usr/lib/ldap|" \
    -e "s|@@DATA_DIR@@|/var/lib/ldap|" \
    -e "s|@@ADMIN_PASSWORD_HASH@@|$hash|" \
    /etc/cloudron-ldap/slapd.conf >/run/slapd/slapd.conf
exec slapd -f /run/slapd/slapd.conf -h "ldap://0.0.0.0:3890/" -d 0

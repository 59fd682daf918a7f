#!/bin/sh
# contrib/systemd/verify-units.sh BIN_DIR - checks the systemd units with
# `systemd-analyze verify` (syntax, directives, that ExecStart's program
# exists) after pointing their /usr/local/bin at BIN_DIR, and that both run
# their daemon in the foreground. Run by ctest as systemd_units_test.
set -eu
BIN=${1:?usage: verify-units.sh BIN_DIR}
SRC=$(cd "$(dirname "$0")" && pwd)
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (Debian package systemd; contrib/install-deps.sh)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for unit in gmctld.service gmd.service; do
  sed "s#/usr/local/bin/#$BIN/#g" "$SRC/$unit" >"$TMP/$unit"
done
out=$(cd "$TMP" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no ./gmctld.service ./gmd.service 2>&1) || {
  echo "$out" >&2; exit 1; }
# Anything said about our units is a finding (messages about the host's own units are not).
if echo "$out" | grep -E 'gmctld\.service|gmd\.service' >&2; then exit 1; fi
grep -q '^ExecStart=.*/gmd run --foreground' "$SRC/gmd.service" || { echo "gmd.service must run gmd --foreground" >&2; exit 1; }
grep -q '^Type=simple' "$SRC/gmctld.service" || { echo "gmctld.service must be Type=simple" >&2; exit 1; }
"$BIN/gmd" --help | grep -q -- '--foreground' || { echo "gmd --help does not offer --foreground" >&2; exit 1; }
echo "systemd units verified"

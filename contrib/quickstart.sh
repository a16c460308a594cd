#!/usr/bin/env bash
# Sluice quickstart for a fresh Debian 12 machine, as root: installs the
# Debian packages it needs, builds Sluice in build/, starts Redis, a private
# Postfix and a sink on 127.0.0.1, sends real mail through them, shows what
# happened and stops everything it started. Safe to run again.
#
#   ./contrib/quickstart.sh          run the demo and stop
#   ./contrib/quickstart.sh --keep   leave the stack up until Ctrl-C
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"

keep=()
case ${1:-} in
  "") ;;
  --keep) keep=(--keep) ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--keep]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart.sh runs as root: it installs packages and starts a private Postfix" >&2
  exit 1
fi
sluice_install_packages "${SLUICE_BUILD_PACKAGES[@]}" "${SLUICE_RUN_PACKAGES[@]}" || exit 1
sluice_build || exit 1
exec /usr/bin/python3 "$SLUICE_ROOT/contrib/lib/quickstart_demo.py" "$SLUICE_BUILD" "${keep[@]}"

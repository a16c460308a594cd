# Shared by contrib/quickstart.sh and contrib/check.sh: the Debian packages
# Sluice needs, and an idempotent out-of-tree build in build/.
# shellcheck shell=bash

SLUICE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SLUICE_BUILD=${SLUICE_BUILD:-$SLUICE_ROOT/build}

# To build: compiler, autotools and the libraries configure looks for.
SLUICE_BUILD_PACKAGES=(
  g++ make autoconf automake pkg-config
  libmilter-dev libopendkim-dev libspf2-dev libssl-dev libhiredis-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# To run the stack on loopback: Redis, Postfix (with smtp-source/smtp-sink),
# swaks, Debian's python3 with aiosmtpd for the sink and dkimpy (+ nacl for
# Ed25519) to show that the signatures verify, and openssl.
SLUICE_RUN_PACKAGES=(
  redis-server postfix swaks python3 python3-aiosmtpd python3-dkim python3-nacl openssl iproute2 procps
)
# Only the tests need these: independent DKIM verifiers and milter tools.
SLUICE_TEST_PACKAGES=(
  libmail-dkim-perl libnet-dns-perl opendkim opendkim-tools miltertest
  # tests/e2e/harness/sendmail.py: m4 builds sendmail.cf, gcc (cc) its
  # LD_PRELOAD shim; Sendmail itself comes from `apt-get download`.
  m4 gcc
)

say() { printf '==> %s\n' "$*"; }

# Installs the packages that are not installed yet; no network when none is missing.
sluice_install_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && { say "packages: all ${#@} present"; return 0; }
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them first)" >&2
    return 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix must not ask, nor configure or start the system instance: every
  # Sluice run uses a private instance of its own.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -q >/dev/null || return 1
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null || return 1
}

# Configures (once, or again when configure.ac or a Makefile.am changed) and builds.
sluice_build() {  # [extra configure args...]
  local stamp="$SLUICE_BUILD/.configure-args" args="$*"
  if [ ! -x "$SLUICE_ROOT/configure" ] || [ "$SLUICE_ROOT/configure.ac" -nt "$SLUICE_ROOT/configure" ] ||
     [ -n "$(find "$SLUICE_ROOT" -name Makefile.am -newer "$SLUICE_ROOT/configure" -not -path "$SLUICE_BUILD/*" 2>/dev/null)" ]; then
    say "bootstrap (autoreconf)"
    (cd "$SLUICE_ROOT" && ./bootstrap) >"$SLUICE_ROOT/bootstrap.log" 2>&1 ||
      { cat "$SLUICE_ROOT/bootstrap.log" >&2; return 1; }
  fi
  mkdir -p "$SLUICE_BUILD"
  if [ ! -f "$SLUICE_BUILD/config.status" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$args" ] ||
     [ "$SLUICE_ROOT/configure" -nt "$SLUICE_BUILD/config.status" ]; then
    say "configure $args"
    (cd "$SLUICE_BUILD" && "$SLUICE_ROOT/configure" "$@") >"$SLUICE_BUILD/configure.out" 2>&1 ||
      { tail -n 20 "$SLUICE_BUILD/configure.out" >&2; return 1; }
    printf '%s' "$args" >"$stamp"
  fi
  say "make"
  make -C "$SLUICE_BUILD" -j"$(nproc)" >"$SLUICE_BUILD/make.out" 2>&1 ||
    { grep -E -B2 -A8 'error|Error' "$SLUICE_BUILD/make.out" | head -n 60 >&2; return 1; }
}

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
  spamassassin spamd spamc
)
# Only the tests need these: independent DKIM verifiers and milter tools.
SLUICE_TEST_PACKAGES=(
  libmail-dkim-perl libnet-dns-perl opendkim opendkim-tools miltertest
  # tests/e2e/harness/sendmail.py: m4 builds sendmail.cf, gcc (cc) its
  # LD_PRELOAD shim; Sendmail itself comes from `apt-get download`.
  m4 gcc
  # tests/e2e/harness/scanners.py: content scanners the milter talks to, run
  # as private instances on free ports (never the Debian services); an
  # authoritative DNS server and dig for the SPF tests.
  spamassassin spamd spamc rspamd clamav-daemon clamdscan nsd bind9-dnsutils
)
# Debian services these packages would start and enable at boot, each after
# the package that brings it: the tests run their own instances on free
# ports, so none of these may hold 783, 11332-11334, 3310 or 53, nor fetch
# updates (freshclam, sa-update) behind the tests' back.
SLUICE_QUIET_SERVICES=(
  spamd:spamd spamd:spamassassin-maintenance.timer rspamd:rspamd
  clamav-daemon:clamav-daemon.socket clamav-daemon:clamav-daemon
  clamav-freshclam:clamav-freshclam clamav-freshclam:clamav-freshclam-once.timer nsd:nsd
)
# spamassassin's postinst imports the sa-update keys with gpg, which leaves a
# gpg-agent running for this home directory.
SLUICE_SA_GPG_HOME=/var/lib/spamassassin/sa-update-keys

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
  # Only the services of packages installed now are quietened: one the
  # administrator installed and runs is none of our business.
  local entry quiet=()
  for entry in "${SLUICE_QUIET_SERVICES[@]}"; do
    dpkg-query -W -f='${Status}' "${entry%%:*}" 2>/dev/null | grep -q 'install ok installed' || quiet+=("${entry#*:}")
  done
  # While installing, a policy-rc.d answering 101 for those services keeps
  # invoke-rc.d and deb-systemd-invoke from starting them (others start as
  # usual). A Docker image has a policy-rc.d of its own: left alone.
  local policy=/usr/sbin/policy-rc.d ours=no rc=0 names=() unit
  for unit in "${quiet[@]}"; do names+=("${unit%.*}" "${unit%.*}.*"); done
  if [ ! -e "$policy" ] && [ ${#names[@]} -gt 0 ]; then
    # shellcheck disable=SC2016 # $1 belongs to the generated script
    printf '#!/bin/sh\n# sluice_install_packages: these services start only when asked\ncase "$1" in\n  %s) exit 101 ;;\nesac\nexit 0\n' \
      "$(IFS='|'; echo "${names[*]}")" >"$policy" && chmod 755 "$policy" && ours=yes
  fi
  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null || rc=1
  [ "$ours" = yes ] && rm -f "$policy"
  sluice_quiet_services "${quiet[@]}"
  sluice_kill_sa_gpg_agent
  return $rc
}

# Stops and disables Debian services (units or init scripts) by name.
sluice_quiet_services() {
  local svc
  for svc in "$@"; do
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
}

# Ends the gpg-agent that spamassassin's postinst left: through gpgconf for
# its home directory, else by the PIDs of gpg-agents started with it.
sluice_kill_sa_gpg_agent() {
  [ -d "$SLUICE_SA_GPG_HOME" ] || return 0
  gpgconf --homedir "$SLUICE_SA_GPG_HOME" --kill gpg-agent >/dev/null 2>&1 || true
  local cmdline pid
  for cmdline in /proc/[0-9]*/cmdline; do
    pid=${cmdline#/proc/}; pid=${pid%/cmdline}
    if tr '\0' ' ' 2>/dev/null <"$cmdline" | grep -Eq "(^|/)gpg-agent .*--homedir $SLUICE_SA_GPG_HOME( |$)"; then
      kill "$pid" 2>/dev/null || true
    fi
  done
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

#!/usr/bin/env bash
# run_milter_bench.sh: sluice-milter against OpenDKIM (the DKIM-signing
# anchor) in one run, so the ratios mean something: the crypto ceiling
# (openssl speed), both milters signing the same messages with the same keys
# driven directly over the milter protocol (bench/milter_load), and the whole
# path smtp-source -> private Postfix -> smtp-sink, alone and with each milter.
# Machine speed varies between runs: only the ratios within one run matter.
#
# Usage: bench/run_milter_bench.sh            (from anywhere; knobs below)
#   BUILD=/path/to/build   build tree with milter/sluice-milter and ctl/sluicectl
#                          (default: the first of /tmp/build-mb, /tmp/build-bench, /tmp/b0, the source tree)
#   DURATION=5 WARMUP=1    seconds measured / seconds of load before measuring, per milter_load run
#   CONNS="1 8 32"         concurrent milter connections
#   SIZES="4096 102400"    message sizes (header + body)
#   ED_SOCKETS="unix"      socket kinds for the Ed25519 runs (RSA runs use unix and tcp)
#   PF_MESSAGES=2000 PF_SESSIONS=20 PF_SIZE=4096   the Postfix runs (smtp-source -m -s -l)
#   PROFILE=1              perf record sluice-milter during one extra run (C=8, 4 KB, unix, RSA)
#   SKIP_POSTFIX=1         direct milter runs only
#   OUT=/dir               keep every log and raw result there (default: a temporary dir, removed)
#
# Installs opendkim, opendkim-tools and postfix with apt-get when missing.
# Everything listens on 127.0.0.1 or on unix sockets in a private directory,
# and is stopped on exit (trap). Run time is bounded: each load run is killed
# after WARMUP + DURATION + 30 s, each Postfix run after 180 s, and phases are
# skipped once the script passes MAX_SECONDS (default 840).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-"1 8 32"}
SIZES=${SIZES:-"4096 102400"}
ED_SOCKETS=${ED_SOCKETS:-"unix"}
PF_MESSAGES=${PF_MESSAGES:-2000}
PF_SESSIONS=${PF_SESSIONS:-20}
PF_SIZE=${PF_SIZE:-4096}
PROFILE=${PROFILE:-0}
SKIP_POSTFIX=${SKIP_POSTFIX:-0}
MAX_SECONDS=${MAX_SECONDS:-840}

# shellcheck source=bench/lib.sh source-path=SCRIPTDIR/..
. "$SRC/bench/lib.sh"

# --- tools -------------------------------------------------------------------
need_pkg opendkim opendkim
need_pkg opendkim-genkey opendkim-tools
need_pkg openssl openssl
if [[ "$SKIP_POSTFIX" != 1 ]]; then
  need_pkg postfix postfix
  need_pkg smtp-source postfix
fi

find_build milter/sluice-milter /tmp/build-mb /tmp/build-bench /tmp/b0 "$SRC"
MILTER=$BUILD/milter/sluice-milter
SLUICECTL=$BUILD/ctl/sluicectl

TMP=$(mktemp -d /tmp/sluice-milter-bench.XXXXXX)
chmod 755 "$TMP"  # Postfix (user postfix) must reach the unix sockets and its spool here
KEEP=${OUT:-}
OUT=${OUT:-$TMP/out}
mkdir -p "$OUT"

load_generator milter_load

# --- cleanup -----------------------------------------------------------------
MILTER_PID="" ODKIM_PID="" SINK_PID="" PF_DIRS=()
stop_pid() { stop_pid_within 5 "$@"; }  # TERM, wait up to 5 s, then KILL
stop_milter() { [[ -n "$MILTER_PID" ]] && stop_pid "$MILTER_PID"; MILTER_PID=""; }
stop_odkim() { [[ -n "$ODKIM_PID" ]] && stop_pid "$ODKIM_PID"; ODKIM_PID=""; }
# Postfix processes of one private instance, found by their MAIL_CONFIG.
pf_procs() { grep -lzx "MAIL_CONFIG=$1/etc" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true; }
pf_stop() {
  local i
  postfix -c "$1/etc" stop </dev/null >/dev/null 2>&1 || true
  for ((i = 0; i < 50; i++)); do [[ -z "$(pf_procs "$1")" ]] && return 0; sleep 0.1; done
  # shellcheck disable=SC2046
  kill -KILL $(pf_procs "$1") 2>/dev/null || true
}
cleanup() {
  set +e
  local d
  for d in "${PF_DIRS[@]}"; do pf_stop "$d"; done
  [[ -n "$SINK_PID" ]] && stop_pid "$SINK_PID"
  stop_milter
  stop_odkim
  if [[ -z "$KEEP" ]]; then rm -rf "$TMP"; else log "logs kept in $OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- ports -------------------------------------------------------------------
wait_socket() {  # wait_socket PATH SECONDS
  for _ in $(seq $(($2 * 10))); do
    [[ -S "$1" ]] && return 0
    sleep 0.1
  done
  return 1
}
SLUICE_PORT=$(free_port)
ODKIM_PORT=$(free_port)

# --- keys and tables (the same files for both milters) -----------------------
mkdir -p "$TMP/keys"
for alg in rsa ed25519; do
  if [[ -x "$SLUICECTL" ]]; then
    "$SLUICECTL" dkim keygen --domain bench.example --selector "$alg" --algorithm "$alg" --out "$TMP/keys" >/dev/null
  elif [[ $alg == rsa ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/keys/$alg.bench.example.key" 2>/dev/null
  else
    openssl genpkey -algorithm ED25519 -out "$TMP/keys/$alg.bench.example.key"
  fi
  [[ -s "$TMP/keys/$alg.bench.example.key" ]] || die "no $alg key"
done
cat >"$TMP/key.table" <<EOF
rsa bench.example:rsa:$TMP/keys/rsa.bench.example.key
ed25519 bench.example:ed25519:$TMP/keys/ed25519.bench.example.key
EOF
for alg in rsa ed25519; do echo "*@bench.example $alg" >"$TMP/signing-$alg.table"; done

# --- the two milters ---------------------------------------------------------
# Each milter listens on $TMP/NAME.sock or its own port.
port_of() { if [[ $1 == sluice ]]; then echo "$SLUICE_PORT"; else echo "$ODKIM_PORT"; fi; }
socket_of() {  # socket_of sluice|opendkim unix|tcp -> milter-side spec
  if [[ $2 == tcp ]]; then echo "inet:$(port_of "$1")@127.0.0.1"
  elif [[ $1 == opendkim ]]; then echo "local:$TMP/opendkim.sock"  # OpenDKIM's word for unix
  else echo "unix:$TMP/$1.sock"; fi
}
postfix_spec_of() {  # the same endpoint as Postfix spells it
  if [[ $2 == tcp ]]; then echo "inet:127.0.0.1:$(port_of "$1")"; else echo "unix:$TMP/$1.sock"; fi
}
load_target_of() { postfix_spec_of "$@"; }
wait_milter() {  # wait_milter unix|tcp PORT SOCKET LOG
  if [[ $1 == unix ]]; then wait_socket "$3" 10; else wait_port "$2" 10; fi || die "milter did not start (see $4)"
}
# Logging: sluice-milter at "warning" (one line per message at "info"),
# OpenDKIM with Syslog no; neither writes per-message lines in the runs.
start_sluice() {  # start_sluice ALG SOCKETKIND
  stop_milter
  rm -f "$TMP/sluice.sock"
  cat >"$TMP/sluice-$1-$2.conf" <<EOF
[log]
level = warning

[milter]
socket = $(socket_of sluice "$2")
key_table = $TMP/key.table
signing_table = refile:$TMP/signing-$1.table
internal_networks = 127.0.0.0/8, ::1
EOF
  "$MILTER" -f -c "$TMP/sluice-$1-$2.conf" >>"$OUT/sluice-milter.log" 2>&1 &
  MILTER_PID=$!
  wait_milter "$2" "$SLUICE_PORT" "$TMP/sluice.sock" "$OUT/sluice-milter.log"
}
# OpenDKIM as close as it goes: same keys and tables, same canonicalization
# (sluice's default relaxed/relaxed), keys under /tmp (RequireSafeKeys no),
# foreground, no syslog, sign only, 127.0.0.1 internal.
start_odkim() {  # start_odkim ALG SOCKETKIND
  stop_odkim
  rm -f "$TMP/opendkim.sock"
  cat >"$TMP/opendkim-$1-$2.conf" <<EOF
Syslog no
Background no
Mode s
Socket $(socket_of opendkim "$2")
UMask 000
PidFile $TMP/opendkim.pid
KeyTable file:$TMP/key.table
SigningTable refile:$TMP/signing-$1.table
InternalHosts 127.0.0.1
RequireSafeKeys no
Canonicalization relaxed/relaxed
EOF
  # Without it OpenDKIM 2.11 signs rsa-sha256 whatever the key: with an
  # Ed25519 key every message got "451 4.7.0 resource unavailable".
  if [[ $1 == ed25519 ]]; then echo "SignatureAlgorithm ed25519-sha256" >>"$TMP/opendkim-$1-$2.conf"; fi
  opendkim -x "$TMP/opendkim-$1-$2.conf" >>"$OUT/opendkim.log" 2>&1 &
  ODKIM_PID=$!
  wait_milter "$2" "$ODKIM_PORT" "$TMP/opendkim.sock" "$OUT/opendkim.log"
}

# --- load --------------------------------------------------------------------
declare -A R  # R[name]=RESULT line
run_load() {  # run_load NAME TARGET CONNS SIZE
  local name=$1
  if skip_over_budget "$name"; then return 0; fi
  timeout $((WARMUP + DURATION + 30)) "$LOAD" --target "$2" --connections "$3" --size "$4" \
    --duration "$DURATION" --warmup "$WARMUP" --label "$name" >"$OUT/$name.txt" 2>&1 || log "$name: milter_load exited $?"
  R[$name]=$(grep '^RESULT' "$OUT/$name.txt" || true)
  local r=${R[$name]}
  log "$name: $(field "$r" mps) msg/s, EOM p50 $(field "$r" eom_p50) us, signed $(field "$r" signed)/$(field "$r" done)"
}
direct_runs() {  # direct_runs ALG SOCKETS
  local alg=$1 sock who size c
  for sock in $2; do
    for who in sluice opendkim; do
      over_budget && return 0
      if [[ $who == sluice ]]; then start_sluice "$alg" "$sock"; else start_odkim "$alg" "$sock"; fi
      for size in $SIZES; do
        for c in $CONNS; do
          run_load "$who-$alg-$sock-s$size-c$c" "$(load_target_of "$who" "$sock")" "$c" "$size"
        done
      done
      if [[ $who == sluice ]]; then stop_milter; else stop_odkim; fi
    done
  done
}

{
  echo "machine: $(machine_cpus), $(free -g | awk '/^Mem:/ {print $2 " GB RAM"}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "kernel $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "sluice-milter: $("$MILTER" --version 2>&1 | head -1) from $BUILD; OpenDKIM: $(opendkim -V 2>&1 | head -1 | sed 's/^opendkim: //'), libmilter $(dpkg-query -W -f '${Version}' libmilter1.0.1 2>/dev/null)"
  echo "postfix: $(postconf -d mail_version 2>/dev/null | sed 's/.*= //'); $(openssl version)"
} | tee "$OUT/machine.txt" >&2

# Phase 1: the crypto ceiling (one core each; the machine has $(nproc)).
log "openssl speed -seconds 3 rsa2048 ed25519"
openssl speed -seconds 3 rsa2048 ed25519 >"$OUT/openssl-speed.txt" 2>/dev/null || true
RSA_SIGN=$(awk '/^rsa 2048 bits/ {print $6}' "$OUT/openssl-speed.txt" | head -1)
ED_SIGN=$(awk '/Ed25519\)/ {print $(NF-1)}' "$OUT/openssl-speed.txt" | head -1)
log "openssl: rsa2048 ${RSA_SIGN:-?} sign/s, ed25519 ${ED_SIGN:-?} sign/s (one core)"

# Phase 2: the milters alone.
direct_runs rsa "unix tcp"
direct_runs ed25519 "$ED_SOCKETS"

if [[ "$PROFILE" == 1 ]] && command -v perf >/dev/null && ! over_budget; then
  log "profiling sluice-milter (perf record -g, C=8, 4 KB, unix, RSA)"
  start_sluice rsa unix
  "$LOAD" --target "$(load_target_of sluice unix)" --connections 8 --size 4096 --duration 6 >"$OUT/profile-load.txt" 2>&1 &
  lp=$!
  sleep 1
  perf record -g -p "$MILTER_PID" -o "$OUT/perf.data" -- sleep 4 >/dev/null 2>&1 || true
  wait "$lp" || true
  perf report -i "$OUT/perf.data" --stdio --no-children -g none --sort dso,sym 2>/dev/null |
    grep -E '^ +[0-9]' | head -25 >"$OUT/perf.txt" || true
  stop_milter
fi

# Phase 3: the whole path. smtp-source (one message per SMTP session, the
# way submissions arrive) -> private Postfix (the e2e recipe: spool and
# config in $TMP, no chroot, relayhost the sink) -> smtp-sink writing each
# message to a file (so the DKIM-Signature fields can be counted). Mail from
# 127.0.0.1 is outbound for both milters (internal_networks / InternalHosts):
# smtp-source cannot authenticate.
PF_PORT=""
pf_setup() {  # pf_setup DIR SMTPD_PORT SINK_PORT [SMTPD_MILTERS]
  local d=$1 port=$2 sink=$3 milters=${4:-}
  mkdir -p -m 755 "$d" "$d/etc" "$d/spool" "$d/log"
  cp /usr/share/postfix/master.cf.dist "$d/etc/master.cf"
  : >"$d/etc/main.cf"
  postconf -c "$d/etc" -e "compatibility_level = 3.6" \
    "queue_directory = $d/spool" "data_directory = $d/data" \
    "myhostname = mx$port.bench.example" "mydestination =" "alias_maps =" "alias_database =" \
    "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" "mynetworks = 127.0.0.0/8" \
    "relayhost = [127.0.0.1]:$sink" "smtp_host_lookup = native" "disable_dns_lookups = yes" \
    "smtpd_peername_lookup = no" "syslog_name = postfix-bench-$port" \
    "maillog_file = $d/log/postfix.log" "maillog_file_prefixes = $d/log" \
    "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination" \
    "milter_default_action = tempfail" "default_process_limit = 200" "smtpd_milters = $milters"
  postconf -c "$d/etc" -M# smtp/inet
  postconf -c "$d/etc" -M "$port/inet=$port inet n - n - - smtpd"
  postconf -c "$d/etc" -F '*/*/chroot = n'
}
pf_up() {  # pf_up DIR SINK_PORT [SMTPD_MILTERS] -> PF_PORT
  local d=$1 try
  for try in 1 2 3 4 5; do
    PF_PORT=$(free_port)
    pf_setup "$d" "$PF_PORT" "$2" "${3:-}"
    PF_DIRS+=("$d")
    if postfix -c "$d/etc" start </dev/null >/dev/null 2>&1 &&
      [[ "$(ss -Hltn "sport = :$PF_PORT" | wc -l)" -eq 1 ]]; then  # master binds with SO_REUSEPORT
      return 0
    fi
    tail -n 5 "$d/log/postfix.log" >&2 || true
    pf_stop "$d"
  done
  return 1
}
pf_queue_empty() { [[ -z "$(find "$1"/spool/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | head -1)" ]]; }
declare -A PF  # PF[name]="msgs_per_s accepted delivered signed elapsed"
pf_run() {  # pf_run NAME [SMTPD_MILTERS]
  local name=$1 milters=${2:-} d=$TMP/pf-$1 sink_dir=$TMP/sink-$1 sink_port
  if skip_over_budget "postfix-$name"; then return 0; fi
  sink_port=$(free_port)
  mkdir -p -m 777 "$sink_dir"
  smtp-sink -u nobody -d "$sink_dir/%M." "127.0.0.1:$sink_port" 256 >"$OUT/sink-$name.log" 2>&1 &
  SINK_PID=$!
  wait_port "$sink_port" 10 || die "smtp-sink did not start"
  pf_up "$d" "$sink_port" "$milters" || die "postfix did not start (see $d/log/postfix.log)"
  # Warm-up: a few messages through the whole path (process start-up).
  smtp-source -s 4 -m 40 -l "$PF_SIZE" -f "sender@bench.example" -t "rcpt@dest.bench.example" \
    "127.0.0.1:$PF_PORT" >/dev/null 2>&1 || true
  for _ in $(seq 300); do pf_queue_empty "$d" && break; sleep 0.1; done
  rm -rf "${sink_dir:?}"/* 2>/dev/null || true
  log "postfix-$name: smtp-source -s $PF_SESSIONS -m $PF_MESSAGES -l $PF_SIZE${milters:+ (smtpd_milters = $milters)}"
  local t0 t1 t2 rc=0
  t0=$(date +%s.%N)
  timeout 180 smtp-source -s "$PF_SESSIONS" -m "$PF_MESSAGES" -l "$PF_SIZE" -f "sender@bench.example" \
    -t "rcpt@dest.bench.example" "127.0.0.1:$PF_PORT" >"$OUT/smtp-source-$name.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  for _ in $(seq 1800); do pf_queue_empty "$d" && break; sleep 0.05; done
  t2=$(date +%s.%N)
  local delivered signed rejected
  delivered=$(find "$sink_dir" -type f | wc -l)
  signed=$({ grep -l -m1 '^DKIM-Signature:' -r "$sink_dir" 2>/dev/null || true; } | wc -l)
  rejected=$({ grep -E 'milter-reject|milter.*(error|timeout)| 4[0-9][0-9] 4\.' "$d/log/postfix.log" 2>/dev/null || true; } | wc -l)
  PF[$name]=$(awk -v n="$PF_MESSAGES" -v a="$t0" -v b="$t1" -v c="$t2" -v dl="$delivered" -v s="$signed" -v rc="$rc" -v rj="$rejected" \
    'BEGIN { printf "%.1f %.1f %d %d %.2f %.2f %d %d", dl / (c - a), n / (b - a), dl, s, b - a, c - a, rc, rj }')
  log "postfix-$name: ${PF[$name]} (delivered/s accepted/s delivered signed t_accept t_deliver rc milter-errors)"
  cp "$d/log/postfix.log" "$OUT/postfix-$name.log" 2>/dev/null || true
  pf_stop "$d"
  stop_pid "$SINK_PID"
  SINK_PID=""
  rm -rf "$d" "$sink_dir"
}
if [[ "$SKIP_POSTFIX" != 1 ]]; then
  pf_run alone
  start_sluice rsa unix
  pf_run sluice-unix "$(postfix_spec_of sluice unix)"
  stop_milter
  start_sluice rsa tcp
  pf_run sluice-tcp "$(postfix_spec_of sluice tcp)"
  stop_milter
  start_odkim rsa unix
  pf_run opendkim-unix "$(postfix_spec_of opendkim unix)"
  stop_odkim
  start_odkim rsa tcp
  pf_run opendkim-tcp "$(postfix_spec_of opendkim tcp)"
  stop_odkim
  pf_run alone-again
fi

# --- report ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2fx", a / b; else print "-" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.0f%%", 100 * a / b; else print "-" }'; }
errs() { nonzero_fields "$1" "," conn_err timeouts malformed tempfail reject early_accept early_other; }
signed() { [[ -z "$1" ]] && { echo "-"; return; }; echo "$(field "$1" signed)/$(field "$1" done)"; }
direct_table() {  # direct_table ALG SOCKETS
  local alg=$1 sock size c s o
  echo "| socket | size | C | sluice msg/s | EOM p50 µs | EOM p99 µs | msg p50 µs | msg p99 µs | signed | OpenDKIM msg/s | EOM p50 µs | EOM p99 µs | msg p50 µs | msg p99 µs | signed | sluice / OpenDKIM | errors sluice / OpenDKIM |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---|"
  for sock in $2; do
    for size in $SIZES; do
      for c in $CONNS; do
        s=${R[sluice-$alg-$sock-s$size-c$c]:-} o=${R[opendkim-$alg-$sock-s$size-c$c]:-}
        echo "| $sock | $size | $c | $(field "$s" mps) | $(field "$s" eom_p50) | $(field "$s" eom_p99) | $(field "$s" msg_p50) | $(field "$s" msg_p99) | $(signed "$s") | $(field "$o" mps) | $(field "$o" eom_p50) | $(field "$o" eom_p99) | $(field "$o" msg_p50) | $(field "$o" msg_p99) | $(signed "$o") | $(ratio "$(field "$s" mps)" "$(field "$o" mps)") | $(errs "$s") / $(errs "$o") |"
      done
    done
  done
}
best() {  # best PREFIX: highest msg/s among the runs named PREFIX*
  local k b=0 v
  for k in "${!R[@]}"; do
    [[ $k == $1* ]] || continue
    v=$(field "${R[$k]}" mps)
    [[ -n "$v" ]] && b=$(awk -v a="$v" -v b="$b" 'BEGIN { print (a > b ? a : b) }')
  done
  echo "$b"
}
pff() { [[ -z "${PF[$1]:-}" ]] && { echo "-"; return; }; awk -v i="$2" '{ print $i }' <<<"${PF[$1]}"; }
{
  echo
  cat "$OUT/machine.txt"
  echo "milter_load: one thread; each connection one SMTP session reused for every message (ABORT between messages), ${WARMUP} s warm-up, ${DURATION} s measured per run"
  echo
  echo "Crypto ceiling (\`openssl speed -seconds 3 rsa2048 ed25519\`, one core):"
  echo
  echo "| algorithm | sign/s (one core) | best sluice msg/s (4 KB) | sluice / openssl | best OpenDKIM msg/s (4 KB) | OpenDKIM / openssl |"
  echo "|---|---:|---:|---:|---:|---:|"
  for alg in rsa ed25519; do
    sign=$RSA_SIGN
    [[ $alg == ed25519 ]] && sign=$ED_SIGN
    bs=$(best "sluice-$alg-unix-s4096-") bo=$(best "opendkim-$alg-unix-s4096-")
    echo "| $([[ $alg == rsa ]] && echo rsa2048 || echo ed25519) | ${sign:-?} | $bs | $(ratio "$bs" "$sign") | $bo | $(ratio "$bo" "$sign") |"
  done
  echo
  echo "RSA-2048, milter_load straight to the milter (µs; \"msg\" = from MAIL to the final reply; signed = messages with a DKIM-Signature / messages):"
  echo
  direct_table rsa "unix tcp"
  echo
  echo "Ed25519:"
  echo
  direct_table ed25519 "$ED_SOCKETS"
  if [[ "$SKIP_POSTFIX" != 1 ]]; then
    echo
    echo "Whole path: smtp-source -s $PF_SESSIONS -m $PF_MESSAGES -l $PF_SIZE (one message per session) -> Postfix -> smtp-sink, RSA-2048:"
    echo
    echo "| setup | delivered msg/s | vs Postfix alone | accepted msg/s (smtp-source) | delivered | with DKIM-Signature | smtp-source rc | milter errors in log |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    base=$(pff alone 1)
    if [[ -n "${PF[alone-again]:-}" ]]; then
      base=$(awk -v a="$(pff alone 1)" -v b="$(pff alone-again 1)" 'BEGIN { printf "%.1f", (a + b) / 2 }')
    fi
    for n in alone alone-again sluice-unix sluice-tcp opendkim-unix opendkim-tcp; do
      echo "| $n | $(pff "$n" 1) | $(pct "$(pff "$n" 1)" "$base") | $(pff "$n" 2) | $(pff "$n" 3) | $(pff "$n" 4) | $(pff "$n" 7) | $(pff "$n" 8) |"
    done
    echo
    echo "(\"vs Postfix alone\" divides by the mean of the two Postfix-alone runs, one before and one after the milter runs: $base msg/s)"
  fi
  if [[ -s "$OUT/perf.txt" ]]; then
    echo
    echo "perf (self time, sluice-milter, C=8, 4 KB, unix, RSA):"
    echo
    sed 's/^/    /' "$OUT/perf.txt"
  fi
} | tee "$OUT/report.md"
log "done in ${SECONDS}s"

#!/usr/bin/env bash
# run_scan_bench.sh: what the content-scanner hook of sluice-milter adds to
# end of message, against each scanner's own latency, in one run.
#
# Starts spamd (-L), rspamd and clamd (two custom signatures) on free
# 127.0.0.1 ports with private directories, a private redis-server, and five
# sluice-milter instances on unix sockets: no scanner (the baseline: Ed25519
# signing, the milter protocol, the message records in Redis), one scanner
# each, and all three. Then, ROUNDS times (the order flips each round, so a
# machine that slows down or speeds up during the run weighs on both sides):
#   - bench/scan_direct: the scanner alone, the same message over a fresh
#     connection per scan, sequentially (what the milter does per message);
#   - bench/milter_load: one milter connection, messages of the same size one
#     after the other, through the milter with that scanner;
#   - the baseline milter and the all-three milter likewise.
# Hook cost = EOM p50 with the scanner - EOM p50 without - direct p50, per
# round; the report gives the median and range of the rounds' figures, and
# the milter's CPU time per message with and without each scanner (perf stat
# -e task-clock), which other jobs on the machine disturb far less.
# Machine speed varies between runs: compare figures of one run only.
#
# Usage: bench/run_scan_bench.sh            (from anywhere; knobs below)
#   BUILD=/path/to/build   build tree with milter/sluice-milter (default: the first
#                          of /tmp/build-bench, /tmp/b0, the source tree)
#   ROUNDS=8               rounds of every measurement
#   N_SPAMD=30 N_RSPAMD=200 N_CLAMD=400 N_BASE=400
#                          scans / messages measured per run and round (N_SPAMD also
#                          for the all-three runs), after WARMUP_N unmeasured ones (default 5)
#   SIZE=4096              message size (header + body), as milter_load builds it
#   RUN_CAP=45             seconds at most per measured run (then it reports what it has)
#   PROFILE=1              perf record -e cpu-clock sluice-milter during one extra clamd run
#   NICE=0                 run everything at this nice value (e.g. -10 on a machine
#                          shared with other jobs: fewer scheduling stalls in the figures)
#   RSPAMD_DB=DIR          rspamd DBDIR to reuse (default: a copy of
#                          /var/cache/sluice-test/rspamd-db when it exists, else
#                          ~/.cache/sluice-bench/rspamd-db, kept between runs: the first
#                          start with an empty DBDIR compiles the hyperscan cache, ~18 s)
#   OUT=/dir               keep every log and raw result there (default: a temporary dir, removed)
#   MAX_SECONDS=540        later runs are skipped once the script has run this long
#
# Needs spamd, spamc, rspamd, clamd and redis-server installed (Debian: spamd
# spamc rspamd clamav-daemon redis-server); perf (linux-perf) for the CPU
# figures and the profile, skipped without it. Traffic stays on 127.0.0.1 and unix sockets: rspamd's DNS
# resolver is pointed at a closed 127.0.0.1 port, spamd runs with -L (no
# network tests). Everything started is stopped on exit (trap).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-8}
N_SPAMD=${N_SPAMD:-30}
N_RSPAMD=${N_RSPAMD:-200}
N_CLAMD=${N_CLAMD:-400}
N_BASE=${N_BASE:-400}
NICE=${NICE:-0}
WARMUP_N=${WARMUP_N:-5}
SIZE=${SIZE:-4096}
RUN_CAP=${RUN_CAP:-45}
PROFILE=${PROFILE:-1}
MAX_SECONDS=${MAX_SECONDS:-540}
SHARED_RSPAMD_DB=/var/cache/sluice-test/rspamd-db

# shellcheck source=bench/lib.sh source-path=SCRIPTDIR/..
. "$SRC/bench/lib.sh"

for tool in spamd spamc rspamd clamd redis-server openssl md5sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: spamd spamc rspamd clamav-daemon redis-server openssl)"
done
# Every process started from here on inherits it.
if [[ "$NICE" != 0 ]]; then renice -n "$NICE" -p $$ >/dev/null || die "renice -n $NICE failed"; fi
find_build milter/sluice-milter /tmp/build-bench /tmp/b0 "$SRC"
MILTER=$BUILD/milter/sluice-milter
SLUICECTL=$BUILD/ctl/sluicectl

TMP=$(mktemp -d /tmp/sluice-scan-bench.XXXXXX)
chmod 755 "$TMP"  # spamd's and clamd's users read their files here
KEEP=${OUT:-}
OUT=${OUT:-$TMP/out}
mkdir -p "$OUT"

load_generator milter_load
MILTER_LOAD=$LOAD
load_generator scan_direct
SCAN_DIRECT=$LOAD
HAVE_PERF=0
if command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then HAVE_PERF=1; fi

# --- cleanup -----------------------------------------------------------------
declare -A PIDS=()  # name -> pid of each daemon started here
cleanup() {
  set +e
  # All at once: clamd alone takes up to 10 s to stop.
  ((${#PIDS[@]} > 0)) && stop_pid_within 15 "${PIDS[@]}"
  rm -rf "$TMP"  # keys, configs, the rspamd DBDIR copy; OUT= outside it stays
  if [[ -n "$KEEP" ]]; then log "logs kept in $OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ready_within SECONDS COMMAND...: polls COMMAND every 0.1 s.
ready_within() {
  local tenths=$(($1 * 10))
  shift
  for _ in $(seq "$tenths"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
# ask PORT REQUEST EXPECTED: one exchange on 127.0.0.1:PORT, the answer must contain EXPECTED.
ask() {
  local answer
  answer=$(
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf '%b' "$2" >&3
    timeout 2 head -c 200 <&3 | tr -d '\0'
  ) || return 1
  [[ "$answer" == *"$3"* ]]
}
alive() { kill -0 "${PIDS[$1]}" 2>/dev/null; }

# --- the scanners ------------------------------------------------------------
start_spamd() {
  SPAMD_PORT=$(free_port)
  local user=()
  [[ $(id -u) == 0 ]] && user=(-u debian-spamd)
  spamd -L -x --listen "127.0.0.1:$SPAMD_PORT" --max-children 1 --pidfile "$TMP/spamd.pid" -s stderr "${user[@]}" \
    >"$OUT/spamd.log" 2>&1 &
  PIDS[spamd]=$!
  # The port binds before the rules are loaded; PING answers when they are.
  ready_within 30 spamc -K -d 127.0.0.1 -p "$SPAMD_PORT" || die "spamd not ready in 30 s (see $OUT/spamd.log)"
}

start_rspamd() {
  local r=$TMP/rspamd
  RSPAMD_PORT=$(free_port)
  mkdir -p "$r/l/local.d" "$r/run" "$r/log"
  if [[ -n "${RSPAMD_DB:-}" ]]; then
    mkdir -p "$RSPAMD_DB"
  elif [[ -d $SHARED_RSPAMD_DB ]]; then
    # A copy: another rspamd may be using the shared cache right now.
    RSPAMD_DB=$r/db
    cp -a "$SHARED_RSPAMD_DB" "$RSPAMD_DB"
  else
    RSPAMD_DB=${XDG_CACHE_HOME:-$HOME/.cache}/sluice-bench/rspamd-db
    mkdir -p "$RSPAMD_DB"
  fi
  echo "bind_socket = \"127.0.0.1:$RSPAMD_PORT\"; count = 1;" >"$r/l/local.d/worker-normal.inc"
  echo "bind_socket = \"127.0.0.1:$(free_port)\"; count = 1;" >"$r/l/local.d/worker-controller.inc"
  echo "bind_socket = \"127.0.0.1:$(free_port)\"; count = -1;" >"$r/l/local.d/worker-proxy.inc"
  echo 'type = "console"; level = "warning";' >"$r/l/local.d/logging.inc"
  # No query may leave the machine: every name lookup goes to a closed
  # loopback port and fails at once (the message's IP is 127.0.0.1, so
  # rspamd asks for nothing about it anyway).
  echo "dns { nameserver = [\"127.0.0.1:$(free_port)\"]; timeout = 1s; retransmits = 1; }" \
    >"$r/l/local.d/options.inc"
  local root=()
  [[ $(id -u) == 0 ]] && root=(-i)
  rspamd -f "${root[@]}" -c /etc/rspamd/rspamd.conf --var=LOCAL_CONFDIR="$r/l" --var=DBDIR="$RSPAMD_DB" \
    --var=RUNDIR="$r/run" --var=LOGDIR="$r/log" >"$OUT/rspamd.log" 2>&1 &
  PIDS[rspamd]=$!
  ready_within 90 ask "$RSPAMD_PORT" 'GET /ping HTTP/1.0\r\n\r\n' pong ||
    die "rspamd not ready in 90 s (see $OUT/rspamd.log)"
}

start_clamd() {
  local c=$TMP/clamd
  CLAMD_PORT=$(free_port)
  mkdir -p "$c/db"
  # Two custom signatures (the EICAR file's MD5 and a body marker): clamd
  # refuses to start with none, and freshclam would need the network.
  # shellcheck disable=SC2016 # the EICAR test string, literally
  printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$c/eicar.com"
  printf '%s:%s:Sluice.Test.EICAR\n' "$(md5sum <"$c/eicar.com" | cut -d' ' -f1)" "$(stat -c %s "$c/eicar.com")" \
    >"$c/db/t.hdb"
  printf 'Sluice.Test.Mark:0:*:%s\n' "$(printf MARK | od -An -tx1 | tr -d ' \n')" >"$c/db/t.ndb"
  cat >"$c/clamd.conf" <<EOF
DatabaseDirectory $c/db
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
Foreground yes
LogFile $OUT/clamd-file.log
PidFile $c/clamd.pid
SelfCheck 0
EOF
  chmod -R a+rX "$c"
  clamd -c "$c/clamd.conf" >"$OUT/clamd.log" 2>&1 &
  PIDS[clamd]=$!
  ready_within 30 ask "$CLAMD_PORT" 'zPING\0' PONG || die "clamd not ready in 30 s (see $OUT/clamd.log)"
}

# --- Redis: the milter writes each message's records (and, with a scanner,
# the per-account scan counters) in one pipeline at end of message, so the
# figures include that round trip as in production. A private server on a
# unix socket: never someone else's Redis on 6379.
start_redis() {
  redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no --dir "$TMP" \
    >"$OUT/redis.log" 2>&1 &
  PIDS[redis]=$!
  ready_within 10 test -S "$TMP/redis.sock" || die "redis-server did not start (see $OUT/redis.log)"
}

# --- the milters -------------------------------------------------------------
MILTER_NAMES="none spamd rspamd clamd all"
make_keys() {
  mkdir -p "$TMP/keys"
  if [[ -x "$SLUICECTL" ]]; then
    "$SLUICECTL" dkim keygen --domain bench.example --selector ed25519 --algorithm ed25519 --out "$TMP/keys" >/dev/null
  else
    openssl genpkey -algorithm ED25519 -out "$TMP/keys/ed25519.bench.example.key"
  fi
  [[ -s "$TMP/keys/ed25519.bench.example.key" ]] || die "no Ed25519 key"
  echo "ed25519 bench.example:ed25519:$TMP/keys/ed25519.bench.example.key" >"$TMP/key.table"
  echo "*@bench.example ed25519" >"$TMP/signing.table"
}
scanner_section() {  # scanner_section spamd|rspamd|clamd
  local port
  case $1 in
    spamd) port=$SPAMD_PORT ;;
    rspamd) port=$RSPAMD_PORT ;;
    clamd) port=$CLAMD_PORT ;;
  esac
  # on_failure = tempfail: a scan that fails shows as a tempfail in
  # milter_load's counts instead of passing as a fast "clean".
  cat <<EOF

[scanner $1]
type = $1
address = inet:127.0.0.1:$port
timeout = 10s
on_failure = tempfail
EOF
}
start_milter() {  # start_milter none|spamd|rspamd|clamd|all
  local name=$1 conf=$TMP/milter-$1.conf s
  rm -f "$TMP/milter-$name.sock"
  # Level info: one line per message naming each scanner's verdict, the
  # proof that every message was scanned (the baseline logs the same line).
  cat >"$conf" <<EOF
[log]
level = info

[milter]
socket = unix:$TMP/milter-$name.sock
key_table = $TMP/key.table
signing_table = refile:$TMP/signing.table
internal_networks = 127.0.0.0/8, ::1

[redis]
unix_socket = $TMP/redis.sock
EOF
  case $name in
    none) ;;
    all) for s in spamd rspamd clamd; do scanner_section "$s" >>"$conf"; done ;;
    *) scanner_section "$name" >>"$conf" ;;
  esac
  "$MILTER" -n -c "$conf" >"$OUT/milter-$name-check.txt" 2>&1 || die "config $conf refused: $(cat "$OUT/milter-$name-check.txt")"
  "$MILTER" -f -c "$conf" >>"$OUT/milter-$name.log" 2>&1 &
  PIDS[milter-$name]=$!
  ready_within 10 test -S "$TMP/milter-$name.sock" || die "sluice-milter ($name) did not start (see $OUT/milter-$name.log)"
}

# --- measurements ------------------------------------------------------------
declare -A R=()  # R[kind-name-round] = RESULT line (+ " p90=" for milter runs)
count_of() {
  case $1 in
    spamd | all) echo "$N_SPAMD" ;;
    rspamd) echo "$N_RSPAMD" ;;
    clamd) echo "$N_CLAMD" ;;
    none) echo "$N_BASE" ;;
  esac
}
direct() {  # direct SCANNER ROUND
  local s=$1 key=direct-$1-$2 port
  if skip_over_budget "$key"; then return 0; fi
  case $s in spamd) port=$SPAMD_PORT ;; rspamd) port=$RSPAMD_PORT ;; clamd) port=$CLAMD_PORT ;; esac
  timeout $((RUN_CAP + 30)) "$SCAN_DIRECT" --scanner "$s" --target "inet:127.0.0.1:$port" --count "$(count_of "$s")" \
    --warmup-count "$WARMUP_N" --size "$SIZE" --duration "$RUN_CAP" --label "$key" >"$OUT/$key.txt" 2>&1 ||
    log "$key: scan_direct exited $?"
  R[$key]=$(grep '^RESULT' "$OUT/$key.txt" || true)
  local r=${R[$key]}
  log "$key: p50 $(field "$r" p50) p90 $(field "$r" p90) p99 $(field "$r" p99) us; n $(field "$r" n), clean $(field "$r" clean), errors $(field "$r" errors)"
}
perf_attached() { find "/proc/$1/fd" -lname '*perf_event*' 2>/dev/null | grep -q .; }
through_milter() {  # through_milter none|spamd|rspamd|clamd|all ROUND
  local m=$1 key=milter-$1-$2 n
  if skip_over_budget "$key"; then return 0; fi
  alive "milter-$m" || die "sluice-milter ($m) is gone (see $OUT/milter-$m.log)"
  n=$(count_of "$m")
  # Warm-up: WARMUP_N messages on a connection of their own (--warmup
  # counts seconds, and --max-messages counts the warm-up's messages too).
  timeout $((RUN_CAP + 40)) "$MILTER_LOAD" --target "unix:$TMP/milter-$m.sock" --connections 1 --size "$SIZE" \
    --max-messages "$WARMUP_N" --duration "$RUN_CAP" --label "$key-warmup" >"$OUT/$key-warmup.txt" 2>&1 ||
    log "$key: warm-up: milter_load exited $?"
  local before perf_pid="" cpu=""
  before=$(wc -l <"$OUT/milter-$m.log")
  # The milter's CPU time over the run (every thread, those libmilter
  # starts for the connection too): unlike latency, hardly touched by
  # other jobs competing for the CPUs.
  if [[ $HAVE_PERF == 1 ]]; then
    perf stat -e task-clock -x, -p "${PIDS[milter-$m]}" -o "$OUT/$key.cpu" 2>/dev/null &
    perf_pid=$!
    PIDS[perf]=$perf_pid  # stopped by the trap if the run dies
    # Attached once it holds its counters (one per thread), then enabled.
    ready_within 5 perf_attached "$perf_pid" || log "$key: perf stat did not attach"
    sleep 0.1
  fi
  timeout $((RUN_CAP + 40)) "$MILTER_LOAD" --target "unix:$TMP/milter-$m.sock" --connections 1 --size "$SIZE" \
    --max-messages "$n" --duration "$RUN_CAP" --label "$key" >"$OUT/$key.txt" 2>&1 ||
    log "$key: milter_load exited $?"
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" || true
    unset "PIDS[perf]"
  fi
  local p90 finished
  p90=$(sed -n 's/.*latency EOM round trip us: p50 [0-9]* p90 \([0-9]*\).*/\1/p' "$OUT/$key.txt")
  R[$key]="$(grep '^RESULT' "$OUT/$key.txt" || true) p90=${p90:-}"
  finished=$(field "${R[$key]}" "done")
  if [[ -s "$OUT/$key.cpu" && -n "$finished" && "$finished" -gt 0 ]]; then
    cpu=$(awk -F, -v n="$finished" '$3 == "task-clock" && $1 ~ /^[0-9.]+$/ { printf "%.0f", $1 * 1000 / n }' "$OUT/$key.cpu")
  fi
  R[$key]+=" cpu=${cpu:-}"
  # Verdicts the milter logged for this run's messages, per scanner.
  tail -n +"$((before + 1))" "$OUT/milter-$m.log" >"$OUT/$key.milter.log"
  local r=${R[$key]} scanned=""
  if [[ $m != none ]]; then
    scanned=", milter log: $(grep -c ' scan=' "$OUT/$key.milter.log" || true) lines with scan=, $(grep -o 'scan=[^ ]*' "$OUT/$key.milter.log" | grep -c -E 'failure|skipped' || true) with a failure or skip"
  fi
  log "$key: EOM p50 $(field "$r" eom_p50) p90 $(field "$r" p90) p99 $(field "$r" eom_p99) us; milter CPU $(field "$r" cpu) us/msg; msg p50 $(field "$r" msg_p50); window $(field "$r" window), continue $(field "$r" continue), tempfail $(field "$r" tempfail), reject $(field "$r" reject)$scanned"
}

{
  echo "machine: $(machine_cpus), $(free -g | awk '/^Mem:/ {print $2 " GB RAM"}'), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "kernel $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "sluice-milter: $("$MILTER" --version 2>&1 | head -1) from $BUILD"
  echo "spamd $(spamd --version 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1), $(rspamd --version 2>/dev/null | head -1), $(clamd --version 2>/dev/null | head -1)"
} | tee "$OUT/machine.txt" >&2

log "starting spamd, rspamd, clamd"
start_clamd
start_spamd
t_rspamd=$SECONDS
start_rspamd
log "scanners ready (rspamd took $((SECONDS - t_rspamd)) s, DBDIR $RSPAMD_DB)"
start_redis
make_keys
for m in $MILTER_NAMES; do start_milter "$m"; done

for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round of $ROUNDS"
  # The all-three runs sit next to the spamd runs: spamd's speed follows
  # the machine's load over tens of seconds, and they are compared.
  if ((round % 2 == 1)); then
    through_milter none "$round"
    direct spamd "$round"
    through_milter spamd "$round"
    through_milter all "$round"
    for s in rspamd clamd; do
      direct "$s" "$round"
      through_milter "$s" "$round"
    done
  else
    for s in clamd rspamd; do
      through_milter "$s" "$round"
      direct "$s" "$round"
    done
    through_milter all "$round"
    through_milter spamd "$round"
    direct spamd "$round"
    through_milter none "$round"
  fi
done
echo "load average after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2

# One more clamd run under perf (not in the table: perf costs time).
if [[ "$PROFILE" == 1 && $HAVE_PERF == 1 ]] && ! over_budget; then
  log "perf record -e cpu-clock -g sluice-milter (clamd) during one more run"
  perf record -e cpu-clock -g -p "${PIDS[milter-clamd]}" -o "$OUT/perf.data" -- sleep 8 >"$OUT/perf-record.log" 2>&1 &
  perf_pid=$!
  PIDS[perf]=$perf_pid
  ready_within 5 perf_attached "$perf_pid" || log "perf record did not attach"
  timeout 40 "$MILTER_LOAD" --target "unix:$TMP/milter-clamd.sock" --connections 1 --size "$SIZE" \
    --duration 6 --label perf-clamd >"$OUT/perf-clamd.txt" 2>&1 || true
  wait "$perf_pid" || true
  unset "PIDS[perf]"
  perf report -i "$OUT/perf.data" --stdio --no-children -g none --sort dso,sym 2>/dev/null |
    grep -E '^ +[0-9]' | head -25 >"$OUT/perf.txt" || true
  perf report -i "$OUT/perf.data" --stdio --no-children -g none --sort dso 2>/dev/null |
    grep -E '^ +[0-9]' | head -12 >"$OUT/perf-dso.txt" || true
  # Inclusive time of the user-space functions (the libc system call
  # wrappers among them): where the kernel's share comes from.
  perf report -i "$OUT/perf.data" --stdio --children -g none --sort dso,sym 2>/dev/null |
    grep -E '^ +[0-9].*\[\.\] [a-zA-Z_]' | head -15 >"$OUT/perf-children.txt" || true
fi

# --- report ------------------------------------------------------------------
median() { tr ' ' '\n' | grep -E '^-?[0-9.]+$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# values KIND-NAME FIELD: that field of every round, space-separated.
values() {
  local round out=""
  for ((round = 1; round <= ROUNDS; round++)); do out+="$(field "${R[$1-$round]:-}" "$2") "; done
  echo "$out"
}
med() { values "$1" "$2" | median; }
# hook_rounds SCANNER p50|p99|msg50|cpu: per round, milter with SCANNER - milter
# without - direct (cpu: milter with - milter without, µs of CPU per message).
hook_rounds() {
  local round out="" mf=eom_p50 df=p50
  case $2 in
    p99) mf=eom_p99 df=p99 ;;
    msg50) mf=msg_p50 ;;
    cpu) mf=cpu df=none ;;
  esac
  for ((round = 1; round <= ROUNDS; round++)); do
    local c=0
    [[ $df != none ]] && c=$(field "${R[direct-$1-$round]:-}" "$df")
    out+="$(awk -v a="$(field "${R[milter-$1-$round]:-}" "$mf")" -v b="$(field "${R[milter-none-$round]:-}" "$mf")" \
      -v c="$c" 'BEGIN { if (a == "" || b == "" || c == "") print "-"; else print a - b - c }') "
  done
  echo "$out"
}
# spread VALUES: "median (min to max)" of space-separated numbers.
spread() {
  local sorted
  sorted=$(tr ' ' '\n' <<<"$1" | grep -E '^-?[0-9.]+$' | sort -g || true)
  [[ -z "$sorted" ]] && { echo "-"; return; }
  echo "$(median <<<"$1") ($(head -1 <<<"$sorted") to $(tail -1 <<<"$sorted"))"
}
# logged_ms MILTER SCANNER: median of the scan times (ms) the milter logged for SCANNER over the rounds.
logged_ms() {
  cat "$OUT"/milter-"$1"-[0-9]*.milter.log 2>/dev/null | grep -o ' scan=[^ ]*' | grep -oE "[=,]$2:[^,]*" |
    sed -n 's/.*\/\([0-9]*\)ms$/\1/p' | tr '\n' ' ' | median
}
list() { sed 's/ *$//; s/ /, /g' <<<"$1"; }
checks() {  # checks KIND-NAME: messages measured, and what went wrong, over the rounds
  local round r n=0 bad=0
  for ((round = 1; round <= ROUNDS; round++)); do
    r=${R[$1-$round]:-}
    [[ -z "$r" ]] && continue
    if [[ $1 == direct-* ]]; then
      n=$((n + $(field "$r" n)))
      bad=$((bad + $(field "$r" errors) + $(field "$r" other) + $(field "$r" spam)))
    else
      n=$((n + $(field "$r" window)))
      bad=$((bad + $(field "$r" tempfail) + $(field "$r" reject) + $(field "$r" conn_err) + $(field "$r" timeouts)))
    fi
  done
  echo "$n / $bad"
}
{
  echo
  cat "$OUT/machine.txt"
  echo "message: $SIZE bytes (milter_load's 7 header fields and body); direct: scan_direct, one scan per connection;"
  echo "milter: milter_load, 1 connection (unix socket), messages one after the other; $ROUNDS rounds, figures are medians of the rounds' values"
  echo
  echo "Latency (µs; each figure the median of the $ROUNDS rounds' values; hook = milter EOM with the scanner - milter EOM"
  echo "without - direct, per round, shown as median (lowest to highest round)):"
  echo
  echo "| path | n per round | direct p50 | direct p90 | direct p99 | milter EOM p50 | EOM p90 | EOM p99 | hook at p50 | hook at p99 | measured / bad |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
  echo "| no scanner (baseline) | $N_BASE | - | - | - | $(med milter-none eom_p50) | $(med milter-none p90) | $(med milter-none eom_p99) | - | - | $(checks milter-none) |"
  for s in spamd rspamd clamd; do
    echo "| $s | $(count_of "$s") | $(med "direct-$s" p50) | $(med "direct-$s" p90) | $(med "direct-$s" p99) | $(med "milter-$s" eom_p50) | $(med "milter-$s" p90) | $(med "milter-$s" eom_p99) | $(spread "$(hook_rounds "$s" p50)") | $(spread "$(hook_rounds "$s" p99)") | direct $(checks "direct-$s"), milter $(checks "milter-$s") |"
  done
  direct_max=$(awk -v a="$(med direct-spamd p50)" -v b="$(med direct-rspamd p50)" -v c="$(med direct-clamd p50)" 'BEGIN { m = a; if (b > m) m = b; if (c > m) m = c; print m }')
  direct_sum=$(awk -v a="$(med direct-spamd p50)" -v b="$(med direct-rspamd p50)" -v c="$(med direct-clamd p50)" 'BEGIN { print a + b + c }')
  echo "| all three | $N_SPAMD | max $direct_max, sum $direct_sum | - | - | $(med milter-all eom_p50) | $(med milter-all p90) | $(med milter-all eom_p99) | $(awk -v a="$(med milter-all eom_p50)" -v m="$direct_max" -v s="$direct_sum" 'BEGIN { if (m > 0) printf "EOM / max %.2f, EOM / sum %.2f", a / m, a / s }') | - | $(checks milter-all) |"
  echo
  echo "(\"bad\": direct errors or verdicts other than clean; milter tempfail (on_failure = tempfail), reject, I/O errors, timeouts.)"
  echo
  echo "Per round, hook at p50 (µs): $(for s in spamd rspamd clamd; do printf '%s %s; ' "$s" "$(list "$(hook_rounds "$s" p50)")"; done)"
  echo
  echo "CPU time of sluice-milter per message (perf stat -e task-clock on the milter process, all threads; µs;"
  echo "median (lowest to highest round)), the scan time the milter logs (ms, median of every message) and the"
  echo "whole message (MAIL to final reply):"
  echo
  echo "| path | milter CPU per message | hook CPU (with - without) | scan time in milter log, p50 ms | msg p50 | hook on whole message p50 |"
  echo "|---|---|---|---|---:|---|"
  echo "| no scanner (baseline) | $(spread "$(values milter-none cpu)") | - | - | $(med milter-none msg_p50) | - |"
  for s in spamd rspamd clamd; do
    echo "| $s | $(spread "$(values "milter-$s" cpu)") | $(spread "$(hook_rounds "$s" cpu)") | $(logged_ms "$s" "$s") | $(med "milter-$s" msg_p50) | $(spread "$(hook_rounds "$s" msg50)") |"
  done
  echo "| all three | $(spread "$(values milter-all cpu)") | $(spread "$(for ((round = 1; round <= ROUNDS; round++)); do awk -v a="$(field "${R[milter-all-$round]:-}" cpu)" -v b="$(field "${R[milter-none-$round]:-}" cpu)" 'BEGIN { if (a != "" && b != "") printf "%d ", a - b }'; done)") | $(for s in spamd rspamd clamd; do printf '%s %s ' "$s" "$(logged_ms all "$s")"; done) | $(med milter-all msg_p50) | - |"
  if [[ -s "$OUT/perf.txt" ]]; then
    echo
    echo "perf record -e cpu-clock -g, sluice-milter with clamd, 1 connection, 6 s ($(field "$(grep '^RESULT' "$OUT/perf-clamd.txt" || true)" window) messages), self time by object and by symbol:"
    echo
    sed 's/^/    /' "$OUT/perf-dso.txt"
    echo
    sed 's/^/    /' "$OUT/perf.txt"
    echo
    echo "inclusive (children) time of user-space functions:"
    echo
    sed 's/^/    /' "$OUT/perf-children.txt"
  fi
} | tee "$OUT/report.md"
log "done in ${SECONDS}s"

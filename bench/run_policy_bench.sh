#!/usr/bin/env bash
# run_policy_bench.sh: sluice-policyd against postfwd2 (the policy-daemon
# anchor) under the same load, in the same run, plus a Redis ceiling.
# Machine speed varies between runs: only the ratios within one run matter.
#
# Usage: bench/run_policy_bench.sh            (from anywhere; see the knobs below)
#   BUILD=/path/to/build   build tree with policyd/sluice-policyd (and bench/policy_load);
#                          default: the first of /tmp/build-bench, /tmp/b0, the source tree
#   DURATION=10 WARMUP=2   seconds measured / seconds of load before measuring, per run
#   CONNS="1 10 100 300"   connection counts, as fast as possible
#   RATE=10000 RATE_CONNS=100   the paced run (p99 at a fixed rate)
#   LIMIT_CONNS="10 100"   connection counts for the runs where the quota is hit
#   USERS=100 SUPP_FRACTION=0.02 SUPP_COUNT=1000
#   PROFILE=1              perf record sluice-policyd during one extra C=100 run
#   OUT=/dir               keep every log and raw result there (default: a temporary dir, removed)
#
# Installs postfwd and redis-server with apt-get when missing. Everything it
# starts listens on 127.0.0.1 only and is stopped on exit (trap). Run time is
# bounded: each load run is killed after WARMUP + DURATION + 20 s, and phases
# are skipped once the whole script passes MAX_SECONDS (default 540).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-"1 10 100 300"}
RATE=${RATE:-10000}
RATE_CONNS=${RATE_CONNS:-100}
LIMIT_CONNS=${LIMIT_CONNS:-"10 100"}
USERS=${USERS:-100}
SUPP_FRACTION=${SUPP_FRACTION:-0.02}
SUPP_COUNT=${SUPP_COUNT:-100}
PROFILE=${PROFILE:-0}
MAX_SECONDS=${MAX_SECONDS:-540}
LIMIT_PER_USER=${LIMIT_PER_USER:-10}   # recipients per user per day in the "limit hit" runs

# shellcheck source=bench/lib.sh source-path=SCRIPTDIR/..
. "$SRC/bench/lib.sh"

# --- tools -------------------------------------------------------------------
need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
need_pkg redis-benchmark redis-tools
need_pkg postfwd2 postfwd

find_build policyd/sluice-policyd /tmp/build-bench /tmp/b0 "$SRC"
POLICYD=$BUILD/policyd/sluice-policyd

TMP=$(mktemp -d /tmp/sluice-policy-bench.XXXXXX)
chmod 755 "$TMP"
KEEP=${OUT:-}
OUT=${OUT:-$TMP/out}
mkdir -p "$OUT"

load_generator policy_load

# --- cleanup -----------------------------------------------------------------
REDIS_PID="" POLICYD_PID="" FWD_MASTER=""
stop_pid() { stop_pid_within 3 "$@"; }  # TERM, wait up to 3 s, then KILL
stop_policyd() { [[ -n "$POLICYD_PID" ]] && stop_pid "$POLICYD_PID"; POLICYD_PID=""; }
# postfwd2 daemonizes: a master with two daemons (cache, policy), the policy
# daemon with its preforked children. Killing the master alone leaves the
# policy daemon running, so every process of the tree is stopped by pid.
fwd_tree() {
  local m=$1 d
  echo "$m"
  for d in $(pgrep -P "$m" 2>/dev/null); do
    echo "$d"
    pgrep -P "$d" 2>/dev/null || true
  done
}
stop_postfwd() {
  [[ -z "$FWD_MASTER" ]] && return 0
  local pids
  pids=$(fwd_tree "$FWD_MASTER" | tr '\n' ' ')
  # shellcheck disable=SC2086
  stop_pid $pids
  FWD_MASTER=""
}
cleanup() {
  set +e
  stop_policyd
  stop_postfwd
  [[ -n "$REDIS_PID" ]] && stop_pid "$REDIS_PID"
  if [[ -z "$KEEP" ]]; then rm -rf "$TMP"; else log "logs kept in $OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- ports -------------------------------------------------------------------
REDIS_PORT=$(free_port)
POLICYD_PORT=$(free_port)
FWD_PORT=$(free_port)
FWD_CACHE_PORT=$(free_port)

# --- Redis -------------------------------------------------------------------
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
  --dir "$TMP" --logfile "$OUT/redis.log" &
REDIS_PID=$!
wait_port "$REDIS_PORT" 10 || die "redis-server did not start (see $OUT/redis.log)"
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")

# Suppressed recipients sup0..sup(N-1)@suppressed.bench.example on the global
# list, written as common/suppression_store.cc (SuppressionStore::add through
# lua/suppression_add.lua) writes them: the entry hash
# <prefix>sup:global:<recipient> and its name index <prefix>supidx:global.
seed_suppressions() {
  local i now_ms
  now_ms=$(($(date +%s) * 1000))
  for ((i = 0; i < SUPP_COUNT; i++)); do
    printf 'HSET sluice:v1:sup:global:sup%d@suppressed.bench.example reason hard-bounce since_ms %d expires_ms 0 tracking_id "" note policy-bench\n' "$i" "$now_ms"
    printf 'ZADD sluice:v1:supidx:global 0 sup%d@suppressed.bench.example\n' "$i"
  done | "${RCLI[@]}" >/dev/null
}

# --- sluice-policyd ----------------------------------------------------------
write_sluice_conf() {  # write_sluice_conf FILE RECIPIENT_LIMIT
  cat >"$1" <<EOF
[redis]
host = 127.0.0.1
port = $REDIS_PORT
key_prefix = sluice:v1:

[log]
level = info

[policyd]
listen = inet:127.0.0.1:$POLICYD_PORT
suppression = yes
suppression_scopes = global, sasl_username
on_redis_error = tempfail
max_connections = 2000

[quota per-user]
key = sasl_username
messages = 1000000/1d
recipients = $2/1d
action = defer
EOF
}
start_policyd() {  # start_policyd CONF LOG
  "$POLICYD" -c "$1" -f >"$2" 2>&1 &
  POLICYD_PID=$!
  wait_port "$POLICYD_PORT" 10 || die "sluice-policyd did not start (see $2)"
  sleep 0.3  # the Redis connection and SCRIPT LOAD
}

# --- postfwd2 ----------------------------------------------------------------
# The same policy: the suppressed recipients refused at RCPT (a file list), and
# a per-sasl_username rate limit counted per RCPT request. postfwd2 compares a
# file: list entry by entry, so its cost grows with SUPP_COUNT (at C=1 in a
# trial: 100 entries about 550 decisions/s, 1000 entries about 50/s); hence the
# small default list. sluice-policyd does one hash lookup whatever the size. The request cache is
# off (-c 0): every request here is unique, so it only costs (with the default
# -c 600 postfwd2 ran 4 to 100 times slower in trials). --perfmon: no logging.
# --min_servers 20: more than max_spare_servers (50) made it kill and respawn
# children all the time (about 60 decisions/s).
write_postfwd_conf() {  # write_postfwd_conf FILE LIMIT
  local i
  for ((i = 0; i < SUPP_COUNT; i++)); do echo "sup$i@suppressed.bench.example"; done >"$TMP/postfwd-suppressed.txt"
  cat >"$1" <<EOF
id=SUPPRESS ; protocol_state==RCPT ; recipient==file:$TMP/postfwd-suppressed.txt ; action=550 5.7.1 recipient suppressed
id=QUOTA ; protocol_state==RCPT ; action=rate(sasl_username/$2/86400/450 4.7.1 sending quota exceeded)
EOF
  chmod 644 "$1" "$TMP/postfwd-suppressed.txt"
}
start_postfwd() {  # start_postfwd CONF
  local servers=$((${MAX_CONNS:-300} + 50))
  rm -f "$TMP/postfwd.pid"
  postfwd2 -n -c 0 --perfmon -f "$1" --server_socket "tcp:127.0.0.1:$FWD_PORT" \
    --cache_socket "tcp:127.0.0.1:$FWD_CACHE_PORT" --pidfile "$TMP/postfwd.pid" -u nobody -g nogroup \
    --min_servers 20 --max_servers "$servers" \
    >"$OUT/postfwd.out" 2>&1 || die "postfwd2 failed (see $OUT/postfwd.out)"
  for _ in $(seq 50); do [[ -s "$TMP/postfwd.pid" ]] && break; sleep 0.1; done
  FWD_MASTER=$(cat "$TMP/postfwd.pid" 2>/dev/null || true)
  [[ -n "$FWD_MASTER" ]] || die "postfwd2 wrote no pid file"
  wait_port "$FWD_PORT" 15 || die "postfwd2 is not listening"
  sleep 4  # its preforked children
}

# --- load --------------------------------------------------------------------
declare -A R  # R[name]=RESULT line
run_load() {  # run_load NAME PORT CONNS RATE [extra args]
  local name=$1 port=$2 conns=$3 rate=$4
  shift 4
  if skip_over_budget "$name"; then return 0; fi
  log "run $name (C=$conns rate=$rate)"
  timeout $((WARMUP + DURATION + 20)) "$LOAD" --target "inet:127.0.0.1:$port" --connections "$conns" \
    --duration "$DURATION" --warmup "$WARMUP" --rate "$rate" --users "$USERS" \
    --suppressed-fraction "$SUPP_FRACTION" --suppressed-count "$SUPP_COUNT" --label "$name" "$@" \
    >"$OUT/$name.txt" 2>&1 || log "$name: policy_load exited $?"
  R[$name]=$(grep '^RESULT' "$OUT/$name.txt" || true)
  grep -E '^  (decisions|latency|actions|errors|sample)' "$OUT/$name.txt" | sed 's/^/    /' >&2 || true
}

MAX_CONNS=0
for c in $CONNS $RATE_CONNS $LIMIT_CONNS; do if ((c > MAX_CONNS)); then MAX_CONNS=$c; fi; done

{
  echo "machine: $(machine_cpus), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "sluice-policyd: $("$POLICYD" --version 2>&1 | head -1) from $BUILD; postfwd2: $(postfwd2 -V 2>&1 | head -1)"
  echo "redis: $(redis-server --version | head -1)"
} | tee "$OUT/machine.txt" >&2

# Phase 1: quotas far from their limit (every recipient admitted but the suppressed ones).
seed_suppressions
write_sluice_conf "$TMP/sluice-admit.conf" 1000000
write_postfwd_conf "$TMP/postfwd-admit.cf" 1000000
start_policyd "$TMP/sluice-admit.conf" "$OUT/policyd-admit.log"
start_postfwd "$TMP/postfwd-admit.cf"
for c in $CONNS; do
  run_load "sluice-c$c" "$POLICYD_PORT" "$c" 0
  run_load "postfwd-c$c" "$FWD_PORT" "$c" 0
done
run_load "sluice-rate$RATE" "$POLICYD_PORT" "$RATE_CONNS" "$RATE"
run_load "postfwd-rate$RATE" "$FWD_PORT" "$RATE_CONNS" "$RATE"

if [[ "$PROFILE" == 1 ]] && command -v perf >/dev/null && ! over_budget; then
  # System-wide: the load generator, sluice-policyd and Redis share the CPUs,
  # so where the cycles go across the three is the first question.
  log "profiling (perf record -a -g, sluice-policyd at C=100)"
  "$LOAD" --target "inet:127.0.0.1:$POLICYD_PORT" --connections 100 --duration 8 --users "$USERS" \
    --suppressed-fraction "$SUPP_FRACTION" --suppressed-count "$SUPP_COUNT" >"$OUT/profile-load.txt" 2>&1 &
  lp=$!
  sleep 1
  perf record -a -g -o "$OUT/perf.data" -- sleep 5 >/dev/null 2>&1 || true
  wait "$lp" || true
  {
    echo "CPU by process (perf, all CPUs, 5 s):"
    perf report -i "$OUT/perf.data" --stdio --no-children -g none --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -8
    for comm in sluice-policyd redis-server policy_load; do
      echo "top symbols in $comm:"
      perf report -i "$OUT/perf.data" --stdio --no-children -g none --comms "$comm" --sort dso,sym 2>/dev/null |
        grep -E '^ +[0-9]' | head -15
    done
  } >"$OUT/perf.txt" 2>&1 || true
fi
stop_policyd
stop_postfwd

# Phase 2: the limit is hit: LIMIT_PER_USER recipients per user per day, so
# after USERS x LIMIT_PER_USER admitted recipients every request is deferred.
"${RCLI[@]}" FLUSHALL >/dev/null
seed_suppressions
write_sluice_conf "$TMP/sluice-limit.conf" "$LIMIT_PER_USER"
write_postfwd_conf "$TMP/postfwd-limit.cf" "$LIMIT_PER_USER"
start_policyd "$TMP/sluice-limit.conf" "$OUT/policyd-limit.log"
start_postfwd "$TMP/postfwd-limit.cf"
for c in $LIMIT_CONNS; do
  run_load "sluice-limit-c$c" "$POLICYD_PORT" "$c" 0
  run_load "postfwd-limit-c$c" "$FWD_PORT" "$c" 0
done
stop_policyd
stop_postfwd

# Phase 3: the Redis ceiling on this machine: plain commands, and the very
# script sluice-policyd runs per RCPT (same keys and arguments, random
# recipient and instance), unpipelined over 50 connections and pipelined
# over one connection (the way sluice-policyd talks to Redis).
ANCHOR=""
if ! over_budget; then
  log "redis-benchmark"
  "${RCLI[@]}" FLUSHALL >/dev/null
  seed_suppressions
  SHA=$("${RCLI[@]}" SCRIPT LOAD "$(cat "$SRC/common/lua/policy_check.lua")")
  RB=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -n 200000 -q)
  EVAL_ARGS=(EVALSHA "$SHA" 3 "sluice:v1:idem:bench.__rand_int__.1.0:192.0.2.1"
    "sluice:v1:sup:global:r__rand_int__@dest1.bench.example" "sluice:v1:qo:sasl_username=user1"
    rcpt 1 "rcpt:r__rand_int__@dest1.bench.example" 600000 1 1 2 60000 global
    per-user messages 86400 1000000 defer 1 messages/86400 1 0 "sluice:v1:q:per-user:messages:86400:" sasl_username=user1
    per-user recipients 86400 1000000 defer 1 recipients/86400 1 1 "sluice:v1:q:per-user:recipients:86400:" sasl_username=user1)
  last() { tr '\r' '\n' | grep -E 'requests per second' | tail -1 | sed 's/^ *//'; }
  {
    "${RB[@]}" -t set,incr 2>&1 | tr '\r' '\n' | grep -E 'requests per second' | sed 's/^ *//; s/^/redis-benchmark -t set,incr (c=50): /'
    "${RB[@]}" -c 50 -r 100000000 "${EVAL_ARGS[@]}" 2>&1 | last | sed 's/^EVALSHA .*: \([0-9.]* requests per second\)/EVALSHA policy_check RCPT (c=50, no pipelining): \1/'
    "${RB[@]}" -c 1 -P 32 -r 100000000 "${EVAL_ARGS[@]}" 2>&1 | last | sed 's/^EVALSHA .*: \([0-9.]* requests per second\)/EVALSHA policy_check RCPT (c=1, pipeline 32): \1/'
  } >"$OUT/redis-benchmark.txt" || true
  ANCHOR=$(cat "$OUT/redis-benchmark.txt")
fi

# --- report ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.1fx", a / b; else print "-" }'; }
errs() { nonzero_fields "$1" ", " conn_err resets timeouts malformed unfinished; }
actions() {  # DUNNO/4xx/5xx/other counts
  [[ -z "$1" ]] && { echo "-"; return; }
  echo "$(field "$1" dunno)/$(field "$1" temp)/$(field "$1" perm)/$(field "$1" other)"
}
{
  echo
  cat "$OUT/machine.txt"
  echo "load: policy_load, mix rcpt, $USERS users, ${SUPP_FRACTION} of recipients suppressed, warm-up ${WARMUP} s, ${DURATION} s measured per run"
  echo
  echo "As fast as possible (quota far from its limit):"
  echo
  echo "| C | sluice-policyd decisions/s | p50 µs | p99 µs | postfwd2 decisions/s | p50 µs | p99 µs | ratio | errors sluice / postfwd |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
  for c in $CONNS; do
    s=${R[sluice-c$c]:-} p=${R[postfwd-c$c]:-}
    echo "| $c | $(field "$s" dps) | $(field "$s" p50) | $(field "$s" p99) | $(field "$p" dps) | $(field "$p" p50) | $(field "$p" p99) | $(ratio "$(field "$s" dps)" "$(field "$p" dps)") | $(errs "$s") / $(errs "$p") |"
  done
  echo
  echo "Paced at $RATE decisions/s, C=$RATE_CONNS (latency from send; \"sched\" counts from the scheduled time, so it includes waiting for a free connection):"
  echo
  echo "| daemon | decisions/s | p50 µs | p99 µs | p99.9 µs | max µs | sched p99 µs | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  for d in sluice postfwd; do
    r=${R[$d-rate$RATE]:-}
    echo "| $d | $(field "$r" dps) | $(field "$r" p50) | $(field "$r" p99) | $(field "$r" p999) | $(field "$r" max) | $(field "$r" sp99) | $(errs "$r") |"
  done
  echo
  echo "Quota hit ($LIMIT_PER_USER recipients per user per day; DUNNO/4xx/5xx/other):"
  echo
  echo "| C | sluice-policyd decisions/s | p50 µs | p99 µs | actions | postfwd2 decisions/s | p50 µs | p99 µs | actions | ratio |"
  echo "|---|---:|---:|---:|---|---:|---:|---:|---|---:|"
  for c in $LIMIT_CONNS; do
    s=${R[sluice-limit-c$c]:-} p=${R[postfwd-limit-c$c]:-}
    echo "| $c | $(field "$s" dps) | $(field "$s" p50) | $(field "$s" p99) | $(actions "$s") | $(field "$p" dps) | $(field "$p" p50) | $(field "$p" p99) | $(actions "$p") | $(ratio "$(field "$s" dps)" "$(field "$p" dps)") |"
  done
  echo
  echo "Redis ceiling (redis-benchmark -n 200000, same machine, same run):"
  echo
  if [[ -n "$ANCHOR" ]]; then sed 's/^/    /' <<<"$ANCHOR"; else echo "    (skipped)"; fi
  if [[ -s "$OUT/perf.txt" ]]; then
    echo
    echo "perf (self time) during an extra sluice-policyd run at C=100:"
    echo
    sed 's/^/    /' "$OUT/perf.txt"
  fi
} | tee "$OUT/report.md"
log "done in ${SECONDS}s"

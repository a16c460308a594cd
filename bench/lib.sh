# shellcheck shell=bash
# lib.sh: shell functions shared by bench/run_policy_bench.sh and
# bench/run_milter_bench.sh. Sourced, not run; bash only. The sourcing script
# sets SRC (the source tree) and MAX_SECONDS before calling these, and TMP
# before load_generator.

log() { printf '[%4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Phases are skipped once the whole script has run MAX_SECONDS.
over_budget() { ((SECONDS > MAX_SECONDS)); }
# skip_over_budget NAME: true (and says so) when run NAME must be skipped.
skip_over_budget() {
  over_budget || return 1
  log "skipping $1: past MAX_SECONDS=$MAX_SECONDS"
}

# --- tools -------------------------------------------------------------------
need_pkg() {  # need_pkg COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 (for $1)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null || die "apt-get install $2 failed"
}

# find_build DAEMON DIR...: sets BUILD, unless already set, to the first DIR
# holding the executable DAEMON (e.g. policyd/sluice-policyd); dies when the
# resulting BUILD has none.
find_build() {
  local daemon=$1 d
  shift
  if [[ -z "${BUILD:-}" ]]; then
    for d in "$@"; do
      if [[ -x "$d/$daemon" ]]; then BUILD=$d; break; fi
    done
  fi
  [[ -n "${BUILD:-}" && -x "$BUILD/$daemon" ]] ||
    die "no ${daemon##*/}: build it (mkdir $1 && cd $1 && $SRC/configure && make) or set BUILD"
}

# load_generator NAME: sets LOAD to bench/NAME of the build tree, or compiles
# it into $TMP when that is missing or older than its sources (the scripts
# also run from a tree configured without the bench programs built).
load_generator() {
  local name=$1
  LOAD=$BUILD/bench/$name
  if [[ ! -x "$LOAD" || "$LOAD" -ot "$SRC/bench/$name.cc" || "$LOAD" -ot "$SRC/bench/load_common.h" ]]; then
    log "compiling $name"
    g++ -std=c++20 -O2 -Wall -Wextra -o "$TMP/$name" "$SRC/bench/$name.cc" || die "cannot compile $name"
    LOAD=$TMP/$name
  fi
}

# --- processes ---------------------------------------------------------------
stop_pid_within() {  # stop_pid_within SECONDS PID...: TERM, wait up to SECONDS, then KILL
  local tenths=$(($1 * 10)) p
  shift
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq "$tenths"); do
    local alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && return 0
    sleep 0.1
  done
  for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
}

# --- ports -------------------------------------------------------------------
# Random ports, each handed out once per run (USED_PORTS), none in use now.
USED_PORTS=" "
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    [[ "$USED_PORTS" == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      echo "$p"
      return 0
    fi
  done
  die "no free port"
}
wait_port() {  # wait_port PORT SECONDS
  for _ in $(seq $(($2 * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# --- results -----------------------------------------------------------------
# field RESULT_LINE NAME: the value of NAME=... in a load generator's RESULT line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# nonzero_fields RESULT_LINE SEPARATOR NAME...: "NAME VALUE" for each NAME
# whose value is above 0, joined by SEPARATOR; "0" when none is, "no result"
# when the line is empty.
nonzero_fields() {
  local r=$1 sep=$2
  shift 2
  [[ -z "$r" ]] && { echo "no result"; return; }
  awk -v line="$r" -v sep="$sep" -v names=" $* " 'BEGIN { n = split(line, f, " "); s = "";
      for (i = 1; i <= n; i++) { split(f[i], kv, "=");
        if (index(names, " " kv[1] " ") > 0 && kv[2] > 0)
          s = s (s == "" ? "" : sep) kv[1] " " kv[2] }
      print (s == "" ? "0" : s) }'
}
# The first line of the machine description both reports start with.
machine_cpus() { echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"; }

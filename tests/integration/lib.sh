# Helpers shared by the integration test scripts (sourced, not run). The caller sets
# `started` (date +%s), `work` (its temporary directory, where stats.txt and the logs are),
# `failures=()` and, once the lab is up, LAB_NETNS.

log() { echo "[$(($(date +%s) - started))s] $*"; }
pass() { log "ok: $*"; }
fail() {
  log "FAIL: $*" >&2
  failures+=("$*")
}

stop_pid() {  # stop_pid PID SIGNAL SECONDS: signal, wait up to SECONDS, then SIGKILL
  local pid=$1 sig=$2 secs=$3 i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}

# Shows the tail of the logs; the end of a script calls it when something failed.
dump_logs() {
  for f in flowgate.out flowgate.err stats.txt tcpdump.txt tcpdump.err; do
    [[ -s $work/$f ]] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$work/$f" >&2
  done
}

peer() { ip netns exec "$LAB_NETNS" "$@"; }

counter() {  # the value of counter $1 in the stats file (0 if absent)
  awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$work/stats.txt"
}
# For wait_for, which must re-read the counter each time it polls.
counter_is() { [[ $(counter "$1") == "$2" ]]; }
counter_at_least() { (($(counter "$1") >= $2)); }

wait_for() {  # wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

expect() {  # expect NAME OP VALUE WHY: a counter of the final stats dump
  local value
  value=$(counter "$1")
  if test "$value" "-$2" "$3"; then
    pass "counter $1 = $value (-$2 $3)"
  else
    fail "counter $1 = $value, expected -$2 $3: $4"
  fi
}

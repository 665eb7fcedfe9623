# Helpers shared by the integration test scripts (sourced, not run). The caller sets
# `flowgate` (the binary), `started` (date +%s) and `failures=()`, then calls
# begin_lab_test, which sets `work` (its temporary directory, where the logs and stats.txt
# go), `lab_name` and `instance`, and lab_up_or_exit, which sets the LAB_* names.

lab_sh=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lab" && pwd)/lab.sh

log() { echo "[$(($(date +%s) - started))s] $*"; }
pass() { log "ok: $*"; }
fail() {
  log "FAIL: $*" >&2
  failures+=("$*")
}

# Exits 77 (ctest: skipped) without root, 1 when a tool is missing.
require_root_and_tools() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: needs root (veth pair, network namespace, XDP program, AF_XDP sockets)"
    exit 77
  fi
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if command -v nc >/dev/null 2>&1 && ! nc -h 2>&1 | grep -q OpenBSD; then
    missing+=("nc (OpenBSD netcat)")
  fi
  if ((${#missing[@]})); then
    echo "FAIL: missing tools: ${missing[*]} (deploy/install-deps.sh installs them)" >&2
    exit 1
  fi
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
  local f
  for f in flowgate.out flowgate.err stats.txt tcpdump.txt tcpdump.err; do
    [[ -s $work/$f ]] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$work/$f" >&2
  done
}

peer() { ip netns exec "$LAB_NETNS" "$@"; }

wait_for() {  # wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds
  # The bound is time, not tries: a slow COMMAND (flowgate stats on a loaded machine) must
  # not stretch the wait. COMMAND is tried once more at the deadline.
  local deadline=$(($(date +%s%N) + $1 * 1000000000))
  shift
  while (($(date +%s%N) < deadline)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# --- The lab -------------------------------------------------------------------------
# begin_lab_test TAG: a work directory /tmp/flowgate-TAG.*, a lab and instance name unique to
# this run (fg + the tag's first letter + 6 random hex digits), and a cleanup on exit: stop
# the gateway, call the script's own extra_cleanup if it defines one, remove the lab and the
# segment, delete the large files, and keep the logs of a failed run.
begin_lab_test() {
  work=$(mktemp -d "/tmp/flowgate-$1.XXXXXX")
  lab_name=fg${1:0:1}$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  instance=$lab_name
  fg_pid=""
  lab_is_up=0
  trap end_lab_test EXIT
  trap 'exit 130' INT TERM
}

end_lab_test() {
  local rc=$?
  if [[ -n $fg_pid ]]; then
    kill -TERM "$fg_pid" 2>/dev/null
    wait_for 10 bash -c "! kill -0 $fg_pid 2>/dev/null" || kill -KILL -- "-$fg_pid" 2>/dev/null
  fi
  declare -F extra_cleanup >/dev/null && extra_cleanup
  if ((lab_is_up)); then "$lab_sh" down "$lab_name" >/dev/null 2>&1 || true; fi
  rm -f /dev/shm/"flowgate.$instance"
  rm -f "$work"/*.big "$work"/big.*
  if ((rc == 0)); then rm -rf "$work"; else echo "logs kept in $work" >&2; fi
}

lab_up_or_exit() {  # lab_up_or_exit [QUEUES]: builds the lab and sets the LAB_* names
  local lab_env
  log "building lab $lab_name"
  if ! lab_env=$("$lab_sh" up "$lab_name" "${1:-1}" 2>"$work/lab.err"); then
    cat "$work/lab.err" >&2
    echo "FAIL: lab.sh up $lab_name failed" >&2
    exit 1
  fi
  lab_is_up=1
  eval "$lab_env"
}

# --- The gateway ----------------------------------------------------------------------
# `instance` names the gateway (its segment /dev/shm/flowgate.$instance); fg_pid is its
# supervisor, started in a process group of its own so `kill -- -$fg_pid` reaches all.

# Writes $work/stats.txt from the running gateway (`flowgate stats`).
refresh_stats() { "$flowgate" stats --instance "$instance" >"$work/stats.txt" 2>"$work/stats.err"; }

counter() {  # the value of $1 in the last stats.txt (0 if absent)
  awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$work/stats.txt"
}
stat_now() {  # stat_now NAME: refreshes, then prints NAME's value
  refresh_stats && counter "$1"
}
counter_at_least() { refresh_stats && (($(counter "$1") >= $2)); }

# Every worker of the gateway is running (and there is at least worker 0).
all_workers_running() {
  refresh_stats || return 1
  grep -q '^worker\.0\.state running$' "$work/stats.txt" || return 1
  ! grep -E '^worker\.[0-9]+\.state ' "$work/stats.txt" | grep -vq ' running$'
}

start_gateway() {  # start_gateway CONFIG: runs it, waits until every worker runs
  setsid "$flowgate" run --config "$1" >>"$work/flowgate.out" 2>>"$work/flowgate.err" &
  fg_pid=$!
  if ! wait_for 20 all_workers_running; then
    fail "the gateway did not start (config $1)"
    dump_logs
    return 1
  fi
}

stop_gateway() {  # stop_gateway: SIGTERM, then checks the exit status and the cleanup
  local rc=0
  [[ -n $fg_pid ]] || return 0
  kill -TERM "$fg_pid" 2>/dev/null
  if ! wait_for 20 bash -c "! kill -0 $fg_pid 2>/dev/null"; then
    fail "the gateway did not stop within 20 s of SIGTERM"
    kill -KILL -- "-$fg_pid" 2>/dev/null
  fi
  wait "$fg_pid" 2>/dev/null || rc=$?
  fg_pid=""
  if [[ $rc -eq 0 ]]; then
    pass "SIGTERM: the gateway exited with status 0"
  else
    fail "SIGTERM: the gateway exited with status $rc"
  fi
  expect_cleaned_up SIGTERM
}

# The gateway has gone and left nothing behind: no segment, no XDP program.
expect_cleaned_up() {  # expect_cleaned_up AFTER (what ended it, for the messages)
  if [[ -e /dev/shm/flowgate.$instance ]]; then
    fail "$1 left the segment /dev/shm/flowgate.$instance behind"
  else
    pass "$1: no shared-memory segment left"
  fi
  if ip -d link show dev "$LAB_GATEWAY_IF" 2>/dev/null | grep -q 'prog/xdp'; then
    fail "$1 left an XDP program on $LAB_GATEWAY_IF: $(ip -d link show dev "$LAB_GATEWAY_IF" | grep xdp)"
  else
    pass "$1: no XDP program left on $LAB_GATEWAY_IF"
  fi
}

# The frame accounting balances once traffic has stopped: free + in flight + held = total
# and every owner's count agrees with the frame tags. A moment of quiet is allowed for
# the last ACKs and retransmissions to settle.
expect_frames_balanced() {  # expect_frames_balanced WHEN
  local i
  for ((i = 0; i < 50; i++)); do
    "$flowgate" stats --instance "$instance" --frames >"$work/frames.txt" 2>&1 &&
      grep -q '^frames.balanced 1$' "$work/frames.txt" && {
      pass "frames balance $1: $(grep '^# frames:' "$work/frames.txt" | cut -c3-)"
      return 0
    }
    sleep 0.1
  done
  fail "frames do not balance $1: $(cat "$work/frames.txt")"
}

# The bytes chargen sends (RFC 864's pattern as apps/tcp_service.cpp makes it): lines of 72
# printable characters, each starting one further on, ended by CR LF; the first $1 bytes.
chargen_pattern() {
  perl -e '
    my @lines = map { my $l = $_; join("", map { chr(32 + ($l + $_) % 95) } 0 .. 71) . "\r\n" } 0 .. 94;
    my ($left, $i) = (shift, 0);
    while ($left > 0) { my $n = $left < 74 ? $left : 74; print substr($lines[$i++ % 95], 0, $n); $left -= $n; }
  ' "$1"
}

finish() {  # prints the verdict and exits
  if ((${#failures[@]})); then
    dump_logs
    echo "FAILED: ${#failures[@]} check(s):" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
  fi
  log "all checks passed"
  exit 0
}

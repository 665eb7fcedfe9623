#!/usr/bin/env bash
# `flowgate ss` and `flowgate top` against a running gateway: 2 workers, an http listener
# with a fixed response on port 80, and wrk in the peer's network namespace. Checks:
#   - ss on an idle gateway: both workers answer; with --state listen, port 80 on each;
#   - while `wrk -t1 -c50 -d8s` runs: ss lists at least 50 ESTABLISHED connections to port
#     80 from the peer, spread over both workers, each with plausible TCP_INFO
#     (0 < rtt < 100 ms, cwnd >= 1 segment, receive window > 0); wrk sees no socket error;
#   - `top --iterations 2 --interval 1` meanwhile: two tables, non-zero frame rates in and
#     out for every worker; ESTAB, where the stack keeps that gauge, counts wrk's connections;
#   - after wrk: no ESTABLISHED connection from the peer is left (gone or in TIME-WAIT);
#   - requests with "Connection: close" (the gateway closes first): --state time-wait lists
#     their TIME-WAIT records, each with its time left;
#   - a stopped worker (SIGSTOP): ss reports it did not answer, within its 2 s bound, and
#     still lists the other worker;
#   - a worker killed twice (so the supervisor waits 1 s before its restart): ss reports it
#     not running instead of waiting; once it is back, ss hears from both again.
#
#   tools_test.sh PATH/TO/flowgate
# Needs root (exit 77 without). Every command is bounded by `timeout`; a trap stops the
# gateway and removes the lab however the script ends.
set -uo pipefail

flowgate=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
readonly PEER_IP=198.18.0.2
readonly CONNECTIONS=50
if [[ -z $flowgate || ! -x $flowgate ]]; then
  echo "usage: $0 PATH/TO/flowgate" >&2
  exit 2
fi
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool wrk curl timeout setsid awk

begin_lab_test ss-top
wrk_pid=""
extra_cleanup() {
  [[ -n $wrk_pid ]] && kill "$wrk_pid" 2>/dev/null
  # A worker left stopped would hold the drain up.
  [[ -n ${stopped_pid:-} ]] && kill -CONT "$stopped_pid" 2>/dev/null
  return 0
}

lab_up_or_exit 2
cat >"$work/flowgate.yaml" <<EOF
instance: $instance
interface: $LAB_GATEWAY_IF
address: $GW_IP/24
workers: 2
xdp_mode: native
drain_timeout: 2s
listeners:
  - name: web
    port: 80
    app: http
    backlog: 512
    http:
      response:
        body: "hello from flowgate\n"
        content_type: text/plain; charset=utf-8
EOF
start_gateway "$work/flowgate.yaml" || finish

# ss_run NAME ARGS...: `flowgate ss` into $work/NAME.{out,err}; its exit status in ss_rc and
# how long it took (ms) in ss_ms.
ss_run() {
  local name=$1 t0
  shift
  t0=$(date +%s%N)
  timeout 20 "$flowgate" ss --instance "$instance" -n "$@" >"$work/$name.out" 2>"$work/$name.err"
  ss_rc=$?
  ss_ms=$((($(date +%s%N) - t0) / 1000000))
}

# The connections to port 80 from the peer in an ss output, and how many of them have
# implausible TCP_INFO (plausible: 0 < srtt < 100 ms, cwnd >= 1 segment, rcv_wnd > 0).
summarize_ss() {  # summarize_ss FILE: prints "COUNT BAD ON-WORKER-0 ON-WORKER-1 FIRST-BAD"
  awk -v peer="$PEER_IP:" '
    function check() {
      if (!open) return
      if (!(srtt > 0 && srtt < 100 && cwnd >= 1 && rwnd > 0)) {
        bad++
        if (first == "") first = conn "/rtt:" srtt "/cwnd:" cwnd "/rcv_wnd:" rwnd
      }
      open = 0
    }
    $1 ~ /^[A-Z#]/ { check() }
    $1 == "ESTAB" && $4 ~ /:80$/ && index($5, peer) == 1 {
      n++; w[$6]++; open = 1; conn = $5; srtt = -1; cwnd = 0; rwnd = 0; next
    }
    open && $1 ~ /^rtt:/ {
      for (i = 1; i <= NF; i++) {
        split($i, kv, ":")
        if (kv[1] == "rtt") { split(kv[2], r, "/"); srtt = (r[1] == "-") ? -1 : r[1] + 0 }
        if (kv[1] == "cwnd") cwnd = kv[2] + 0
      }
    }
    open && $1 == "recv:" {
      for (i = 2; i <= NF; i++) { split($i, kv, ":"); if (kv[1] == "rcv_wnd") rwnd = kv[2] + 0 }
    }
    END { check(); printf "%d %d %d %d %s\n", n, bad, w[0] + 0, w[1] + 0, (first == "" ? "-" : first) }
  ' "$1"
}

worker_field() {  # worker_field K FIELD: worker K's state or pid from flowgate stats
  "$flowgate" stats --instance "$instance" | awk -v n="worker.$1.$2" '$1 == n { print $2 }'
}

# --- Idle --------------------------------------------------------------------------------
ss_run idle --state listen
listeners=$(awk '$1 == "LISTEN" && $4 ~ /:80$/' "$work/idle.out" | wc -l)
if [[ $ss_rc -eq 0 ]] && ((listeners == 2)) && grep -q '^# worker 0 ' "$work/idle.out" &&
  grep -q '^# worker 1 ' "$work/idle.out"; then
  pass "ss --state listen on the idle gateway: port 80 listening on both workers (${ss_ms} ms)"
else
  fail "ss --state listen: status $ss_rc, $listeners listeners: $(cat "$work/idle.out" "$work/idle.err")"
fi
cat "$work/idle.out"

# --- Under wrk -----------------------------------------------------------------------------
restarts_before=$(stat_now worker.1.restarts)
peer timeout 30 wrk -t1 -c"$CONNECTIONS" -d8s "http://$GW_IP/" >"$work/wrk.out" 2>&1 &
wrk_pid=$!
sleep 3

ss_run busy --state established
read -r busy_n busy_bad busy_w0 busy_w1 busy_first <<<"$(summarize_ss "$work/busy.out")"
log "ss during wrk took ${ss_ms} ms; the first lines and the per-worker summary:"
head -n 9 "$work/busy.out"
grep '^# worker' "$work/busy.out"
if [[ $ss_rc -eq 0 ]] && ((busy_n >= CONNECTIONS && busy_w0 > 0 && busy_w1 > 0)); then
  pass "ss during wrk -c$CONNECTIONS: $busy_n ESTABLISHED connections to port 80 from $PEER_IP ($busy_w0 on worker 0, $busy_w1 on worker 1)"
else
  fail "ss during wrk: status $ss_rc, $busy_n connections (w0 $busy_w0, w1 $busy_w1): $(head -c 600 "$work/busy.err")"
fi
if ((busy_n > 0 && busy_bad == 0)); then
  pass "every listed connection has 0 < rtt < 100 ms, cwnd >= 1 segment, rcv_wnd > 0"
else
  fail "$busy_bad of $busy_n connections have implausible TCP_INFO, e.g. $busy_first"
fi

timeout 20 "$flowgate" top --instance "$instance" --iterations 2 --interval 1 \
  >"$work/top.out" 2>"$work/top.err"
top_rc=$?
cat "$work/top.out"
tables=$(grep -c '^flowgate top: ' "$work/top.out")
# The last table's worker rows: FRAMES_IN/s and FRAMES_OUT/s are columns 5 and 6.
moving=$(awk '/^flowgate top: / { delete seen }
  $1 ~ /^worker\.[0-9]+$/ { seen[$1] = ($5 > 0 && $6 > 0) }
  END { n = 0; for (w in seen) n += seen[w]; print n }' "$work/top.out")
if [[ $top_rc -eq 0 ]] && ((tables == 2 && moving == 2)) && ! grep -q $'\e' "$work/top.out"; then
  pass "top --iterations 2 --interval 1: two plain tables, frames in and out moving on both workers"
else
  fail "top: status $top_rc, $tables tables, $moving workers with traffic: $(cat "$work/top.err")"
fi
# ESTAB (column 10) of the workers' sum, where the stack keeps the per-state gauge ('-' not).
top_established=$(awk '$1 == "workers" { e = $10 } END { print e }' "$work/top.out")
if [[ $top_established == - ]] || ((top_established >= CONNECTIONS)); then
  pass "top's ESTAB for the workers: $top_established"
else
  fail "top's ESTAB for the workers is $top_established during wrk -c$CONNECTIONS"
fi

wait "$wrk_pid"
wrk_rc=$?
wrk_pid=""
socket_errors=$(awk '/Socket errors:/ {
    for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { gsub(",", "", $i); s += $i } }
  END { print s + 0 }' "$work/wrk.out")
requests=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
if [[ $wrk_rc -eq 0 && ${requests:-0} -gt 0 && $socket_errors -eq 0 &&
  $(stat_now worker.1.restarts) == "$restarts_before" ]]; then
  pass "wrk undisturbed by ss and top: $requests requests, 0 socket errors, no worker restart"
else
  fail "wrk: status $wrk_rc, ${requests:-0} requests, $socket_errors socket errors: $(tr '\n' '|' <"$work/wrk.out")"
fi

# --- After wrk ---------------------------------------------------------------------------
no_established_left() {
  ss_run after
  [[ $ss_rc -eq 0 ]] || return 1
  local left
  read -r left _ <<<"$(summarize_ss "$work/after.out")"
  ((left == 0))
}
if wait_for 10 no_established_left; then
  time_wait=$(awk '$1 == "TIME-WAIT"' "$work/after.out" | wc -l)
  others=$(awk '$1 ~ /^[A-Z]/ && $1 != "State" && $1 != "TIME-WAIT"' "$work/after.out" | wc -l)
  pass "after wrk: no ESTABLISHED connection left ($time_wait in TIME-WAIT, $others in other states)"
else
  fail "after wrk: connections still ESTABLISHED: $(grep -c '^ESTAB' "$work/after.out")"
fi

# The gateway closes first after a "Connection: close" request: TIME-WAIT records, marked.
for ((i = 0; i < 3; i++)); do
  peer timeout 10 curl -s -o /dev/null -H 'Connection: close' "http://$GW_IP/"
done
ss_run time_wait --state time-wait
tw=$(awk -v peer="$PEER_IP:" '$1 == "TIME-WAIT" && index($5, peer) == 1' "$work/time_wait.out" | wc -l)
marked=$(grep -c $'^\t timer:(timewait,[0-9.]*s) compact record' "$work/time_wait.out")
if [[ $ss_rc -eq 0 ]] && ((tw >= 3 && marked == tw)); then
  pass "after 3 requests with Connection: close: $tw TIME-WAIT records, each with its time left"
  grep -m 2 -A 1 '^TIME-WAIT' "$work/time_wait.out"
else
  fail "TIME-WAIT: status $ss_rc, $tw records, $marked with a timer: $(cat "$work/time_wait.out")"
fi

# --- A worker that does not answer -----------------------------------------------------------
stopped_pid=$(worker_field 1 pid)
kill -STOP "$stopped_pid"
ss_run stopped
if [[ $ss_rc -eq 1 ]] && grep -q 'worker 1: no answer within 2 s' "$work/stopped.err" &&
  grep -q '^# worker 0 ' "$work/stopped.out" && ((ss_ms < 4000)); then
  pass "a stopped worker: ss reports it after ${ss_ms} ms ($(head -n 1 "$work/stopped.err")) and lists worker 0"
else
  fail "a stopped worker: status $ss_rc after ${ss_ms} ms: $(cat "$work/stopped.out" "$work/stopped.err")"
fi
kill -CONT "$stopped_pid"
stopped_pid=""

# --- A worker killed and restarting ----------------------------------------------------------
# Killed once, it is restarted at once; killed again within 2 s of that start, the supervisor
# waits a second before the next one: the window in which ss must report it, not wait.
first_pid=$(worker_field 1 pid)
kill -KILL "$first_pid"
restarted() {
  [[ $(worker_field 1 state) == running && $(worker_field 1 pid) != "$first_pid" ]]
}
if wait_for 5 restarted; then
  kill -KILL "$(worker_field 1 pid)"
  wait_for 2 bash -c "[[ \$('$flowgate' stats --instance '$instance' |
    awk '\$1 == \"worker.1.state\" { print \$2 }') =~ ^(dead|reclaimed)$ ]]"
  ss_run restarting
  if [[ $ss_rc -eq 1 ]] && grep -Eq 'worker 1: (not running|stopped while asked)' "$work/restarting.err" &&
    grep -q '^# worker 0 ' "$work/restarting.out" && ((ss_ms < 3000)); then
    pass "a restarting worker: ss reports it in ${ss_ms} ms ($(head -n 1 "$work/restarting.err")) and lists worker 0"
  else
    fail "a restarting worker: status $ss_rc after ${ss_ms} ms: $(cat "$work/restarting.out" "$work/restarting.err")"
  fi
else
  fail "worker 1 was not restarted within 5 s of SIGKILL"
fi
if wait_for 10 all_workers_running; then
  ss_run back
  if [[ $ss_rc -eq 0 ]] && grep -q '^# worker 1 ' "$work/back.out"; then
    pass "the restarted worker answers ss again: $(grep '^# worker 1 ' "$work/back.out" | cut -c3-)"
  else
    fail "the restarted worker: ss status $ss_rc: $(cat "$work/back.err")"
  fi
else
  fail "worker 1 did not come back within 10 s"
fi

expect_frames_balanced "after wrk, ss, top and the worker restarts"
stop_gateway
finish

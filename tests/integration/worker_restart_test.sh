#!/usr/bin/env bash
# A worker killed with SIGKILL while connections run on every worker (DESIGN.md, "Processes"):
#   - the other worker's connections complete without error (same sha256 back);
#   - only the connections that were on the killed worker fail;
#   - the supervisor has a new worker running within one second;
#   - new connections reach the new worker and work;
#   - the I/O process took back every frame the dead worker held: the frame accounting
#     balances once traffic stops.
# Also checks that the workers run unprivileged: CapEff 0 and a non-root uid, from /proc;
# that they name themselves (flowgate-wk<k>); and the watchdog: idle workers are left alone,
# a stopped (SIGSTOP) worker is killed after watchdog_timeout and restarted, its sibling
# undisturbed; a stopped I/O process is killed and the gateway stops with an error.
#
#   worker_restart_test.sh PATH/TO/flowgate
# Needs root (exit 77 without). Bounded by `timeout`; a trap cleans up however it ends.
set -uo pipefail

flowgate=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
readonly STREAMS=12
if [[ -z $flowgate || ! -x $flowgate ]]; then
  echo "usage: $0 PATH/TO/flowgate" >&2
  exit 2
fi
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool nc timeout sha256sum setsid

begin_lab_test restart
stream_pids=()
extra_cleanup() {
  for p in "${stream_pids[@]}"; do kill "$p" 2>/dev/null; done
}

# ms_until_replaced K OLD_PID SINCE_NS MAX_TRIES: waits (10 ms a try) until worker K runs
# as another process than OLD_PID; prints the ms since SINCE_NS, nothing if it never did.
ms_until_replaced() {
  local i
  for ((i = 0; i < $4; i++)); do
    refresh_stats
    if [[ $(counter "worker.$1.state") == running && $(counter "worker.$1.pid") != "$2" ]]; then
      echo $((($(date +%s%N) - $3) / 1000000))
      return
    fi
    sleep 0.01
  done
}

# expect_new_connections_reach K WHEN: 16 new echo connections work, some on worker K.
expect_new_connections_reach() {
  local i new_ok=0 opens_before new_on
  printf 'after the restart\n' >"$work/line.in"
  opens_before=$(stat_now "worker.$1.event.tcp_passive_opens")
  for i in $(seq 1 16); do
    peer timeout 10 nc -N "$GW_IP" 7 <"$work/line.in" >"$work/line.out" 2>/dev/null &&
      cmp -s "$work/line.in" "$work/line.out" && ((new_ok++))
  done
  new_on=$(($(stat_now "worker.$1.event.tcp_passive_opens") - opens_before))
  if ((new_ok == 16 && new_on > 0)); then
    pass "$2: 16 of 16 new connections work, $new_on of them on the new worker $1"
  else
    fail "$2: $new_ok of 16 new connections worked, $new_on on worker $1"
  fi
}

lab_up_or_exit
cat >"$work/flowgate.yaml" <<EOF
instance: $instance
interface: $LAB_GATEWAY_IF
address: $GW_IP/24
workers: 2
drain_timeout: 2s
watchdog_timeout: 2s
listeners:
  - {name: echo, protocol: tcp, port: 7, app: echo}
EOF
start_gateway "$work/flowgate.yaml" || finish

# Unprivileged workers: what the kernel says about each worker process.
for k in 0 1; do
  pid=$(stat_now "worker.$k.pid")
  capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
  uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
  if [[ $capeff =~ ^0+$ && $uid != 0 ]]; then
    pass "worker $k (pid $pid): CapEff $capeff, uid $uid ($(id -nu "$uid" 2>/dev/null))"
  else
    fail "worker $k (pid $pid) is privileged: CapEff $capeff, uid $uid"
  fi
  comm=$(cat "/proc/$pid/comm")
  if [[ $comm == "flowgate-wk$k" ]]; then
    pass "worker $k names itself $comm"
  else
    fail "worker $k's /proc comm is '$comm', not flowgate-wk$k"
  fi
  if grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status"; then
    pass "worker $k: no_new_privs is set"
  else
    fail "worker $k: no_new_privs is not set"
  fi
done

# Long connections on both workers: each sends 24 chunks of 64 KiB a quarter second apart
# (6 s) and keeps what comes back.
refresh_stats
for k in 0 1; do opens_before[k]=$(counter "worker.$k.event.tcp_passive_opens"); done
for ((i = 0; i < STREAMS; i++)); do
  head -c $((24 * 65536)) /dev/urandom >"$work/stream$i.in"
  (
    for ((c = 0; c < 24; c++)); do
      dd if="$work/stream$i.in" bs=65536 skip=$c count=1 status=none
      sleep 0.25
    done
  ) | peer timeout 30 nc -N "$GW_IP" 7 >"$work/stream$i.out" 2>/dev/null &
  stream_pids+=($!)
done
sleep 1.5
refresh_stats
for k in 0 1; do
  on_worker[k]=$(($(counter "worker.$k.event.tcp_passive_opens") - opens_before[k]))
done
log "streams per worker: worker 0: ${on_worker[0]}, worker 1: ${on_worker[1]}"
if ((on_worker[0] + on_worker[1] != STREAMS || on_worker[0] == 0 || on_worker[1] == 0)); then
  fail "the $STREAMS streams are not all open on both workers (worker 0: ${on_worker[0]}, worker 1: ${on_worker[1]})"
fi

victim=$(counter "worker.1.pid")
restarts_before=$(counter "worker.1.restarts")
log "killing worker 1 (pid $victim) with SIGKILL"
t_kill=$(date +%s%N)
kill -KILL "$victim"
restarted_ms=$(ms_until_replaced 1 "$victim" "$t_kill" 300)
if [[ -n $restarted_ms ]] && ((restarted_ms <= 1000)); then
  pass "worker 1 restarted as pid $(counter worker.1.pid), running ${restarted_ms} ms after the kill"
else
  fail "worker 1 was not running again within 1 s of the kill (${restarted_ms:-never} ms; state $(counter worker.1.state))"
fi
(($(counter worker.1.restarts) == restarts_before + 1)) || fail "worker.1.restarts did not count the restart"
new_pid=$(counter worker.1.pid)
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$new_pid/status" 2>/dev/null)
[[ $capeff =~ ^0+$ ]] || fail "the restarted worker is privileged: CapEff $capeff"

ok=0
failed=0
for ((i = 0; i < STREAMS; i++)); do
  wait "${stream_pids[i]}"
  if cmp -s "$work/stream$i.in" "$work/stream$i.out"; then ((ok++)); else ((failed++)); fi
done
stream_pids=()
if ((ok == on_worker[0] && failed == on_worker[1])); then
  pass "all ${on_worker[0]} streams on worker 0 completed with the same bytes back; the ${on_worker[1]} on the killed worker failed"
else
  fail "$ok streams completed and $failed failed; worker 0 had ${on_worker[0]}, the killed worker ${on_worker[1]}"
fi

# New connections reach the new worker 1.
expect_new_connections_reach 1 "after the restart"
refresh_stats
pass "reclaimed: $(grep -E '^io\.io\.(worker_reclaims|frames_reclaimed) ' "$work/stats.txt" | tr '\n' ' ')"
(($(counter io.io.worker_reclaims) >= 1)) || fail "the I/O process did not reclaim the dead worker"
expect_frames_balanced "after the restart and the traffic"

# The watchdog. Idle for 3 timeouts: the supervisor wakes each sleeping worker halfway
# through and none is taken for a hung one.
refresh_stats
idle_restarts=("$(counter worker.0.restarts)" "$(counter worker.1.restarts)")
idle_pids=("$(counter worker.0.pid)" "$(counter worker.1.pid)")
sleep 6
refresh_stats
if [[ $(counter worker.0.restarts) == "${idle_restarts[0]}" && $(counter worker.1.restarts) == "${idle_restarts[1]}" &&
  $(counter worker.0.pid) == "${idle_pids[0]}" && $(counter worker.1.pid) == "${idle_pids[1]}" ]]; then
  pass "6 s idle with watchdog_timeout 2s: no worker restarted"
else
  fail "an idle worker was restarted by the watchdog: restarts ${idle_restarts[*]} -> $(counter worker.0.restarts) $(counter worker.1.restarts)"
fi
# A stopped worker serves nothing while its slot says running: the watchdog kills it.
stopped=${idle_pids[0]}
log "stopping worker 0 (pid $stopped) with SIGSTOP"
t_stop=$(date +%s%N)
kill -STOP "$stopped"
replaced_ms=$(ms_until_replaced 0 "$stopped" "$t_stop" 600)
# The silence is counted from the last heartbeat the supervisor saw, which an idle worker
# renews when it is woken halfway through: so the kill comes between half the timeout and
# the timeout and a quarter (the supervisor looks four times per timeout) after SIGSTOP,
# and the restart about 100 ms later.
if [[ -n $replaced_ms ]] && ((replaced_ms >= 1000 && replaced_ms <= 4000)); then
  pass "the stopped worker 0 was replaced by pid $(counter worker.0.pid) ${replaced_ms} ms after SIGSTOP (watchdog_timeout 2s)"
else
  fail "the stopped worker 0 was not replaced within 1-4 s of SIGSTOP (${replaced_ms:-never} ms; state $(counter worker.0.state), pid $(counter worker.0.pid))"
  kill -CONT "$stopped" 2>/dev/null
fi
if grep -q "worker 0 (pid $stopped) made no progress for" "$work/flowgate.err"; then
  pass "the gateway said why: $(grep "worker 0 (pid $stopped) made no progress" "$work/flowgate.err" | head -1)"
else
  fail "no 'made no progress' line for worker 0 in the gateway's log"
fi
(($(counter worker.0.restarts) == idle_restarts[0] + 1)) || fail "worker.0.restarts did not count the watchdog's restart"
[[ $(counter worker.1.pid) == "${idle_pids[1]}" ]] || fail "worker 1 was restarted too"
expect_new_connections_reach 0 "after the watchdog's restart"
expect_frames_balanced "after the watchdog's restart"

# A stopped I/O process moves no frame for any worker, and cannot be replaced under them:
# the watchdog kills it and the gateway stops with an error, for its service manager to
# restart it whole, instead of running on looking healthy.
io_pid=$(pgrep -s "$fg_pid" -x flowgate-io)
if [[ -z $io_pid ]]; then
  fail "no flowgate-io process in the gateway's session"
else
  log "stopping the I/O process (pid $io_pid) with SIGSTOP"
  t_stop=$(date +%s%N)
  kill -STOP "$io_pid"
  if wait_for 8 bash -c "! kill -0 $fg_pid 2>/dev/null"; then
    stopped_ms=$((($(date +%s%N) - t_stop) / 1000000))
    rc=0
    wait "$fg_pid" 2>/dev/null || rc=$?
    fg_pid=""
    if ((rc != 0 && stopped_ms >= 1000 && stopped_ms <= 5000)); then
      pass "the stopped I/O process was killed and the gateway exited with status $rc ${stopped_ms} ms after SIGSTOP"
    else
      fail "the gateway exited with status $rc ${stopped_ms} ms after SIGSTOP of the I/O process (expected non-zero, 1-5 s)"
    fi
    if grep -q "the I/O process (pid $io_pid) made no progress for" "$work/flowgate.err"; then
      pass "the gateway said why: $(grep "the I/O process (pid $io_pid) made no progress" "$work/flowgate.err" | head -1)"
    else
      fail "no 'made no progress' line for the I/O process in the gateway's log"
    fi
    expect_cleaned_up "the I/O process's death"
  else
    fail "the gateway still runs 8 s after SIGSTOP of its I/O process"
    kill -CONT "$io_pid" 2>/dev/null
  fi
fi
stop_gateway
finish

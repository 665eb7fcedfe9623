#!/usr/bin/env bash
# The gateway's life as an operator sees it (DESIGN.md, "Processes"):
#   - a bad configuration is refused by `run` with file:line: key: reason, exit 2;
#   - idle for 10 s, all flowgate processes together use under 2% of one core;
#   - a second gateway with the same instance name is refused while the first runs;
#   - SIGHUP with the file unchanged does nothing; with a change that cannot apply live it
#     is refused with the key named, and the gateway keeps serving;
#   - SIGKILL of the whole process group (a crash): nothing of flowgate runs afterwards,
#     and a new start succeeds despite the segment and XDP program the dead one left;
#   - SIGTERM: exit 0, no segment and no XDP program left.
#
#   lifecycle_test.sh PATH/TO/flowgate
# Needs root (exit 77 without). Bounded by `timeout`; a trap cleans up however it ends.
set -uo pipefail

flowgate=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
if [[ -z $flowgate || ! -x $flowgate ]]; then
  echo "usage: $0 PATH/TO/flowgate" >&2
  exit 2
fi
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool nc ping timeout setsid

begin_lab_test lifecycle

# The processes of our gateway: the supervisor and its children.
gateway_pids() {
  [[ -n $fg_pid ]] || return 0
  echo "$fg_pid"
  pgrep -P "$fg_pid"
}

lab_up_or_exit
write_config() {  # write_config FILE WORKERS
  cat >"$1" <<EOF
instance: $instance
interface: $LAB_GATEWAY_IF
address: $GW_IP/24
workers: $2
drain_timeout: 2s
listeners:
  - {name: echo, protocol: tcp, port: 7, app: echo}
EOF
}
write_config "$work/flowgate.yaml" 2

# A bad configuration never starts anything.
sed 's/^workers: 2$/workers: 99/' "$work/flowgate.yaml" >"$work/bad.yaml"
timeout 10 "$flowgate" run --config "$work/bad.yaml" >"$work/bad.out" 2>&1
rc=$?
if [[ $rc -eq 2 ]] && grep -q "^$work/bad.yaml:4: workers: " "$work/bad.out"; then
  pass "bad config refused (exit 2): $(head -n 1 "$work/bad.out")"
else
  fail "bad config: exit $rc, output: $(head -c 300 "$work/bad.out")"
fi
[[ -e /dev/shm/flowgate.$instance ]] && fail "a refused start left a segment"

start_gateway "$work/flowgate.yaml" || finish
peer timeout 10 ping -c 1 -W 2 "$GW_IP" >/dev/null || fail "no ping answer after start"

# A second gateway on the same instance must not start (it would wreck the first's segment).
timeout 10 "$flowgate" run --config "$work/flowgate.yaml" >"$work/second.out" 2>&1
rc=$?
if [[ $rc -ne 0 ]] && grep -q "already running" "$work/second.out"; then
  pass "a second start of instance $instance is refused: $(grep 'already running' "$work/second.out")"
else
  fail "a second start of the same instance: exit $rc, $(head -c 300 "$work/second.out")"
fi
peer timeout 10 ping -c 1 -W 2 "$GW_IP" >/dev/null || fail "the first gateway stopped answering after the refused second start"

# Idle: no busy polling anywhere. CPU ticks of every flowgate process over 10 s.
sleep 2 # the start-up's ARP and ICMP settle
ticks() {
  local p sum=0
  for p in $(gateway_pids); do
    [[ -r /proc/$p/stat ]] || continue
    sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$sum"
}
hz=$(getconf CLK_TCK)
before=$(ticks)
sleep 10
after=$(ticks)
used=$((after - before))
# 2% of one core over 10 s is 0.2 s of CPU.
if ((used * 100 < 2 * 10 * hz)); then
  pass "idle: $(gateway_pids | wc -l) processes used $used ticks of CPU in 10 s (CLK_TCK $hz, < 2% of a core)"
else
  fail "idle: the gateway used $used ticks in 10 s (CLK_TCK $hz): over 2% of a core"
fi

# SIGHUP: unchanged, then a change that cannot apply while running.
kill -HUP "$fg_pid"
if wait_for 5 grep -q "SIGHUP: .* is unchanged" "$work/flowgate.err"; then
  pass "SIGHUP with the same file: $(grep 'SIGHUP' "$work/flowgate.err" | tail -n 1)"
else
  fail "SIGHUP with the same file: no 'unchanged' message"
fi
write_config "$work/flowgate.yaml" 3
kill -HUP "$fg_pid"
if wait_for 5 grep -q "SIGHUP: refused: workers cannot change" "$work/flowgate.err"; then
  pass "SIGHUP with workers changed: $(grep 'SIGHUP: refused' "$work/flowgate.err" | tail -n 1)"
else
  fail "SIGHUP with workers changed: not refused by name: $(tail -n 2 "$work/flowgate.err")"
fi
[[ $(stat_now worker.1.state) == running ]] || fail "after the refused reload worker 1 is $(counter worker.1.state)"
peer timeout 10 ping -c 1 -W 2 "$GW_IP" >/dev/null || fail "no ping answer after the refused reload"
write_config "$work/flowgate.yaml" 2

# A crash of everything: SIGKILL to the whole process group.
pids=$(gateway_pids | tr '\n' ' ')
kill -KILL -- "-$fg_pid"
wait "$fg_pid" 2>/dev/null
fg_pid=""
# Killed processes linger as zombies until their new parent reaps them: those count as gone.
still_running() {
  alive=""
  local p
  for p in $pids; do
    [[ -r /proc/$p/stat && $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) != Z ]] && alive+="$p "
  done
  [[ -n $alive ]]
}
wait_for 5 bash -c "! $(declare -f still_running); pids='$pids'; still_running"
still_running
if [[ -z $alive ]]; then
  pass "SIGKILL of the process group: none of $pids runs any more"
else
  fail "SIGKILL of the process group: still running: $alive"
fi
left=""
[[ -e /dev/shm/flowgate.$instance ]] && left+="its segment "
ip -d link show dev "$LAB_GATEWAY_IF" | grep -q 'prog/xdp' && left+="its XDP program"
log "the killed gateway left: ${left:-nothing}"

start_gateway "$work/flowgate.yaml" || finish
if peer timeout 10 ping -c 2 -W 2 "$GW_IP" >/dev/null &&
  echo restarted | peer timeout 10 nc -N "$GW_IP" 7 | grep -q restarted; then
  pass "a start after the SIGKILL succeeds and serves (ping, TCP echo)${left:+; it replaced $left}"
else
  fail "after the SIGKILL the new gateway does not serve: $(tail -n 3 "$work/flowgate.err")"
fi
grep -q "removed the stale segment" "$work/flowgate.err" && pass "the stale segment was noticed and removed"

stop_gateway
finish

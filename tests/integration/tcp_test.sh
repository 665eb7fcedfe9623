#!/usr/bin/env bash
# Integration test of TCP on a real link: `flowgate standalone --tcp-echo 7 --tcp-discard 9`
# on the gateway side of a veth pair (deploy/lab/lab.sh), with the Linux TCP of the peer's
# network namespace at the other end, driven by netcat-openbsd.
#
# Checks: a short line echoed; 64 MiB echoed intact (sha256); 64 MiB taken by discard and
# counted; a closed port refused (RST); no TCP checksum drop and no partial-checksum frame.
#
# Usage: tcp_test.sh PATH/TO/flowgate
# Needs root: without it the test is skipped (exit 77). Needs iproute2, ethtool, tcpdump,
# netcat-openbsd (-N: shut down the write side at end of input) and coreutils.
# Every command is bounded by `timeout`; a trap stops flowgate and tcpdump and removes the
# lab however the script ends. Failed checks are listed at the end; exit 1 if any.
set -uo pipefail

readonly GW_IP=198.18.0.1
readonly CLOSED_PORT=9999
readonly BIG=$((64 * 1024 * 1024))

flowgate=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
lab_sh=${FLOWGATE_LAB_SH:-$here/../../deploy/lab/lab.sh}

if [[ -z $flowgate || ! -x $flowgate ]]; then
  echo "usage: $0 PATH/TO/flowgate (got '${flowgate}')" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root (veth pair, network namespace, AF_PACKET socket)"
  exit 77
fi
missing=()
for tool in ip ethtool nc tcpdump timeout sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v nc >/dev/null 2>&1 && ! nc -h 2>&1 | grep -q OpenBSD; then
  missing+=("nc (OpenBSD netcat)")
fi
if ((${#missing[@]})); then
  echo "FAIL: missing tools: ${missing[*]}" >&2
  echo "  (Debian: apt-get install iproute2 netcat-openbsd ethtool tcpdump)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/flowgate-tcp.XXXXXX)
lab_name=fgt$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
fg_pid=""
tcpdump_pid=""
lab_up=0
failures=()
started=$(date +%s)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"



cleanup() {
  local rc=$?
  stop_pid "$fg_pid" TERM 5 || true
  stop_pid "$tcpdump_pid" TERM 5 || true
  if ((lab_up)); then "$lab_sh" down "$lab_name" >/dev/null 2>&1 || true; fi
  if ((rc == 0)); then
    rm -rf "$work"
  else
    rm -f "$work"/big.* # 64 MiB each: not worth keeping
    echo "logs kept in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM






# ---------------------------------------------------------------------------------------
log "building lab $lab_name"
if ! lab_env=$("$lab_sh" up "$lab_name" 2>"$work/lab.err"); then
  cat "$work/lab.err" >&2
  echo "FAIL: lab.sh up $lab_name failed" >&2
  exit 1
fi
lab_up=1
eval "$lab_env"

# TCP headers only (the payload would be 128 MiB each way), for a post-mortem if a check
# fails: the file is kept with the logs.
ip netns exec "$LAB_NETNS" tcpdump -i "$LAB_PEER_IF" -n -s 96 -w "$work/tcp.pcap" tcp \
  >/dev/null 2>"$work/tcpdump.err" &
tcpdump_pid=$!
if ! wait_for 10 grep -q "listening on" "$work/tcpdump.err"; then
  fail "tcpdump did not start in $LAB_NETNS: $(head -c 500 "$work/tcpdump.err")"
  exit 1
fi

log "starting flowgate standalone on $LAB_GATEWAY_IF"
"$flowgate" standalone --interface "$LAB_GATEWAY_IF" --address "$GW_IP/24" \
  --tcp-echo 7 --tcp-discard 9 --stats-file "$work/stats.txt" --stats-interval 0.2 \
  >"$work/flowgate.out" 2>"$work/flowgate.err" &
fg_pid=$!
if ! wait_for 10 test -s "$work/stats.txt" || ! kill -0 "$fg_pid" 2>/dev/null; then
  fail "flowgate did not start"
  dump_logs
  exit 1
fi

# (a) A short line comes back unchanged; -N sends our FIN at the end of the input, and nc
# ends when flowgate's FIN follows the echo.
printf 'flowgate tcp echo %s\n' "$lab_name" >"$work/small.in"
t0=$(date +%s.%N)
peer timeout 10 nc -N "$GW_IP" 7 <"$work/small.in" >"$work/small.out" 2>"$work/small.err"
rc=$?
if [[ $rc -eq 0 ]] && cmp -s "$work/small.in" "$work/small.out"; then
  pass "tcp echo: a $(stat -c %s "$work/small.in")-byte line came back unchanged, both FINs exchanged"
else
  fail "tcp echo (short): nc status $rc, got $(stat -c %s "$work/small.out") bytes back: $(head -c 200 "$work/small.err")"
fi

# (b) 64 MiB through echo: the same sha256 comes back.
head -c "$BIG" /dev/urandom >"$work/big.in"
t0=$(date +%s.%N)
peer timeout 120 nc -N "$GW_IP" 7 <"$work/big.in" >"$work/big.out" 2>"$work/big.err"
rc=$?
t1=$(date +%s.%N)
in_sum=$(sha256sum <"$work/big.in" | cut -d' ' -f1)
out_sum=$(sha256sum <"$work/big.out" | cut -d' ' -f1)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
if [[ $rc -eq 0 && $in_sum == "$out_sum" ]]; then
  pass "tcp echo: 64 MiB came back intact (sha256 matches) in $secs s"
else
  fail "tcp echo (64 MiB): nc status $rc after $secs s, $(stat -c %s "$work/big.out") bytes back, sha256 $([[ $in_sum == "$out_sum" ]] && echo matches || echo differs): $(head -c 200 "$work/big.err")"
fi
rm -f "$work/big.out"

# (c) 64 MiB through discard: nc ends once flowgate has read everything and closed, and
# the counter shows every byte.
t0=$(date +%s.%N)
peer timeout 120 nc -N "$GW_IP" 9 <"$work/big.in" >"$work/discard.out" 2>"$work/discard.err"
rc=$?
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
if [[ $rc -eq 0 ]] && wait_for 5 counter_is tcp_discard_9_bytes_received "$BIG"; then
  pass "tcp discard: 64 MiB taken in $secs s (tcp_discard_9_bytes_received = $BIG)"
else
  fail "tcp discard (64 MiB): nc status $rc after $secs s, tcp_discard_9_bytes_received = $(counter tcp_discard_9_bytes_received): $(head -c 200 "$work/discard.err")"
fi
if [[ -s $work/discard.out ]]; then fail "tcp discard: something came back"; fi

# (d) A closed port: the SYN is answered by RST, and nc fails at once (no retries).
t0=$(date +%s.%N)
peer timeout 10 nc -z "$GW_IP" "$CLOSED_PORT" >"$work/closed.out" 2>&1
rc=$?
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
if [[ $rc -eq 1 ]] && awk -v s="$secs" 'BEGIN { exit !(s < 2) }'; then
  pass "closed TCP port $CLOSED_PORT: refused in $secs s"
else
  fail "closed TCP port $CLOSED_PORT: nc -z status $rc after $secs s (expected 1 at once: RST)"
fi

# ---------------------------------------------------------------------------------------
log "stopping flowgate (SIGTERM)"
if stop_pid "$fg_pid" TERM 5; then
  wait "$fg_pid"
  fg_rc=$?
else
  fg_rc="killed"
fi
fg_pid=""
[[ $fg_rc == 0 ]] || fail "flowgate did not exit cleanly on SIGTERM (status $fg_rc)"
stop_pid "$tcpdump_pid" TERM 5 || true
wait "$tcpdump_pid" 2>/dev/null
tcpdump_pid=""

expect tcp_echo_7_accepted eq 2 "two echo connections"
expect tcp_echo_7_bytes_sent eq "$((BIG + $(stat -c %s "$work/small.in")))" "every byte echoed"
expect tcp_echo_7_errors eq 0 "no echo connection ended in error"
expect tcp_discard_9_errors eq 0 "the discard connection did not end in error"
expect tcp_bad_checksum eq 0 "a checksum drop means offload trouble or a stack bug"
expect link_rx_checksum_partial eq 0 "frames with checksums left to offload reached us"
expect link_rx_truncated eq 0 "frames longer than the MTU reached us"

log "done in $(($(date +%s) - started)) s"
if ((${#failures[@]})); then
  dump_logs
  echo "FAILED checks (${#failures[@]}):" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "PASS: TCP on a real link"

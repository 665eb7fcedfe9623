#!/usr/bin/env bash
# Integration test of the lower stack on a real link: `flowgate standalone` (Ethernet, ARP,
# IPv4 with fragmentation and reassembly, ICMP, UDP echo and discard) on the gateway side of
# a veth pair, checked with real Linux tools from the peer's network namespace.
#
# Usage: lower_stack_test.sh PATH/TO/flowgate
# Needs root: without it the test is skipped (exit 77). Installs nothing; it needs iproute2,
# iputils-ping, arping, netcat-openbsd (not -traditional: -W is used), ethtool and tcpdump,
# besides what every Debian system has (coreutils, diffutils, mawk).
#
# Every load is bounded in count and time, and a trap stops flowgate and tcpdump and removes
# the lab however the script ends. Failed checks are listed at the end; exit 1 if any.
set -uo pipefail

readonly GW_IP=198.18.0.1
readonly CLOSED_PORT=9999

flowgate=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
lab_sh=${FLOWGATE_LAB_SH:-$here/../../deploy/lab/lab.sh}

if [[ -z $flowgate || ! -x $flowgate ]]; then
  echo "usage: $0 PATH/TO/flowgate (got '${flowgate}')" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root (it builds a veth pair and a network namespace, and flowgate opens an AF_PACKET socket)"
  exit 77
fi
missing=()
for tool in ip ethtool arping ping nc tcpdump timeout; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v nc >/dev/null 2>&1 && ! nc -h 2>&1 | grep -q OpenBSD; then
  missing+=("nc (OpenBSD netcat)")
fi
if ((${#missing[@]})); then
  echo "FAIL: missing tools: ${missing[*]}" >&2
  echo "  (Debian: apt-get install iproute2 iputils-ping arping netcat-openbsd ethtool tcpdump procps)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/flowgate-lower-stack.XXXXXX)
lab_name=fgl$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
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
    echo "logs kept in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM



# Feeds a file to stdin and then holds stdin open for a while: netcat-openbsd closes its UDP
# socket as soon as stdin ends, before any answer could arrive.
feed() {
  cat "$1"
  sleep "$2"
}



# The command line: help, and a bad argument named with exit status 2 (no lab needed).
help_out=$("$flowgate" standalone --help 2>&1)
if [[ $? -eq 0 && $help_out == *--interface* && $help_out == *AF_XDP* ]]; then
  pass "flowgate standalone --help"
else
  fail "flowgate standalone --help: unexpected output or status"
fi
expect_usage_error() {  # expect_usage_error WHAT-THE-MESSAGE-NAMES ARGS...
  local named=$1 out rc
  shift
  out=$("$flowgate" "$@" 2>&1)
  rc=$?
  if [[ $rc -eq 2 && $out == *"$named"* ]]; then
    pass "flowgate $*: exit 2 naming $named"
  else
    fail "flowgate $*: expected exit 2 naming $named, got $rc: $out"
  fi
}
expect_usage_error --address standalone --interface lo --address 198.18.0.1
expect_usage_error --udp-echo standalone --interface lo --address 198.18.0.1/24 --udp-echo 0
expect_usage_error "'nosuch-fg0' not found" standalone --interface nosuch-fg0 --address 198.18.0.1/24
expect_usage_error "unknown command" frobnicate

# ---------------------------------------------------------------------------------------
log "building lab $lab_name"
if ! lab_env=$("$lab_sh" up "$lab_name" 2>"$work/lab.err"); then
  cat "$work/lab.err" >&2
  echo "FAIL: lab.sh up $lab_name failed" >&2
  exit 1
fi
lab_up=1
eval "$lab_env"
log "lab: $LAB_GATEWAY_IF ($LAB_GATEWAY_MAC) <-> $LAB_PEER_IF in namespace $LAB_NETNS"

# Every frame on the peer's side of the link, with link-level headers, checksums verified
# by tcpdump (-vv). Started first, so it also sees the control checks below.
# Not through peer(): a function in the background runs in a subshell, and $! would be
# that subshell's pid instead of tcpdump's.
ip netns exec "$LAB_NETNS" tcpdump -i "$LAB_PEER_IF" -n -e -vv -l \
  >"$work/tcpdump.txt" 2>"$work/tcpdump.err" &
tcpdump_pid=$!
if ! wait_for 10 grep -q "listening on" "$work/tcpdump.err"; then
  fail "tcpdump did not start in $LAB_NETNS: $(head -c 500 "$work/tcpdump.err")"
  exit 1
fi

# Control: before flowgate runs, nothing answers for 198.18.0.1. The kernel sees the same
# frames on the gateway side; the lab keeps it from answering ARP (NOARP) or IPv4 (no
# address there, forwarding off). The ping goes straight to the gateway side's MAC through
# a static neighbour entry, so it tests the kernel's IPv4 path without ARP.
ctl_arp=$(peer timeout 10 arping -c 2 -w 3 -I "$LAB_PEER_IF" "$GW_IP" 2>&1)
if grep -Eqi "bytes from|reply from" <<<"$ctl_arp"; then
  fail "control: something answered ARP for $GW_IP before flowgate started: $ctl_arp"
else
  pass "control: no ARP answer for $GW_IP without flowgate"
fi
peer ip neigh replace "$GW_IP" lladdr "$LAB_GATEWAY_MAC" dev "$LAB_PEER_IF" nud permanent
ctl_ping=$(peer timeout 10 ping -c 1 -W 1 "$GW_IP" 2>&1)
if grep -q " 0 received" <<<"$ctl_ping"; then
  pass "control: the gateway side's kernel does not answer ICMP for $GW_IP"
else
  fail "control: something answered ping to $GW_IP before flowgate started: $ctl_ping"
fi
peer ip neigh del "$GW_IP" dev "$LAB_PEER_IF"
peer ip neigh flush dev "$LAB_PEER_IF" >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------
log "starting flowgate standalone on $LAB_GATEWAY_IF"
"$flowgate" standalone --interface "$LAB_GATEWAY_IF" --address "$GW_IP/24" \
  --udp-echo 7 --udp-discard 9 --stats-file "$work/stats.txt" --stats-interval 0.2 \
  >"$work/flowgate.out" 2>"$work/flowgate.err" &
fg_pid=$!
if ! wait_for 10 test -s "$work/stats.txt"; then
  fail "flowgate did not start (no stats file within 10 s)"
  dump_logs
  exit 1
fi
if ! kill -0 "$fg_pid" 2>/dev/null; then
  fail "flowgate exited at start"
  dump_logs
  exit 1
fi

# ARP: three requests, three replies, from flowgate's MAC.
arp_out=$(peer timeout 15 arping -c 3 -I "$LAB_PEER_IF" "$GW_IP" 2>&1)
arp_replies=$(grep -Ei "bytes from|reply from" <<<"$arp_out" | grep -ci "$LAB_GATEWAY_MAC")
if [[ $arp_replies -eq 3 ]]; then
  pass "arping: 3 replies from $LAB_GATEWAY_MAC"
else
  fail "arping: $arp_replies of 3 replies from $LAB_GATEWAY_MAC: $arp_out"
fi

# ICMP echo: empty, default, the largest unfragmented (1472 + 8 + 20 = 1500) and a 3000-byte
# payload, fragmented by the peer on the way in and by flowgate on the way back.
for size in 0 56 1472 3000; do
  extra=()
  [[ $size -gt 1472 ]] && extra=(-M dont)
  ping_out=$(peer timeout 20 ping -c 3 -i 0.2 -W 2 -w 10 -s "$size" "${extra[@]}" "$GW_IP" 2>&1)
  if grep -q "3 packets transmitted, 3 received" <<<"$ping_out"; then
    pass "ping -s $size: 3 of 3 answered"
  else
    fail "ping -s $size: not every request answered: $(tail -n 3 <<<"$ping_out" | tr '\n' ' ')"
  fi
done

# UDP echo (RFC 862): the same bytes come back; 4000 bytes are fragmented both ways.
printf 'flowgate echo %s\n' "$lab_name" >"$work/echo-small.in"
head -c 3000 /dev/urandom | base64 -w0 | head -c 4000 >"$work/echo-large.in"
for name in echo-small echo-large; do
  peer timeout 5 nc -u -W 1 "$GW_IP" 7 < <(feed "$work/$name.in" 4 2>/dev/null) \
    >"$work/$name.out" 2>"$work/$name.err"
  if cmp -s "$work/$name.in" "$work/$name.out"; then
    pass "udp echo: $(stat -c %s "$work/$name.in") bytes came back unchanged"
  else
    fail "udp echo: sent $(stat -c %s "$work/$name.in") bytes, got $(stat -c %s "$work/$name.out") back ($(head -c 200 "$work/$name.err"))"
  fi
done

# UDP discard (RFC 863): taken in silence.
printf 'discard me\n' >"$work/discard.in"
peer timeout 3 nc -u -W 1 -w 1 "$GW_IP" 9 < <(feed "$work/discard.in" 2 2>/dev/null) \
  >"$work/discard.out" 2>"$work/discard.err"
if wait_for 3 counter_at_least udp_discard_9_received 1; then
  pass "udp discard: datagram received and dropped"
else
  fail "udp discard: flowgate did not count the datagram (udp_discard_9_received = $(counter udp_discard_9_received))"
fi
if [[ -s $work/discard.out ]]; then
  fail "udp discard: something came back: $(head -c 200 "$work/discard.out")"
fi

# A closed port answers ICMP destination unreachable, port unreachable (type 3, code 3).
printf 'anyone?\n' >"$work/closed.in"
peer timeout 3 nc -u -W 1 -w 1 "$GW_IP" "$CLOSED_PORT" < <(feed "$work/closed.in" 2 2>/dev/null) \
  >"$work/closed.out" 2>&1
if wait_for 5 grep -q "$GW_IP > [0-9.]*: ICMP $GW_IP udp port $CLOSED_PORT unreachable" \
  "$work/tcpdump.txt"; then
  pass "closed UDP port $CLOSED_PORT: ICMP port unreachable received by the peer"
else
  fail "closed UDP port $CLOSED_PORT: no ICMP port unreachable seen on $LAB_PEER_IF"
fi

# Idle: no busy polling. CPU time used over 2 s with no traffic but the statistics dumps.
read_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$fg_pid/stat"; }
ticks_before=$(read_cpu_ticks)
sleep 2
ticks_after=$(read_cpu_ticks)
hz=$(getconf CLK_TCK)
idle_ticks=$((ticks_after - ticks_before))
if ((idle_ticks * 10 <= 2 * hz)); then  # at most 10% of one CPU
  pass "idle: $idle_ticks CPU ticks in 2 s (CLK_TCK $hz)"
else
  fail "idle: flowgate used $idle_ticks CPU ticks in 2 s (CLK_TCK $hz): busy polling?"
fi

# ---------------------------------------------------------------------------------------
log "stopping flowgate (SIGTERM)"
kill -TERM "$fg_pid"
fg_rc=""
if wait_for 5 bash -c "! kill -0 $fg_pid 2>/dev/null"; then
  wait "$fg_pid"
  fg_rc=$?
  fg_pid=""
fi
if [[ $fg_rc == 0 ]]; then
  pass "flowgate exited with status 0 on SIGTERM"
else
  fail "flowgate did not exit cleanly on SIGTERM (status '${fg_rc:-still running}')"
fi
if grep -q "^icmp_echo_replies_sent = " "$work/flowgate.out"; then
  pass "flowgate printed its counters on exit"
else
  fail "flowgate did not print its counters on exit"
fi
# SIGTERM: a script's background jobs ignore SIGINT.
stop_pid "$tcpdump_pid" TERM 5 || log "note: tcpdump did not stop on SIGTERM"
wait "$tcpdump_pid" 2>/dev/null
tcpdump_pid=""

expect icmp_echo_replies_sent ge 12 "one reply per ping"
expect ipv4_fragments_sent gt 0 "the 3000-byte replies are fragmented"
expect reasm_completed gt 0 "the 3000-byte requests are reassembled"
expect arp_replies_sent ge 3 "arping's requests are answered"
expect udp_echo_7_echoed ge 2 "both echo datagrams are sent back"
expect udp_no_socket ge 1 "the closed port"
expect icmp_errors_sent ge 1 "port unreachable"
for c in ipv4_bad_checksum udp_bad_checksum icmp_bad_checksum; do
  expect "$c" eq 0 "a checksum drop means offload trouble (ethtool -K tx off on the peer)"
done
expect link_rx_checksum_partial eq 0 "frames with checksums left to offload reached us"
expect link_rx_truncated eq 0 "frames longer than the MTU reached us"
expect link_transmit_full eq 0 "the link refused frames"
expect link_tx_errors eq 0 "the kernel refused frames"

# What the peer saw: no bad checksum of any kind, and every frame from the gateway side's
# MAC is one flowgate sent (the kernel there stayed silent, nothing was lost).
if grep -Eq "bad cksum|wrong icmp cksum|bad udp cksum|incorrect" "$work/tcpdump.txt"; then
  fail "tcpdump found bad checksums: $(grep -E "bad cksum|wrong icmp cksum|bad udp cksum|incorrect" "$work/tcpdump.txt" | head -3)"
else
  pass "tcpdump: every checksum on the link is correct"
fi
from_gw=$(grep -ci "^[0-9:.]* $LAB_GATEWAY_MAC > " "$work/tcpdump.txt")
sent=$(counter link_tx_frames)
if [[ $from_gw -eq $sent ]]; then
  pass "tcpdump: $from_gw frames from $LAB_GATEWAY_MAC = link_tx_frames"
else
  fail "tcpdump saw $from_gw frames from $LAB_GATEWAY_MAC, flowgate sent $sent (the kernel spoke, or frames were lost)"
fi
grep -q "^0 packets dropped by kernel" "$work/tcpdump.err" ||
  log "note: tcpdump: $(grep -E "dropped|captured" "$work/tcpdump.err" | tr "\n" " ")"

log "done in $(($(date +%s) - started)) s"
if ((${#failures[@]})); then
  dump_logs
  echo "FAILED checks (${#failures[@]}):" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "PASS: lower stack on a real link"

#!/usr/bin/env bash
# The whole data path on a real link: `flowgate run` (supervisor, I/O process, WORKERS
# workers) on the gateway side of a veth pair, and the Linux stack with real tools in the
# peer's network namespace (deploy/lab/lab.sh).
#
#   dataplane_test.sh PATH/TO/flowgate MODE WORKERS
#     MODE: native | skb (AF_XDP with the XDP program attached natively or generically)
#           | af_packet (the AF_PACKET backend)
#
# Checks, each against real Linux peers:
#   - nothing answers for the gateway's address before it runs (the kernel stays quiet);
#   - arping answered 3 of 3, from the gateway's MAC (only worker 0 answers);
#   - ping of 0, 56, 1472 and 3000 bytes answered (3000: fragmented both ways);
#   - UDP echo with nc -u (small, and 4000 bytes fragmented both ways), UDP discard silent,
#     a closed UDP port answered with ICMP port unreachable;
#   - TCP echo of a line with nc; a closed TCP port refused;
#   - 64 MiB up through TCP echo and back with the same sha256, and 64 MiB down from
#     chargen with the sha256 of the RFC 864 pattern;
#   - with 2 workers, connections reach both workers;
#   - no checksum drop anywhere, and the frame accounting balances when traffic stops;
#   - SIGTERM: exit 0, no segment and no XDP program left;
#   - then the same two 64 MiB transfers again through the fault injector dropping 5%,
#     duplicating 5% and reordering 10% of the frames each way, hashes still matching.
# Needs root (exit 77 without). Every command is bounded by `timeout`; a trap stops the
# gateway and removes the lab however the script ends.
set -uo pipefail

flowgate=${1:-}
mode=${2:-}
workers=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
readonly BIG=$((64 * 1024 * 1024))
readonly CLOSED_PORT=9999

if [[ -z $flowgate || ! -x $flowgate || ! $mode =~ ^(native|skb|af_packet)$ ||
  ! $workers =~ ^[1-9]$ ]]; then
  echo "usage: $0 PATH/TO/flowgate native|skb|af_packet WORKERS" >&2
  exit 2
fi
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool nc tcpdump timeout sha256sum arping ping perl setsid

begin_lab_test dataplane
tcpdump_pid=""
extra_cleanup() {
  stop_pid "$tcpdump_pid" TERM 5 || true
}

write_config() {  # write_config FILE [EXTRA YAML]
  cat >"$1" <<EOF
instance: $instance
interface: $LAB_GATEWAY_IF
address: $GW_IP/24
workers: $workers
$(case $mode in
    native) echo "xdp_mode: native" ;;
    skb) echo "xdp_mode: skb" ;;
    af_packet) echo "backend: af_packet" ;;
  esac)
drain_timeout: 2s
listeners:
  - {name: echo, protocol: tcp, port: 7, app: echo}
  - {name: echo-udp, protocol: udp, port: 7, app: echo}
  - {name: discard, protocol: tcp, port: 9, app: discard}
  - {name: discard-udp, protocol: udp, port: 9, app: discard}
  - {name: chargen, protocol: tcp, port: 19, app: chargen, chargen: {bytes: $BIG}}
${2:-}
EOF
}

feed() {  # feed FILE SECONDS: the file, then silence (nc -u must wait for the answer)
  cat "$1"
  sleep "$2"
}

# The two 64 MiB transfers; $1 names the run in the messages.
big_transfers() {
  local what=$1 rc got want
  t0=$(date +%s.%N)
  timeout 180 ip netns exec "$LAB_NETNS" nc -N "$GW_IP" 7 <"$work/big.in" >"$work/echo.out.big"
  rc=$?
  got=$(sha256sum <"$work/echo.out.big" | cut -d' ' -f1)
  want=$(sha256sum <"$work/big.in" | cut -d' ' -f1)
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc -eq 0 && $got == "$want" ]]; then
    pass "$what: 64 MiB up through TCP echo and back, same sha256 ($secs s)"
  else
    fail "$what: TCP echo of 64 MiB: nc status $rc, $(stat -c %s "$work/echo.out.big") bytes back, sha256 ${got:0:16} (want ${want:0:16}) after $secs s"
  fi
  t0=$(date +%s.%N)
  timeout 180 ip netns exec "$LAB_NETNS" nc "$GW_IP" 19 </dev/null >"$work/chargen.out.big"
  rc=$?
  got=$(sha256sum <"$work/chargen.out.big" | cut -d' ' -f1)
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc -eq 0 && $got == "$chargen_sha" ]]; then
    pass "$what: 64 MiB down from chargen, sha256 of the RFC 864 pattern ($secs s)"
  else
    fail "$what: chargen 64 MiB: nc status $rc, $(stat -c %s "$work/chargen.out.big") bytes, sha256 ${got:0:16} (want ${chargen_sha:0:16}) after $secs s"
  fi
}

log "mode $mode, $workers worker(s)"
# Natively, one RX queue per worker (an AF_XDP socket on each, on one UMEM); generic XDP on
# veth reports every frame on queue 0, so one queue there.
queues=1
[[ $mode == native ]] && queues=$workers
lab_up_or_exit "$queues"
head -c "$BIG" /dev/urandom >"$work/big.in"
chargen_sha=$(chargen_pattern "$BIG" | sha256sum | cut -d' ' -f1)

# Control: before the gateway runs, nothing answers for its address.
if peer timeout 5 arping -c 2 -w 2 -I "$LAB_PEER_IF" "$GW_IP" 2>&1 | grep -Eqi "bytes from|reply from"; then
  fail "control: something answered ARP for $GW_IP before flowgate started"
else
  pass "control: no ARP answer for $GW_IP without flowgate"
fi

peer tcpdump -l -n -i "$LAB_PEER_IF" icmp >"$work/tcpdump.txt" 2>"$work/tcpdump.err" &
tcpdump_pid=$!
wait_for 10 grep -q "listening on" "$work/tcpdump.err" || fail "tcpdump did not start"

write_config "$work/flowgate.yaml"
start_gateway "$work/flowgate.yaml" || finish
pass "gateway running: $(head -n 1 "$work/flowgate.err")"

# ARP: three requests, three replies, from the gateway's MAC, once each (worker 0 only).
arp_out=$(peer timeout 15 arping -c 3 -I "$LAB_PEER_IF" "$GW_IP" 2>&1)
arp_replies=$(grep -Ei "bytes from|reply from" <<<"$arp_out" | grep -ci "$LAB_GATEWAY_MAC")
if [[ $arp_replies -eq 3 ]] && grep -q "3 packets received" <<<"$arp_out"; then
  pass "arping: 3 of 3 answered from $LAB_GATEWAY_MAC"
else
  fail "arping: $arp_replies of 3 replies from $LAB_GATEWAY_MAC: $arp_out"
fi

for size in 0 56 1472 3000; do
  ping_out=$(peer timeout 20 ping -c 3 -i 0.2 -W 2 -w 10 -s "$size" "$GW_IP" 2>&1)
  if grep -q "3 packets transmitted, 3 received" <<<"$ping_out"; then
    pass "ping -s $size: 3 of 3 answered"
  else
    fail "ping -s $size: $(tail -n 3 <<<"$ping_out" | tr '\n' ' ')"
  fi
done

# UDP echo from several source ports (with 2 workers, flows land on both), and 4000 bytes
# that are fragmented both ways.
printf 'flowgate udp echo %s\n' "$lab_name" >"$work/udp-small.in"
head -c 3000 /dev/urandom | base64 -w0 | head -c 4000 >"$work/udp-large.in"
udp_ok=0
for i in 1 2 3 4 5 6; do
  name=udp-small
  ((i == 6)) && name=udp-large
  peer timeout 5 nc -u -W 1 "$GW_IP" 7 < <(feed "$work/$name.in" 3 2>/dev/null) >"$work/udp.out" 2>/dev/null
  cmp -s "$work/$name.in" "$work/udp.out" && ((udp_ok++))
done
if ((udp_ok == 6)); then
  pass "udp echo: 5 small datagrams and one of 4000 bytes came back unchanged"
else
  fail "udp echo: $udp_ok of 6 datagrams came back unchanged"
fi
printf 'discard me\n' >"$work/discard.in"
peer timeout 4 nc -u -W 1 -w 1 "$GW_IP" 9 < <(feed "$work/discard.in" 2 2>/dev/null) >"$work/discard.out" 2>/dev/null
if [[ -s $work/discard.out ]]; then
  fail "udp discard: something came back"
else
  pass "udp discard: nothing came back"
fi
peer timeout 4 nc -u -W 1 -w 1 "$GW_IP" "$CLOSED_PORT" < <(feed "$work/discard.in" 2 2>/dev/null) >/dev/null 2>&1
if wait_for 5 grep -q "$GW_IP > [0-9.]*: ICMP $GW_IP udp port $CLOSED_PORT unreachable" "$work/tcpdump.txt"; then
  pass "closed UDP port: ICMP port unreachable received by the peer"
else
  fail "closed UDP port: no ICMP port unreachable seen on $LAB_PEER_IF"
fi

# TCP: a line through echo on several connections (both workers with 2), a closed port.
printf 'flowgate tcp echo %s\n' "$lab_name" >"$work/tcp-small.in"
tcp_ok=0
for i in $(seq 1 16); do
  peer timeout 10 nc -N "$GW_IP" 7 <"$work/tcp-small.in" >"$work/tcp-small.out" 2>/dev/null &&
    cmp -s "$work/tcp-small.in" "$work/tcp-small.out" && ((tcp_ok++))
done
if ((tcp_ok == 16)); then
  pass "tcp echo: a line came back unchanged on 16 of 16 connections"
else
  fail "tcp echo: $tcp_ok of 16 connections echoed the line"
fi
if peer timeout 5 nc -z -w 3 "$GW_IP" "$CLOSED_PORT" 2>/dev/null; then
  fail "closed TCP port $CLOSED_PORT accepted a connection"
else
  pass "closed TCP port $CLOSED_PORT refused"
fi
if ((workers > 1)); then
  refresh_stats
  spread=""
  for ((k = 0; k < workers; k++)); do
    opens=$(counter "worker.$k.event.tcp_passive_opens")
    spread+="worker $k: $opens "
    ((opens > 0)) || fail "worker $k got no TCP connection of 16 ($spread)"
  done
  pass "connections spread over the workers: $spread"
fi

big_transfers "clean link"

refresh_stats
checksum_drops=$(awk '$1 ~ /^workers\.drop\..*checksum/ { s += $2 } END { print s + 0 }' "$work/stats.txt")
if ((checksum_drops == 0)); then
  pass "no checksum drops (offloads are off on the peer)"
else
  fail "$checksum_drops frames dropped for bad checksums: $(grep -E '^workers\.drop\..*checksum' "$work/stats.txt" | tr '\n' ' ')"
fi
expect_frames_balanced "after the clean-link traffic"
stop_gateway

# ---------------------------------------------------------------------------------------
log "again through the fault injector: 5% drop, 5% duplication, 10% reordering each way"
write_config "$work/faults.yaml" "testing:
  fault_injection: {seed: 42, drop: 0.05, duplicate: 0.05, reorder: 0.10}"
start_gateway "$work/faults.yaml" || finish
big_transfers "faulty link"
refresh_stats
pass "fault injector: $(grep -E '^io\.faults_(rx|tx)\.(dropped|duplicated|reordered) ' "$work/stats.txt" | tr '\n' ' ')"
for dir in rx tx; do
  for what in dropped duplicated reordered; do
    (($(counter "io.faults_$dir.$what") > 100)) ||
      fail "the fault injector did little: io.faults_$dir.$what = $(counter "io.faults_$dir.$what")"
  done
done
expect_frames_balanced "after the faulty-link traffic"
stop_gateway

finish

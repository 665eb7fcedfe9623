#!/usr/bin/env bash
# Regenerates the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from real frames:
# real Linux tools talk over a veth pair between two fresh network namespaces, tcpdump captures
# the link, and pcap_to_corpus.py splits the capture into one input per frame or payload.
#
# Addresses: the capturing side is given exactly the fuzzed stack's addresses
# (02:00:00:00:00:01, 198.18.0.1/24) and the peer those of the stack's static neighbour
# (02:00:00:00:00:02, 198.18.0.2/24), so the captured frames are addressed to the stack
# fuzz_stack_receive builds, with their own checksums, and nothing has to be rewritten. The
# Linux kernel answers on the capturing side, so replies are real too.
#
# Traffic, from the peer to the capturing side unless noted: ARP (requests, a probe, an
# unsolicited announcement, a VLAN-tagged request); ping with 0, 56, 1472 and 3000 bytes (the
# last in fragments), with record-route options, and to the broadcast address; ping from the
# capturing side (echo replies to the stack); UDP datagrams to an open port (one fragmented)
# and a closed one (ICMP port unreachable), and from the capturing side's port 7 to a closed
# port (the unreachable goes to the stack's echo port); TCP: a connection with data and close
# each way, and a SYN to a closed port each way (RST).
#
# Needs root (namespaces). Usage: tests/fuzz/make_corpus.sh [KEEP.pcap]
# (with an argument, the capture is also copied there, to look at with tcpdump -r).
# The namespaces, the veth pair and the temporary capture are removed on any exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
corpus="$here/corpus"

if [[ $(id -u) -ne 0 ]]; then
  echo "make_corpus.sh: needs root (network namespaces)" >&2
  exit 1
fi

need=()
for tool in ip:iproute2 tcpdump:tcpdump ping:iputils-ping arping:arping nc:netcat-openbsd \
  ethtool:ethtool ss:iproute2 python3:python3; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
  echo "make_corpus.sh: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# Unique per run, and short enough for interface names (15 characters).
tag="fgfz$$"
gw_ns="$tag-gw"
peer_ns="$tag-peer"
gw_if="${tag}g"
peer_if="${tag}p"
work=$(mktemp -d)
capture_pid=""

cleanup() {
  if [[ -n $capture_pid ]]; then
    kill "$capture_pid" 2>/dev/null || true
    wait "$capture_pid" 2>/dev/null || true
  fi
  # Every process still in our namespaces is one this script started (a listener whose client
  # never came); end them by id before the namespaces go.
  for ns in "$gw_ns" "$peer_ns"; do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$ns" || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# For foreground commands only: `ip netns exec` itself execs the command, so a background
# one is started with it directly and $! is the command's own pid.
in_gw() { ip netns exec "$gw_ns" "$@"; }
in_peer() { ip netns exec "$peer_ns" "$@"; }

# Waits until a listener is up: wait_listen <ns> <-t|-u> <port>
wait_listen() {
  for _ in $(seq 50); do
    if [[ -n $(ip netns exec "$1" ss -Hln "$2" "sport = :$3") ]]; then return 0; fi
    sleep 0.1
  done
  echo "make_corpus.sh: nothing listens on port $3 in $1" >&2
  return 1
}

echo "== lab: $gw_ns ($gw_if, 198.18.0.1) <-> $peer_ns ($peer_if, 198.18.0.2)"
ip netns add "$gw_ns"
ip netns add "$peer_ns"
for ns in "$gw_ns" "$peer_ns"; do
  # IPv4 only: no IPv6 autoconfiguration, DAD or MLD frames in the capture.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$ns" ip link set lo up
done
ip link add "$gw_if" netns "$gw_ns" type veth peer name "$peer_if" netns "$peer_ns"
in_gw ip link set "$gw_if" address 02:00:00:00:00:01
in_peer ip link set "$peer_if" address 02:00:00:00:00:02
in_gw ip addr add 198.18.0.1/24 dev "$gw_if"
in_peer ip addr add 198.18.0.2/24 dev "$peer_if"
# Full checksums in the frames themselves: with TX offload a veth leaves them partial.
in_gw ethtool -K "$gw_if" tx off tso off gso off >/dev/null
in_peer ethtool -K "$peer_if" tx off tso off gso off >/dev/null
in_gw ip link set "$gw_if" up
in_peer ip link set "$peer_if" up

# --immediate-mode: frames still in the capture ring when tcpdump is stopped would be lost.
ip netns exec "$gw_ns" tcpdump -i "$gw_if" -w "$work/lab.pcap" --immediate-mode -U -s 0 -n \
  -Z root 'arp or ip' 2>"$work/tcpdump.log" &
capture_pid=$!
for _ in $(seq 50); do
  grep -q "listening on" "$work/tcpdump.log" && break
  sleep 0.1
done
grep -q "listening on" "$work/tcpdump.log" || { cat "$work/tcpdump.log" >&2; exit 1; }

echo "== ARP"
in_peer arping -q -c 1 -w 1 -i "$peer_if" 198.18.0.1 || true
in_peer arping -q -c 1 -w 1 -0 -i "$peer_if" 198.18.0.1 || true
in_peer arping -q -c 1 -w 1 -U -S 198.18.0.2 -i "$peer_if" 198.18.0.2 || true
in_peer arping -q -c 1 -w 1 -V 100 -i "$peer_if" 198.18.0.1 || true

echo "== ICMP"
for size in 0 56 1472 3000; do
  in_peer ping -q -c 1 -W 1 -s "$size" 198.18.0.1 >/dev/null
done
in_peer ping -q -c 1 -W 1 -R 198.18.0.1 >/dev/null
in_peer ping -q -c 1 -W 1 -b 198.18.0.255 >/dev/null 2>&1 || true # Linux ignores it
in_gw ping -q -c 1 -W 1 198.18.0.2 >/dev/null

echo "== UDP"
ip netns exec "$gw_ns" timeout 10 nc -u -l 198.18.0.1 7 >/dev/null &
listener=$!
wait_listen "$gw_ns" -u 7
{
  printf 'hello flowgate\n'
  sleep 0.2
  head -c 2000 /dev/zero | tr '\0' 'x' # one 2000-byte datagram: fragments on a 1500 MTU
} | in_peer nc -u -w 1 198.18.0.1 7
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
printf 'anyone there?\n' | in_peer nc -u -w 1 198.18.0.1 9 || true
printf 'from port 7\n' | in_gw nc -u -w 1 -p 7 198.18.0.2 9 || true

echo "== TCP"
# Listeners end with their connection, or after 10 s if the client never came.
ip netns exec "$gw_ns" timeout 10 nc -l 198.18.0.1 8080 >/dev/null &
listener=$!
wait_listen "$gw_ns" -t 8080
printf 'GET / HTTP/1.0\r\n\r\n' | in_peer nc -N -w 2 198.18.0.1 8080 >/dev/null
wait "$listener" 2>/dev/null || true
ip netns exec "$peer_ns" timeout 10 nc -l 198.18.0.2 8081 >/dev/null &
listener=$!
wait_listen "$peer_ns" -t 8081
printf 'hello\n' | in_gw nc -N -w 2 198.18.0.2 8081 >/dev/null
wait "$listener" 2>/dev/null || true
in_peer nc -z -w 1 198.18.0.1 81 || true
in_gw nc -z -w 1 198.18.0.2 81 || true

sleep 0.3
kill -INT "$capture_pid"
wait "$capture_pid" || true
capture_pid=""
grep -E "packets (captured|received|dropped)" "$work/tcpdump.log" | sed 's/^/  tcpdump: /'
# Every frame the filter passed must be in the file, or the sequences in the corpus have holes.
captured=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$work/tcpdump.log")
received=$(sed -n 's/^\([0-9]*\) packets\{0,1\} received by filter.*/\1/p' "$work/tcpdump.log")
if [[ -z $captured || $captured != "$received" ]]; then
  echo "make_corpus.sh: tcpdump wrote ${captured:-?} of ${received:-?} frames" >&2
  exit 1
fi

if [[ $# -ge 1 ]]; then cp "$work/lab.pcap" "$1"; fi
echo "== corpus: $corpus"
python3 "$here/pcap_to_corpus.py" "$work/lab.pcap" "$corpus"
echo "  total: $(cat "$corpus"/*/* | wc -c) bytes in $(find "$corpus" -type f | wc -l) files"

#!/usr/bin/env bash
# The lab network: a veth pair whose gateway side stays in the root namespace for flowgate,
# and whose peer side sits in its own network namespace with the ordinary Linux stack and
# real tools (ping, arping, nc, ...).
#
#   lab.sh up [NAME] [QUEUES]
#                       build a lab; prints its names as shell assignments (eval-able).
#                       QUEUES (default 1) is the veth pair's number of RX/TX queues.
#   lab.sh down NAME    remove it and end the processes still inside it (idempotent)
#
# NAME (default: fg + 6 random hex digits) names the namespace; the interfaces are NAME-gw
# and NAME-pr, so NAME has at most 12 characters (interface names stop at 15).
#
# The gateway side gets no IPv4 address and no IPv6 at all: flowgate owns 198.18.0.1 there,
# and the kernel, which sees the same frames, must stay silent. It is kept silent by
#   - no IPv4 address on that side: the kernel has no local 198.18.0.1 to answer for;
#   - ARP off (NOARP): the kernel ignores every ARP frame on it, so even a 198.18.0.1 on
#     another interface of the host (arp_ignore=0 answers for any local address on any
#     interface) or proxy ARP cannot make it answer; packet taps still see the frames;
#   - IPv4 forwarding off on it: an IPv4 frame addressed to its MAC is then dropped quietly
#     instead of being routed on (or answered with ICMP unreachable) when the host forwards;
#     rp_filter is consulted only on the forwarding path, so it has nothing left to decide.
#     (Writing net.ipv4.ip_forward later sets every interface's forwarding again, this one
#     included: rebuild the lab after that);
#   - IPv6 disabled: no link-local address, router or neighbour solicitations, MLD.
# Checksum and segmentation offloads are off on both sides: otherwise the peer's frames
# reach flowgate with checksums left for hardware to fill in (DESIGN.md, "Lab").
set -euo pipefail

readonly PEER_ADDR=198.18.0.2/24
readonly GATEWAY_ADDR=198.18.0.1/24  # flowgate's, never configured on the kernel

die() {
  echo "lab.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

check_name() {
  [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,11}$ ]] ||
    die "lab name '$1' must be 1-12 letters, digits, '_' or '-' (not first)"
}

names() {
  ns=$1
  gw_if="$1-gw"
  peer_if="$1-pr"
}

sysctl_set() {  # sysctl_set PATH VALUE: write under /proc/sys, fail loudly
  local path=/proc/sys/$1
  [[ -e $path ]] || return 0
  echo "$2" >"$path" || die "cannot set $1=$2"
}

cmd_down() {
  local name=$1
  check_name "$name"
  names "$name"
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns"; then
    # Processes left inside (a test's nc, tcpdump) would keep the namespace and its veth
    # alive after `ip netns del`; they were started for this lab, so end them.
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      # shellcheck disable=SC2086
      kill $pids 2>/dev/null || true
      sleep 0.2
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    fi
  fi
  # Deleting one end of a veth pair deletes both.
  if ip link show dev "$gw_if" >/dev/null 2>&1; then
    ip link del dev "$gw_if" 2>/dev/null || true
  fi
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns"; then
    ip netns del "$ns" || die "cannot delete namespace $ns"
  fi
  echo "lab.sh: lab $name is down" >&2
}

cmd_up() {
  local name=${1:-} queues=${2:-1}
  [[ $queues =~ ^[1-9][0-9]?$ ]] || die "queue count '$queues' must be 1-99"
  if [[ -z $name ]]; then
    name=fg$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  fi
  check_name "$name"
  names "$name"
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces and veth interfaces)"
  for tool in ip ethtool; do
    command -v "$tool" >/dev/null || die "'$tool' is missing (Debian: apt-get install iproute2 ethtool)"
  done
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns"; then
    die "namespace $ns already exists (remove it with: $0 down $name)"
  fi
  if ip link show dev "$gw_if" >/dev/null 2>&1; then
    die "interface $gw_if already exists (remove it with: $0 down $name)"
  fi

  # From here on, a failure (set -e or die) removes whatever was built.
  trap 'echo "lab.sh: building lab $name failed; removing it" >&2; cmd_down "$name" || true' EXIT

  # libxdp keeps its XDP dispatcher in bpffs; without it, it falls back to attaching one
  # legacy program (DESIGN.md, "Lab"). Mounting it is harmless when it is already there.
  if ! mountpoint -q /sys/fs/bpf 2>/dev/null; then
    mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs at /sys/fs/bpf"
  fi

  ip netns add "$ns"
  ip link add "$gw_if" numtxqueues "$queues" numrxqueues "$queues" type veth \
    peer name "$peer_if" numtxqueues "$queues" numrxqueues "$queues" netns "$ns"

  # Gateway side, root namespace: silence the kernel before the link comes up.
  sysctl_set "net/ipv6/conf/$gw_if/disable_ipv6" 1
  sysctl_set "net/ipv4/conf/$gw_if/forwarding" 0
  sysctl_set "net/ipv4/conf/$gw_if/proxy_arp" 0
  ip link set dev "$gw_if" arp off
  ethtool -K "$gw_if" tx off tso off gso off gro off >/dev/null 2>&1 ||
    die "ethtool -K $gw_if tx off tso off gso off gro off failed"
  ip link set dev "$gw_if" up

  # Peer side: an ordinary Linux host at 198.18.0.2.
  ip -n "$ns" link set dev lo up
  ip netns exec "$ns" ethtool -K "$peer_if" tx off tso off gso off >/dev/null 2>&1 ||
    die "ethtool -K $peer_if tx off tso off gso off failed"
  ip -n "$ns" addr add "$PEER_ADDR" dev "$peer_if"
  ip -n "$ns" link set dev "$peer_if" up

  trap - EXIT
  local gw_mac peer_mac
  gw_mac=$(cat "/sys/class/net/$gw_if/address")
  peer_mac=$(ip netns exec "$ns" cat "/sys/class/net/$peer_if/address")
  cat <<EOF
LAB_NAME=$name
LAB_NETNS=$ns
LAB_GATEWAY_IF=$gw_if
LAB_GATEWAY_MAC=$gw_mac
LAB_GATEWAY_ADDR=$GATEWAY_ADDR
LAB_PEER_IF=$peer_if
LAB_PEER_MAC=$peer_mac
LAB_PEER_ADDR=$PEER_ADDR
EOF
  echo "lab.sh: lab $name is up: flowgate runs on $gw_if ($gw_mac) as ${GATEWAY_ADDR%/*};" \
    "the peer is ${PEER_ADDR%/*} on $peer_if in namespace $ns (ip netns exec $ns ...)" >&2
}

case ${1:-} in
  up)
    (($# <= 3)) || usage
    cmd_up "${2:-}" "${3:-1}"
    ;;
  down)
    (($# == 2)) || usage
    cmd_down "$2"
    ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# The README's "run" command. Installs what is missing, builds flowgate, builds a lab (a veth
# pair whose peer side is a network namespace at 198.18.0.2, see lab.sh) and runs
#   flowgate standalone --interface <gateway side> --address 198.18.0.1/24 \
#       --udp-echo 7 --udp-discard 9 --tcp-echo 7 --tcp-discard 9 [EXTRA FLOWGATE OPTIONS]
# until Ctrl-C (or SIGTERM); the lab is removed however it ends.
#
# Usage (as root on Debian 12): deploy/lab/run-demo.sh [EXTRA FLOWGATE OPTIONS]
#   e.g. deploy/lab/run-demo.sh --stats-interval 10
#
# `flowgate standalone` is the single-process AF_PACKET mode, used until the AF_XDP data
# plane lands.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
lab_sh=$root/deploy/lab/lab.sh

if [[ $(id -u) -ne 0 ]]; then
  echo "run-demo.sh: needs root (veth pair, network namespace, AF_PACKET socket): sudo $0" >&2
  exit 1
fi

# Installs what is missing (apt-get update && apt-get install, skipped when all is present):
# deploy/install-deps.sh holds the one list of packages.
"$root/deploy/install-deps.sh"

echo "== building flowgate into $root/build =="
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$root/build" flowgate
flowgate=$root/build/apps/flowgate

echo "== building the lab =="
lab_env=$("$lab_sh" up)
eval "$lab_env"
fg_pid=""
# However this script ends, flowgate stops and the lab goes away.
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [[ -n $fg_pid ]] && kill -0 "$fg_pid" 2>/dev/null; then
    kill -TERM "$fg_pid" 2>/dev/null || true
    wait "$fg_pid" 2>/dev/null || true
  fi
  "$lab_sh" down "$LAB_NAME"
}
trap cleanup EXIT

ns=$LAB_NETNS
peer_if=$LAB_PEER_IF
cat <<EOF

flowgate answers as 198.18.0.1 on $LAB_GATEWAY_IF ($LAB_GATEWAY_MAC); the peer is a Linux
host at 198.18.0.2 in network namespace $ns. In another terminal, as root, try:

  ip netns exec $ns ping -c3 198.18.0.1
  ip netns exec $ns ping -c3 -s 3000 198.18.0.1          # fragmented both ways
  ip netns exec $ns arping -c3 -I $peer_if 198.18.0.1
  (echo hi; sleep 1) | ip netns exec $ns nc -u -W1 198.18.0.1 7
      # UDP echo. Not 'echo hi | nc -u -q1 ...': Debian's netcat-openbsd closes its UDP
      # socket as soon as its input ends, before the answer arrives.
  ip netns exec $ns nc -u 198.18.0.1 7                     # type lines; Ctrl-C leaves
  echo bye | ip netns exec $ns nc -u -q1 198.18.0.1 9      # discard: nothing comes back
  echo hi | ip netns exec $ns nc -u -q1 198.18.0.1 9999    # closed port: ICMP unreachable
  echo hi | ip netns exec $ns nc -N 198.18.0.1 7           # TCP echo; -N sends FIN at EOF
  ip netns exec $ns nc 198.18.0.1 7                        # TCP: type lines; Ctrl-D ends
  head -c 64M /dev/urandom | ip netns exec $ns nc -N 198.18.0.1 7 | sha256sum
                                                           # 64 MiB through TCP echo
  head -c 64M /dev/zero | ip netns exec $ns nc -N 198.18.0.1 9   # TCP discard
  ip netns exec $ns nc -zv 198.18.0.1 9999                 # closed TCP port: refused (RST)
  ip netns exec $ns tcpdump -n -e -vv -i $peer_if          # watch it all

Ctrl-C here stops flowgate (it prints its counters) and removes the lab.

EOF

# In the background, so that a SIGTERM sent to this script can be passed on (a trap runs
# only once the foreground command is done). Ctrl-C reaches both: flowgate stops on it.
"$flowgate" standalone --interface "$LAB_GATEWAY_IF" --address 198.18.0.1/24 \
  --udp-echo 7 --udp-discard 9 --tcp-echo 7 --tcp-discard 9 "$@" &
fg_pid=$!
trap 'kill -TERM "$fg_pid" 2>/dev/null || true' INT TERM
# A trapped signal interrupts `wait` before flowgate is done: wait until it is gone, then
# once more for its exit status.
while kill -0 "$fg_pid" 2>/dev/null; do
  wait "$fg_pid" || true
done
status=0
wait "$fg_pid" || status=$?
fg_pid=""
exit "$status"

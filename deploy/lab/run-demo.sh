#!/usr/bin/env bash
# The README's "run" command. Installs what is missing, builds flowgate, builds a lab (a veth
# pair whose peer side is a network namespace at 198.18.0.2, see lab.sh), starts nginx in
# that namespace as a backend (198.18.0.2:8080), and runs the gateway on the lab with the
# embedded configuration below (`flowgate run --config`): HTTP on 80, echo on 7 (TCP and
# UDP), discard on 9 (TCP and UDP), chargen on 19, and the L4 proxy on 8000 in front of the
# nginx. Until Ctrl-C (or SIGTERM); the gateway drains, and nginx and the lab are removed
# however it ends.
#
# Usage (as root on Debian 12): deploy/lab/run-demo.sh [WORKERS] [native|skb|af_packet]
#   WORKERS   worker processes (default 2)
#   mode      how frames reach the gateway: AF_XDP with the XDP program attached natively
#             (default) or generically, or the AF_PACKET backend
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
lab_sh=$root/deploy/lab/lab.sh
workers=${1:-2}
mode=${2:-native}
[[ $workers =~ ^[1-9][0-9]?$ ]] || {
  echo "run-demo.sh: WORKERS must be 1-64, got '$workers'" >&2
  exit 2
}
case $mode in
  native | skb) link="xdp_mode: $mode" ;;
  af_packet) link="backend: af_packet" ;;
  *)
    echo "run-demo.sh: mode must be native, skb or af_packet, got '$mode'" >&2
    exit 2
    ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  echo "run-demo.sh: needs root (veth pair, network namespace, XDP program): sudo $0" >&2
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
demo=$(mktemp -d /tmp/flowgate-demo.XXXXXX)
config=$demo/flowgate.yaml
fg_pid=""
nginx_pid=""
# However this script ends, flowgate and nginx stop and the lab goes away.
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  set +e  # clean up everything, whatever fails on the way
  if [[ -n $fg_pid ]] && kill -0 "$fg_pid" 2>/dev/null; then
    kill -TERM "$fg_pid" 2>/dev/null || true
    wait "$fg_pid" 2>/dev/null || true
  fi
  [[ -n $nginx_pid ]] && kill -TERM "$nginx_pid" 2>/dev/null  # lab.sh down ends it anyway
  "$lab_sh" down "$LAB_NAME"
  rm -rf "$demo"
}
trap cleanup EXIT

# The HTTP app's document root: readable by the workers' user (mktemp -d makes 0700).
mkdir -p "$demo/www"
printf 'hello from flowgate\n' >"$demo/www/index.html"
head -c 10M /dev/urandom >"$demo/www/10M.bin"
chmod 755 "$demo" "$demo/www"
chmod 644 "$demo/www/index.html" "$demo/www/10M.bin"

# The backend: nginx in the peer namespace, reached through flowgate's own link.
mkdir -p "$demo/nginx"
cat >"$demo/nginx/nginx.conf" <<EOF
daemon off;
pid $demo/nginx/nginx.pid;
error_log $demo/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log $demo/nginx/access.log;
  client_body_temp_path $demo/nginx/body;
  proxy_temp_path $demo/nginx/proxy;
  fastcgi_temp_path $demo/nginx/fastcgi;
  uwsgi_temp_path $demo/nginx/uwsgi;
  scgi_temp_path $demo/nginx/scgi;
  server {
    listen 198.18.0.2:8080;
    location / { default_type text/plain; return 200 "hello from nginx behind flowgate\n"; }
  }
}
EOF
ip netns exec "$LAB_NETNS" nginx -c "$demo/nginx/nginx.conf" -e "$demo/nginx/error.log" &
nginx_pid=$!

# The embedded lab configuration (every key is described in deploy/examples/flowgate.yaml).
cat >"$config" <<EOF
instance: demo-$LAB_NAME
interface: $LAB_GATEWAY_IF
address: 198.18.0.1/24
workers: $workers
$link
listeners:
  - {name: web, protocol: tcp, port: 80, app: http, http: {root: $demo/www}}
  - {name: echo, protocol: tcp, port: 7, app: echo}
  - {name: echo-udp, protocol: udp, port: 7, app: echo}
  - {name: discard, protocol: tcp, port: 9, app: discard}
  - {name: discard-udp, protocol: udp, port: 9, app: discard}
  - {name: chargen, protocol: tcp, port: 19, app: chargen, chargen: {bytes: 1048576}}
  - {name: web-proxy, protocol: tcp, port: 8000, app: proxy, proxy: {pool: lab}}
pools:
  - name: lab
    balance: round_robin
    backends:
      - {address: 198.18.0.2:8080}
    health_check: {interval: 2s, timeout: 1s}
EOF

ns=$LAB_NETNS
peer_if=$LAB_PEER_IF
cat <<EOF

flowgate answers as 198.18.0.1 on $LAB_GATEWAY_IF ($LAB_GATEWAY_MAC); the peer is a Linux
host at 198.18.0.2 in network namespace $ns. Configuration: $config
In another terminal, as root, try:

  ip netns exec $ns ping -c3 198.18.0.1
  ip netns exec $ns ping -c3 -s 3000 198.18.0.1          # fragmented both ways
  ip netns exec $ns arping -c3 -I $peer_if 198.18.0.1
  (echo hi; sleep 1) | ip netns exec $ns nc -u -W1 198.18.0.1 7      # UDP echo
  echo hi | ip netns exec $ns nc -N 198.18.0.1 7           # TCP echo; -N sends FIN at EOF
  head -c 64M /dev/urandom | ip netns exec $ns nc -N 198.18.0.1 7 | sha256sum
                                                           # 64 MiB through TCP echo
  head -c 64M /dev/zero | ip netns exec $ns nc -N 198.18.0.1 9   # TCP discard
  ip netns exec $ns nc 198.18.0.1 19 | head -c 300         # chargen (RFC 864)
  ip netns exec $ns curl -s http://198.18.0.1:8000/        # through the L4 proxy to nginx
  ip netns exec $ns curl -si http://198.18.0.1/            # flowgate's own HTTP server
  ip netns exec $ns curl -s http://198.18.0.1/10M.bin | sha256sum; sha256sum $demo/www/10M.bin
  ip netns exec $ns wrk -t1 -c32 -d10s http://198.18.0.1/  # load through the HTTP app
  ip netns exec $ns nc -zv 198.18.0.1 9999                 # closed TCP port: refused
  $flowgate stats --instance demo-$LAB_NAME                # every counter, frame accounting
  ip netns exec $ns tcpdump -n -e -i $peer_if             # watch it all

Ctrl-C here drains and stops flowgate, and removes the lab.

EOF

# In the background, so that a SIGTERM sent to this script can be passed on (a trap runs
# only once the foreground command is done). Ctrl-C reaches both: the supervisor drains.
"$flowgate" run --config "$config" &
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

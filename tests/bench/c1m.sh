#!/usr/bin/env bash
# C1M (issue 7): N idle connections held by one flowgate worker, then by nginx on the kernel
# stack, with the memory each side spends per connection, as a markdown table.
#
#   tests/bench/c1m.sh [--connections N] [--hold SECONDS] [--connect-rate R] [--no-nginx]
#                      [--no-flowgate] [--build-dir DIR] [--no-build] [--xdp-mode native|skb]
#                      [--keep-logs]
#
#   --connections N   idle connections (default 100000; 1000000 by hand)
#   --hold S          seconds the client holds them silent once all are open (default 20)
#   --connect-rate R  new connections per second at most (default 20000)
#   --no-nginx        only the flowgate side        --no-flowgate  only the nginx side
#   --build-dir DIR   where flowgate is built (default build-c1m in the repo; configured and
#                     built with ninja unless --no-build)
#   --keep-logs       keep the work directory even after a clean run
#
# The client is `flowgate bench --mode idle` (our stack over AF_XDP, no descriptors) in the
# peer namespace, from max(2, ceil(N / 50000)) source addresses (a source holds at most ~64K
# connections to one target). It opens N connections, holds them --hold seconds sending
# nothing, then sends one request on each and counts the answers: every one must be answered
# (responses == N), which proves each connection was still alive on both ends.
#
# Topology (198.18.0.0/24; namespaces c1m<random>-g and -p):
#   gateway namespace, veth end G            peer namespace, veth end P
#     flowgate (1 worker, http, XDP) on .1      flowgate bench (AF_XDP on P) from .100-...
#     nginx on the kernel stack on .3
# Memory, measured while the client holds the connections, minus the same before any:
#   flowgate: the worker process's Rss and Pss (/proc/PID/smaps_rollup) per connection, and
#     its heap (the glibc arena in use, from the worker's smaps [heap] + anonymous Private
#     mappings: Private_Dirty of the anonymous mappings) per connection.
#   nginx: its worker processes' Rss summed, per connection; the kernel's socket memory per
#     connection: the slab caches that grew by at least N/2 objects (TCP, dentries, files,
#     epoll items, ...), object counts times object size from /proc/slabinfo, plus the pages
#     /proc/net/sockstat charges to TCP (buffers; near 0 for idle sockets).
# The machine's other activity moves the global slab counts too: only caches that grew by
# about N objects are counted, and the table names them.
#
# Needs root. Every step is bounded in time; a trap stops everything the script started and
# removes the namespaces however it ends.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
connections=100000 hold=20 connect_rate=20000 with_nginx=1 with_flowgate=1
build_dir=$repo/build-c1m do_build=1 xdp_mode=native keep_logs=0

usage() {
  sed -n '5,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
number() {  # number OPTION VALUE MIN MAX
  [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) || {
    echo "c1m.sh: $1 wants a number from $3 to $4, not '$2'" >&2
    exit 2
  }
}
while (($#)); do
  case $1 in
    --connections) number "$1" "${2:-}" 1 3000000; connections=$2; shift 2 ;;
    --hold) number "$1" "${2:-}" 5 3600; hold=$2; shift 2 ;;
    --connect-rate) number "$1" "${2:-}" 100 1000000; connect_rate=$2; shift 2 ;;
    --no-nginx) with_nginx=0; shift ;;
    --no-flowgate) with_flowgate=0; shift ;;
    --build-dir) build_dir=${2:-}; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --xdp-mode)
      [[ ${2:-} == native || ${2:-} == skb ]] || { echo "c1m.sh: --xdp-mode native|skb" >&2; exit 2; }
      xdp_mode=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    -h | --help) usage ;;
    *) echo "c1m.sh: unknown option '$1'" >&2; usage ;;
  esac
done

started=$(date +%s)
log() { echo "[$(($(date +%s) - started))s] $*" >&2; }
die() {
  echo "c1m.sh: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || { echo "SKIP: c1m.sh needs root (namespaces, XDP, AF_XDP)"; exit 77; }
for tool in ip ethtool jq awk taskset; do
  command -v "$tool" >/dev/null || die "missing tool: $tool (deploy/install-deps.sh)"
done
((with_nginx)) && { command -v nginx >/dev/null || die "missing tool: nginx"; }

if ((do_build)); then
  log "building flowgate in $build_dir"
  { cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    ninja -C "$build_dir" flowgate >/dev/null; } || die "the build failed"
fi
flowgate=$build_dir/flowgate
[[ -x $flowgate ]] || flowgate=$build_dir/apps/flowgate
[[ -x $flowgate ]] || die "no flowgate binary in $build_dir"
"$flowgate" bench --help 2>&1 | grep -q -- '--mode' ||
  die "this flowgate has no 'bench' command (the client of this benchmark)"

# Sources: 50,000 connections each at most, at least 2, at most 64 (198.18.0.100-163).
sources=$(((connections + 49999) / 50000))
((sources < 2)) && sources=2
((sources > 64)) && die "--connections $connections needs more than 64 source addresses"
readonly FG_IP=198.18.0.1 KERNEL_IP=198.18.0.3 PEER_IP=198.18.0.2
readonly BENCH_SOURCES=198.18.0.100-198.18.0.$((100 + sources - 1))
readonly SERVER_CPU=1 CLIENT_CPU=0

# --- Names, cleanup -----------------------------------------------------------------------
tag=c1m$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)
gw_ns=$tag-g peer_ns=$tag-p gw_if=$tag-gw peer_if=$tag-pr instance=$tag
work=$(mktemp -d /tmp/c1m.XXXXXX)
fg_pid="" nginx_pid="" bench_pid=""

stop_pid() {  # stop_pid PID: SIGTERM, up to 20 s, then SIGKILL to its process group
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local rc=$? ns pids
  trap - EXIT INT TERM
  stop_pid "$bench_pid"
  stop_pid "$fg_pid"
  stop_pid "$nginx_pid"
  for ns in "$gw_ns" "$peer_ns"; do
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086
    [[ -z $pids ]] || { kill -KILL $pids 2>/dev/null; sleep 0.5; }
    ip netns del "$ns" 2>/dev/null
  done
  rm -f "/dev/shm/flowgate.$instance"
  if ((rc == 0 && !keep_logs)); then rm -rf "$work"; else echo "c1m.sh: logs in $work" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

gw() { ip netns exec "$gw_ns" "$@"; }
peer() { ip netns exec "$peer_ns" "$@"; }
wait_for() {  # wait_for SECONDS COMMAND...
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    "${@:2}" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# --- The lab ------------------------------------------------------------------------------
log "lab $tag: $connections connections from $BENCH_SOURCES; namespaces $gw_ns and $peer_ns"
{ ip netns add "$gw_ns" && ip netns add "$peer_ns"; } || die "cannot create the namespaces"
ip link add "$gw_if" netns "$gw_ns" type veth peer name "$peer_if" netns "$peer_ns" ||
  die "cannot create the veth pair"
gw ip link set lo up
# The kernel on G answers ARP only for its own .3 (flowgate owns .1), forwards nothing.
for k in "conf/all/arp_ignore 1" "conf/$gw_if/arp_ignore 1" "conf/all/arp_announce 2" \
  "conf/$gw_if/arp_announce 2" "conf/$gw_if/forwarding 0" "ip_forward 0"; do
  gw sh -c "echo ${k#* } >/proc/sys/net/ipv4/${k% *}" || die "cannot set net.ipv4.${k% *}"
done
gw sh -c "echo 1 >/proc/sys/net/ipv6/conf/$gw_if/disable_ipv6" 2>/dev/null
# nginx's accept queue and SYN queue: the client opens up to --connect-rate a second.
gw sh -c 'echo 65535 >/proc/sys/net/core/somaxconn; echo 65535 >/proc/sys/net/ipv4/tcp_max_syn_backlog'
gw ethtool -K "$gw_if" tx off tso off gso off gro off >/dev/null 2>&1 || die "ethtool on $gw_if failed"
peer ethtool -K "$peer_if" tx off tso off gso off >/dev/null 2>&1 || die "ethtool on $peer_if failed"
gw ip addr add "$KERNEL_IP/24" dev "$gw_if"
gw ip link set "$gw_if" up
peer ip link set lo up
peer sh -c "echo 1 >/proc/sys/net/ipv6/conf/$peer_if/disable_ipv6" 2>/dev/null
peer ip addr add "$PEER_IP/24" dev "$peer_if"
peer ip link set "$peer_if" up
gw_mac=$(gw cat "/sys/class/net/$gw_if/address")

# A client run in the background: the idle mode, its JSON in $work/bench-$1.json.
start_bench() {  # start_bench NAME TARGET
  setsid ip netns exec "$peer_ns" taskset -c "$CLIENT_CPU" timeout $((connections / 500 + hold + 300)) \
    "$flowgate" bench --interface "$peer_if" --xdp-mode "$xdp_mode" --source "$BENCH_SOURCES" \
    --gateway-mac "$gw_mac" --target "$2:80" --mode idle --connections "$connections" \
    --connect-rate "$connect_rate" --hold "$hold" --json >"$work/bench-$1.json" \
    2>"$work/bench-$1.err" &
  bench_pid=$!
}
# Waits for the client; fails unless every connection was established and answered.
finish_bench() {  # finish_bench NAME
  wait "$bench_pid"
  local rc=$? json
  bench_pid=""
  json=$(grep '^{' "$work/bench-$1.json" | tail -n 1)
  [[ -n $json ]] || die "$1: flowgate bench printed no JSON (exit $rc): $(tail -n 3 "$work/bench-$1.err")"
  established=$(jq '.connections_established // 0' <<<"$json")
  answered=$(jq '.responses // 0' <<<"$json")
  log "$1: established $established, answered $answered of $connections (bench exit $rc)"
}

# Returns once COUNT_FN prints TARGET or more, the client has exited, the count has not moved
# for 20 s, or N/1000 + 120 s have passed.
wait_until_open() {  # wait_until_open TARGET COUNT_FN
  local deadline=$(($(date +%s) + connections / 1000 + 120)) held last=-1 still=0
  while (($(date +%s) < deadline)); do
    held=$("$2")
    held=${held:-0}
    ((held >= $1)) && return
    kill -0 "$bench_pid" 2>/dev/null || return
    if ((held == last)); then ((++still >= 20)) && return; else still=0; fi
    last=$held
    sleep 1
  done
}

# Kb of a process's smaps_rollup field.
rollup() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
# Kb of anonymous private memory (the heap and malloc's mmap arenas) of a process.
anon_kb() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = ($6 == "" || $6 == "[heap]") }
       anon && $1 == "Private_Dirty:" { kb += $2 } END { print kb + 0 }' "/proc/$1/smaps" 2>/dev/null
}
# The pids of ROOT's descendants (ROOT included) whose command name is NAME.
descendants() {  # descendants ROOT NAME
  ps -eo pid=,ppid=,comm= | awk -v root="$1" -v name="$2" '
    { parent[$1] = $2; comm[$1] = $3 }
    END { for (p in parent) { q = p; while (q != "" && q != 0 && q != root) q = parent[q]
                              if (q == root && comm[p] == name) print p } }'
}
per_conn() { awk -v kb="$1" -v n="$2" 'BEGIN { printf "%.0f", kb * 1024 / n }'; }

# --- flowgate -----------------------------------------------------------------------------
# The keep-alive and request timeouts outlast the whole run: a connection that sends nothing
# must not be closed for it (the request timeout also covers a new connection's first byte).
idle_timeout=$((connections / 1000 + hold + 600))s
((${idle_timeout%s} > 3600)) && idle_timeout=3600s
# UMEM and rings sized as for a busy gateway; TCP buffers are allocated only while data is
# in flight (DESIGN.md), so their size does not count for idle connections.
cat >"$work/flowgate.yaml" <<EOF
instance: $instance
interface: $gw_if
address: $FG_IP/24
workers: 1
xdp_mode: $xdp_mode
drain_timeout: 1s
management: off
tcp:
  max_syn_backlog: 65536
listeners:
  - name: web
    port: 80
    app: http
    backlog: 4096
    http:
      response: {status: 200, body: "ok\n", content_type: text/plain}
      max_requests_per_connection: 0
      request_timeout: $idle_timeout
      keepalive_timeout: $idle_timeout
EOF
"$flowgate" check --config "$work/flowgate.yaml" >"$work/check.out" 2>&1 ||
  die "flowgate check refused the configuration: $(cat "$work/check.out")"

if ((with_flowgate)); then
  log "flowgate: 1 worker on $FG_IP"
  setsid ip netns exec "$gw_ns" taskset -c "$SERVER_CPU" "$flowgate" run --config "$work/flowgate.yaml" \
    >"$work/flowgate.out" 2>"$work/flowgate.err" &
  fg_pid=$!
  worker_pid=""
  find_worker() { worker_pid=$(descendants "$fg_pid" flowgate-wk0 | head -n 1) && [[ -n $worker_pid ]]; }
  wait_for 20 find_worker || die "no flowgate worker process: $(tail -n 5 "$work/flowgate.err")"
  find_worker
  wait_for 20 bash -c "\"$flowgate\" stats --instance $instance | grep -q '^worker\.0\.state running$'" ||
    die "the flowgate worker is not running: $(tail -n 5 "$work/flowgate.err")"
  sleep 1
  fg_rss0=$(rollup "$worker_pid" Rss) fg_pss0=$(rollup "$worker_pid" Pss) fg_anon0=$(anon_kb "$worker_pid")
  established_gauge() {
    "$flowgate" stats --instance "$instance" 2>/dev/null |
      awk '$1 ~ /^worker\.0\..*connections_established$/ { print $2; exit }'
  }

  start_bench flowgate "$FG_IP"
  # Measured once every connection is open (the gauge reaches N) or the opening stalls.
  wait_until_open "$connections" established_gauge
  sleep 2  # the last handshakes' delayed ACKs, buffers given back
  held=$(established_gauge)
  fg_rss1=$(rollup "$worker_pid" Rss) fg_pss1=$(rollup "$worker_pid" Pss) fg_anon1=$(anon_kb "$worker_pid")
  log "flowgate holds ${held:-0} connections: worker Rss ${fg_rss0} -> ${fg_rss1} kB, Pss ${fg_pss0} -> ${fg_pss1} kB"
  finish_bench flowgate
  fg_established=$established fg_answered=$answered fg_held=${held:-0}
  stop_pid "$fg_pid"
  fg_pid=""
fi

# --- nginx on the kernel stack ------------------------------------------------------------
if ((with_nginx)); then
  # The open-files limit is 20000 per process: 15000 connections per worker at most.
  nginx_workers=$((connections / 15000 + 1))
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $nginx_workers;
worker_rlimit_nofile 20000;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 19000; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout $idle_timeout;
  client_header_timeout $idle_timeout;
  server {
    listen $KERNEL_IP:80 backlog=65535 reuseport;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
  log "nginx: $nginx_workers workers on $KERNEL_IP"
  setsid ip netns exec "$gw_ns" taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx.conf" \
    -e "$work/nginx/error.log" >"$work/nginx/stdout" 2>&1 &
  nginx_pid=$!
  wait_for 20 peer bash -c "exec 3<>/dev/tcp/$KERNEL_IP/80" || die "nginx did not start: $(tail -n 5 "$work/nginx/error.log")"
  sleep 1
  nginx_rss() {  # kB of Rss summed over the workers (the master's descendants)
    local p kb=0 v
    for p in $(descendants "$nginx_pid" nginx); do
      [[ $p == "$nginx_pid" ]] && continue
      v=$(rollup "$p" Rss)
      kb=$((kb + ${v:-0}))
    done
    echo "$kb"
  }
  kernel_tcp() { gw awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) if ($i == "inuse") print $(i + 1) }' /proc/net/sockstat; }
  tcp_mem_pages() { gw awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
  cp /proc/slabinfo "$work/slab0"
  ng_rss0=$(nginx_rss) mem0=$(tcp_mem_pages)
  start_bench nginx "$KERNEL_IP"
  wait_until_open $((connections + nginx_workers)) kernel_tcp
  sleep 2
  held=$(($(kernel_tcp) - nginx_workers))  # less the listening sockets (one per worker: reuseport)
  cp /proc/slabinfo "$work/slab1"
  ng_rss1=$(nginx_rss) mem1=$(tcp_mem_pages)
  # Slab caches that grew by at least half a connection's worth of objects.
  awk -v n="$connections" '
    FNR == NR && FNR > 2 { objs0[$1] = $2; next }
    FNR > 2 { d = $2 - objs0[$1]; if (d >= n / 2) { printf "%s %.0f %.0f\n", $1, d, d * $4 } }
  ' "$work/slab0" "$work/slab1" | sort -k3 -nr >"$work/slab-delta"
  slab_bytes=$(awk '{ b += $3 } END { printf "%.0f", b }' "$work/slab-delta")
  slab_names=$(awk '{ printf "%s%s %.0f", sep, $1, $3 / '"$connections"'; sep = ", " }' "$work/slab-delta")
  log "nginx holds $held connections: workers' Rss $ng_rss0 -> $ng_rss1 kB; slab +$((slab_bytes / 1024)) kB ($slab_names)"
  finish_bench nginx
  ng_established=$established ng_answered=$answered ng_held=$held
  stop_pid "$nginx_pid"
  nginx_pid=""
fi

# --- The table ----------------------------------------------------------------------------
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo
echo "### C1M: $connections idle connections ($(date -u +%Y-%m-%d), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), commit $commit)"
echo
echo "| server | held | answered | user-space memory / connection | kernel memory / connection |"
echo "|---|---:|---:|---|---|"
((with_flowgate)) && echo "| flowgate, 1 worker | $fg_held | $fg_answered | Rss $(per_conn $((fg_rss1 - fg_rss0)) "$connections") B, Pss $(per_conn $((fg_pss1 - fg_pss0)) "$connections") B, anonymous $(per_conn $((fg_anon1 - fg_anon0)) "$connections") B | 0 (no kernel socket) |"
if ((with_nginx)); then
  echo "| nginx, $nginx_workers workers, kernel TCP | $ng_held | $ng_answered | Rss $(per_conn $((ng_rss1 - ng_rss0)) "$connections") B (workers summed) | slab $((slab_bytes / connections)) B ($slab_names), TCP buffer pages $(((mem1 - mem0) * 4096 / connections)) B |"
fi
echo
ok=1
((!with_flowgate || fg_answered == connections)) || { echo "c1m.sh: flowgate answered $fg_answered of $connections" >&2; ok=0; }
if ((with_nginx)) && ((ng_answered != connections)); then
  echo "c1m.sh: nginx answered $ng_answered of $connections" >&2
  ok=0
fi
((ok)) || exit 1
exit 0

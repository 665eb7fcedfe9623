#!/usr/bin/env bash
# The lab benchmark (issue 7): one flowgate worker against the kernel-stack peers users would
# run instead, on the same veth, with the same client, the same response bytes, A/B
# alternated, and a markdown table of medians and ratios at the end.
#
#   tests/bench/lab_bench.sh [--runs N] [--duration SECONDS] [--quick] [--build-dir DIR]
#                            [--no-build] [--xdp-mode native|skb] [--keep-logs]
#                            [--rows ID,...] [--perf]
#
#   --runs N        A/B pairs per row (default 5)        --duration S  seconds per run (10)
#   --quick         CI smoke: 1 pair, 2 s per run, under 2 minutes in all
#   --build-dir DIR where flowgate and the helpers are built (default: build-lab in the repo;
#                   configured and built with ninja unless --no-build)
#   --keep-logs     keep the work directory (every client's output) even after a clean run
#   --rows ID,...   only these rows: ka64 ka1k close lat proxy udp bka64 bka1k bclose blat
#                   bproxy budp (lat and blat need ka64 and bka64 for their rate)
#   --perf          perf record -g of the server CPU (every process and the kernel on it)
#                   during each run, flowgate's and the peer's; the perf.data files are kept
#                   next to the runs' output (implies --keep-logs)
#
# Topology (all addresses in 198.18.0.0/24; namespaces named flb<random>-g and -p):
#   gateway namespace, veth end G             peer namespace, veth end P
#     flowgate (XDP + AF_XDP) owns .1            the kernel's .2: wrk, h2load, udp_echo_client
#     the kernel owns .3 on the same G:          the kernel's .4: the backend nginx
#       nginx (1 worker), HAProxy (TCP mode,     flowgate bench (AF_XDP on P) from .100-.115
#       nbthread 1), xdp_reflector (on .1 while
#       flowgate is stopped)
# The kernel on G answers ARP only for .3 (arp_ignore=1, arp_announce=2), never for .1; it
# has no route to forward .1's frames (forwarding is off), and XDP takes them first anyway.
# The gateway side has a namespace of its own so that .3, its route and flowgate's management
# port do not touch the host's or the other labs' (DESIGN.md, "Lab"). Servers run on CPU 1,
# clients and the backend nginx on CPU 0 (taskset).
#
# Rows, each measured as N pairs (flowgate first in odd pairs, the peer first in even ones):
#   keep-alive 64 and 1024 connections (wrk), new connection per request (wrk with
#   Connection: close), latency p50/p99 with h2load at half of nginx's keep-alive-64 median,
#   the proxy vs HAProxy (both in front of the backend nginx), UDP echo (udp_echo_client)
#   vs the bare reflector; then the same with flowgate bench as the client, when the build
#   has it. A run whose client reports an error, a non-2xx answer, or a wrong rate makes its
#   row invalid: no ratio is printed from it. Before each run a fixed spin loop is timed on
#   both CPUs; a pair whose A and B timings differ by more than 10% is flagged.
#
# Needs root (exit 77 without). Exits 1 when the lab or a server cannot be set up, or when a
# row has an invalid run (the table is printed first). Everything is bounded in time, and a
# trap removes the namespaces and stops every process the script started however it ends.
set -uo pipefail
# The whole script is one compound command, which bash reads to its end before running any
# of it: editing the file during a 20-minute run then cannot change what the run executes.
# (shellcheck takes the functions called through variables in it for unreachable code.)
# shellcheck disable=SC2317
{

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=5 duration=10 quick=0 build_dir=$repo/build-lab do_build=1 xdp_mode=native keep_logs=0
only_rows="" profile=0

usage() {
  sed -n '6,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while (($#)); do
  case $1 in
    --runs) runs=${2:-}; shift 2 ;;
    --duration) duration=${2:-}; shift 2 ;;
    --quick) quick=1; shift ;;
    --build-dir) build_dir=${2:-}; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --xdp-mode) xdp_mode=${2:-}; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    --rows) only_rows=",${2:-},"; shift 2 ;;
    --perf) profile=1 keep_logs=1; shift ;;
    -h | --help) usage ;;
    *) echo "lab_bench.sh: unknown option '$1'" >&2; usage ;;
  esac
done
# --quick also shortens the CPU speed check and drops h2load's warm-up second, so that a
# smoke run of every row stays under two minutes.
spin_iterations=3000000 h2load_warmup=(--warm-up-time=1)
if ((quick)); then runs=1 duration=2 spin_iterations=1000000 h2load_warmup=(); fi
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "lab_bench.sh: --runs must be 1-99" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]{0,2}$ ]] || { echo "lab_bench.sh: --duration must be 1-999 s" >&2; exit 2; }
[[ $xdp_mode == native || $xdp_mode == skb ]] || { echo "lab_bench.sh: --xdp-mode native|skb" >&2; exit 2; }
if ((profile)) && ! command -v perf >/dev/null 2>&1; then
  echo "lab_bench.sh: --perf needs perf (Debian's linux-perf)" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "lab_bench.sh: needs root (namespaces, veth, XDP, AF_XDP)" >&2
  exit 77
fi
missing=()
for tool in ip ethtool taskset timeout nginx haproxy wrk h2load curl awk sha256sum setsid jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "lab_bench.sh: missing ${missing[*]} (deploy/install-deps.sh installs them)" >&2
  exit 1
fi
# wrk with 1024 connections and nginx each need more descriptors than a default shell has.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

started=$(date +%s)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
log() { echo "[$(($(date +%s) - started))s] $*" >&2; }

# --- Build ---------------------------------------------------------------------------------
if ((do_build)); then
  log "building flowgate, xdp_reflector, udp_echo_client in $build_dir"
  if [[ ! -f $build_dir/build.ninja ]]; then
    cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
      { echo "lab_bench.sh: cmake failed" >&2; exit 1; }
  fi
  ninja -C "$build_dir" -j2 flowgate xdp_reflector udp_echo_client >/dev/null ||
    { echo "lab_bench.sh: build failed (ninja -C $build_dir flowgate xdp_reflector udp_echo_client)" >&2; exit 1; }
fi
flowgate=$build_dir/apps/flowgate
reflector=$build_dir/tests/bench/lab/xdp_reflector
udp_client=$build_dir/tests/bench/lab/udp_echo_client
for b in "$flowgate" "$reflector" "$udp_client"; do
  [[ -x $b ]] || { echo "lab_bench.sh: $b is missing (build it, or drop --no-build)" >&2; exit 1; }
done
if "$flowgate" bench --help 2>&1 | grep -q -- '--mode'; then have_bench=1; else have_bench=0; fi

# --- Names, cleanup -------------------------------------------------------------------------
tag=flb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)
gw_ns=$tag-g peer_ns=$tag-p gw_if=$tag-gw peer_if=$tag-pr instance=$tag
readonly FG_IP=198.18.0.1 PEER_IP=198.18.0.2 KERNEL_IP=198.18.0.3 BACKEND_IP=198.18.0.4
readonly BENCH_SOURCES=198.18.0.100-198.18.0.115
readonly SERVER_CPU=1 CLIENT_CPU=0
work=$(mktemp -d /tmp/lab-bench.XXXXXX)
fg_pid="" nginx_pid="" backend_pid="" haproxy_pid="" reflector_pid=""

stop_pid() {  # stop_pid PID: SIGTERM, up to 10 s, then SIGKILL to its process group
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
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
  stop_pid "$fg_pid"
  stop_pid "$reflector_pid"
  stop_pid "$haproxy_pid"
  stop_pid "$nginx_pid"
  stop_pid "$backend_pid"
  for ns in "$gw_ns" "$peer_ns"; do
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086
    [[ -z $pids ]] || { kill -KILL $pids 2>/dev/null; sleep 0.2; }
    ip netns del "$ns" 2>/dev/null
  done
  rm -f "/dev/shm/flowgate.$instance"
  if ((rc == 0 && !keep_logs)); then rm -rf "$work"; else echo "lab_bench.sh: logs in $work" >&2; fi
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
die() {
  echo "lab_bench.sh: $*" >&2
  exit 1
}

# --- The lab ------------------------------------------------------------------------------
log "lab $tag: namespaces $gw_ns (flowgate $FG_IP, kernel $KERNEL_IP) and $peer_ns"
{ ip netns add "$gw_ns" && ip netns add "$peer_ns"; } || die "cannot create the namespaces"
ip link add "$gw_if" netns "$gw_ns" type veth peer name "$peer_if" netns "$peer_ns" ||
  die "cannot create the veth pair"
gw ip link set lo up
# The kernel on the gateway side: no IPv6 (no link-local chatter), ARP answers only for the
# addresses it has on that interface (arp_ignore=1: flowgate's .1 is not one of them) and
# announced from the matching address (arp_announce=2), no forwarding of .1's frames.
for k in "conf/all/arp_ignore 1" "conf/$gw_if/arp_ignore 1" "conf/all/arp_announce 2" \
  "conf/$gw_if/arp_announce 2" "conf/$gw_if/forwarding 0" "ip_forward 0"; do
  gw sh -c "echo ${k#* } >/proc/sys/net/ipv4/${k% *}" || die "cannot set net.ipv4.${k% *}"
done
gw sh -c "echo 1 >/proc/sys/net/ipv6/conf/$gw_if/disable_ipv6" 2>/dev/null
gw sh -c 'echo 8192 >/proc/sys/net/core/somaxconn; echo 8192 >/proc/sys/net/ipv4/tcp_max_syn_backlog'
# Checksum and segmentation offloads off on both ends (DESIGN.md, "Lab").
gw ethtool -K "$gw_if" tx off tso off gso off gro off >/dev/null 2>&1 || die "ethtool on $gw_if failed"
peer ethtool -K "$peer_if" tx off tso off gso off >/dev/null 2>&1 || die "ethtool on $peer_if failed"
gw ip addr add "$KERNEL_IP/24" dev "$gw_if"
gw ip link set "$gw_if" up
peer ip link set lo up
peer sh -c "echo 1 >/proc/sys/net/ipv6/conf/$peer_if/disable_ipv6" 2>/dev/null
peer sh -c 'echo "1024 65535" >/proc/sys/net/ipv4/ip_local_port_range; echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse;
  echo 8192 >/proc/sys/net/core/somaxconn'
peer ip addr add "$PEER_IP/24" dev "$peer_if"
peer ip addr add "$BACKEND_IP/24" dev "$peer_if"
peer ip link set "$peer_if" up
gw_mac=$(gw cat "/sys/class/net/$gw_if/address")
# flowgate and the reflector both use G's MAC for .1: a fixed entry spares the peer an ARP
# round after every switch between them.
peer ip neigh replace "$FG_IP" lladdr "$gw_mac" dev "$peer_if" nud permanent

# --- The response: the same bytes from every server ------------------------------------------
readonly BODY_BYTES=1024
body_line="flowgate fixed response body 0123456789abcdefghijklmnopqrstuvwx"  # + \n: 64 bytes
: >"$work/body"
for ((i = 0; i < BODY_BYTES / 64; i++)); do echo "$body_line" >>"$work/body"; done
body_sha=$(sha256sum <"$work/body" | cut -d' ' -f1)

nginx_conf() {  # nginx_conf NAME ADDRESS: an nginx with one worker answering the body
  local dir=$work/$1
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {
    listen $2:80 backlog=8192;
    location / {
      default_type "text/plain; charset=utf-8";
      return 200 "$(cat "$work/body")
";
    }
  }
}
EOF
}
# The heredoc above drops the body's last newline ($(...) strips it); the literal newline
# before the closing quote puts it back, which the checksum below verifies.

start_nginx() {  # start_nginx NAME NS CPU ADDRESS: prints its pid
  nginx_conf "$1" "$4"
  setsid ip netns exec "$2" taskset -c "$3" nginx -c "$work/$1/nginx.conf" -e "$work/$1/error.log" \
    >"$work/$1/stdout" 2>&1 &
  echo $!
}

check_body() {  # check_body URL WHAT: the answer's bytes are the body's
  local got
  got=$(peer timeout 5 curl -sf "$1" | sha256sum | cut -d' ' -f1)
  [[ $got == "$body_sha" ]] || die "$2 at $1 does not answer the $BODY_BYTES-byte body (sha256 $got)"
}

# --- flowgate, HAProxy, the reflector ---------------------------------------------------------
cat >"$work/flowgate.yaml" <<EOF
instance: $instance
interface: $gw_if
address: $FG_IP/24
workers: 1
xdp_mode: $xdp_mode
drain_timeout: 1s
management: off
listeners:
  - name: web
    port: 80
    app: http
    backlog: 8192
    http:
      response: {status: 200, body_bytes: $BODY_BYTES, content_type: text/plain; charset=utf-8}
      max_requests_per_connection: 0
  - {name: relay, port: 8000, backlog: 8192, app: proxy, proxy: {pool: backend}}
  - {name: echo-udp, protocol: udp, port: 7, app: echo}
pools:
  - name: backend
    backends:
      - {address: $BACKEND_IP:80}
EOF
"$flowgate" check --config "$work/flowgate.yaml" >"$work/check.out" 2>&1 ||
  die "flowgate check refused the configuration: $(cat "$work/check.out")"

start_flowgate() {
  setsid ip netns exec "$gw_ns" taskset -c "$SERVER_CPU" "$flowgate" run --config "$work/flowgate.yaml" \
    >>"$work/flowgate.out" 2>>"$work/flowgate.err" &
  fg_pid=$!
  wait_for 20 peer curl -sf -o /dev/null "http://$FG_IP/" ||
    die "flowgate did not answer on $FG_IP:80: $(tail -n 5 "$work/flowgate.err")"
}
stop_flowgate() { stop_pid "$fg_pid"; fg_pid=""; }

start_reflector() {
  setsid ip netns exec "$gw_ns" taskset -c "$SERVER_CPU" "$reflector" --interface "$gw_if" \
    --address "$FG_IP" --port 7 --xdp-mode "$xdp_mode" --duration 900 \
    >>"$work/reflector.out" 2>>"$work/reflector.err" &
  reflector_pid=$!
  wait_for 10 grep -q "xdp_reflector: $FG_IP on" "$work/reflector.err" ||
    die "xdp_reflector did not start: $(tail -n 5 "$work/reflector.err")"
}
stop_reflector() { stop_pid "$reflector_pid"; reflector_pid=""; }

cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 9000
defaults
  mode tcp
  timeout connect 3s
  timeout client 60s
  timeout server 60s
frontend relay
  bind $KERNEL_IP:8000 backlog 8192
  default_backend backend
backend backend
  server nginx $BACKEND_IP:80
EOF

log "starting the backend nginx ($BACKEND_IP, CPU $CLIENT_CPU), nginx and HAProxy ($KERNEL_IP, CPU $SERVER_CPU), flowgate ($FG_IP, CPU $SERVER_CPU)"
backend_pid=$(start_nginx backend "$peer_ns" "$CLIENT_CPU" "$BACKEND_IP")
nginx_pid=$(start_nginx nginx "$gw_ns" "$SERVER_CPU" "$KERNEL_IP")
setsid ip netns exec "$gw_ns" taskset -c "$SERVER_CPU" haproxy -db -f "$work/haproxy.cfg" \
  >"$work/haproxy.out" 2>&1 &
haproxy_pid=$!
wait_for 10 peer curl -sf -o /dev/null "http://$BACKEND_IP/" || die "backend nginx did not start: $(cat "$work/backend/error.log")"
wait_for 10 peer curl -sf -o /dev/null "http://$KERNEL_IP/" || die "nginx did not start: $(cat "$work/nginx/error.log")"
wait_for 10 peer curl -sf -o /dev/null "http://$KERNEL_IP:8000/" || die "HAProxy did not start: $(cat "$work/haproxy.out")"
start_flowgate
check_body "http://$BACKEND_IP/" "the backend nginx"
check_body "http://$KERNEL_IP/" nginx
check_body "http://$FG_IP/" flowgate
check_body "http://$KERNEL_IP:8000/" "HAProxy"
check_body "http://$FG_IP:8000/" "flowgate's proxy"
log "every server answers the same $BODY_BYTES-byte body"

# --- Measuring ------------------------------------------------------------------------------
# The CPU time, in ms, of a fixed amount of work on one CPU: the CPU speed check before
# every run. CPU time rather than wall time, so that another process on that CPU (the other
# helpers' builds on a shared machine) does not pass for a change of speed.
spin_ms() {
  local TIMEFORMAT='%3U %3S'
  { time taskset -c "$1" awk -v n="$spin_iterations" 'BEGIN { for (i = 0; i < n; i++) s += i }'; } 2>&1 |
    awk '{ printf "%d", 1000 * ($1 + $2) }'
}

# CPU ticks (user + system) used so far by the processes of the sessions given.
session_ticks() {
  local sid total=0 pid t
  for sid in "$@"; do
    [[ -n $sid ]] || continue
    for pid in $(ps -o pid= -s "$sid" 2>/dev/null); do
      t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) || continue
      total=$((total + ${t:-0}))
    done
  done
  echo "$total"
}

# run_client OUT CMD...: runs a client in the peer namespace on the client CPU, bounded, and
# writes its output to OUT, "cpu USER SYS REAL" (its own CPU time) to OUT.time and the
# servers' CPU share over the run (every server process, idle ones add nothing) to
# OUT.server.
run_client() {
  local out=$1
  shift
  local TIMEFORMAT='cpu %U %S %R' t0 t1 ticks0 ticks1
  local perf_pid=""
  ticks0=$(session_ticks "$fg_pid" "$reflector_pid" "$nginx_pid" "$haproxy_pid")
  if ((profile)); then
    perf record -q -g -F 1999 -C "$SERVER_CPU" -o "$out.perf.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  t0=$(date +%s%N)
  { time timeout $((duration + 30)) ip netns exec "$peer_ns" taskset -c "$CLIENT_CPU" "$@" \
    >"$out" 2>&1; } 2>"$out.time"
  t1=$(date +%s%N)
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" 2>/dev/null
    wait "$perf_pid" 2>/dev/null
  fi
  ticks1=$(session_ticks "$fg_pid" "$reflector_pid" "$nginx_pid" "$haproxy_pid")
  awk -v d=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v ns=$((t1 - t0)) \
    'BEGIN { printf "%.0f", 100 * d / hz / (ns / 1e9) }' >"$out.server"
}
client_share() {  # client_share OUT: the client's CPU time over its wall time, in %
  awk '/^cpu / && $4 > 0 { printf "%.0f", 100 * ($2 + $3) / $4 }' "$1.time"
}

# Each measure_* prints "VALUE" on success or "invalid: REASON", and leaves the client's
# output in $1.
measure_wrk() {  # OUT URL CONNECTIONS [HEADER]
  local out=$1 url=$2 conns=$3 header=${4:-}
  local args=(wrk -t1 -c"$conns" -d"${duration}s" --timeout 5s)
  [[ -n $header ]] && args+=(-H "$header")
  run_client "$out" "${args[@]}" "$url"
  local rate errors non2xx
  rate=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  errors=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$out")
  if [[ -z $rate ]]; then
    echo "invalid: wrk printed no rate"
  elif [[ -n $errors && $errors != 0 ]]; then
    echo "invalid: wrk socket errors $(grep 'Socket errors' "$out" | sed 's/^ *//')"
  elif [[ -n $non2xx && $non2xx != 0 ]]; then
    echo "invalid: $non2xx non-2xx answers"
  else
    echo "$rate"
  fi
}

# h2load at a fixed rate: CONNECTIONS clients at RATE/CONNECTIONS requests/s each; the
# latencies come from its per-request log (h2load prints no percentiles itself). It measures
# from when a request is sent, not when it was due: a stalled server hides some delay.
measure_h2load() {  # OUT URL RATE -> "P50_US P99_US"
  local out=$1 url=$2 rate=$3 conns=64
  local per=$(((rate + conns - 1) / conns))
  run_client "$out" h2load --h1 -t1 -c"$conns" --rps="$per" -D "$duration" "${h2load_warmup[@]}" \
    --log-file="$out.log" "$url"
  local done_ok failed errored timeouts codes2xx
  read -r done_ok failed errored timeouts < <(awk '/^requests:/ {
      for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^succeeded/) s = $i; if ($(i+1) ~ /^failed/) f = $i;
        if ($(i+1) ~ /^errored/) e = $i; if ($(i+1) ~ /^timeout/) t = $i }
      print s + 0, f + 0, e + 0, t + 0 }' "$out")
  codes2xx=$(awk '/^status codes:/ { print $3 + 0 }' "$out")
  if [[ -z ${done_ok:-} || $done_ok == 0 || ! -s $out.log ]]; then
    echo "invalid: h2load completed nothing"
  elif ((failed + errored + timeouts > 0)) || [[ $codes2xx != "$done_ok" ]]; then
    echo "invalid: h2load failed $failed errored $errored timeout $timeouts, 2xx $codes2xx of $done_ok"
  else
    # The rate held must be within 10% of the one asked: a server that fell behind is not
    # measured at that rate.
    local held
    held=$(awk -v d="$duration" '$2 == 200 { n++ } END { printf "%.0f", n / d }' "$out.log")
    if ((held * 10 < rate * 9)); then
      echo "invalid: held $held requests/s of $rate"
    else
      awk '$2 == 200 { print $3 }' "$out.log" | sort -n | awk '{ v[NR] = $1 } END {
        p50 = v[int(NR * 0.50 + 0.5)]; p99 = v[int(NR * 0.99 + 0.5)]; print p50, p99 }'
    fi
  fi
}

measure_udp() {  # OUT TARGET
  run_client "$1" "$udp_client" --target "$2" --source "$PEER_IP" --outstanding 128 --payload 64 \
    --duration "$duration"
  local rate sent received
  read -r sent received rate < <(awk '{ for (i = 1; i < NF; i++) { if ($i == "sent") s = $(i+1);
    if ($i == "received") r = $(i+1); if ($i == "echoes_per_s") e = $(i+1) } } END { print s, r, e }' "$1")
  if [[ -z ${rate:-} || ${received:-0} == 0 ]]; then
    echo "invalid: no echo came back (${sent:-0} sent)"
  else
    echo "$rate"
  fi
}

# flowgate bench as the client: its JSON gives the rate, the errors and its own CPU time.
measure_bench() {  # OUT MODE TARGET CONNECTIONS [EXTRA...]
  local out=$1 mode=$2 target=$3 conns=$4
  shift 4
  run_client "$out" "$flowgate" bench --interface "$peer_if" --xdp-mode "$xdp_mode" \
    --source "$BENCH_SOURCES" --target "$target" --mode "$mode" --connections "$conns" \
    --duration "$duration" --json "$@"
  local json
  json=$(grep '^{' "$out" | tail -n 1)
  if [[ -z $json ]] || ! jq -e . >/dev/null 2>&1 <<<"$json"; then
    echo "invalid: flowgate bench printed no JSON ($(tail -n 1 "$out"))"
    return
  fi
  local errors responses rate
  # errors is {"total": N, KIND: N, ...}; a connection that never opened is a failure too.
  errors=$(jq '(if (.errors | type) == "object" then .errors.total // ([.errors[]] | add)
    else .errors end // 0) + (.connect_failures // 0)' <<<"$json")
  responses=$(jq '.responses // 0' <<<"$json")
  rate=$(jq '.requests_per_s // 0' <<<"$json")
  # Its own CPU time replaces the wall-clock share bash measured around it.
  jq -r --argjson d "$duration" '"cpu \(.cpu_user_s) \(.cpu_sys_s) \(.duration_s // $d)"' \
    <<<"$json" >"$out.time"
  if [[ $errors != 0 ]]; then
    echo "invalid: flowgate bench errors $(jq -c '{errors, connect_failures}' <<<"$json")"
  elif [[ $responses == 0 ]]; then
    echo "invalid: flowgate bench got no response"
  elif [[ $* == *--rate* ]]; then
    jq -r '"\(.latency_p50_us) \(.latency_p99_us)"' <<<"$json"
  else
    echo "$rate"
  fi
}

# --- Rows -----------------------------------------------------------------------------------
# Each result: rows/<id>.{a,b} hold one line per run: "VALUE SHARE SPIN0 SPIN1" (VALUE may
# be two numbers for latency) or "invalid: ...".
mkdir -p "$work/rows"
declare -a row_ids=()
declare -A row_title=() row_goal=() row_peer=() row_better=()

# pair_row ID TITLE PEER GOAL BETTER MEASURE_A MEASURE_B: N alternated pairs. MEASURE_* are
# function names called with the output file; BETTER is "higher" or "lower" (for the ratio
# test against GOAL, a number: flowgate/peer >= GOAL, or <= GOAL when lower is better).
pair_row() {
  local id=$1 i side order s0 s1 v
  [[ -z $only_rows || $only_rows == *",$id,"* ]] || return 0
  row_ids+=("$id")
  row_title[$id]=$2 row_peer[$id]=$3 row_goal[$id]=$4 row_better[$id]=$5
  : >"$work/rows/$id.a"
  : >"$work/rows/$id.b"
  for ((i = 1; i <= runs; i++)); do
    if ((i % 2)); then order="a b"; else order="b a"; fi
    for side in $order; do
      s0=$(spin_ms "$CLIENT_CPU")
      s1=$(spin_ms "$SERVER_CPU")
      local fn=$6
      [[ $side == b ]] && fn=$7
      # Not in a subshell: a measurement may start or stop a server (the UDP row).
      $fn "$work/rows/$id.$side.$i" >"$work/rows/$id.$side.$i.result"
      v=$(<"$work/rows/$id.$side.$i.result")
      local who=flowgate
      [[ $side == b ]] && who=${row_peer[$id]}
      if [[ $v == invalid* ]]; then
        echo "$v" >>"$work/rows/$id.$side"
        log "  $id run $i $who: $v"
      else
        echo "$v $(client_share "$work/rows/$id.$side.$i") $s0 $s1 $(<"$work/rows/$id.$side.$i.server")" \
          >>"$work/rows/$id.$side"
        log "  $id run $i $who: $v (client CPU $(client_share "$work/rows/$id.$side.$i")%," \
          "server CPU $(<"$work/rows/$id.$side.$i.server")%, spin $s0/$s1 ms)"
      fi
    done
  done
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The measurements, named for pair_row.
m_fg_ka64() { measure_wrk "$1" "http://$FG_IP/" 64; }
m_ng_ka64() { measure_wrk "$1" "http://$KERNEL_IP/" 64; }
m_fg_ka1k() { measure_wrk "$1" "http://$FG_IP/" 1024; }
m_ng_ka1k() { measure_wrk "$1" "http://$KERNEL_IP/" 1024; }
m_fg_close() { measure_wrk "$1" "http://$FG_IP/" 64 "Connection: close"; }
m_ng_close() { measure_wrk "$1" "http://$KERNEL_IP/" 64 "Connection: close"; }
m_fg_lat() { measure_h2load "$1" "http://$FG_IP/" "$fixed_rate"; }
m_ng_lat() { measure_h2load "$1" "http://$KERNEL_IP/" "$fixed_rate"; }
m_fg_proxy() { measure_wrk "$1" "http://$FG_IP:8000/" 64; }
m_ha_proxy() { measure_wrk "$1" "http://$KERNEL_IP:8000/" 64; }
# UDP: flowgate and the reflector cannot share .1's queue, so each run switches them.
m_fg_udp() {
  [[ -n $fg_pid ]] || { stop_reflector; start_flowgate; }
  measure_udp "$1" "$FG_IP:7"
}
m_rf_udp() {
  [[ -n $reflector_pid ]] || { stop_flowgate; start_reflector; }
  measure_udp "$1" "$FG_IP:7"
}
b_fg_ka64() { measure_bench "$1" http-keepalive "$FG_IP:80" 64; }
b_ng_ka64() { measure_bench "$1" http-keepalive "$KERNEL_IP:80" 64; }
b_fg_ka1k() { measure_bench "$1" http-keepalive "$FG_IP:80" 1024; }
b_ng_ka1k() { measure_bench "$1" http-keepalive "$KERNEL_IP:80" 1024; }
b_fg_close() { measure_bench "$1" http-close "$FG_IP:80" 64; }
b_ng_close() { measure_bench "$1" http-close "$KERNEL_IP:80" 64; }
b_fg_lat() { measure_bench "$1" http-keepalive "$FG_IP:80" 64 --rate "$bench_rate"; }
b_ng_lat() { measure_bench "$1" http-keepalive "$KERNEL_IP:80" 64 --rate "$bench_rate"; }
b_fg_proxy() { measure_bench "$1" http-keepalive "$FG_IP:8000" 64; }
b_ha_proxy() { measure_bench "$1" http-keepalive "$KERNEL_IP:8000" 64; }
b_fg_udp() {
  [[ -n $fg_pid ]] || { stop_reflector; start_flowgate; }
  measure_bench "$1" udp-echo "$FG_IP:7" 128 --payload 64
}
b_rf_udp() {
  [[ -n $reflector_pid ]] || { stop_flowgate; start_reflector; }
  measure_bench "$1" udp-echo "$FG_IP:7" 128 --payload 64
}

valid_median() {  # valid_median FILE FIELD: the median of FIELD over the runs, or nothing if any failed
  grep -q '^invalid' "$1" && return 1
  awk -v f="$2" '{ print $f }' "$1" | median
}

# --- Run ------------------------------------------------------------------------------------
log "$runs pair(s) per row, $duration s per run; servers on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU"
log "row: keep-alive, 64 connections (wrk)"
pair_row ka64 "keep-alive req/s, 64 conns (wrk)" nginx 1.3 higher m_fg_ka64 m_ng_ka64
log "row: keep-alive, 1024 connections (wrk)"
pair_row ka1k "keep-alive req/s, 1024 conns (wrk)" nginx 1.3 higher m_fg_ka1k m_ng_ka1k
log "row: new connection per request (wrk, Connection: close)"
pair_row close "new connection per request req/s (wrk)" nginx 1.5 higher m_fg_close m_ng_close
nginx_max=$(valid_median "$work/rows/ka64.b" 1 || true)
if [[ -n $nginx_max ]]; then
  fixed_rate=$(awk -v m="$nginx_max" 'BEGIN { printf "%d", m / 2 }')
  log "row: latency at $fixed_rate requests/s (h2load, half of nginx's keep-alive median)"
  pair_row lat "latency at $fixed_rate req/s (h2load), us" nginx 0.5 lower m_fg_lat m_ng_lat
else
  log "row: latency skipped: nginx's keep-alive rate is not valid, so there is no fixed rate"
fi
log "row: the proxy vs HAProxy in TCP mode (wrk, 64 connections)"
pair_row proxy "proxy req/s, 64 conns (wrk)" "HAProxy tcp" "" higher m_fg_proxy m_ha_proxy
log "row: UDP echo (udp_echo_client, 128 outstanding 64-byte datagrams)"
pair_row udp "UDP echo pkt/s (kernel client)" reflector 0.8 higher m_fg_udp m_rf_udp
stop_reflector
[[ -n $fg_pid ]] || start_flowgate

if ((have_bench)); then
  log "the same rows with flowgate bench as the client (sources $BENCH_SOURCES)"
  pair_row bka64 "keep-alive req/s, 64 conns (flowgate bench)" nginx 3 higher b_fg_ka64 b_ng_ka64
  pair_row bka1k "keep-alive req/s, 1024 conns (flowgate bench)" nginx 3 higher b_fg_ka1k b_ng_ka1k
  pair_row bclose "new connection per request req/s (flowgate bench)" nginx 5 higher b_fg_close b_ng_close
  bench_max=$(valid_median "$work/rows/bka64.b" 1 || true)
  if [[ -n $bench_max ]]; then
    bench_rate=$(awk -v m="$bench_max" 'BEGIN { printf "%d", m / 2 }')
    pair_row blat "latency at $bench_rate req/s (flowgate bench), us" nginx "" lower b_fg_lat b_ng_lat
  fi
  pair_row bproxy "proxy req/s, 64 conns (flowgate bench)" "HAProxy tcp" 3 higher b_fg_proxy b_ha_proxy
  pair_row budp "UDP echo pkt/s (flowgate bench)" reflector 0.8 higher b_fg_udp b_rf_udp
  stop_reflector
else
  log "flowgate bench not available in $flowgate: its rows are skipped"
fi

# --- The table ------------------------------------------------------------------------------
fmt() { awk -v v="$1" 'BEGIN { if (v == "") print "—"; else if (v >= 100) printf "%.0f", v; else printf "%.2f", v }'; }

# table_line ID TITLE FIELD GOAL BETTER
table_line() {
  local id=$1 title=$2 field=$3 goal=$4 better=$5 a b ratio holds share server notes=""
  local fa=$work/rows/$id.a fb=$work/rows/$id.b bad
  bad=$(grep -h '^invalid' "$fa" "$fb" | head -n 1)
  a=$(valid_median "$fa" "$field" || true)
  b=$(valid_median "$fb" "$field" || true)
  # Fields: VALUE SHARE SPIN0 SPIN1 SERVER, or P50 P99 SHARE SPIN0 SPIN1 SERVER for latency.
  local share_field=2
  [[ $id == lat || $id == blat ]] && share_field=3
  local sa sb
  sa=$(valid_median "$fa" "$share_field" || true)
  sb=$(valid_median "$fb" "$share_field" || true)
  share="${sa:-—}% / ${sb:-—}%"
  local va vb
  va=$(valid_median "$fa" $((share_field + 3)) || true)
  vb=$(valid_median "$fb" $((share_field + 3)) || true)
  server="${va:-—}% / ${vb:-—}%"
  if [[ -n $bad ]]; then
    ratio="—" holds="invalid: ${bad#invalid: }"
    a=$(grep -v '^invalid' "$fa" | awk -v f="$field" '{ print $f }' | median)
    b=$(grep -v '^invalid' "$fb" | awk -v f="$field" '{ print $f }' | median)
    notes="$(grep -c '^invalid' "$fa") + $(grep -c '^invalid' "$fb") of $runs + $runs runs failed"
  else
    ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
    if [[ -z $goal ]]; then
      holds="—"
    elif [[ $better == higher ]]; then
      holds=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r >= g) ? "yes" : "no" }')
    else
      holds=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r <= g) ? "yes" : "no" }')
    fi
    # CPU speed: the spin timings before A and B of each pair (fields after the share).
    local sf=$((share_field + 1)) moved
    moved=$(paste -d' ' "$fa" "$fb" | awk -v sf="$sf" -v n="$(awk '{ print NF; exit }' "$fa")" '{
        a0 = $sf; a1 = $(sf + 1); b0 = $(n + sf); b1 = $(n + sf + 1)
        if (a0 > 0 && b0 > 0 && (a0 / b0 > 1.1 || b0 / a0 > 1.1)) { m++; next }
        if (a1 > 0 && b1 > 0 && (a1 / b1 > 1.1 || b1 / a1 > 1.1)) m++
      } END { print m + 0 }')
    ((moved > 0)) && notes="CPU speed moved > 10% in $moved of $runs pairs"
  fi
  local goal_text="—"
  if [[ -n $goal ]]; then
    [[ $better == higher ]] && goal_text="≥ ${goal}×" || goal_text="≤ ${goal}×"
  fi
  [[ $ratio != "—" && -n $ratio ]] && ratio="${ratio}×"
  echo "| $title | $(fmt "$a") | $(fmt "$b") ${row_peer[$id]} | ${ratio:-—} | $goal_text | $holds | $share | $server | $notes |"
}

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (working tree modified)")
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
  echo "## Lab benchmark: flowgate (1 worker) vs the kernel stack"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu_model), Linux $(uname -r), commit $commit${dirty:-}."
  echo "$runs alternated pair(s) per row, $duration s per run, XDP $xdp_mode on a veth pair;"
  echo "servers on CPU $SERVER_CPU, clients (and the proxy's backend nginx) on CPU $CLIENT_CPU;"
  echo "a $BODY_BYTES-byte body from every server. Medians; ratio = flowgate / peer."
  echo "Binaries from $build_dir. Load average at the start $load_at_start, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "(above 2 on these 2 CPUs, other work shared them with the benchmark)."
  echo "CPU shares: CPU time over run time, 100% = one core (in flowgate's / the peer's runs);"
  echo "the server's counts every process of it (flowgate: supervisor, I/O process, worker)."
  echo
  echo "| row | flowgate | peer | ratio | goal | holds? | client CPU share | server CPU share | notes |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for id in "${row_ids[@]}"; do
    case $id in
      lat | blat)
        table_line "$id" "${row_title[$id]/, us/} p50, µs" 1 "" lower
        table_line "$id" "${row_title[$id]/, us/} p99, µs" 2 "${row_goal[$id]}" lower
        ;;
      *) table_line "$id" "${row_title[$id]}" 1 "${row_goal[$id]}" "${row_better[$id]}" ;;
    esac
  done
  ((have_bench)) || echo "| flowgate bench rows | — | — | — | — | flowgate bench not available | — | — | skipped |"
} | tee "$work/table.md"
log "done in $(($(date +%s) - started)) s"
invalid_rows=$(grep -l '^invalid' "$work"/rows/*.a "$work"/rows/*.b 2>/dev/null | sed 's|.*/||; s|\.[ab]$||' | sort -u | tr '\n' ' ')
if [[ -n $invalid_rows ]]; then
  echo "lab_bench.sh: rows without a valid measurement: $invalid_rows(their runs' output is kept)" >&2
  exit 1
fi
exit 0
}

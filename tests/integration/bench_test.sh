#!/usr/bin/env bash
# `flowgate bench` against a real gateway: `flowgate run` (2 workers) with an http listener
# answering a fixed response on 198.18.0.1:80 and UDP echo on port 7, and the bench inside
# the peer namespace on the peer veth with its own stacks for 198.18.0.10-198.18.0.13 (the
# peer kernel keeps 198.18.0.2). Each mode is bounded (a few seconds, a few hundred
# connections). Checks:
#   - http-keepalive: responses == requests > 0, 0 errors, every connection established,
#     and the gateway's own count of HTTP 200 responses grew by exactly bench's requests;
#   - http-close: the same, one connection per request;
#   - udp-echo: echoes counted, responses == requests, and the gateway counted them;
#   - idle: 2000 connections opened at the default 50k/s (the gateway answers most with SYN
#     cookies), held 2 s, and each answered one request at the end;
#   - --rate: the achieved rate within 10% of the target, p50 <= p99 <= p999;
#   - the peer kernel's own traffic still works while bench runs (ping 198.18.0.1 from
#     198.18.0.2: the XDP program passes what is not the bench's);
#   - usage errors exit 2 with the option named; no XDP program is left on the peer veth.
#
#   bench_test.sh PATH/TO/flowgate
# Needs root (exit 77 without). Every command is bounded by `timeout`; a trap stops the
# gateway and removes the lab however the script ends.
set -uo pipefail

flowgate=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
readonly SOURCES=198.18.0.10-198.18.0.13
if [[ -z $flowgate || ! -x $flowgate ]]; then
  echo "usage: $0 PATH/TO/flowgate" >&2
  exit 2
fi
flowgate=$(cd "$(dirname "$flowgate")" && pwd)/$(basename "$flowgate")
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool timeout setsid ping awk jq

begin_lab_test bench
lab_up_or_exit 1

cat >"$work/flowgate.yaml" <<EOF
instance: $instance
interface: $LAB_GATEWAY_IF
address: $GW_IP/24
workers: 2
xdp_mode: native
drain_timeout: 2s
management: off
listeners:
  - name: web
    port: 80
    app: http
    backlog: 4096
    http:
      response:
        body: "hello from flowgate bench test\n"
        content_type: text/plain
  - {name: echo-udp, protocol: udp, port: 7, app: echo}
EOF
start_gateway "$work/flowgate.yaml" || finish

# bench NAME ARGS...: runs flowgate bench in the peer namespace (bpffs mounted there, since
# `ip netns exec` remounts /sys), JSON to $work/NAME.json, stderr to $work/NAME.err.
bench() {
  local name=$1
  shift
  timeout 60 ip netns exec "$LAB_NETNS" sh -c \
    'mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf; exec "$@"' sh \
    "$flowgate" bench --interface "$LAB_PEER_IF" --source "$SOURCES" --json "$@" \
    >"$work/$name.json" 2>"$work/$name.err"
}
field() { jq -r "$2" "$work/$1.json" 2>/dev/null; }
# The gateway's HTTP 200 responses (summed over the workers) and UDP echoes.
http_200() {
  refresh_stats
  awk '$1 ~ /^worker\.[0-9]+\.app\.http_requests_total\{listener=web,code=200\}$/ { n += $2 }
       END { print n + 0 }' "$work/stats.txt"
}
udp_echoed() {  # [WORKER]: summed over the workers, or one worker's
  refresh_stats
  awk -v w="${1:-[0-9]+}" '$1 ~ "^worker\\." w "\\.app\\.listener_datagrams_sent_total\\{listener=echo-udp\\}$" { n += $2 }
       END { print n + 0 }' "$work/stats.txt"
}

# check_run NAME: responses == requests > 0 and no error of any kind.
check_run() {
  local name=$1 req resp err cf
  req=$(field "$name" .requests)
  resp=$(field "$name" .responses)
  err=$(field "$name" .errors.total)
  cf=$(field "$name" .connect_failures)
  if [[ $req =~ ^[0-9]+$ ]] && ((req > 0 && resp == req && err == 0 && cf == 0)); then
    pass "$name: $resp responses to $req requests, 0 errors, $(field "$name" .requests_per_s) req/s"
  else
    fail "$name: requests '$req' responses '$resp' errors '$err' connect failures '$cf' ($(head -c 300 "$work/$name.json") $(head -c 300 "$work/$name.err"))"
  fi
}

# --- Usage errors --------------------------------------------------------------------------
"$flowgate" bench --interface x --source 198.18.0.10 --target $GW_IP:80 --mode nope \
  >"$work/usage.out" 2>&1
rc=$?
if ((rc == 2)) && grep -q -- "--mode: 'nope'" "$work/usage.out"; then
  pass "a bad --mode exits 2 naming it"
else
  fail "a bad --mode: status $rc, '$(head -c 200 "$work/usage.out")'"
fi

# --- The peer kernel's ping, all along -----------------------------------------------------
peer timeout 40 ping -i 0.2 -c 150 -W 1 $GW_IP >"$work/ping.out" 2>&1 &
ping_pid=$!
extra_cleanup() { kill "$ping_pid" 2>/dev/null; }

# --- http-keepalive ------------------------------------------------------------------------
before=$(http_200)
bench keepalive --target $GW_IP:80 --mode http-keepalive --connections 64 --duration 3
check_run keepalive
after=$(http_200)
if (($(field keepalive .connections_established) == 64)); then
  pass "keepalive: all 64 connections established"
else
  fail "keepalive: $(field keepalive .connections_established) of 64 connections established"
fi
if ((after - before == $(field keepalive .requests))); then
  pass "keepalive: the gateway counted $((after - before)) responses, bench $(field keepalive .requests) requests"
else
  fail "keepalive: the gateway counted $((after - before)) responses, bench $(field keepalive .requests) requests"
fi

# --- http-close ----------------------------------------------------------------------------
before=$(http_200)
bench close --target $GW_IP:80 --mode http-close --connections 32 --duration 3
check_run close
after=$(http_200)
if (($(field close .connections_established) == $(field close .requests))) &&
  ((after - before == $(field close .requests))); then
  pass "close: one connection per request ($(field close .connections_established)), the gateway counted $((after - before))"
else
  fail "close: $(field close .connections_established) connections, $(field close .requests) requests, gateway $((after - before))"
fi

# --- udp-echo ------------------------------------------------------------------------------
before=$(udp_echoed) before0=$(udp_echoed 0)
bench udp --target $GW_IP:7 --mode udp-echo --connections 64 --payload 100 --duration 3
check_run udp
after=$(udp_echoed) after0=$(udp_echoed 0)
if ((after - before == $(field udp .requests))) &&
  (($(field udp .bytes_in) == 100 * $(field udp .responses))); then
  pass "udp: the gateway echoed $((after - before)) datagrams of 100 bytes, bench sent $(field udp .requests)"
else
  fail "udp: the gateway echoed $((after - before)), bench sent $(field udp .requests), bytes_in $(field udp .bytes_in)"
fi
# 64 sockets from 4 source addresses: the flow hash spreads them over both workers (each
# worker gets a given flow with probability 1/2, so one idle worker means a broken hash or
# sockets that share a flow; 2^-63 by chance).
w0=$((after0 - before0)) w1=$((after - before - (after0 - before0)))
if ((w0 > 0 && w1 > 0)); then
  pass "udp: both workers echoed (worker 0 $w0, worker 1 $w1)"
else
  fail "udp: the datagrams did not spread over the workers (worker 0 $w0, worker 1 $w1)"
fi

# --- idle ----------------------------------------------------------------------------------
bench idle --target $GW_IP:80 --mode idle --connections 2000 --hold 2
if (($(field idle .connections_established) == 2000 && $(field idle .responses) == 2000 &&
  $(field idle .errors.total) == 0)); then
  pass "idle: 2000 connections held 2 s, each answered one request at the end"
else
  fail "idle: $(field idle .connections_established) established, $(field idle .responses) answered, errors $(field idle .errors.total) ($(head -c 400 "$work/idle.err"))"
fi

# --- --rate --------------------------------------------------------------------------------
bench rate --target $GW_IP:80 --mode http-keepalive --connections 32 --duration 3 --rate 2000
check_run rate
if jq -e '.requests_per_s >= 1800 and .requests_per_s <= 2200 and
          .latency_p50_us > 0 and .latency_p50_us <= .latency_p99_us and
          .latency_p99_us <= .latency_p999_us' "$work/rate.json" >/dev/null 2>&1; then
  pass "rate: $(field rate .requests_per_s) req/s for 2000, p50 $(field rate .latency_p50_us) <= p99 $(field rate .latency_p99_us) <= p999 $(field rate .latency_p999_us) us"
else
  fail "rate: $(head -c 400 "$work/rate.json")"
fi

# --- What the peer kernel saw, and what is left ------------------------------------------
wait "$ping_pid" 2>/dev/null
received=$(awk '/packets transmitted/ { print $4 }' "$work/ping.out")
if [[ $received =~ ^[0-9]+$ ]] && ((received >= 140)); then
  pass "the peer kernel's ping got $received of 150 replies while bench ran"
else
  fail "the peer kernel's ping: '$(tail -n 2 "$work/ping.out")'"
fi
if ip -n "$LAB_NETNS" -d link show dev "$LAB_PEER_IF" | grep -q 'prog/xdp'; then
  fail "bench left an XDP program on $LAB_PEER_IF"
else
  pass "no XDP program left on $LAB_PEER_IF"
fi

stop_gateway
finish

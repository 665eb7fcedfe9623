#!/usr/bin/env bash
# The proxy (the L4 gateway) on a real link, with real nginx backends and real HTTP clients:
# `flowgate run` on the gateway side of a veth pair, and in the peer's namespace four nginx
# instances (198.18.0.11-.14, port 80, each answering with its own name) and the clients
# (ab, wrk, curl from 64 source addresses 198.18.0.100-.163). Backend connections leave
# by flowgate's own link, so the peer namespace is both the clients' and the backends' side.
#
#   proxy_test.sh PATH/TO/flowgate [WORKERS]      (WORKERS: default 2)
#
# Checks:
#   - a request through the round-robin listener (:80) is answered by a backend;
#   - ab -n 10000 -c 16 through it: 10000 complete, 0 failed, 0 non-2xx; the backends'
#     access logs show an even spread (each within 10% of a third);
#   - Maglev (:81): each of 64 client addresses lands on one backend, every time; a SIGHUP
#     removing one of the 4 backends moves that backend's clients and (almost) no other;
#   - a 32 MiB download through the proxy (nginx sends it at 2 MiB/s: 16 s) survives
#     two SIGHUPs (the Maglev one and one adding a backend to the round-robin pool), with
#     the same sha256; after the second, new connections reach the added backend;
#   - nginx on .12 killed during a wrk run: marked down by every worker within
#     fall x interval (+ one timeout and scheduling slack), wrk's errors stay within the
#     connections that were on it, requests keep completing; restarted, it is marked up
#     after rise checks and serves again;
#   - the frame accounting balances, SIGTERM leaves nothing behind.
# Needs root (exit 77 without). Every wait is bounded; a trap stops the gateway and nginx
# and removes the lab however the script ends.
set -uo pipefail

flowgate=${1:-}
workers=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
readonly BACKENDS=(11 12 13 14)
readonly CLIENTS=64 # 198.18.0.100 ..
readonly BIG=$((32 * 1024 * 1024))
readonly CHECK_INTERVAL_MS=500 CHECK_TIMEOUT_MS=250 RISE=2 FALL=2

if [[ -z $flowgate || ! -x $flowgate || ! $workers =~ ^[1-9]$ ]]; then
  echo "usage: $0 PATH/TO/flowgate [WORKERS]" >&2
  exit 2
fi
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool timeout sha256sum setsid nginx ab wrk curl awk

begin_lab_test proxy
declare -A nginx_pid=()
extra_cleanup() {
  for b in "${!nginx_pid[@]}"; do stop_pid "${nginx_pid[$b]}" TERM 5 || true; done
  rm -f "$work"/www/big.bin "$work"/*.big
}

ms_now() { date +%s%3N; }

# --- nginx backends in the peer namespace -------------------------------------------------
start_nginx() {  # start_nginx N: nginx on 198.18.0.N:80 answering "backend-N"
  local n=$1 dir=$work/nginx-$1
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
# One process: killing it kills the backend (a master would leave its worker serving).
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  server {
    listen 198.18.0.$n:80 backlog=4096;
    location = / { default_type text/plain; return 200 "backend-$n\n"; }
    location = /big.bin { root $work/www; limit_rate 2m; }
  }
}
EOF
  ip netns exec "$LAB_NETNS" nginx -c "$dir/nginx.conf" -e "$dir/error.log" \
    >>"$dir/stdout.log" 2>&1 &
  nginx_pid[$n]=$!
  if ! wait_for 10 peer curl -sf -o /dev/null "http://198.18.0.$n/"; then
    fail "nginx on 198.18.0.$n did not start: $(tail -n 3 "$dir/error.log" 2>/dev/null)"
    return 1
  fi
}

access_count() { wc -l <"$work/nginx-$1/access.log" 2>/dev/null || echo 0; }

# --- configuration -------------------------------------------------------------------------
# write_config FILE RR_BACKENDS MAGLEV_BACKENDS (lists of last octets)
write_config() {
  local file=$1 rr=$2 mg=$3 b
  {
    cat <<EOF
instance: $instance
interface: $LAB_GATEWAY_IF
address: $GW_IP/24
workers: $workers
xdp_mode: native
drain_timeout: 2s
listeners:
  - {name: web, port: 80, backlog: 1024, app: proxy, proxy: {pool: rr, connect_timeout: 1s}}
  - {name: sticky, port: 81, app: proxy, proxy: {pool: mg}}
pools:
  - name: rr
    balance: round_robin
    health_check: {interval: ${CHECK_INTERVAL_MS}ms, timeout: ${CHECK_TIMEOUT_MS}ms, rise: $RISE, fall: $FALL}
    passive_ejection: {failures: 3, duration: 5s}
    backends:
EOF
    for b in $rr; do echo "      - {address: 198.18.0.$b:80}"; done
    cat <<EOF
  - name: mg
    balance: maglev
    backends:
EOF
    for b in $mg; do echo "      - {address: 198.18.0.$b:80}"; done
  } >"$file"
}

sighup_and_wait() {  # sighup_and_wait WHAT: SIGHUP, wait for "applied"
  local before
  before=$(grep -c "SIGHUP: applied" "$work/flowgate.err" 2>/dev/null)
  kill -HUP "$fg_pid"
  if wait_for 5 bash -c "(( \$(grep -c 'SIGHUP: applied' '$work/flowgate.err') > $before ))"; then
    pass "SIGHUP ($1): $(grep 'SIGHUP' "$work/flowgate.err" | tail -n 1)"
  else
    fail "SIGHUP ($1) not applied: $(tail -n 3 "$work/flowgate.err")"
  fi
}

# -------------------------------------------------------------------------------------------
log "$workers worker(s)"
lab_up_or_exit "$workers"
for b in "${BACKENDS[@]}"; do ip -n "$LAB_NETNS" addr add "198.18.0.$b/24" dev "$LAB_PEER_IF"; done
for ((i = 0; i < CLIENTS; i++)); do
  ip -n "$LAB_NETNS" addr add "198.18.0.$((100 + i))/24" dev "$LAB_PEER_IF"
done
mkdir -p "$work/www"
head -c "$BIG" /dev/urandom >"$work/www/big.bin"
big_sha=$(sha256sum <"$work/www/big.bin" | cut -d' ' -f1)
for b in "${BACKENDS[@]}"; do start_nginx "$b" || finish; done
pass "nginx backends on 198.18.0.{11,12,13,14}:80 in $LAB_NETNS"

write_config "$work/flowgate.yaml" "11 12 13" "11 12 13 14"
start_gateway "$work/flowgate.yaml" || finish
pass "gateway running with $workers workers"

# --- one request, then 10,000 ---------------------------------------------------------------
answer=$(peer timeout 10 curl -s "http://$GW_IP/")
if [[ $answer =~ ^backend-1[123]$ ]]; then
  pass "curl through the proxy: '$answer'"
else
  fail "curl through the proxy: got '$answer'"
fi

declare -A before_ab=()
for b in 11 12 13; do before_ab[$b]=$(access_count "$b"); done
peer timeout 300 ab -q -n 10000 -c 16 "http://$GW_IP/" >"$work/ab.out" 2>&1
complete=$(awk '/^Complete requests:/ { print $3 }' "$work/ab.out")
failed=$(awk '/^Failed requests:/ { print $3 }' "$work/ab.out")
non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' "$work/ab.out")
rate=$(awk '/^Requests per second:/ { print $4 }' "$work/ab.out")
if [[ $complete == 10000 && $failed == 0 && -z $non2xx ]]; then
  pass "ab -n 10000 -c 16 through the proxy: 10000 complete, 0 failed, 0 non-2xx ($rate requests/s)"
else
  fail "ab: complete '$complete', failed '$failed', non-2xx '${non2xx:-0}': $(tail -n 25 "$work/ab.out")"
fi
spread="" uneven=0
for b in 11 12 13; do
  got=$(($(access_count "$b") - before_ab[$b]))
  spread+="backend-$b $got, "
  # A third of 10000 is 3333: each within 10% of it.
  ((got >= 3000 && got <= 3667)) || uneven=1
done
if ((uneven)); then
  fail "round robin spread is uneven: ${spread%, }"
else
  pass "round robin spread: ${spread%, }"
fi

# --- Maglev: stickiness, then one backend of four removed -----------------------------------
maglev_round() {  # maglev_round OUT: one request from each client address, "address backend"
  local i addr
  : >"$1"
  for ((i = 0; i < CLIENTS; i++)); do
    addr=198.18.0.$((100 + i))
    echo "$addr $(peer timeout 5 curl -s --interface "$addr" "http://$GW_IP:81/")" >>"$1"
  done
}
maglev_round "$work/maglev.1"
maglev_round "$work/maglev.2"
maglev_round "$work/maglev.3"
if cmp -s "$work/maglev.1" "$work/maglev.2" && cmp -s "$work/maglev.1" "$work/maglev.3" &&
  ! grep -qv ' backend-1[1234]$' "$work/maglev.1"; then
  pass "maglev: each of $CLIENTS client addresses got the same backend 3 times of 3 ($(awk '{ print $2 }' "$work/maglev.1" | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }' | sed 's/, $//'))"
else
  fail "maglev: clients moved between rounds or failed: $(diff "$work/maglev.1" "$work/maglev.2" | head -n 5 | tr '\n' ' ') $(grep -v ' backend-1[1234]$' "$work/maglev.1" | head -n 3 | tr '\n' ' ')"
fi

# A long download through the round-robin listener while the pools are reloaded twice.
peer timeout 120 curl -s -o "$work/download.big" "http://$GW_IP/big.bin" &
download_pid=$!
sleep 1

write_config "$work/flowgate.yaml" "11 12 13" "11 12 13"
sighup_and_wait "maglev pool without backend-14"
maglev_round "$work/maglev.after"
on_removed=$(grep -c ' backend-14$' "$work/maglev.1")
moved=$(join <(sort "$work/maglev.1") <(sort "$work/maglev.after") | awk '$2 != $3' | wc -l)
moved_others=$(join <(sort "$work/maglev.1") <(sort "$work/maglev.after") |
  awk '$2 != $3 && $2 != "backend-14"' | wc -l)
failed_after=$(grep -cv ' backend-1[123]$' "$work/maglev.after")
msg="$moved of $CLIENTS clients moved ($((moved * 100 / CLIENTS))%, 1/N = 25%): the $on_removed on backend-14 and $moved_others others"
if ((failed_after == 0 && moved == on_removed + moved_others && moved_others <= 2)); then
  pass "maglev, one of 4 backends removed: $msg"
else
  fail "maglev, one of 4 backends removed: $msg; $failed_after failed"
fi

# Second reload: the round-robin pool gains backend-14.
write_config "$work/flowgate.yaml" "11 12 13 14" "11 12 13"
before14=$(access_count 14)
kill -0 "$download_pid" 2>/dev/null || fail "the download ended before the second SIGHUP: the test proves nothing"

sighup_and_wait "round-robin pool with backend-14 added"
for i in $(seq 1 16); do peer timeout 5 curl -s -o /dev/null "http://$GW_IP/"; done
after14=$(access_count 14)
if ((after14 - before14 >= 2)); then
  pass "the added backend serves: $((after14 - before14)) of 16 new requests reached backend-14"
else
  fail "the added backend got $((after14 - before14)) of 16 new requests"
fi
wait "$download_pid"
rc=$?
got_sha=$(sha256sum <"$work/download.big" | cut -d' ' -f1)
if [[ $rc -eq 0 && $got_sha == "$big_sha" ]]; then
  pass "a 32 MiB download through the proxy survived both SIGHUPs, same sha256"
else
  fail "download across the SIGHUPs: curl status $rc, $(stat -c %s "$work/download.big" 2>/dev/null) bytes, sha256 ${got_sha:0:16} (want ${big_sha:0:16})"
fi

# --- a backend killed during wrk: marked down, only its connections fail, then back ---------
peer timeout 60 wrk -t 2 -c 16 -d 8s "http://$GW_IP/" >"$work/wrk.out" 2>&1 &
wrk_pid=$!
sleep 3
down_before=$(grep -c "backend 198.18.0.12:80 is down" "$work/flowgate.err")
kill -KILL "${nginx_pid[12]}"
killed_at=$(ms_now)
wait "${nginx_pid[12]}" 2>/dev/null  # reaped here, so bash reports no "Killed" job
unset 'nginx_pid[12]'
if wait_for 10 bash -c "(( \$(grep -c 'backend 198.18.0.12:80 is down' '$work/flowgate.err') >= $down_before + $workers ))"; then
  took=$(($(ms_now) - killed_at))
  bound=$((FALL * CHECK_INTERVAL_MS + CHECK_TIMEOUT_MS + 250))
  if ((took <= bound)); then
    pass "backend-12 killed: all $workers workers marked it down within ${took} ms (fall x interval = $((FALL * CHECK_INTERVAL_MS)) ms, bound $bound ms)"
  else
    fail "backend-12 marked down after ${took} ms, more than $bound ms"
  fi
else
  fail "backend-12 was not marked down by every worker within 10 s"
fi
wait "$wrk_pid"
requests=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
errors=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ { print $NF }' "$work/wrk.out")
# 16 connections over 4 backends: about 4 were on backend-12. Each may fail once (its
# request in flight, or the close); the rest must not notice.
if [[ -n $requests ]] && ((requests > 1000 && ${errors:-0} <= 8 && ${non2xx:-0} == 0)); then
  pass "wrk during the kill: $requests requests, ${errors:-0} socket errors (about 4 of 16 connections were on backend-12), 0 non-2xx"
else
  fail "wrk during the kill: requests '$requests', socket errors '${errors:-0}', non-2xx '${non2xx:-0}': $(cat "$work/wrk.out")"
fi

up_before=$(grep -c "backend 198.18.0.12:80 is up" "$work/flowgate.err")
restarted_at=$(ms_now)
start_nginx 12 || true
if wait_for 10 bash -c "(( \$(grep -c 'backend 198.18.0.12:80 is up' '$work/flowgate.err') >= $up_before + $workers ))"; then
  took=$(($(ms_now) - restarted_at))
  pass "backend-12 restarted: marked up by every worker after ${took} ms (rise $RISE x interval $CHECK_INTERVAL_MS ms)"
else
  fail "backend-12 was not marked up by every worker within 10 s of its restart"
fi
before12=$(access_count 12)
for i in $(seq 1 16); do peer timeout 5 curl -s -o /dev/null "http://$GW_IP/"; done
if (($(access_count 12) - before12 >= 2)); then
  pass "backend-12 serves again: $(($(access_count 12) - before12)) of 16 requests"
else
  fail "backend-12 got $(($(access_count 12) - before12)) of 16 requests after rejoining"
fi

expect_frames_balanced "after the proxy traffic"
stop_gateway
finish

#!/usr/bin/env bash
# The metrics workers keep in shared memory, read back by `flowgate stats` from a gateway
# serving real clients: 2 workers, an http listener (static files) on port 80 and a proxy
# listener on port 8000 in front of a pool of two backends in the peer's namespace, nginx
# on 198.18.0.11 and nothing on 198.18.0.12 (refused: its health checks fail). Checks:
#   - the http requests curl made are counted by status code (200, 404, 405), summed over the
#     workers exactly, and each has a request duration;
#   - a connection held open shows in the per-state gauge (ESTABLISHED), and once every
#     client is gone no connection is left in any state but TIME-WAIT;
#   - every opened connection ended once: opens = closed + reset + timed out + failed;
#   - the neighbour gauge holds the peer, the SRTT histogram has observations;
#   - the proxy relayed every client to the live backend; the refusing backend is marked
#     down on every worker (backend_up 0, health-check failures), the live one up, and no
#     connection is left active on either.
#
#   metrics_data_test.sh PATH/TO/flowgate
# Needs root (exit 77 without). Every command is bounded by `timeout`; a trap stops the
# gateway and nginx and removes the lab however the script ends.
set -uo pipefail

flowgate=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
readonly LIVE=11
readonly DEAD=12
readonly OK_REQUESTS=20
readonly MISSING_REQUESTS=5
readonly POST_REQUESTS=3
readonly PROXIED=10
if [[ -z $flowgate || ! -x $flowgate ]]; then
  echo "usage: $0 PATH/TO/flowgate" >&2
  exit 2
fi
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool timeout setsid nginx curl nc awk

begin_lab_test metrics
site=$(mktemp -d /tmp/flowgate-metrics-site.XXXXXX)
nginx_pid=""
holder_pid=""
extra_cleanup() {
  [[ -n $holder_pid ]] && kill "$holder_pid" 2>/dev/null
  stop_pid "$nginx_pid" TERM 5 || true
  rm -rf "$site"
}

# --- The site, the backend -----------------------------------------------------------------
mkdir -p "$site/www"
printf '<!doctype html><title>metrics</title>\n' >"$site/www/index.html"
chmod 755 "$site" "$site/www"
chmod 644 "$site/www/index.html"

lab_up_or_exit 2
for b in $LIVE $DEAD; do ip -n "$LAB_NETNS" addr add "198.18.0.$b/24" dev "$LAB_PEER_IF"; done
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 198.18.0.$LIVE:80;
    location = / { default_type text/plain; return 200 "backend\n"; }
  }
}
EOF
ip netns exec "$LAB_NETNS" nginx -c "$work/nginx/nginx.conf" >>"$work/nginx/stdout.log" 2>&1 &
nginx_pid=$!
if ! wait_for 10 peer curl -sf -o /dev/null "http://198.18.0.$LIVE/"; then
  fail "nginx on 198.18.0.$LIVE did not start: $(tail -n 3 "$work/nginx/error.log" 2>/dev/null)"
  finish
fi

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
    http:
      root: $site/www
  - name: via
    port: 8000
    app: proxy
    proxy: {pool: back, connect_timeout: 1s, connect_attempts: 2}
pools:
  - name: back
    balance: round_robin
    health_check: {interval: 300ms, timeout: 200ms, rise: 1, fall: 2}
    backends:
      - {address: 198.18.0.$LIVE:80}
      - {address: 198.18.0.$DEAD:80}
EOF
start_gateway "$work/flowgate.yaml" || finish

# The sum over non-TIME-WAIT states of the per-state connection gauge, over the workers.
open_connections() {
  refresh_stats || return 1
  awk '$1 ~ /^workers\.gauge\.tcp_connections_/ && $1 != "workers.gauge.tcp_connections_time_wait" { n += $2 }
       END { print n + 0 }' "$work/stats.txt"
}
no_open_connections() { (($(open_connections) == 0)); }

# --- HTTP requests by code ------------------------------------------------------------------
codes=""
for ((i = 0; i < OK_REQUESTS; i++)); do
  codes+="$(peer timeout 5 curl -s -o /dev/null -w '%{http_code}' "http://$GW_IP/") "
done
for ((i = 0; i < MISSING_REQUESTS; i++)); do
  codes+="$(peer timeout 5 curl -s -o /dev/null -w '%{http_code}' "http://$GW_IP/missing-$i") "
done
for ((i = 0; i < POST_REQUESTS; i++)); do
  codes+="$(peer timeout 5 curl -s -o /dev/null -w '%{http_code}' -d x "http://$GW_IP/") "
done
count_of() { tr ' ' '\n' <<<"$codes" | grep -c "^$1$"; }
if (($(count_of 200) == OK_REQUESTS && $(count_of 404) == MISSING_REQUESTS &&
  $(count_of 405) == POST_REQUESTS)); then
  pass "curl: $OK_REQUESTS x 200, $MISSING_REQUESTS x 404, $POST_REQUESTS x 405"
else
  fail "curl got codes: $codes"
fi
total=$((OK_REQUESTS + MISSING_REQUESTS + POST_REQUESTS))
series='workers.app.http_requests_total{listener=web,code='
wait_for 5 counter_at_least "workers.app.http_request_duration_seconds{listener=web}.count" "$total"
refresh_stats
got_200=$(counter "${series}200}")
got_404=$(counter "${series}404}")
got_405=$(counter "${series}405}")
got_durations=$(counter "workers.app.http_request_duration_seconds{listener=web}.count")
per_worker=$(awk -v s="http_requests_total{listener=web,code=200}" \
  '$1 ~ /^worker\.[0-9]+\.app\./ && substr($1, index($1, ".app.") + 5) == s { n += $2 } END { print n + 0 }' \
  "$work/stats.txt")
if ((got_200 == OK_REQUESTS && got_404 == MISSING_REQUESTS && got_405 == POST_REQUESTS &&
  per_worker == OK_REQUESTS && got_durations == total)); then
  pass "stats: requests by code 200=$got_200 404=$got_404 405=$got_405 (the workers' lines add up), $got_durations durations"
else
  fail "stats: 200=$got_200 404=$got_404 405=$got_405 (per worker $per_worker), durations $got_durations; expected $OK_REQUESTS/$MISSING_REQUESTS/$POST_REQUESTS, $total"
fi
grep -E '^worker\.[0-9]+\.app\.http_request_duration_seconds\{listener=web\}\.p99 ' "$work/stats.txt" |
  awk '{ if ($2 > 1) bad = 1 } END { exit bad }' ||
  fail "a p99 request duration above 1 s: $(grep 'http_request_duration' "$work/stats.txt")"

# --- The per-state connection gauge -----------------------------------------------------------
# A client that connects and sends nothing for 3 s holds one ESTABLISHED connection (the
# server waits up to request_timeout, 10 s, for a first byte), then half-closes (nc -N).
peer timeout 10 bash -c "sleep 3 | nc -N $GW_IP 80" >/dev/null 2>&1 &
holder_pid=$!
if wait_for 3 counter_at_least workers.gauge.tcp_connections_established 1; then
  pass "an idle client shows in the gauge: $(grep -E '^worker\.[0-9]+\.gauge\.tcp_connections_established ' "$work/stats.txt" | tr '\n' ' ')"
else
  fail "no ESTABLISHED connection in the gauge while a client is connected"
fi
wait "$holder_pid" 2>/dev/null
holder_pid=""

# --- The proxy and its backends ---------------------------------------------------------------
# fall 2 x 300 ms: the refusing backend is down on both workers within a second.
dead_down() {
  refresh_stats || return 1
  local k
  for k in 0 1; do
    [[ $(counter "worker.$k.app.backend_up{pool=back,backend=198.18.0.$DEAD:80}") == 0 ]] || return 1
  done
}
if wait_for 5 dead_down; then
  pass "the refusing backend is marked down on both workers"
else
  fail "backend_up of 198.18.0.$DEAD: $(grep 'backend_up' "$work/stats.txt" | tr '\n' ' ')"
fi
proxied_ok=0
for ((i = 0; i < PROXIED; i++)); do
  [[ $(peer timeout 5 curl -s "http://$GW_IP:8000/") == backend ]] && proxied_ok=$((proxied_ok + 1))
done
((proxied_ok == PROXIED)) || fail "only $proxied_ok of $PROXIED proxied requests answered"
refresh_stats
relayed=$(counter 'workers.app.proxy_connections_relayed_total{listener=via}')
live_connections=$(counter "workers.app.backend_connections_total{pool=back,backend=198.18.0.$LIVE:80}")
dead_checks_failed=$(counter "workers.app.backend_health_check_failures_total{pool=back,backend=198.18.0.$DEAD:80}")
live_up=$(counter "workers.app.backend_up{pool=back,backend=198.18.0.$LIVE:80}")
if ((relayed == PROXIED && live_connections == PROXIED && dead_checks_failed >= 4 && live_up == 2)); then
  pass "proxy: $relayed relayed, all to the live backend (up on both workers); $dead_checks_failed failed checks of the refusing one"
else
  fail "proxy: relayed $relayed, live backend connections $live_connections, up $live_up, failed checks of the dead one $dead_checks_failed"
fi
active_zero() {
  refresh_stats || return 1
  (($(counter "workers.app.backend_active_connections{pool=back,backend=198.18.0.$LIVE:80}") == 0 &&
    $(counter 'workers.app.listener_connections_active{listener=via}') == 0))
}
wait_for 5 active_zero || fail "connections still active through the proxy: $(grep 'active' "$work/stats.txt" | tr '\n' ' ')"

# --- Back to zero --------------------------------------------------------------------------------
# Health checks open a connection every 300 ms for a moment: zero is reached between them.
if wait_for 15 no_open_connections; then
  pass "no connection left in any state but TIME-WAIT (TIME-WAIT: $(counter workers.gauge.tcp_connections_time_wait))"
else
  fail "connections left open: $(grep -E '^workers\.gauge\.tcp_connections_' "$work/stats.txt" | tr '\n' ' ')"
fi
accounted() {
  no_open_connections || return 1
  local opened ended
  opened=$(($(counter workers.event.tcp_passive_opens) + $(counter workers.event.tcp_active_opens)))
  ended=$(($(counter workers.event.tcp_connections_closed) + $(counter workers.event.tcp_connections_reset) +
    $(counter workers.event.tcp_connections_timed_out) + $(counter workers.event.tcp_connections_failed)))
  ((opened == ended && opened > 0))
}
if wait_for 10 accounted; then
  pass "every connection ended once: $(($(counter workers.event.tcp_passive_opens) + $(counter workers.event.tcp_active_opens))) opened = closed $(counter workers.event.tcp_connections_closed) + reset $(counter workers.event.tcp_connections_reset) + timed out $(counter workers.event.tcp_connections_timed_out) + failed $(counter workers.event.tcp_connections_failed)"
else
  fail "opens and endings differ: $(grep -E '^workers\.event\.tcp_(passive_opens|active_opens|connections_)' "$work/stats.txt" | tr '\n' ' ')"
fi
arp_ok=1
for k in 0 1; do (($(counter "worker.$k.gauge.arp_entries") >= 1)) || arp_ok=0; done
srtt=$(counter workers.histogram.tcp_srtt_seconds.count)
if ((arp_ok && srtt > 0)) && [[ $(counter worker.0.app_metrics.registrations_refused) == 0 ]]; then
  pass "neighbours in the gauge on both workers, $srtt SRTT observations, no app series refused"
else
  fail "arp_entries $(counter worker.0.gauge.arp_entries)/$(counter worker.1.gauge.arp_entries), SRTT count $srtt, refused $(counter worker.0.app_metrics.registrations_refused)"
fi

stop_gateway
finish

#!/usr/bin/env bash
# The http app on the real data path: `flowgate run` on the gateway side of a veth lab, and
# curl, wrk and ab (the Linux stack) in the peer's network namespace.
#
#   http_test.sh PATH/TO/flowgate [MODE [WORKERS]]
#     MODE: native (default) | skb | af_packet; WORKERS: 1-9 (default 2)
#
# Two listeners: port 80 serves static files from a temporary root (755, files 644, so the
# workers' unprivileged user can read them), port 8080 a fixed response. Checks:
#   - curl GET of a file and of the index: status, body, Content-Length, Content-Type, Date
#     (IMF-fixdate), Server; HEAD: the same fields and no body; two URLs on one connection;
#   - 404 for a missing file; 405 with Allow for POST;
#   - path escapes refused: ../ and %2e%2e%2f (curl --path-as-is) and a symbolic link
#     pointing out of the root never return the file beside the root;
#   - a 10 MiB file with the same sha256;
#   - 408 for a request left half-sent beyond request_timeout (nc);
#   - the fixed response: body and fields;
#   - wrk -t1 -c32 -d10s: requests done, 0 socket errors, 0 non-2xx;
#   - ab -k -n 5000 -c 16: 5000 complete, 0 failed, all keep-alive;
#   - no checksum drop, frames balanced, SIGTERM leaves nothing.
# Needs root (exit 77 without). Every command is bounded by `timeout`; a trap stops the
# gateway and removes the lab and the files however the script ends.
set -uo pipefail

flowgate=${1:-}
mode=${2:-native}
workers=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
readonly GW_IP=198.18.0.1
readonly FIXED_BODY="hello from flowgate"
readonly BIG=$((10 * 1024 * 1024))

if [[ -z $flowgate || ! -x $flowgate || ! $mode =~ ^(native|skb|af_packet)$ ||
  ! $workers =~ ^[1-9]$ ]]; then
  echo "usage: $0 PATH/TO/flowgate [native|skb|af_packet [WORKERS]]" >&2
  exit 2
fi
started=$(date +%s)
failures=()
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
require_root_and_tools ip ethtool curl wrk ab nc timeout sha256sum setsid awk

begin_lab_test http
# The document root and, beside it, a file no request may reach.
site=$(mktemp -d /tmp/flowgate-http.XXXXXX)
root=$site/www
extra_cleanup() {
  rm -rf "$site"
}

# --- The site ----------------------------------------------------------------------------
mkdir -p "$root/sub"
printf '<!doctype html><title>flowgate</title><h1>home</h1>\n' >"$root/index.html"
printf 'hello, static world\n' >"$root/hello.txt"
printf 'body { color: teal }\n' >"$root/sub/style.css"
printf 'sub index\n' >"$root/sub/index.html"
printf 'SECRET-%s\n' "$lab_name" >"$site/secret.txt"
ln -s ../secret.txt "$root/escape-link"
head -c "$BIG" /dev/urandom >"$root/big.bin"
chmod 755 "$site" "$root" "$root/sub"
find "$site" -type f -exec chmod 644 {} +
big_sha=$(sha256sum <"$root/big.bin" | cut -d' ' -f1)

# --- The lab and the gateway ---------------------------------------------------------------
log "mode $mode, $workers worker(s)"
queues=1
[[ $mode == native ]] && queues=$workers
lab_up_or_exit "$queues"

cat >"$work/flowgate.yaml" <<EOF
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
  - name: site
    port: 80
    app: http
    http:
      root: $root
  - name: bench
    port: 8080
    app: http
    backlog: 512
    http:
      response:
        body: "$FIXED_BODY\n"
        content_type: text/plain; charset=utf-8
      request_timeout: 2s
EOF
if ! "$flowgate" check --config "$work/flowgate.yaml" >"$work/check.out" 2>&1; then
  fail "flowgate check refused the configuration: $(cat "$work/check.out")"
  finish
fi
start_gateway "$work/flowgate.yaml" || finish
pass "gateway running: $(head -n 1 "$work/flowgate.err")"

url=http://$GW_IP
# curl_to NAME ARGS...: runs curl in the peer namespace; $work/NAME.{body,head,err}; prints
# the status code.
curl_to() {
  local name=$1
  shift
  peer timeout 30 curl -sS --max-time 20 -o "$work/$name.body" -D "$work/$name.head" \
    -w '%{http_code}' "$@" 2>"$work/$name.err"
}
field() {  # field NAME HEADER-FIELD: its value in $work/NAME.head (last response)
  awk -v f="$2" 'tolower($0) ~ "^" tolower(f) ":" {
      sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, ""); v = $0 } END { print v }' "$work/$1.head"
}
imf_date='^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$'

# --- curl ----------------------------------------------------------------------------------
code=$(curl_to hello "$url/hello.txt")
if [[ $code == 200 ]] && cmp -s "$work/hello.body" "$root/hello.txt" &&
  [[ $(field hello Content-Length) == "$(stat -c %s "$root/hello.txt")" &&
    $(field hello Content-Type) == "text/plain; charset=utf-8" &&
    $(field hello Server) == flowgate && $(field hello Date) =~ $imf_date ]]; then
  pass "GET /hello.txt: 200, the file, Content-Length, Content-Type, Server, Date ($(field hello Date))"
else
  fail "GET /hello.txt: status $code, head: $(tr -d '\r' <"$work/hello.head" | tr '\n' '|') $(cat "$work/hello.err")"
fi

code=$(curl_to index "$url/")
if [[ $code == 200 ]] && cmp -s "$work/index.body" "$root/index.html" &&
  [[ $(field index Content-Type) == "text/html; charset=utf-8" ]]; then
  pass "GET /: the index file as text/html"
else
  fail "GET /: status $code, Content-Type $(field index Content-Type)"
fi

code=$(curl_to head -I "$url/sub/style.css")
if [[ $code == 200 && $(field head Content-Length) == "$(stat -c %s "$root/sub/style.css")" &&
  $(field head Content-Type) == "text/css; charset=utf-8" ]]; then
  pass "HEAD /sub/style.css: 200, GET's Content-Length and Content-Type"
else
  fail "HEAD /sub/style.css: status $code, Content-Length $(field head Content-Length)"
fi
# On the wire: nothing follows the head of a HEAD response.
printf 'HEAD /hello.txt HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n' |
  peer timeout 10 nc -w 5 "$GW_IP" 80 >"$work/head.raw" 2>&1
head_bytes=$(awk 'BEGIN { RS = "\r\n\r\n" } NR == 1 { print length($0) + 4 }' "$work/head.raw")
if grep -q '^HTTP/1.1 200 OK' "$work/head.raw" && [[ $(stat -c %s "$work/head.raw") == "$head_bytes" ]]; then
  pass "HEAD on the wire: the head and nothing after it"
else
  fail "HEAD on the wire: $(stat -c %s "$work/head.raw") bytes, head $head_bytes: $(head -c 300 "$work/head.raw" | tr '\r\n' '  ')"
fi

# Two URLs, one connection: keep-alive.
peer timeout 30 curl -sS -v -o /dev/null -o /dev/null "$url/hello.txt" "$url/sub/" \
  2>"$work/reuse.err"
if grep -q "Re-using existing connection" "$work/reuse.err"; then
  pass "keep-alive: curl reused the connection for its second URL"
else
  fail "keep-alive: curl did not reuse the connection: $(grep -E '^[*<] ' "$work/reuse.err" | tail -n 8 | tr '\n' '|')"
fi

code=$(curl_to missing "$url/no/such/file.html")
if [[ $code == 404 ]]; then
  pass "GET of a missing file: 404"
else
  fail "GET of a missing file: status $code"
fi

code=$(curl_to post -X POST -d 'x=1' "$url/hello.txt")
if [[ $code == 405 && $(field post Allow) == "GET, HEAD" ]]; then
  pass "POST: 405 with Allow: GET, HEAD"
else
  fail "POST: status $code, Allow '$(field post Allow)'"
fi

# Escapes: the secret beside the root must never come back.
escape_ok=1
for target in "/../secret.txt" "/%2e%2e/secret.txt" "/%2e%2e%2fsecret.txt" \
  "/sub/../../secret.txt" "/escape-link"; do
  code=$(curl_to escape --path-as-is "$url$target")
  if grep -q SECRET "$work/escape.body" 2>/dev/null || [[ $code == 200 ]]; then
    fail "path escape $target: status $code, body $(head -c 80 "$work/escape.body")"
    escape_ok=0
  else
    log "  $target -> $code"
  fi
done
((escape_ok)) && pass "path escapes (../, %2e%2e, %2e%2e%2f, a link out of the root) refused"

t0=$(date +%s.%N)
code=$(curl_to big.download "$url/big.bin")
got=$(sha256sum <"$work/big.download.body" | cut -d' ' -f1)
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [[ $code == 200 && $got == "$big_sha" ]]; then
  pass "10 MiB file: same sha256 ($secs s)"
else
  fail "10 MiB file: status $code, $(stat -c %s "$work/big.download.body") bytes, sha256 ${got:0:16} (want ${big_sha:0:16})"
fi
rm -f "$work/big.download.body"

# 408: half a request, then silence beyond request_timeout (2 s on port 8080).
{
  printf 'GET / HTTP/1.1\r\nHo'
  sleep 4
} | peer timeout 10 nc -w 6 "$GW_IP" 8080 >"$work/timeout.out" 2>&1
if head -n 1 "$work/timeout.out" | grep -q '^HTTP/1.1 408 Request Timeout' &&
  grep -qi '^Connection: close' "$work/timeout.out"; then
  pass "a request left half-sent: 408 and Connection: close after request_timeout"
else
  fail "a request left half-sent: got '$(head -c 200 "$work/timeout.out" | tr '\r\n' '  ')'"
fi

code=$(curl_to fixed "$url:8080/anything?x=1")
if [[ $code == 200 && $(cat "$work/fixed.body") == "$FIXED_BODY" &&
  $(field fixed Content-Length) == $((${#FIXED_BODY} + 1)) ]]; then
  pass "fixed response on 8080: 200, the body, Content-Length $(field fixed Content-Length)"
else
  fail "fixed response on 8080: status $code, body '$(head -c 80 "$work/fixed.body")'"
fi

# --- wrk -----------------------------------------------------------------------------------
peer timeout 40 wrk -t1 -c32 -d10s "$url:8080/" >"$work/wrk.out" 2>&1
wrk_rc=$?
requests=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
socket_errors=$(awk '/Socket errors:/ {
    for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { gsub(",", "", $i); s += $i } }
  END { print s + 0 }' "$work/wrk.out")
non_2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF } END { }' "$work/wrk.out")
rate=$(awk '/Requests\/sec:/ { print $2 }' "$work/wrk.out")
if [[ $wrk_rc -eq 0 && ${requests:-0} -gt 0 && $socket_errors -eq 0 && -z $non_2xx ]]; then
  pass "wrk -t1 -c32 -d10s: $requests requests ($rate/s), 0 socket errors, 0 non-2xx"
else
  fail "wrk: status $wrk_rc, ${requests:-0} requests, $socket_errors socket errors, ${non_2xx:-0} non-2xx: $(tr '\n' '|' <"$work/wrk.out")"
fi

# --- ab ------------------------------------------------------------------------------------
peer timeout 120 ab -k -n 5000 -c 16 "$url:8080/" >"$work/ab.out" 2>&1
ab_rc=$?
complete=$(awk -F: '/^Complete requests/ { gsub(/ /, "", $2); print $2 }' "$work/ab.out")
failed=$(awk -F: '/^Failed requests/ { gsub(/ /, "", $2); print $2 }' "$work/ab.out")
keepalive=$(awk -F: '/^Keep-Alive requests/ { gsub(/ /, "", $2); print $2 }' "$work/ab.out")
ab_rate=$(awk '/^Requests per second/ { print $4 }' "$work/ab.out")
if [[ $ab_rc -eq 0 && $complete == 5000 && $failed == 0 && $keepalive == 5000 ]]; then
  pass "ab -k -n 5000 -c 16: 5000 complete, 0 failed, 5000 keep-alive ($ab_rate/s)"
else
  fail "ab: status $ab_rc, complete '$complete', failed '$failed', keep-alive '$keepalive': $(tail -n 30 "$work/ab.out" | tr '\n' '|')"
fi

# --- The data plane after it ------------------------------------------------------------------
refresh_stats
checksum_drops=$(awk '$1 ~ /^workers\.drop\..*checksum/ { s += $2 } END { print s + 0 }' "$work/stats.txt")
if ((checksum_drops == 0)); then
  pass "no checksum drops"
else
  fail "$checksum_drops frames dropped for bad checksums"
fi
expect_frames_balanced "after the HTTP traffic"
stop_gateway

finish

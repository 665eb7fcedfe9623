#!/usr/bin/env bash
# Installs every Debian 12 package flowgate builds, tests and runs with. Idempotent; needs root.
# The list is the one place dependencies are named (README lists the same).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  # libraries: libsodium (SipHash for TCP ISNs and SYN cookies); libxdp/libbpf (AF_XDP sockets
  # and loading our XDP program, which clang compiles with -target bpf); Boost.Interprocess
  # (the shared-memory segment); yaml-cpp (the configuration file); prometheus-cpp and the
  # civetweb it serves with (the supervisor's /metrics, /healthz and /readyz)
  libsodium-dev libxdp-dev libbpf-dev libboost-dev libyaml-cpp-dev prometheus-cpp-dev
  libcivetweb-dev
  # tests: GoogleTest; libFuzzer targets need clang with its runtime
  googletest libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  # lab and integration tests: real Linux peers in a network namespace
  iproute2 iputils-ping arping netcat-openbsd ethtool tcpdump procps
  # proxy and http tests: nginx backends in the peer namespace, HTTP clients (curl, wrk,
  # ab, which is in apache2-utils)
  nginx curl apache2-utils wrk
  # monitoring tests: promtool (check metrics, check and test rules) and a real Prometheus
  # server scraping the gateway; jq reads its HTTP API and the Grafana dashboard
  prometheus jq
  # lab benchmark (tests/bench/lab_bench.sh): HAProxy in TCP mode is the proxy's peer, h2load
  # (in nghttp2-client) holds the fixed request rate of the latency row
  haproxy nghttp2-client
)

# --list: print the package names (what .ci/run installs) and nothing else.
if [[ ${1:-} == --list ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi

#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit (GoogleTest, deterministic),
# integration (real data path over a veth pair with Linux peers; needs root) and fuzz
# (each libFuzzer target for a bounded time over its seed corpus, clang build).
# Usage (as root on Debian 12): tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

"$root/deploy/install-deps.sh"

echo "== build (g++, warnings are errors) =="
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$root/build" -j "$jobs"

echo "== fuzz build (clang, libFuzzer + ASan + UBSan) =="
CC=clang CXX=clang++ cmake -S "$root" -B "$root/build-fuzz" -G Ninja -DFLOWGATE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only the fuzz targets: the other programs would be built again with coverage for nothing.
ninja -C "$root/build-fuzz" -j "$jobs" fuzz_tests

echo "== fuzz targets (bounded time each) =="
(cd "$root/build-fuzz" && ctest -L fuzz --output-on-failure -j "$jobs")

echo "== unit and integration tests =="
cd "$root/build"
ctest -L 'unit|integration' --output-on-failure -j "$jobs"

#!/usr/bin/env bash
# Frontend time from process start to Return (as the frontend logs it to the daemon's log),
# and the size of the Definition it sends, for generated manifests of 10 and 100 targets
# (benchmarks/gen-manifest.py, busybox steps) and a 27-target image stack
# (benchmarks/gen-stack-manifest.py). Median of 5 cached `docker build --target`.
# Usage: benchmarks/frontend-time.sh   (the 20.10 engine of scripts/dockerd-up; for the 26 engine:
#   eval "$(scripts/docker26-up)"; DOCKERD_LOG=/tmp/dockopt-docker26.log benchmarks/frontend-time.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DOCKOPT_DOCKER:-/usr/bin/docker}
LOG=${DOCKERD_LOG:-/tmp/dockopt-dockerd.log}
scripts/dockerd-up
scripts/frontend-image >/dev/null
cargo build --release -q -p dockopt
"$D" image inspect dockopt-test/busybox >/dev/null 2>&1 || cargo test -q -p dockopt-integration-tests --test frontend bad_manifests >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "targets case ms_median ops llb_bytes"
for n in 10 100 stack27; do
  case $n in
    stack*) python3 benchmarks/gen-stack-manifest.py 27 > "$work/variants.yaml"; first=base; n=27 ;;
    *) python3 benchmarks/gen-manifest.py "$n" > "$work/variants.yaml"; first=t000 ;;
  esac
  salt="bench-$n-$$"
  build() { DOCKER_BUILDKIT=1 "$D" build -q -f "$work/variants.yaml" --build-arg "SALT=$salt" "$@" "$work" >/dev/null; }
  # Warm: one build of every target at once (each trie node once), then the cached runs.
  build
  line=$(grep "dockopt-frontend: all $n targets" "$LOG" | tail -n 1)
  echo "$n all-targets-first-build $(sed -E 's/.* in ([0-9]+) ms/\1/' <<<"$line") $(sed -E 's/.*targets: ([0-9]+) ops, ([0-9]+) bytes.*/\1 \2/' <<<"$line")"
  for _ in 1 2 3 4 5; do build --target "$first"; done
  lines=$(grep "dockopt-frontend: target $first:" "$LOG" | tail -n 5)
  ms=$(sed -E 's/.* in ([0-9]+) ms/\1/' <<<"$lines" | median)
  sizes=$(tail -n 1 <<<"$lines" | sed -E "s/.*$first: ([0-9]+) ops, ([0-9]+) bytes.*/\1 \2/")
  echo "$n${first/t000/} one-target-cached $ms $sizes"
  # With a lock beside the manifest the frontend does no planning search.
  target/release/dockopt plan "$work/variants.yaml" --lock --build-arg "SALT=$salt" >/dev/null 2>&1
  for _ in 1 2 3 4 5; do build --target "$first"; done
  lines=$(grep "dockopt-frontend: target $first:" "$LOG" | tail -n 5)
  ms=$(sed -E 's/.* in ([0-9]+) ms/\1/' <<<"$lines" | median)
  echo "$n${first/t000/} one-target-cached-locked $ms $sizes"
  rm -f "$work/variants.yaml.lock"
done

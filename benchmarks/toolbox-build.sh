#!/usr/bin/env bash
# Wall time to build every variant of examples/toolbox, two arms on the same dockerd, the
# build cache cleared before each arm:
#   plain    one Dockerfile per variant, steps in the order the manifest lists them
#            (`dockopt dockerfile --order listed`), built one after another with BuildKit
#   dockopt  `dockopt build` through the frontend (the plan's orders, one shared graph)
# Usage: benchmarks/toolbox-build.sh [ROUNDS]   (default 1; arms alternate within a round)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-1}
D=${DOCKOPT_DOCKER:-/usr/bin/docker}
M=examples/toolbox/variants.yaml
scripts/dockerd-up
scripts/frontend-image >/dev/null
scripts/debian-image bookworm >/dev/null
cargo build --release -q -p dockopt
bin=target/release/dockopt
targets=$($bin plan $M --format json | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["targets"]))')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
prune() { "$D" builder prune -af >/dev/null; }

plain() {
  prune
  local start; start=$(now)
  for t in $targets; do
    $bin dockerfile $M --target "$t" --order listed > "$work/Dockerfile.$t"
    DOCKER_BUILDKIT=1 "$D" build -q -f "$work/Dockerfile.$t" -t "bench-plain:$t" examples/toolbox >/dev/null
  done
  python3 -c "print(f'{$(now) - $start:.1f}')"
}

dockopt() {
  prune
  local start; start=$(now)
  $bin build $M --tag-prefix bench-dockopt >"$work/dockopt.log"
  python3 -c "print(f'{$(now) - $start:.1f}')"
}

echo "round arm seconds"
for r in $(seq 1 "$ROUNDS"); do
  echo "$r plain $(plain)"
  echo "$r dockopt $(dockopt)"
done
tail -n 1 "$work/dockopt.log"
for t in $targets; do "$D" rmi -f "bench-plain:$t" "bench-dockopt:$t" >/dev/null 2>&1 || true; done
"$D" rmi -f toolbox:ci >/dev/null 2>&1 || true

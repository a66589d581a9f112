#!/usr/bin/env bash
# The build benchmark of issue 9: twelve apt-get tool images on a debootstrapped Debian base
# (benchmarks/apt-toolbox/variants.yaml), five arms on one dockerd, the build cache cleared
# before each arm (but the base image kept):
#   a  plain Dockerfiles, one RUN per step in the listed order, built one after another
#   b  the usual Dockerfiles, one RUN per variant (apt-get update && install everything)
#   c  arm a, with as many builds at a time as the machine has cores
#   d  `dockopt build` (concurrent builds through the frontend, one shared graph)
#   e  `dockopt build` again with nothing changed
# and the learning check: after a learning run of d, the plan's predicted work against the
# work measured in a second run of d (sum of step durations BuildKit reports).
# Usage: benchmarks/build-arms.sh [RESULTS-FILE]   Kept out of CI: it takes ~20-30 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/build-arms.txt}
D=${DOCKOPT_DOCKER:-/usr/bin/docker}
SRC=benchmarks/apt-toolbox/variants.yaml
say() { printf '==> %s\n' "$*" >&2; }

say "engine, frontend image, Debian base (debootstrap on first use), release CLI"
scripts/dockerd-up
scripts/frontend-image >/dev/null
scripts/debian-image bookworm >/dev/null
cargo build --release -q -p dockopt
bin=$PWD/target/release/dockopt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The manifest in a folder of its own: the lock and times the builds write stay out of the tree.
cp "$SRC" "$work/variants.yaml"
M=$work/variants.yaml
targets=$($bin plan "$M" --no-lock --format json | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["targets"]))')
cores=$(nproc)
now() { date +%s.%N; }
prune() { "$D" builder prune -af >/dev/null; }
elapsed() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

# Dockerfiles for arms a-c.
mkdir -p "$work/ctx"
for t in $targets; do
  $bin dockerfile "$M" --target "$t" --order listed > "$work/Dockerfile.a.$t"
  python3 - "$work/Dockerfile.a.$t" > "$work/Dockerfile.b.$t" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
pkgs, head = [], []
for l in lines:
    if l.startswith("RUN apt-get install"):
        pkgs += [w for w in l.split()[3:] if not w.startswith("-")]
    elif not l.startswith("RUN apt-get update"):
        head.append(l)
print("\n".join(h for h in head if h.startswith("FROM")))
print("RUN apt-get update && apt-get install -y --no-install-recommends " + " ".join(pkgs))
PY
done
# RUN steps that ran (not cached) in a log of plain progress from several builds.
steps_in() {
  python3 - "$1" <<'PY'
import re, sys
names, ran = {}, 0
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"#(\d+) (.*)", line.rstrip("\n"))
    if not m:
        continue
    i, rest = m.groups()
    if rest.startswith("[internal] load build definition"):
        names = {}
    if i not in names:
        names[i] = rest
    elif rest.startswith("DONE") and re.match(r"\[\d+/\d+\] RUN", names[i]):
        ran += 1
print(ran)
PY
}

arm_seq() { # $1 = a|b
  prune
  local start; start=$(now); : > "$work/arm-$1.log"
  for t in $targets; do
    DOCKER_BUILDKIT=1 "$D" build --progress=plain -f "$work/Dockerfile.$1.$t" -t "bench-$1:$t" "$work/ctx" >>"$work/arm-$1.log" 2>&1
  done
  echo "$(elapsed "$start") $(steps_in "$work/arm-$1.log")"
}

arm_c() {
  prune
  local start; start=$(now); : > "$work/arm-c.log"
  # One log per build (concurrent builds would interleave their lines), counted together after.
  printf '%s\n' $targets | xargs -P "$cores" -I{} sh -c \
    "DOCKER_BUILDKIT=1 '$D' build --progress=plain -f '$work/Dockerfile.a.{}' -t 'bench-c:{}' '$work/ctx' >'$work/arm-c.{}.log' 2>&1"
  local secs; secs=$(elapsed "$start")
  cat "$work"/arm-c.*.log > "$work/arm-c.log"
  echo "$secs $(steps_in "$work/arm-c.log")"
}

arm_d() { # $1 = label; prints "seconds steps-run work-measured"
  local start; start=$(now)
  $bin build "$M" --tag-prefix bench-d --progress plain >"$work/arm-$1.out" 2>"$work/arm-$1.err"
  local secs; secs=$(elapsed "$start")
  tail -n 1 "$work/arm-$1.out" >&2
  # "built … in …: N steps ran (W of work; …)" → "N W" with W in seconds.
  echo "$secs $(tail -n 1 "$work/arm-$1.out" | python3 -c '
import re, sys
line = sys.stdin.read()
m = re.search(r": (\d+) steps ran \((.*?) of work", line)
def secs(t):
    h = re.search(r"(\d+) h", t); mi = re.search(r"(\d+) min", t); s = re.search(r"([\d.]+) s", t)
    return sum(float(x.group(1)) * k for x, k in ((h, 3600), (mi, 60), (s, 1)) if x)
print(m.group(1), round(secs(m.group(2)), 1)) if m else print("? ?")
')"
}

{
  echo "# benchmarks/build-arms.sh on $(date -u +%F), $(nproc) cores, $("$D" version --format '{{.Server.Version}}')"
  echo "# arm seconds [steps]"
  say "arm a (plain, listed order, sequential)"; echo "a $(arm_seq a)"
  say "arm b (one RUN per variant, sequential)"; echo "b $(arm_seq b)"
  say "arm c (plain, listed order, $cores at a time)"; echo "c $(arm_c)"
  say "arm d (dockopt build), learning run"
  prune; rm -f "$M.lock" "$M.times.json"
  echo "d-learning $(arm_d d0)"
  predicted=$($bin plan "$M" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["cost"])')
  say "arm d (dockopt build), measured run"
  prune
  echo "d $(arm_d d1)"
  echo "predicted-work-after-learning $predicted"
  say "arm e (no-change rebuild)"
  echo "e $(arm_d e)"
} | tee "$OUT"
for t in $targets; do
  "$D" rmi -f "bench-a:$t" "bench-b:$t" "bench-c:$t" "bench-d:$t" >/dev/null 2>&1 || true
done

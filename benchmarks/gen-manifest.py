#!/usr/bin/env python3
"""Writes a dockopt manifest with N busybox targets over M cheap steps (seeded), for timing the
frontend itself: every step only appends to a file, so builds are quick and cacheable.
Usage: gen-manifest.py N [M] [SEED] > variants.yaml"""
import random
import sys

n = int(sys.argv[1])
m = int(sys.argv[2]) if len(sys.argv) > 2 else 40
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
print("# syntax=dockopt/frontend:local")
print("version: 1")
print("args: {SALT: ''}")
print("defaults: {from: dockopt-test/busybox}")
print("steps:")
print("  prep: {run: 'mkdir -p /log && echo \"${SALT}\" > /log/salt', time: 1}")
for k in range(m):
    after = ["prep"] + ([f"s{k - 1:03d}"] if k % 7 == 3 else [])
    print(f"  s{k:03d}: {{run: 'echo s{k:03d} >> /log/steps', after: [{', '.join(after)}], time: {rng.randint(1, 60)}}}")
print("targets:")
for t in range(n):
    size = min(rng.randint(5, 15), m)
    picked = sorted(rng.sample(range(m), size))
    # keep every `after` satisfiable: a step whose predecessor is missing brings it along
    full = set(picked)
    for k in picked:
        if k % 7 == 3 and k > 0:
            full.add(k - 1)
    steps = ", ".join(["prep"] + [f"s{k:03d}" for k in sorted(full)])
    print(f"  t{t:03d}: {{steps: [{steps}]}}")

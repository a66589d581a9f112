#!/usr/bin/env python3
"""Writes a dockopt manifest shaped like a notebook image stack (seeded): one busybox base, a
chain every target shares, then nested families (a stack image adds a chain of its own on top
of its parent's steps; recipes add a few steps on top of a stack), with `after` pairs inside
each chain. Every step only appends to a file, so builds are quick and cacheable.
Usage: gen-stack-manifest.py [TARGETS] [SEED] > variants.yaml   (default 27 targets)"""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 27
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
steps = {}  # name -> (after, time)
def chain(prefix, length):
    names = []
    for k in range(length):
        name = f"{prefix}{k:02d}"
        steps[name] = ([names[-1]] if names else [], rng.randint(2, 90))
        names.append(name)
    return names

common = chain("base", 10)
targets = {"base": list(common)}
stacks = []
# Three levels of stacks, each on top of the previous one (minimal → scipy → datascience style).
parent = "base"
for level in range(3):
    name = f"stack{level}"
    targets[name] = targets[parent] + chain(f"s{level}x", rng.randint(3, 6))
    stacks.append(name)
    parent = name
# Side stacks on the first two levels, and recipes on any stack until N targets.
for side in range(2):
    name = f"side{side}"
    targets[name] = targets[stacks[side]] + chain(f"d{side}x", rng.randint(2, 5))
    stacks.append(name)
r = 0
while len(targets) < n:
    on = rng.choice(stacks)
    targets[f"recipe{r:02d}"] = targets[on] + chain(f"r{r:02d}x", rng.randint(1, 4))
    r += 1

print("# syntax=dockopt/frontend:local")
print("version: 1")
print("args: {SALT: ''}")
print("defaults: {from: dockopt-test/busybox}")
print("steps:")
print("  prep: {run: 'mkdir -p /log && echo \"${SALT}\" > /log/salt', time: 1}")
for name, (after, t) in steps.items():
    after = ["prep"] + after
    print(f"  {name}: {{run: 'echo {name} >> /log/steps', after: [{', '.join(after)}], time: {t}}}")
print("targets:")
for name, ss in targets.items():
    print(f"  {name}: {{steps: [{', '.join(['prep'] + ss)}]}}")

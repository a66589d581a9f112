#!/usr/bin/env python3
"""Summary of benchmarks/results/planner.jsonl against the planner goals (issue 5).
Usage: benchmarks/summarize-planner.py [FILE]"""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/planner.jsonl")]
oneil = [r for r in rows if r["instance"].startswith("oneil:")]


def cost(r, k):
    v = r.get(k) or {}
    return v.get("cost")


small = [r for r in oneil if r["targets"] <= 20]
gaps = [100 * (cost(r, "heuristic") - r["best_known"]) / r["best_known"] for r in small if r["best_is_optimal"]]
print(f"O'Neil n <= 20: heuristic above the optimum: mean {sum(gaps)/len(gaps):.3f} %, max {max(gaps):.2f} % "
      f"({len(gaps)} instances, optimum proven on all: {all(r['best_is_optimal'] for r in small)})")
seed = [100 * (cost(r, "seed_mip") - r["best_known"]) / r["best_known"] for r in small if cost(r, "seed_mip")]
print(f"O'Neil n <= 20: seed clique MIP (CBC) above the optimum: mean {sum(seed)/len(seed):.2f} % over the {len(seed)} it solved in 60 s")
greedy = [100 * (cost(r, "greedy") - r["best_known"]) / r["best_known"] for r in small]
print(f"O'Neil n <= 20: most-time greedy above the optimum: mean {sum(greedy)/len(greedy):.2f} %")
big = [r for r in oneil if r["targets"] >= 25]
below = [100 * (cost(r, "greedy") - cost(r, "auto")) / cost(r, "greedy") for r in big]
print(f"O'Neil n >= 25: auto below most-time greedy: mean {sum(below)/len(below):.2f} %, min {min(below):.2f} %, max {max(below):.2f} % ({len(big)} instances)")
proven = [r["instance"] for r in big if (r.get("auto") or {}).get("optimal")]
print(f"O'Neil n >= 25 proven optimal by auto: {len(proven)}: {', '.join(p.split(':')[1] for p in proven)}")
for n in (20, 25):
    ts = [(r["instance"].split(":")[1], r["auto"]["seconds_median"], r["auto"]["peak_kb"] / 1024) for r in oneil if r["targets"] == n]
    print(f"exact at n = {n}: " + ", ".join(f"{i} {t:.2f} s {m:.0f} MiB" for i, t, m in ts))
for r in rows:
    if r["targets"] >= 1000:
        a = r["auto"]
        print(f"{r['instance']}: auto {a['seconds_median']:.2f} s, peak {a['peak_kb']/1024:.0f} MiB, "
              f"{100*(cost(r,'greedy')-a['cost'])/cost(r,'greedy'):.2f} % below greedy, bound {a['lower_bound']:.0f}")

#!/usr/bin/env python3
"""Long chains of stages, for the hardening measurements in BENCHMARKS.md ("Fuzzing").

  benchmarks/gen-chain.py manifest N      a manifest: N stages, each copying /o from the one
                                          before, read by target `t`; the far end's name sorts
                                          first (l00000 is read by t), so a walk from the first
                                          step that reads a stage goes down the whole chain
  benchmarks/gen-chain.py dockerfile N    a Dockerfile: N stages, each `FROM` the one before
                                          with one RUN, every second one also copying from the
                                          stage two back
"""
import sys


def manifest(n):
    name = lambda i: "l%05d" % (n - 1 - i)
    out = ["version: 1", "defaults: {from: busybox}", "targets:"]
    out.append("  t: {steps: [{copy: {from: %s, src: [/o], dest: /o}}, {run: echo t}]}" % name(n - 1))
    for i in range(1, n):
        out.append(
            "  %s: {stage: true, steps: [{copy: {from: %s, src: [/o], dest: /o}}, {run: echo %d}]}"
            % (name(i), name(i - 1), i)
        )
    out.append("  %s: {stage: true, steps: [{run: make}]}" % name(0))
    return out


def dockerfile(n):
    out = ["FROM busybox AS s0", "RUN echo 0"]
    for i in range(1, n):
        out += ["FROM s%d AS s%d" % (i - 1, i), "RUN echo %d" % i]
        if i % 2 == 0:
            out.append("COPY --from=s%d /o /o%d" % (i - 2, i))
    return out


if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    print("\n".join({"manifest": manifest, "dockerfile": dockerfile}[kind](n)))

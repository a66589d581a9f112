#!/usr/bin/env python3
"""Random Dockerfiles through `dockopt import`: 1-3 per case, each in its own folder, built from
instructions import takes (one in twenty from those it refuses); about 6 % of lines are mutated
(cut short, a stray byte, doubled), few enough that a fifth of the cases import. A case fails when import panics, is killed, or takes over 20 s; its folder is kept as
bad-SEED-CASE under the work folder.

Usage: scripts/fuzz-import.py SEED CASES [WORKDIR]   (after `cargo build --release -p dockopt`)
"""
import os
import random
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "dockopt")

TAKEN = [
    "FROM busybox", "FROM debian:bookworm AS build", "FROM build", "FROM $BASE",
    "ARG BASE=busybox", "ARG V", "ARG V=1", "RUN apt-get update", "RUN apt-get install -y curl",
    "RUN apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*",
    "RUN echo hi > /tmp/x", 'RUN ["/bin/sh","-c","echo a"]',
    "RUN --mount=type=cache,target=/root/.cache pip install x",
    "RUN --mount=type=secret,id=tok cat /run/secrets/tok", "COPY a.txt /a.txt",
    "COPY --from=build /o /o", "ADD a.txt /b/", 'ENV A=1 B="two words"', "ENV PATH=/x:$PATH",
    "WORKDIR /app", "WORKDIR rel", "USER nobody", 'SHELL ["/bin/bash","-c"]', "LABEL a=b",
    "EXPOSE 80/tcp", 'CMD ["sh"]', "ENTRYPOINT sh -c 'x'", "HEALTHCHECK CMD true",
    "STOPSIGNAL SIGTERM", "VOLUME /data", "ONBUILD RUN x", "RUN a \\\n  && b", "# comment", "",
    "MAINTAINER me", "RUN ${V:-x} $V", "COPY --from=0 /o /p", "FROM busybox AS Build",
    'RUN echo "unterminated', "RUN echo 'x", 'COPY ["a.txt", "/q"]',
    "# syntax=docker/dockerfile:1", "# escape=`",
]
REFUSED = [
    "FROM scratch", "COPY --chown=1:1 . /src", "ADD https://example.invalid/x /x",
    "RUN --mount=type=bind,from=build,source=/o,target=/i cp /i /o2",
    "RUN cat <<EOF > /f\nline\nEOF", "ARG", "RUN", "COPY", "FROM", "COPY --link a.txt /l", "ENV",
    "LABEL", "EXPOSE", "RUN \\", "RUN echo `\n x",
]
STRAY = [0, 9, 10, 13, 92, 34, 39, 36, 123, 125, 0x2028, 0xE9, 0x1F600]


def main():
    seed, cases = int(sys.argv[1]), int(sys.argv[2])
    work = sys.argv[3] if len(sys.argv) > 3 else f"/tmp/dockopt-fuzz-import-{seed}"
    rnd = random.Random(seed)

    def mutate(t):
        r = rnd.random() * 4
        if r < 0.1 and t:
            return t[: rnd.randrange(len(t))]
        if r < 0.2 and t:
            i = rnd.randrange(len(t))
            return t[:i] + chr(rnd.choice(STRAY)) + t[i:]
        if r < 0.25:
            return t + " " + t
        return t

    failed, codes = 0, {}
    case_dir = os.path.join(work, "case")
    for case in range(cases):
        shutil.rmtree(case_dir, ignore_errors=True)
        os.makedirs(case_dir)
        files = []
        for f in range(rnd.randint(1, 3)):
            sub = os.path.join(case_dir, f"v{f}")
            os.makedirs(sub)
            with open(os.path.join(sub, "a.txt"), "w") as out:
                out.write("a%d" % rnd.randint(0, 1))
            lines = ["FROM busybox"] if rnd.random() < 0.9 else []
            for _ in range(rnd.randint(0, 25)):
                lines.append(mutate(rnd.choice(REFUSED if rnd.random() < 0.05 else TAKEN)))
            text = "\n".join(lines) + ("\n" if rnd.random() < 0.9 else "")
            path = os.path.join(sub, "Dockerfile")
            with open(path, "w", encoding="utf-8", errors="surrogatepass") as out:
                out.write(text)
            files.append(path)
        args = [BIN, "import", "-o", os.path.join(case_dir, "dockopt.yaml")] + files
        if rnd.random() < 0.2:
            args.append("--keep-order")
        if rnd.random() < 0.2:
            args += ["--build-arg", "V=2"]
        try:
            p = subprocess.run(args, capture_output=True, timeout=20, cwd=case_dir)
        except subprocess.TimeoutExpired:
            print(f"case {case}: over 20 s")
            failed += 1
            shutil.copytree(case_dir, os.path.join(work, f"bad-{seed}-{case}"))
            continue
        codes[p.returncode] = codes.get(p.returncode, 0) + 1
        err = p.stderr.decode(errors="replace")
        if p.returncode not in (0, 1, 2) or "panicked" in err:
            print(f"case {case}: exit {p.returncode}: {err[:500]}")
            failed += 1
            shutil.copytree(case_dir, os.path.join(work, f"bad-{seed}-{case}"))
    print(f"fuzz-import: {cases} cases, seed {seed}, {failed} failed; exit codes {codes}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

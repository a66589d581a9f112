//! What users read, pinned: `plan` (text, JSON, DOT), `explain`, `bake` and `llb --format json`
//! on the bundled examples. A change shows up as a diff of `tests/snapshots/*.txt`; to accept
//! it, run with `DOCKOPT_UPDATE_SNAPSHOTS=1` and review the files in the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The example copied into a fixed-name folder (paths in output stay the same everywhere).
fn example(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .join("variants.yaml");
    let dir = std::env::temp_dir()
        .join(format!("dockopt-snap-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("variants.yaml");
    std::fs::copy(src, &file).expect("copy");
    file
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("DOCKOPT_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "snapshot {name} differs from line {} on (DOCKOPT_UPDATE_SNAPSHOTS=1 to accept):\n--- expected\n{}\n--- actual\n{}",
            first + 1,
            expected
                .lines()
                .skip(first)
                .take(8)
                .collect::<Vec<_>>()
                .join("\n"),
            actual
                .lines()
                .skip(first)
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn toolbox_views() {
    let m = example("toolbox");
    let dir = m.parent().expect("dir");
    snapshot("toolbox-plan", &run(dir, &["plan", "variants.yaml"]));
    snapshot(
        "toolbox-plan-json",
        &run(dir, &["plan", "variants.yaml", "--format", "json"]),
    );
    snapshot(
        "toolbox-plan-dot",
        &run(dir, &["plan", "variants.yaml", "--format", "dot"]),
    );
    snapshot(
        "toolbox-explain-step",
        &run(dir, &["explain", "variants.yaml", "certs"]),
    );
    snapshot(
        "toolbox-explain-both",
        &run(dir, &["explain", "variants.yaml", "git"]),
    );
    snapshot(
        "toolbox-explain-variant",
        &run(dir, &["explain", "variants.yaml", "web"]),
    );
    snapshot(
        "toolbox-bake",
        &run(dir, &["bake", "variants.yaml", "--tag-prefix", "toolbox"]),
    );
    snapshot(
        "toolbox-llb-minimal",
        &run(
            dir,
            &[
                "llb",
                "variants.yaml",
                "--target",
                "minimal",
                "--format",
                "json",
            ],
        ),
    );
}

#[test]
fn python_matrix_views() {
    let m = example("python-matrix");
    let dir = m.parent().expect("dir");
    snapshot("python-matrix-plan", &run(dir, &["plan", "variants.yaml"]));
    snapshot("python-matrix-bake", &run(dir, &["bake", "variants.yaml"]));
}

/// Every op digest of every target of every example: a change to any op's bytes (and so to
/// every user's cache keys) shows up here as a reviewed diff.
#[test]
fn golden_llb_digests_of_every_example() {
    let mut golden = String::new();
    for name in ["toolbox", "python-matrix", "stages"] {
        let m = example(name);
        let dir = m.parent().expect("dir");
        let plan: serde_json::Value =
            serde_json::from_str(&run(dir, &["plan", "variants.yaml", "--format", "json"]))
                .expect("json");
        let targets = plan["targets"].as_object().expect("targets");
        for target in targets.keys() {
            let llb: serde_json::Value = serde_json::from_str(&run(
                dir,
                &[
                    "llb",
                    "variants.yaml",
                    "--target",
                    target,
                    "--format",
                    "json",
                ],
            ))
            .expect("json");
            golden.push_str(&format!("{name} {target}\n"));
            for op in llb["ops"].as_array().expect("ops") {
                let digest = op["digest"].as_str().unwrap_or_default();
                let kind = op["kind"].as_str().unwrap_or_default();
                golden.push_str(&format!("  {} {kind}\n", &digest[7..]));
            }
        }
    }
    snapshot("golden-llb-digests", &golden);
}

/// A manifest written into a fresh fixed-name folder.
fn written(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("dockopt-snap-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("variants.yaml");
    std::fs::write(&file, text).expect("write");
    file
}

/// stderr of a command that must fail with exit 1.
fn run_failing(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The stages example: its plan (the stage marked), a variant as a Dockerfile (the stage as
/// `FROM … AS`, mounts as `--mount`), and what goes wrong with stages and mounts, rendered.
#[test]
fn stages_and_mounts_views_and_diagnostics() {
    let m = example("stages");
    let dir = m.parent().expect("dir");
    snapshot("stages-plan", &run(dir, &["plan", "variants.yaml"]));
    snapshot(
        "stages-dockerfile",
        &run(dir, &["dockerfile", "variants.yaml", "--target", "net"]),
    );
    let text = std::fs::read_to_string(&m).expect("example");
    let mut errors = String::new();
    for (what, from, to) in [
        ("unknown stage", "from: builder,", "from: bulder,"),
        (
            "a stage copying from itself",
            "      - update\n      - {name: toolchain",
            "      - update\n      - {copy: {from: builder, src: [/x], dest: /x}}\n      - {name: toolchain",
        ),
        (
            "a tagged stage",
            "    stage: true\n",
            "    stage: true\n    tags: ['tool:1']\n",
        ),
        ("unknown mount type", "{type: tmpfs,", "{type: tmpfsx,"),
        ("bad sharing", "sharing: locked", "sharing: lockd"),
        (
            "a secret without id",
            "{type: secret, id: token, ",
            "{type: secret, ",
        ),
    ] {
        assert!(text.contains(from), "{what}");
        let bad = written("stages-bad", &text.replacen(from, to, 1));
        errors.push_str(&format!("## {what}\n"));
        errors.push_str(&run_failing(
            bad.parent().expect("dir"),
            &["plan", "variants.yaml"],
        ));
    }
    snapshot("stages-errors", &errors);
}

const MATRIX: &str = "\
version: 1
steps:
  update: {run: apt-get update, time: 20}
  certs: {run: apt-get install -y ca-certificates, after: [update], time: 5}
targets:
  py${PY}-${DISTRO}:
    matrix:
      PY: [\"3.11\", \"3.12\", \"3.13\"]
      DISTRO: [bookworm, trixie]
    exclude:
      - {PY: \"3.11\", DISTRO: trixie}
      - {PY: \"3.13\", DISTRO: bookworm}
    from: debian:${DISTRO}
    steps:
      - update
      - certs
      - {run: 'apt-get install -y python${PY}', after: [update], time: 30}
    env: {PYTHON_VERSION: '${PY}'}
";

/// Matrix expansion (names, bases, steps, config) and its diagnostics, pinned.
#[test]
fn matrix_expansion_and_diagnostics() {
    let m = written("matrix", MATRIX);
    let dir = m.parent().expect("dir");
    snapshot("matrix-plan", &run(dir, &["plan", "variants.yaml"]));
    snapshot(
        "matrix-dockerfile",
        &run(
            dir,
            &["dockerfile", "variants.yaml", "--target", "py3.13-trixie"],
        ),
    );
    let mut errors = String::new();
    for (what, from, to) in [
        (
            "unknown axis",
            "- {PY: \"3.11\", DISTRO: trixie}",
            "- {PY: \"3.11\", DISTR: trixie}",
        ),
        ("unknown value", "DISTRO: trixie}", "DISTRO: sid}"),
        ("collision", "py${PY}-${DISTRO}:", "py${PY}:"),
        (
            "empty",
            "- {PY: \"3.13\", DISTRO: bookworm}",
            "- {DISTRO: bookworm}\n      - {DISTRO: trixie}",
        ),
        (
            "unknown name reference",
            "py${PY}-${DISTRO}:",
            "py${PY}-${DIST}:",
        ),
    ] {
        let bad = written("matrix-bad", &MATRIX.replacen(from, to, 1));
        errors.push_str(&format!("## {what}\n"));
        errors.push_str(&run_failing(
            bad.parent().expect("dir"),
            &["plan", "variants.yaml"],
        ));
    }
    snapshot("matrix-errors", &errors);
}

/// `dockopt import` of the matrix-dockerfiles example: it writes the committed manifest, and
/// what it says it assumed is pinned (no engine asked, so the notes are the same everywhere).
#[test]
fn import_of_the_matrix_dockerfiles_example() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/matrix-dockerfiles");
    let dir = std::env::temp_dir()
        .join(format!("dockopt-snap-{}", std::process::id()))
        .join("matrix-dockerfiles");
    std::fs::create_dir_all(&dir).expect("dir");
    let status = Command::new("cp")
        .arg("-r")
        .arg(src.join("."))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(status.success());
    std::fs::remove_file(dir.join("variants.yaml")).expect("rm");
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .current_dir(&dir)
        .env("DOCKOPT_DOCKER", "/bin/false")
        .args([
            "import",
            "1.0/bookworm/Dockerfile",
            "1.0/busybox/Dockerfile",
            "2.0/bookworm/Dockerfile",
            "2.0/busybox/Dockerfile",
            "-o",
            "variants.yaml",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    snapshot("import-matrix-dockerfiles-notes", &stderr);
    let written = std::fs::read_to_string(dir.join("variants.yaml")).expect("written");
    let committed = std::fs::read_to_string(src.join("variants.yaml")).expect("committed");
    assert_eq!(
        written, committed,
        "examples/matrix-dockerfiles/variants.yaml is not what import writes; re-import it"
    );
    // The plan is cheaper than the Dockerfiles as written, and never dearer than their orders.
    let plan: serde_json::Value =
        serde_json::from_str(&run(&dir, &["plan", "variants.yaml", "--format", "json"]))
            .expect("json");
    let cost = plan["cost"].as_f64().expect("cost");
    assert!(cost <= plan["as_listed_cost"].as_f64().expect("listed"));
    let written_runs: f64 = stderr
        .split("the Dockerfiles as written: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.parse().ok())
        .expect("as written");
    assert!(cost < written_runs, "{cost} vs {written_runs}");
}

/// What `dockopt import` refuses (with file:line) and what it only reports, pinned.
#[test]
fn import_diagnostics() {
    let dir = std::env::temp_dir()
        .join(format!("dockopt-snap-{}", std::process::id()))
        .join("import-diagnostics");
    std::fs::create_dir_all(dir.join("bad")).expect("dir");
    std::fs::create_dir_all(dir.join("partly")).expect("dir");
    std::fs::write(
        dir.join("bad/Dockerfile"),
        "FROM debian:bookworm AS build\nRUN make\n\nFROM debian:bookworm\nCOPY --from=build /out /out\nRUN --mount=type=ssh \\\n    git clone git@example.org:x.git\nCOPY --chown=1000 a /a\nADD https://example.org/x.tgz /x\nADD vendor.tar.gz /opt/\nRUN <<EOF\necho hi\nEOF\nRUN apt-get update\nRUN apt-get update\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("partly/Dockerfile"),
        "FROM debian:bookworm AS unused\nRUN true\nFROM debian:bookworm\nMAINTAINER someone\nENV GPG_KEY=ABC\nRUN apt-get update\nHEALTHCHECK CMD curl -f http://localhost/\nSTOPSIGNAL SIGTERM\nVOLUME /data\nONBUILD RUN echo child\nADD notes.txt /notes.txt\n",
    )
    .expect("write");
    let import = |file: &str| {
        Command::new(env!("CARGO_BIN_EXE_dockopt"))
            .current_dir(&dir)
            .env("DOCKOPT_DOCKER", "/bin/false")
            .args(["import", file])
            .output()
            .expect("runs")
    };
    let bad = import("bad/Dockerfile");
    assert_eq!(bad.status.code(), Some(1));
    let partly = import("partly/Dockerfile");
    assert!(partly.status.success());
    snapshot(
        "import-diagnostics",
        &format!(
            "## refused\n{}## reported\n{}## written\n{}",
            String::from_utf8_lossy(&bad.stderr),
            String::from_utf8_lossy(&partly.stderr),
            String::from_utf8_lossy(&partly.stdout)
        ),
    );
}

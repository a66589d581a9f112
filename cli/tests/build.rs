//! `dockopt build` against the local Docker engine: every target built and tagged.

use std::process::Command;

use dockopt_integration_tests::{engine_ready, fixture, ok, run, salt};

#[test]
fn build_tags_every_target_in_plan_order() {
    engine_ready();
    let manifest = fixture("toolbox").join("variants.yaml");
    let salt = salt("cli-build");
    let prefix = format!("dockopt-it/{}", salt.to_lowercase());
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .args([
            "build",
            manifest.to_str().expect("utf-8"),
            "--tag-prefix",
            &prefix,
        ])
        .arg("--build-arg")
        .arg(format!("SALT={salt}"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert!(lines[0].starts_with("[1/5] "), "{stdout}");
    // The first build runs its steps; later ones reuse what earlier ones built.
    assert!(lines[0].ends_with(", 0 from cache"), "{stdout}");
    assert!(
        lines[1..5].iter().all(|l| !l.ends_with(", 0 from cache")),
        "{stdout}"
    );
    assert!(lines[5].starts_with("built 5 targets"), "{stdout}");
    for target in ["devel", "full", "git", "minimal", "scripting"] {
        let tag = format!("{prefix}:{target}");
        let salt_file = ok(&["run", "--rm", "--entrypoint", "cat", &tag, "/tools/.salt"]);
        assert_eq!(salt_file.trim(), salt);
        let _ = run(&["rmi", "-f", &tag]);
    }
}

#[test]
fn build_stops_at_a_failing_step_and_shows_its_log() {
    engine_ready();
    let dir = dockopt_integration_tests::scratch_dir("failing");
    let manifest = dir.join("variants.yaml");
    std::fs::write(
        &manifest,
        "# syntax=dockopt/frontend:local\nversion: 1\ntargets:\n  broken: {from: dockopt-test/busybox, steps: [{run: 'echo about to fail; exit 3'}]}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .args(["build", manifest.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("building target `broken` failed"), "{err}");
    assert!(err.contains("about to fail"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

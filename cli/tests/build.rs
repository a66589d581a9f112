//! `dockopt build` against the local Docker engine: concurrent builds, failure isolation,
//! learned times, the lock, `--no-cache` and `--network`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dockopt_integration_tests::{engine_ready, fixture, ok, run, salt, scratch_dir};

/// Runs the CLI; a `build` that runs goes through `DOCKOPT_TEST_FRONTEND` when set (a frontend
/// image built from this tree under another tag, leaving the shared one alone).
fn dockopt(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockopt"));
    cmd.args(args);
    if args.first() == Some(&"build")
        && !args.contains(&"--frontend")
        && !args.contains(&"--print")
        && let Ok(f) = std::env::var("DOCKOPT_TEST_FRONTEND")
        && !f.is_empty()
    {
        cmd.args(["--frontend", &f]);
    }
    cmd.output().expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A copy of a fixture folder in a scratch dir (builds write the lock and times beside it).
fn copy_fixture(name: &str) -> PathBuf {
    let dir = scratch_dir(name);
    let status = Command::new("cp")
        .arg("-r")
        .arg(fixture(name).join("."))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(status.success());
    dir
}

fn write_manifest(dir: &Path, body: &str) -> String {
    let path = dir.join("variants.yaml");
    std::fs::write(&path, body).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

/// The contents of a file in an image.
fn cat(image: &str, file: &str) -> String {
    ok(&["run", "--rm", "--entrypoint", "cat", image, file])
        .trim()
        .to_owned()
}

#[test]
fn every_variant_is_built_concurrently_each_step_once_and_times_are_learned() {
    engine_ready();
    let dir = copy_fixture("toolbox");
    let manifest = dir.join("variants.yaml");
    let m = manifest.to_str().expect("utf-8");
    let salt = salt("cli-build");
    let prefix = format!("dockopt-it/{}", salt.to_lowercase());
    let salt_arg = format!("SALT={salt}");
    let args = [
        "build",
        m,
        "--tag-prefix",
        &prefix,
        "--build-arg",
        &salt_arg,
        "--progress",
        "json",
    ];
    let out = dockopt(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["event"] == kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("variant-built").len(), 5, "{stdout}");
    // Every trie node ran exactly once, none came from the cache.
    let planned = dockopt_integration_tests::planned_steps(
        &manifest,
        &[("SALT".to_owned(), salt.clone())].into_iter().collect(),
        None,
    );
    assert_eq!(of("step-done").len(), planned, "{stdout}");
    assert!(of("step-cached").is_empty(), "{stdout}");
    // Builds overlapped: some variant started before another had finished.
    let first_built = of("variant-built")[0]["t"].as_f64().unwrap_or_default();
    let last_started = of("variant-started")
        .last()
        .map(|e| e["t"].as_f64().unwrap_or_default())
        .unwrap_or_default();
    assert!(last_started < first_built, "{stdout}");
    for target in ["devel", "full", "git", "minimal", "scripting"] {
        assert_eq!(cat(&format!("{prefix}:{target}"), "/tools/.salt"), salt);
    }

    // The times store and the lock were written beside the manifest; plan now uses measurements.
    assert!(dir.join("variants.yaml.lock").exists());
    let times = std::fs::read_to_string(dir.join("variants.yaml.times.json")).expect("times");
    assert!(times.contains("\"dockopt-times\": 1"), "{times}");
    let plan = dockopt(&["plan", m, "--format", "json", "--build-arg", &salt_arg]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    assert_eq!(plan["steps_estimated"], 0, "{plan}");
    assert_eq!(plan["lock"]["kept"].as_array().map(Vec::len), Some(5));

    // A rebuild with nothing changed runs nothing.
    let again = dockopt(&args);
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(!stdout.contains("\"step-done\""), "{stdout}");
    for target in ["devel", "full", "git", "minimal", "scripting"] {
        let _ = run(&["rmi", "-f", &format!("{prefix}:{target}")]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

const FAILING: &str = "version: 1\ndefaults: {from: dockopt-test/busybox}\nargs: {SALT: ''}\nsteps:\n  base: {run: 'echo ${SALT} > /base', time: 5}\n  bad: {run: 'echo about to fail; exit 3', time: 2}\n  ok1: {run: 'echo ok1 > /ok1', time: 1}\n  ok2: {run: 'echo ok2 > /ok2', time: 1}\ntargets:\n  a: {steps: [base, bad, ok1]}\n  b: {steps: [base, bad, ok2]}\n  c: {steps: [base, ok1]}\n  d: {steps: [base, ok2, ok1]}\n";

/// Builds the failing manifest (no `# syntax=` line: the CLI names the frontend itself).
fn build_failing(extra: &[&str]) -> (Output, String, PathBuf) {
    let dir = scratch_dir("failing");
    let m = write_manifest(&dir, FAILING);
    let salt = salt("fail");
    let prefix = format!("dockopt-it/{}", salt.to_lowercase());
    let salt_arg = format!("SALT={salt}");
    let mut args = vec![
        "build",
        m.as_str(),
        "--tag-prefix",
        &prefix,
        "--build-arg",
        &salt_arg,
        "--progress",
        "plain",
    ];
    args.extend_from_slice(extra);
    let out = dockopt(&args);
    (out, prefix, dir)
}

fn row<'a>(table: &'a str, variant: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(variant))
        .unwrap_or_default()
}

#[test]
fn a_failing_step_fails_only_the_variants_below_it() {
    engine_ready();
    let (out, prefix, dir) = build_failing(&[]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}\n{}", text(&out.stderr));
    for v in ["a", "b"] {
        assert!(row(&table, v).contains("FAILED at `bad`"), "{table}");
        assert!(
            !run(&["image", "inspect", &format!("{prefix}:{v}")])
                .status
                .success()
        );
    }
    assert!(table.contains("│ about to fail"), "{table}");
    for v in ["c", "d"] {
        assert!(row(&table, v).contains("built in"), "{table}");
        assert_eq!(cat(&format!("{prefix}:{v}"), "/ok1"), "ok1");
        let _ = run(&["rmi", "-f", &format!("{prefix}:{v}")]);
    }
    assert!(table.contains("built 2 of 4 variants"), "{table}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn queued_variants_below_a_failed_step_are_skipped_and_fail_fast_stops() {
    engine_ready();
    // One build at a time: a fails, b (queued, below the same step) is never started.
    let (out, prefix, dir) = build_failing(&["--jobs", "1"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(row(&table, "a").contains("FAILED at `bad`"), "{table}");
    assert!(
        row(&table, "b").contains("skipped: `bad` failed"),
        "{table}"
    );
    assert!(row(&table, "c").contains("built in"), "{table}");
    for v in ["c", "d"] {
        let _ = run(&["rmi", "-f", &format!("{prefix}:{v}")]);
    }
    std::fs::remove_dir_all(&dir).ok();

    let (out, _, dir) = build_failing(&["--jobs", "1", "--fail-fast"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(row(&table, "a").contains("FAILED at `bad`"), "{table}");
    for v in ["b", "c", "d"] {
        assert!(row(&table, v).contains("skipped"), "{table}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn no_cache_runs_each_shared_step_once() {
    engine_ready();
    let dir = scratch_dir("no-cache");
    // Each step leaves a random stamp: variants that share a step must hold the same stamp.
    let m = write_manifest(
        &dir,
        "version: 1\ndefaults: {from: dockopt-test/busybox}\nsteps:\n  one: {run: 'cat /proc/sys/kernel/random/uuid > /one', time: 9}\n  two: {run: 'cat /proc/sys/kernel/random/uuid > /two', time: 5}\n  x: {run: 'echo x > /x'}\n  y: {run: 'echo y > /y'}\n  z: {run: 'echo z > /z'}\ntargets:\n  p: {steps: [one, two, x]}\n  q: {steps: [one, two, y]}\n  r: {steps: [one, z]}\n",
    );
    let prefix = format!("dockopt-it/{}", salt("nocache").to_lowercase());
    let build = || {
        let out = dockopt(&["build", &m, "--tag-prefix", &prefix, "--no-cache"]);
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let stamp = |v: &str, f: &str| cat(&format!("{prefix}:{v}"), f);
        let one = stamp("p", "/one");
        assert_eq!(stamp("q", "/one"), one);
        assert_eq!(stamp("r", "/one"), one);
        assert_eq!(stamp("p", "/two"), stamp("q", "/two"));
        one
    };
    let first = build();
    // And --no-cache really ran them again.
    assert_ne!(build(), first);
    for v in ["p", "q", "r"] {
        let _ = run(&["rmi", "-f", &format!("{prefix}:{v}")]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn network_host_reaches_every_run_step() {
    engine_ready();
    let dir = scratch_dir("network");
    // In the host's network namespace the engine's bridge is visible; in a build sandbox not.
    let m = write_manifest(
        &dir,
        &format!(
            "version: 1\ndefaults: {{from: dockopt-test/busybox}}\ntargets:\n  net: {{steps: [{{run: 'echo {} >/dev/null; grep -q docker0 /proc/net/dev'}}]}}\n",
            salt("net")
        ),
    );
    let prefix = format!("dockopt-it/{}", salt("net").to_lowercase());
    let host = dockopt(&["build", &m, "--tag-prefix", &prefix, "--network", "host"]);
    assert!(host.status.success(), "{}", text(&host.stdout));
    let sandbox = dockopt(&["build", &m, "--tag-prefix", &prefix, "--no-lock"]);
    assert_eq!(sandbox.status.code(), Some(1), "{}", text(&sandbox.stdout));
    let _ = run(&["rmi", "-f", &format!("{prefix}:net")]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_frontend_image_is_explained_and_print_runs_nothing() {
    engine_ready();
    let dir = scratch_dir("frontend");
    let m = write_manifest(
        &dir,
        "version: 1\ntargets:\n  t: {from: dockopt-test/busybox, steps: [{run: 'true'}]}\n",
    );
    let out = dockopt(&["build", &m, "--frontend", "dockopt-it/no-such-frontend:x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "the frontend image `dockopt-it/no-such-frontend:x` is not in the local Docker engine"
        ),
        "{err}"
    );
    let out = dockopt(&["build", &m, "--print", "--network", "host"]);
    assert!(out.status.success());
    let printed = text(&out.stdout);
    assert!(
        printed.contains("--target t")
            && printed.contains("BUILDKIT_SYNTAX=dockopt/frontend:local")
            && printed.contains("DOCKOPT_WARN=off"),
        "{printed}"
    );
    assert!(printed.contains("--network host"), "{printed}");
    assert!(!dir.join("variants.yaml.lock").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn other_platforms_are_refused_clearly() {
    engine_ready();
    let dir = scratch_dir("platform");
    let m = write_manifest(
        &dir,
        "version: 1\ntargets:\n  t: {from: dockopt-test/busybox, steps: [{run: 'true'}]}\n",
    );
    let out = dockopt(&["build", &m, "--platform", "linux/s390x", "--no-lock"]);
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    assert!(
        table.contains("--platform linux/s390x is not supported yet"),
        "{table}\n{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A cache shared through a registry: an engine builds and pushes every variant with its cache
/// inline; a new, empty engine builds the same manifest with `--cache-from` and runs nothing;
/// after one step is edited it runs that step only. Needs the Docker 26 engine of
/// `scripts/docker26-up` (this test restarts it empty) and the registry of
/// `scripts/registry-up`; `.ci/run` runs it alone with `DOCKOPT_REGISTRY_TEST=1`.
#[test]
fn a_cache_pushed_by_one_engine_is_used_by_a_new_empty_one() {
    if std::env::var_os("DOCKOPT_REGISTRY_TEST").is_none() {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: set DOCKOPT_REGISTRY_TEST=1 with the 26 engine and the registry up\n",
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let registry = std::env::var("DOCKOPT_REGISTRY").unwrap_or_else(|_| "localhost:5000".into());
    let restart = || {
        let down = Command::new(root.join("scripts/docker26-down"))
            .arg("--purge")
            .output()
            .expect("docker26-down");
        assert!(down.status.success(), "{}", text(&down.stderr));
        let up = Command::new(root.join("scripts/docker26-up"))
            .output()
            .expect("docker26-up");
        assert!(up.status.success(), "{}", text(&up.stderr));
    };
    // The frontend and the base come from the registry, so both engines use the same bytes.
    engine_ready();
    let frontend = format!("{registry}/dockopt-it/frontend:cache");
    let base = format!("{registry}/dockopt-it/busybox:cache");
    for (local, remote) in [
        ("dockopt/frontend:local", &frontend),
        ("dockopt-test/busybox:latest", &base),
    ] {
        let _ = ok(&["tag", local, remote]);
        let _ = ok(&["push", remote]);
    }
    let dir = scratch_dir("registry-cache");
    let body = |c: &str| {
        format!(
            "# syntax={frontend}\nversion: 1\nargs: {{SALT: ''}}\ndefaults: {{from: '{base}'}}\nsteps:\n  a: {{run: 'echo ${{SALT}} > /s && cat /proc/sys/kernel/random/uuid > /a', time: 5}}\n  b: {{run: 'cat /proc/sys/kernel/random/uuid > /b', after: [a], time: 2}}\n  c: {{run: '{c} && cat /proc/sys/kernel/random/uuid > /cs', after: [a], time: 2}}\ntargets:\n  x: {{steps: [a, b]}}\n  y: {{steps: [a, c]}}\n"
        )
    };
    let m = write_manifest(&dir, &body("echo c > /c"));
    let salt = salt("regcache");
    let salt_arg = format!("SALT={salt}");
    let pushed = format!("{registry}/dockopt-it/{}", salt.to_lowercase());
    let events = |out: &Output, kind: &str| -> Vec<String> {
        text(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == kind)
            .map(|e| e["step"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let first = dockopt(&[
        "build",
        &m,
        "--tag-prefix",
        &pushed,
        "--build-arg",
        &salt_arg,
        "--cache-to",
        "type=inline",
        "--push",
        "--progress",
        "json",
        "--no-lock",
    ]);
    assert!(
        first.status.success(),
        "{}{}",
        text(&first.stdout),
        text(&first.stderr)
    );
    assert_eq!(
        events(&first, "step-done").len(),
        3,
        "{}",
        text(&first.stdout)
    );
    // Each step leaves a random stamp: a step that runs again leaves another.
    let stamp_a = cat(&format!("{pushed}:y"), "/a");
    let stamp_b = cat(&format!("{pushed}:x"), "/b");
    let stamp_c = cat(&format!("{pushed}:y"), "/cs");

    restart();
    let from_x = format!("{pushed}:x");
    let from_y = format!("{pushed}:y");
    let args = [
        "build",
        &m,
        "--tag-prefix",
        "dockopt-it/regcache",
        "--build-arg",
        &salt_arg,
        "--cache-from",
        &from_x,
        "--cache-from",
        &from_y,
        "--progress",
        "json",
        "--no-lock",
    ];
    let second = dockopt(&args);
    assert!(
        second.status.success(),
        "{}{}",
        text(&second.stdout),
        text(&second.stderr)
    );
    // Nothing ran again: every step's stamp is the pushed one. (Mostly all three are reported
    // cached, but a remote cache hit the engine had to fetch may be reported as done — once
    // `c`, "done" in 1 ms — so the stamps decide, as below.)
    assert_eq!(cat("dockopt-it/regcache:y", "/a"), stamp_a);
    assert_eq!(cat("dockopt-it/regcache:x", "/b"), stamp_b);
    assert_eq!(cat("dockopt-it/regcache:y", "/cs"), stamp_c);
    let mut reported = events(&second, "step-cached");
    reported.extend(events(&second, "step-done"));
    reported.sort();
    assert_eq!(reported, ["a", "b", "c"], "{}", text(&second.stdout));

    // One step edited: only it runs, the rest still comes from the pushed cache.
    restart();
    write_manifest(&dir, &body("echo c2 > /c"));
    let third = dockopt(&args);
    assert!(
        third.status.success(),
        "{}{}",
        text(&third.stdout),
        text(&third.stderr)
    );
    // `c` ran; `a` and `b` are the pushed results (an engine with the containerd image store
    // reports a remote cache hit it had to fetch as done, so the stamps decide).
    assert!(
        events(&third, "step-done").contains(&"c".to_owned()),
        "{}",
        text(&third.stdout)
    );
    assert_eq!(cat("dockopt-it/regcache:y", "/c"), "c2");
    assert_eq!(cat("dockopt-it/regcache:y", "/a"), stamp_a);
    assert_eq!(cat("dockopt-it/regcache:x", "/b"), stamp_b);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_bake_file_builds_every_variant_through_buildx() {
    engine_ready();
    if !dockopt_integration_tests::client_has_buildx() {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: this client has no buildx (run with the 26 engine of scripts/docker26-up)\n",
        );
        return;
    }
    let dir = copy_fixture("toolbox");
    let m = dir.join("variants.yaml");
    let salt = salt("bake");
    let prefix = format!("dockopt-it/{}", salt.to_lowercase());
    let salt_arg = format!("SALT={salt}");
    let out = dockopt(&[
        "bake",
        m.to_str().expect("utf-8"),
        "--tag-prefix",
        &prefix,
        "--build-arg",
        &salt_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(dir.join("docker-bake.json"), &out.stdout).expect("write");
    let bake = dockopt_integration_tests::docker()
        .current_dir(&dir)
        .args(["buildx", "bake", "-f", "docker-bake.json", "--load"])
        .output()
        .expect("bake runs");
    assert!(bake.status.success(), "{}", text(&bake.stderr));
    for target in ["devel", "full", "git", "minimal", "scripting"] {
        assert_eq!(cat(&format!("{prefix}:{target}"), "/tools/.salt"), salt);
        let _ = run(&["rmi", "-f", &format!("{prefix}:{target}")]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The stages fixture through `dockopt build`: the variants are tagged, the stage is built for
/// them but not tagged, a secret reaches its step through `--secret`, and `--target` of a stage
/// is an error that names its readers.
#[test]
fn stages_are_built_for_their_readers_untagged_and_secrets_pass_through() {
    engine_ready();
    let dir = copy_fixture("stages");
    let m = dir.join("variants.yaml");
    let m = m.to_str().expect("utf-8");
    let salt = salt("cli-stages");
    let prefix = format!("dockopt-it/{}", salt.to_lowercase());
    let salt_arg = format!("SALT={salt}");
    let secret_file = dir.join("tok");
    std::fs::write(&secret_file, format!("dockopt-secret-{salt}")).expect("secret");
    let secret = format!("id=tok,src={}", secret_file.display());
    let args = vec![
        "build",
        m,
        "--tag-prefix",
        &prefix,
        "--build-arg",
        &salt_arg,
        "--secret",
        &secret,
        "--progress",
        "plain",
    ];
    let out = dockopt(&args);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    for target in ["left", "right", "cached", "secret", "squashed"] {
        let image = format!("{prefix}:{target}");
        assert!(
            run(&["image", "inspect", &image]).status.success(),
            "{image}"
        );
    }
    assert_eq!(
        cat(&format!("{prefix}:right"), "/opt/artifact"),
        format!("built {salt}")
    );
    assert_eq!(
        cat(&format!("{prefix}:secret"), "/secret-ok"),
        format!("{salt} readable")
    );
    assert!(
        !run(&["image", "inspect", &format!("{prefix}:builder")])
            .status
            .success()
    );

    let stage = dockopt(&["build", m, "--target", "builder"]);
    assert_eq!(stage.status.code(), Some(1));
    assert!(
        text(&stage.stderr).contains("target `builder` is a stage (`stage: true`): it is built, untagged, by the targets that read it (left, right)"),
        "{}",
        text(&stage.stderr)
    );
    for target in ["left", "right", "cached", "secret", "squashed"] {
        let _ = run(&["rmi", "-f", &format!("{prefix}:{target}")]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

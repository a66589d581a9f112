//! The frontend through a real `docker build` on the local engine (no mocks).

use std::collections::BTreeMap;

use dockopt_integration_tests::{
    Vertex, build, build_vertices, client_has_buildx, distinct_digests, engine_major, engine_ready,
    fixture, ok, planned_steps, run, salt, step_vertices, steps,
};

const FILE: &str = "variants.yaml";
const TARGETS: [&str; 5] = ["devel", "full", "git", "minimal", "scripting"];

/// Removes the test's images when the test ends, pass or fail.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = run(&["rmi", "-f", tag]);
        }
    }
}

fn salted(salt: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("SALT".to_owned(), salt.to_owned())])
}

#[test]
fn every_variant_builds_runs_and_has_its_config() {
    engine_ready();
    let ctx = fixture("toolbox");
    let salt = salt("config");
    let arg = format!("SALT={salt}");
    let mut images = Images(Vec::new());
    for target in TARGETS {
        let tag = format!("dockopt-it/{salt}:{target}");
        let (ok_build, progress) = build(
            &ctx,
            FILE,
            &[
                "--target",
                target,
                "--build-arg",
                &arg,
                "--label",
                "built.by=it",
                "-t",
                &tag,
            ],
        );
        assert!(ok_build, "{target}:\n{progress}");
        images.0.push(tag);
    }
    let tag = |t: &str| format!("dockopt-it/{salt}:{t}");
    // Each image holds exactly the files of its own steps.
    let files = |t: &str| {
        ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            &tag(t),
            "-c",
            "ls /tools",
        ])
    };
    assert_eq!(
        files("minimal").split_whitespace().collect::<Vec<_>>(),
        ["curl"]
    );
    assert_eq!(
        files("scripting").split_whitespace().collect::<Vec<_>>(),
        ["curl", "jq", "python"]
    );
    assert_eq!(
        files("devel").split_whitespace().collect::<Vec<_>>(),
        ["curl", "git", "make", "python"]
    );
    assert_eq!(
        files("full").split_whitespace().collect::<Vec<_>>(),
        ["curl", "git", "hello", "jq", "make", "python"]
    );
    let salt_file = ok(&["run", "--rm", &tag("minimal"), "cat", "/tools/.salt"]);
    assert_eq!(salt_file.trim(), salt, "the build arg reached the step");
    // `finally` copied from the context, then ran in its workdir.
    assert_eq!(
        ok(&["run", "--rm", &tag("full"), "cat", "/tools/hello"]).trim(),
        "hello from the context"
    );
    // Cmd of scripting runs as the image's default command.
    assert_eq!(ok(&["run", "--rm", &tag("scripting")]).trim(), "python");
    // Entrypoint + cmd of devel.
    assert_eq!(
        ok(&["run", "--rm", &tag("devel")])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["curl", "git", "make", "python"]
    );

    let inspect = |t: &str| -> serde_json::Value {
        let out = ok(&["image", "inspect", "--format", "{{json .Config}}", &tag(t)]);
        serde_json::from_str(&out).expect("config JSON")
    };
    let git = inspect("git");
    assert_eq!(git["User"], "1000");
    assert_eq!(git["WorkingDir"], "/home/tools");
    let env: Vec<&str> = git["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"GIT_PAGER=cat"), "{env:?}");
    assert!(
        env.contains(&"PATH=/bin"),
        "the base image's env is kept: {env:?}"
    );
    assert_eq!(git["Labels"]["built.by"], "it", "--label reaches the image");
    let scripting = inspect("scripting");
    assert_eq!(
        scripting["Cmd"],
        serde_json::json!(["cat", "/tools/python"])
    );
    assert_eq!(
        scripting["Labels"]["org.opencontainers.image.title"],
        "scripting"
    );
    assert!(
        scripting["ExposedPorts"].get("8000/tcp").is_some(),
        "{scripting}"
    );
    let devel = inspect("devel");
    assert_eq!(devel["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(devel["Cmd"], serde_json::json!(["ls /tools"]));
    assert_eq!(inspect("full")["WorkingDir"], "/tools");
    // The user step ran where the plan put it: the git image knows user 1000.
    assert!(ok(&["run", "--rm", &tag("git"), "id"]).contains("uid=1000(tools)"));

    // `docker history` reads like a Dockerfile's: a line per step naming it, newest first, over
    // the base's own line; the config settings as empty layers on top.
    let history = |t: &str| -> Vec<String> {
        ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            &tag(t),
        ])
        .lines()
        .map(str::to_owned)
        .collect()
    };
    let git_history = history("git");
    let named: Vec<&str> = git_history
        .iter()
        .filter_map(|l| l.rsplit_once("# dockopt step ").map(|(_, n)| n.trim()))
        .collect();
    let mut sorted = named.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["curl", "git", "prepare", "user"],
        "{git_history:#?}"
    );
    assert_eq!(
        named.last(),
        Some(&"prepare"),
        "the first step is the oldest"
    );
    assert!(
        git_history
            .iter()
            .any(|l| l.starts_with("RUN /bin/sh -c echo git > /tools/git")),
        "{git_history:#?}"
    );
    assert!(
        git_history.iter().any(|l| l == "USER 1000 # dockopt"),
        "{git_history:#?}"
    );
    assert!(
        history("full")
            .iter()
            .any(|l| l.starts_with("COPY files/ /opt/files/")),
        "{:#?}",
        history("full")
    );
}

#[test]
fn shared_steps_come_from_the_cache_and_each_trie_node_runs_once() {
    engine_ready();
    let ctx = fixture("toolbox");
    let salt = salt("sharing");
    let arg = format!("SALT={salt}");
    let mut executed = 0;
    let mut seen: Vec<&str> = Vec::new();
    for target in TARGETS {
        let (ok_build, progress) = build(&ctx, FILE, &["--target", target, "--build-arg", &arg]);
        assert!(ok_build, "{target}:\n{progress}");
        let vs = steps(&progress);
        assert!(!vs.is_empty(), "{target}: no steps in\n{progress}");
        for v in &vs {
            assert!(v.done, "{target}: {} did not finish", v.name);
            if !v.cached {
                executed += 1;
            }
        }
        // A step planned as shared with a target built earlier must come from the cache.
        let before = planned_steps(&ctx.join(FILE), &salted(&salt), Some(&seen));
        seen.push(target);
        let through = planned_steps(&ctx.join(FILE), &salted(&salt), Some(&seen));
        let ran = vs.iter().filter(|v| !v.cached).count();
        assert_eq!(
            ran,
            through - before,
            "{target} ran steps other targets had built:\n{progress}"
        );
        if target != TARGETS[0] {
            assert!(
                vs.iter().any(|v| v.cached),
                "{target} reused nothing:\n{progress}"
            );
        }
    }
    assert_eq!(
        executed,
        planned_steps(&ctx.join(FILE), &salted(&salt), None),
        "steps run across all variants = trie nodes"
    );
}

#[test]
fn one_build_without_target_runs_every_trie_node_once() {
    engine_ready();
    // Both ways of depending on every leaf: MergeOp where the engine offers it (Docker 26 with
    // the containerd image store), and the FileOp every engine runs (forced with
    // DOCKOPT_MERGEOP=off; on 20.10 both runs take the FileOp).
    for mergeop in ["on", "off"] {
        let ctx = fixture("toolbox");
        let salt = salt(&format!("all-{mergeop}"));
        let arg = format!("SALT={salt}");
        let merge_arg = format!("DOCKOPT_MERGEOP={mergeop}");
        let tag = format!("dockopt-it/{salt}:default");
        let _images = Images(vec![tag.clone()]);
        let (ok_build, vs, progress) = build_vertices(
            &ctx,
            FILE,
            &["--build-arg", &arg, "--build-arg", &merge_arg, "-t", &tag],
        );
        assert!(ok_build, "{progress}");
        let vs = step_vertices(vs);
        assert!(vs.iter().all(|v| v.done && !v.cached), "{progress}");
        assert_eq!(
            distinct_digests(&vs),
            vs.len(),
            "a step ran twice:\n{progress}"
        );
        assert_eq!(
            vs.len(),
            planned_steps(&ctx.join(FILE), &salted(&salt), None),
            "{progress}"
        );
        // The image is the `default:` target.
        assert_eq!(
            ok(&[
                "image",
                "inspect",
                "--format",
                "{{.Config.WorkingDir}}",
                &tag
            ])
            .trim(),
            "/tools"
        );
    }
}

#[test]
fn no_cache_without_target_still_runs_each_step_once() {
    engine_ready();
    let ctx = fixture("toolbox");
    let salt = salt("nocache");
    let arg = format!("SALT={salt}");
    // Warm the cache, then ask for none of it.
    let (warm, progress) = build(&ctx, FILE, &["--build-arg", &arg]);
    assert!(warm, "{progress}");
    let (ok_build, vs, progress) = build_vertices(&ctx, FILE, &["--build-arg", &arg, "--no-cache"]);
    assert!(ok_build, "{progress}");
    let vs = step_vertices(vs);
    assert_eq!(
        vs.len(),
        planned_steps(&ctx.join(FILE), &salted(&salt), None),
        "{progress}"
    );
    assert_eq!(
        distinct_digests(&vs),
        vs.len(),
        "a step ran twice:\n{progress}"
    );
    assert!(
        vs.iter().all(|v| !v.cached),
        "--no-cache ran every step:\n{progress}"
    );
}

#[test]
fn the_same_manifest_gives_the_same_llb_digests() {
    engine_ready();
    let ctx = fixture("toolbox");
    let salt = salt("digests");
    let arg = format!("SALT={salt}");
    let digests = |vs: &[Vertex]| -> Vec<(String, String)> {
        let mut d: Vec<(String, String)> = vs
            .iter()
            .filter(|v| v.name.starts_with("RUN ") || v.name.starts_with("[base]"))
            .map(|v| (v.name.clone(), v.digest.clone()))
            .collect();
        d.sort();
        d
    };
    let (a_ok, va, a) = build_vertices(&ctx, FILE, &["--target", "devel", "--build-arg", &arg]);
    let (b_ok, vb, b) = build_vertices(
        &ctx,
        FILE,
        &["--target", "devel", "--build-arg", &arg, "--no-cache"],
    );
    assert!(a_ok && b_ok, "{a}\n{b}");
    assert_eq!(digests(&va).len(), 6, "{a}");
    // Equal only if there is something to compare.
    assert!(digests(&va).iter().all(|(_, d)| !d.is_empty()), "{a}");
    assert_eq!(digests(&va), digests(&vb));
    // --no-cache really ran the steps again.
    assert!(step_vertices(vb).iter().all(|v| !v.cached), "{b}");
}

#[test]
fn bad_manifests_report_file_line_and_column() {
    engine_ready();
    let dir = dockopt_integration_tests::scratch_dir("bad");
    std::fs::write(
        dir.join("bad.yaml"),
        "# syntax=dockopt/frontend:local\nversion: 1\nsteps: {a: echo a}\ntargets:\n  t: {from: dockopt-test/busybox, steps: [a, b]}\n",
    )
    .expect("write");
    let (ok_build, progress) = build(&dir, "bad.yaml", &[]);
    assert!(!ok_build);
    assert!(progress.contains("bad.yaml:5:46"), "{progress}");
    assert!(progress.contains("no step is named `b`"), "{progress}");
    // One clean message: no gRPC code name repeated by every layer it passed through.
    assert!(!progress.contains("InvalidArgument"), "{progress}");
    assert_eq!(
        progress.matches("no step is named `b`").count(),
        1,
        "{progress}"
    );
    // buildx on a newer engine prints the manifest lines at fault from the error's source
    // detail (BuildKit 0.8 drops the detail where it forwards the gateway's error).
    if client_has_buildx() && engine_major() >= 23 {
        assert!(
            progress.contains(">>>   t: {from: dockopt-test/busybox, steps: [a, b]}"),
            "{progress}"
        );
    }

    let (ok_build, progress) = build(&fixture("toolbox"), FILE, &["--target", "nope"]);
    assert!(!ok_build);
    assert!(
        progress
            .contains("no target `nope`; the targets are: devel, full, git, minimal, scripting"),
        "{progress}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_command_line_comes_out_of_the_frontend_image() {
    engine_ready();
    let name = format!("dockopt-it-cli-{}", std::process::id());
    let _created = ok(&[
        "create",
        "--name",
        &name,
        dockopt_integration_tests::FRONTEND,
    ]);
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let copied = run(&[
        "cp",
        &format!("{name}:/dockopt"),
        dir.to_str().expect("utf-8"),
    ]);
    let _ = run(&["rm", &name]);
    assert!(copied.status.success(), "{copied:?}");
    let out = std::process::Command::new(dir.join("dockopt"))
        .arg("--version")
        .output()
        .expect("the static binary runs here");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("dockopt "), "{text}");
}

#[test]
fn plan_warnings_reach_the_client_where_the_engine_takes_them() {
    engine_ready();
    let ctx = fixture("warnings");
    let salt = salt("warnings");
    let (built, log) = build(
        &ctx,
        FILE,
        &[
            "--build-arg",
            &format!("SALT={salt}"),
            "--build-arg",
            "UNDECLARED=1",
        ],
    );
    assert!(built, "warnings do not fail the build:\n{log}");
    let said = |text: &str| log.contains(text);
    if engine_major() >= 23 {
        // BuildKit 0.10+ (`gateway.warnings`): both reach buildx, attached to the manifest's
        // load vertex, and are listed again at the end.
        assert!(
            said("WARN: step `spare` is listed by no target; it is not built"),
            "{log}"
        );
        assert!(
            said("build arg `UNDECLARED` is not declared in the manifest"),
            "{log}"
        );
        assert!(said("2 warnings found"), "{log}");
    } else {
        // BuildKit 0.8 has no `Warn`: nothing is sent, and the build is not disturbed.
        assert!(!said("WARN"), "{log}");
    }
}

//! `dockopt plan` as a user runs it: the binary, real files, exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A copy of an example manifest in a fresh folder, so that a lock or times store a user's
/// build left beside the example cannot change what the tests see.
fn example(path: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(path);
    let dir = std::env::temp_dir().join(format!(
        "dockopt-plan-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(src.file_name().expect("a file"));
    std::fs::copy(&src, &file).expect("copy example");
    file
}

fn dockopt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .args(args)
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_plan(path: &str) -> serde_json::Value {
    let out = dockopt(&["plan", path, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn text_plan_shows_the_tree_and_the_savings() {
    let path = example("toolbox/variants.yaml");
    let out = dockopt(&["plan", path.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "docker.io/library/debian:bookworm  (10 targets)\n└─ update → certs  (2 steps, ~26 s)  shared by 10\n"
        ),
        "{text}"
    );
    for needle in [
        "predicted build time",
        "as listed",
        "no sharing",
        "saves",
        "⇒ ci",
        "lower bound",
        "optimal",
        "step times            0 measured, 13 estimated (~)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn json_has_the_documented_shape_and_valid_orders() {
    let path = example("toolbox/variants.yaml");
    let plan = json_plan(path.to_str().expect("utf-8"));
    for key in ["cost", "as_listed_cost", "no_sharing_cost", "lower_bound"] {
        assert!(plan[key].is_f64(), "{key}");
    }
    assert!(plan["optimal"].is_boolean());
    let cost = plan["cost"].as_f64().expect("cost");
    assert!(plan["lower_bound"].as_f64().expect("lb") <= cost);
    assert!(cost <= plan["as_listed_cost"].as_f64().expect("listed"));
    assert!(
        plan["as_listed_cost"].as_f64().expect("listed")
            <= plan["no_sharing_cost"].as_f64().expect("none")
    );
    // Every target's steps are its listed steps, reordered, then `finally` in order.
    let text = std::fs::read_to_string(&path).expect("example");
    let manifest = dockopt_manifest::parse("v.yaml", &text, &Default::default()).expect("valid");
    let targets = plan["targets"].as_object().expect("targets");
    assert_eq!(targets.len(), manifest.targets.len());
    for t in &manifest.targets {
        let got: Vec<&str> = targets[&t.name]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s.as_str().expect("str"))
            .collect();
        assert_eq!(targets[&t.name]["base"], t.base.as_str());
        let labels = |ids: &[usize]| {
            ids.iter()
                .map(|&s| manifest.steps[s].label())
                .collect::<Vec<_>>()
        };
        let mut want = labels(&t.steps);
        let mut head: Vec<String> = got[..t.steps.len()]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        want.sort();
        head.sort();
        assert_eq!(head, want, "{}", t.name);
        assert_eq!(
            got[t.steps.len()..].to_vec(),
            labels(&t.finally),
            "{}",
            t.name
        );
        // `update` (which every other apt step waits for) comes first.
        assert_eq!(got[0], "update", "{}", t.name);
    }
}

#[test]
fn same_manifest_same_bytes_whatever_the_key_order() {
    let path = example("python-matrix/variants.yaml");
    let first = dockopt(&["plan", path.to_str().expect("utf-8"), "--format", "json"]);
    let again = dockopt(&["plan", path.to_str().expect("utf-8"), "--format", "json"]);
    assert_eq!(first.stdout, again.stdout);
    // The same manifest with its targets and steps listed in reverse.
    let text = std::fs::read_to_string(&path).expect("example");
    let mut head = Vec::new();
    let mut steps = Vec::new();
    let mut targets = Vec::new();
    let mut section = 0;
    for line in text.lines() {
        match line {
            "steps:" => section = 1,
            "targets:" => section = 2,
            _ => {}
        }
        match (section, line.starts_with("  ")) {
            (1, true) => steps.push(line),
            (2, true) => targets.push(line),
            _ => head.push(line),
        }
    }
    steps.reverse();
    targets.reverse();
    let mut reordered = String::new();
    for line in head.iter().take_while(|l| **l != "steps:") {
        reordered.push_str(line);
        reordered.push('\n');
    }
    reordered.push_str("steps:\n");
    for l in &steps {
        reordered.push_str(l);
        reordered.push('\n');
    }
    reordered.push_str("targets:\n");
    for l in &targets {
        reordered.push_str(l);
        reordered.push('\n');
    }
    let dir = std::env::temp_dir().join(format!("dockopt-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let other = dir.join("variants.yaml");
    std::fs::write(&other, reordered).expect("write");
    let swapped = dockopt(&["plan", other.to_str().expect("utf-8"), "--format", "json"]);
    assert!(swapped.status.success(), "{}", stderr(&swapped));
    let a: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    let b: serde_json::Value = serde_json::from_slice(&swapped.stdout).expect("json");
    assert_eq!(a["targets"], b["targets"]);
    assert_eq!(a["cost"], b["cost"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn build_args_and_target_selection() {
    let path = example("toolbox/variants.yaml");
    let p = path.to_str().expect("utf-8");
    let out = dockopt(&[
        "plan",
        p,
        "--format",
        "json",
        "--build-arg",
        "DEBIAN=trixie",
        "--target",
        "git",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let targets = plan["targets"].as_object().expect("targets");
    assert_eq!(targets.keys().collect::<Vec<_>>(), ["git"]);
    assert_eq!(targets["git"]["base"], "docker.io/library/debian:trixie");

    let out = dockopt(&["plan", p, "--target", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no target `nope`"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("ci, devel, editor, full"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn user_errors_exit_1_with_the_place() {
    let dir = std::env::temp_dir().join(format!("dockopt-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\ntargets:\n  t: {from: busybox, steps: [nope]}\n",
    )
    .expect("write");
    let out = dockopt(&["plan", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("--> {}:3:30", bad.display())),
        "{err}"
    );
    assert!(err.contains("no step is named `nope`"), "{err}");
    assert!(stdout(&out).is_empty());

    let out = dockopt(&["plan", dir.join("missing.yaml").to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));

    // Bad arguments are user errors too (exit 1; 2 is for dockopt's own failures).
    let out = dockopt(&["plan", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = dockopt(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    // An unknown --target gets a suggestion, like manifest errors.
    let good = example("toolbox/variants.yaml");
    let out = dockopt(&[
        "plan",
        good.to_str().expect("utf-8"),
        "--target",
        "scriptin",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did you mean `scripting`?"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn exact_refuses_what_is_over_the_effort() {
    let path = example("toolbox/variants.yaml");
    let out = dockopt(&[
        "plan",
        path.to_str().expect("utf-8"),
        "--method",
        "exact",
        "--effort",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("too large for the exact method"),
        "{}",
        stderr(&out)
    );
    let greedy = json_plan_with(&path, &["--method", "greedy"]);
    let exact = json_plan_with(&path, &[]);
    assert!(greedy["cost"].as_f64() >= exact["cost"].as_f64());
}

fn json_plan_with(path: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", path.to_str().expect("utf-8"), "--format", "json"];
    args.extend_from_slice(extra);
    let out = dockopt(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn dockerfile_prints_a_target_as_listed_or_as_planned() {
    let path = example("toolbox/variants.yaml");
    let p = path.to_str().expect("utf-8");
    let listed = dockopt(&["dockerfile", p, "--target", "ci", "--order", "listed"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = stdout(&listed);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "FROM debian:bookworm");
    assert_eq!(lines[2], "RUN apt-get update");
    assert_eq!(
        lines[3],
        "RUN apt-get install -y --no-install-recommends ca-certificates"
    );
    assert!(
        text.contains(
            "COPY [\"ci/\",\"/ci\"]\nRUN chmod +x /ci/entry.sh\nENTRYPOINT [\"/ci/entry.sh\"]\n"
        ),
        "{text}"
    );
    let planned = stdout(&dockopt(&["dockerfile", p, "--target", "ci"]));
    let plan = json_plan(p);
    let steps: Vec<&str> = plan["targets"]["ci"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    // Same steps, the plan's order: `git` comes right after the shared update/certs prefix.
    assert_eq!(steps[2], "git");
    assert_eq!(
        planned.lines().nth(4),
        Some("RUN apt-get install -y --no-install-recommends git")
    );
    assert_eq!(planned.lines().count(), text.lines().count());
}

#[test]
fn llb_is_the_same_bytes_every_run_and_decodes() {
    use prost::Message;
    let path = example("toolbox/variants.yaml");
    let p = path.to_str().expect("utf-8");
    let a = dockopt(&["llb", p, "--target", "ci"]);
    let b = dockopt(&["llb", p, "--target", "ci"]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout, "byte-identical across processes");
    let def = dockopt_proto::pb::Definition::decode(a.stdout.as_slice()).expect("a Definition");
    // base, 8 steps, the copy's context source, the copy, the chmod, the terminal.
    assert_eq!(def.def.len(), 13);
    let terminal =
        dockopt_proto::pb::Op::decode(def.def.last().expect("terminal").as_slice()).expect("op");
    assert!(terminal.op.is_none() && terminal.inputs.len() == 1);
    let dot = stdout(&dockopt(&["plan", p, "--format", "dot"]));
    assert!(dot.starts_with("digraph plan {"), "{dot}");
    assert_eq!(
        dot.matches("shape=box, style=rounded").count(),
        10,
        "one box per target"
    );
}

/// The op digests of one target's LLB Definition.
fn op_digests(manifest: &str, target: &str) -> std::collections::BTreeSet<String> {
    use prost::Message;
    let out = dockopt(&["llb", manifest, "--target", target]);
    assert!(out.status.success(), "{}", stderr(&out));
    let def = dockopt_proto::pb::Definition::decode(out.stdout.as_slice()).expect("a Definition");
    def.def
        .iter()
        .map(|op| dockopt_llb::digest_of(op))
        .collect()
}

#[test]
fn adding_a_variant_to_a_locked_manifest_keeps_every_other_variants_llb() {
    let dir = std::env::temp_dir().join(format!("dockopt-lock-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ci")).expect("dir");
    let path = dir.join("variants.yaml");
    let original = std::fs::read_to_string(example("toolbox/variants.yaml")).expect("example");
    std::fs::write(&path, &original).expect("write");
    let m = path.to_str().expect("utf-8");
    let locked = dockopt(&["plan", m, "--lock"]);
    assert!(locked.status.success(), "{}", stderr(&locked));
    let targets = [
        "minimal",
        "git",
        "web",
        "scripting",
        "devel",
        "full",
        "net",
        "editor",
        "python",
        "ci",
    ];
    let before: Vec<_> = targets.iter().map(|t| op_digests(m, t)).collect();
    // Without the lock this newcomer moves `python` and `scripting` (it shares user/curl/python).
    std::fs::write(
        &path,
        format!("{original}  newcomer:\n    steps: [update, user, curl, python]\n"),
    )
    .expect("write");
    let plan = json_plan_with(&path, &[]);
    assert_eq!(
        plan["lock"]["new"],
        serde_json::json!(["newcomer"]),
        "{plan}"
    );
    assert_eq!(
        plan["lock"]["kept"].as_array().map(Vec::len),
        Some(10),
        "{plan}"
    );
    for (t, digests) in targets.iter().zip(&before) {
        assert_eq!(&op_digests(m, t), digests, "target {t} changed");
    }
    // --update re-plans from scratch and says what that costs and saves.
    let update = dockopt(&["plan", m, "--update"]);
    assert!(update.status.success());
    assert!(
        stderr(&update).contains("one-off rebuild"),
        "{}",
        stderr(&update)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn svg_is_drawn_by_graphviz_or_explained() {
    let path = example("toolbox/variants.yaml");
    let out = dockopt(&["plan", path.to_str().expect("utf-8"), "--format", "svg"]);
    let has_dot = Command::new("dot").arg("-V").output().is_ok();
    if has_dot {
        assert!(out.status.success(), "{}", stderr(&out));
        let svg = stdout(&out);
        assert!(svg.contains("<svg"), "{svg}");
        assert!(
            svg.contains("predicted 3 min 11 s"),
            "the title carries the totals"
        );
    } else {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("install Graphviz"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_very_long_target_is_drawn_folded_without_deep_recursion() {
    let dir = std::env::temp_dir().join(format!("dockopt-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("long.yaml");
    let mut text = String::from(
        "version: 1\nlayers: 0\ndefaults: {from: debian}\ntargets:\n  big:\n    steps:\n",
    );
    for i in 0..20_000 {
        text.push_str(&format!("      - {{run: echo {i}}}\n"));
    }
    text.push_str("  small:\n    steps: [{run: echo 1}, {run: echo 2}]\n");
    std::fs::write(&path, text).expect("write");
    let out = dockopt(&["plan", path.to_str().expect("utf-8"), "--no-lock"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("(19998 steps, ~5 h 33 min)  ⇒ big"),
        "{}",
        &text[..text.len().min(2000)]
    );
    assert!(text.lines().count() < 20, "the chain is one line");
    std::fs::remove_dir_all(&dir).ok();
}

/// `dockopt import` as a user runs it: names from paths or `--name`, stdout without `-o`,
/// `--keep-order`, and a Dockerfile outside the manifest's folder refused.
#[test]
fn import_names_outputs_and_refusals() {
    let dir = std::env::temp_dir().join(format!("dockopt-import-cli-{}", std::process::id()));
    for sub in ["web", "api"] {
        std::fs::create_dir_all(dir.join(sub)).expect("dir");
        std::fs::write(
            dir.join(sub).join("Dockerfile"),
            format!("FROM busybox\nRUN echo base > /base\nRUN echo {sub} > /{sub}\n"),
        )
        .expect("write");
    }
    std::fs::write(
        dir.join("worker.Dockerfile"),
        "FROM busybox\nRUN echo base > /base\n",
    )
    .expect("write");
    let import = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dockopt"))
            .current_dir(&dir)
            .env("DOCKOPT_DOCKER", "/bin/false")
            .args(args)
            .output()
            .expect("runs")
    };
    let out = import(&[
        "import",
        "web/Dockerfile",
        "api/Dockerfile",
        "worker.Dockerfile",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = stdout(&out);
    for name in ["  web:", "  api:", "  worker:"] {
        assert!(yaml.contains(name), "{name} in\n{yaml}");
    }
    assert!(
        stderr(&out).contains("plan: 3 step runs"),
        "{}",
        stderr(&out)
    );
    let out = import(&[
        "import",
        "web/Dockerfile",
        "api/Dockerfile",
        "--name",
        "front",
        "--keep-order",
        "-o",
        "variants.yaml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = std::fs::read_to_string(dir.join("variants.yaml")).expect("written");
    assert!(
        yaml.contains("  front:\n") && yaml.contains("  api:\n"),
        "{yaml}"
    );
    assert!(yaml.contains("    finally: ["), "{yaml}");
    let plan = dockopt(&["plan", dir.join("variants.yaml").to_str().expect("utf-8")]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    // A manifest below the Dockerfiles' folders could not copy from them.
    std::fs::create_dir_all(dir.join("out")).expect("dir");
    let out = import(&["import", "web/Dockerfile", "-o", "out/variants.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not inside"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}

/// A one-target manifest with a named step no target lists, in a fresh folder.
fn one_target_with_an_unused_step() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dockopt-unused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("one.yaml");
    std::fs::write(
        &file,
        "version: 1\nsteps:\n  used: {run: echo used}\n  spare: {run: echo spare}\ntargets:\n  only: {from: debian, steps: [used]}\n",
    )
    .expect("write");
    file
}

#[test]
fn an_unused_step_is_a_warning_and_counts_of_one_are_singular() {
    let file = one_target_with_an_unused_step();
    let out = dockopt(&["plan", file.to_str().expect("utf-8"), "--no-lock"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("one.yaml:4:3: step `spare` is listed by no target; it is not built"),
        "{err}"
    );
    let text = stdout(&out);
    assert!(text.contains("(1 target)"), "{text}");
    assert!(text.contains("(1 step run for 1 listed)"), "{text}");
    assert!(
        !text.contains("1 targets") && !text.contains("1 steps"),
        "{text}"
    );
}

#[test]
fn a_broken_docker_client_is_named_with_what_to_set() {
    let file = one_target_with_an_unused_step();
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .args(["build", file.to_str().expect("utf-8"), "--no-lock"])
        .env("DOCKOPT_DOCKER", "/nonexistent/docker")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "\nerror: cannot run the Docker client `/nonexistent/docker` (from DOCKOPT_DOCKER)"
        ) && err.contains("set DOCKOPT_DOCKER to"),
        "{err}"
    );
}

#[test]
fn a_missing_copy_source_is_reported_with_its_line_before_any_build() {
    let dir = std::env::temp_dir().join(format!("dockopt-missing-src-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("conf")).expect("temp dir");
    std::fs::write(dir.join("conf/app.toml"), "x = 1\n").expect("write");
    let file = dir.join("m.yaml");
    std::fs::write(
        &file,
        "version: 1\nsteps:\n  conf: {copy: {src: [conf/app.toml, conf/*.ini], dest: /etc/app/}}\n  \
         web: {copy: {src: [web/], dest: /srv/}}\ntargets:\n  app: {from: debian, steps: [conf, web]}\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf-8");
    let plan = dockopt(&["plan", path, "--no-lock"]);
    assert!(plan.status.success(), "plan still plans: {}", stderr(&plan));
    let err = stderr(&plan);
    assert!(
        err.contains("m.yaml:4:3: step `web` copies `web/`, which is not in the build context"),
        "{err}"
    );
    assert_eq!(err.matches("which is not in").count(), 1, "{err}");
    // `build` stops before it reaches the engine (the client path is never run).
    let build = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .args(["build", path, "--no-lock"])
        .env("DOCKOPT_DOCKER", "/nonexistent/docker")
        .output()
        .expect("runs");
    assert_eq!(build.status.code(), Some(1));
    let err = stderr(&build);
    assert!(
        err.contains("error: ") && err.contains("copies `web/`"),
        "{err}"
    );
    assert!(!err.contains("Docker client"), "{err}");
}

#[test]
fn an_effort_that_would_lift_every_limit_is_refused() {
    let file = example("toolbox/variants.yaml");
    for bad in ["nan", "inf", "0", "-1", "1e300"] {
        let out = dockopt(&["plan", file.to_str().expect("utf-8"), "--effort", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("work units above 0"), "{bad}");
    }
    let ok = dockopt(&[
        "plan",
        file.to_str().expect("utf-8"),
        "--effort",
        "1e6",
        "--no-lock",
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
}

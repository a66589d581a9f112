//! Build stages and `RUN --mount` through a real `docker build` on the local engine.

use dockopt_integration_tests::{build, engine_ready, fixture, ok, run, salt, steps};

const FILE: &str = "variants.yaml";

/// Removes the test's images when the test ends, pass or fail.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = run(&["rmi", "-f", tag]);
        }
    }
}

fn cat(image: &str, path: &str) -> String {
    ok(&["run", "--rm", image, "cat", path])
}

#[test]
fn a_stage_is_built_once_and_copied_into_two_variants() {
    engine_ready();
    let ctx = fixture("stages");
    let salt = salt("stage");
    let arg = format!("SALT={salt}");
    let mut images = Images(Vec::new());
    let mut logs = Vec::new();
    for target in ["left", "right"] {
        let tag = format!("dockopt-it/{salt}:{target}");
        let (built, progress) = build(
            &ctx,
            FILE,
            &["--target", target, "--build-arg", &arg, "-t", &tag],
        );
        assert!(built, "{target}:\n{progress}");
        images.0.push(tag.clone());
        assert_eq!(cat(&tag, "/opt/artifact").trim(), format!("built {salt}"));
        assert_eq!(cat(&tag, "/opt/note.txt").trim(), "from the context");
        assert_eq!(cat(&tag, "/side").trim(), target);
        logs.push(progress);
    }
    // The stage's steps ran for the first variant and came from the cache for the second.
    let stage_step = |log: &str| {
        steps(log)
            .into_iter()
            .find(|v| v.name.contains("/out/artifact"))
            .unwrap_or_else(|| panic!("no stage step in\n{log}"))
    };
    assert!(!stage_step(&logs[0]).cached, "{}", logs[0]);
    assert!(stage_step(&logs[1]).cached, "{}", logs[1]);
    // The copy from the stage is planned as a step of its own in each variant.
    assert!(
        steps(&logs[1])
            .iter()
            .any(|v| v.name.starts_with("COPY --from=builder")),
        "{}",
        logs[1]
    );
}

#[test]
fn a_cache_mount_keeps_its_contents_across_builds_and_stays_out_of_the_image() {
    engine_ready();
    let ctx = fixture("stages");
    let salt = salt("cache");
    let arg = format!("SALT={salt}");
    let mut images = Images(Vec::new());
    for round in ["1", "2"] {
        let tag = format!("dockopt-it/{salt}:round{round}");
        let round_arg = format!("ROUND={round}");
        let (built, progress) = build(
            &ctx,
            FILE,
            &[
                "--target",
                "cached",
                "--build-arg",
                &arg,
                "--build-arg",
                &round_arg,
                "-t",
                &tag,
            ],
        );
        assert!(built, "round {round}:\n{progress}");
        images.0.push(tag);
    }
    let seen = cat(&images.0[1], "/seen");
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        [format!("{salt} round 1"), format!("{salt} round 2")],
        "the second build saw what the first wrote into the cache"
    );
    // BuildKit 0.8 leaves the mount point behind as an empty folder; newer BuildKit removes it.
    let listing = ok(&[
        "run",
        "--rm",
        &images.0[1],
        "sh",
        "-c",
        "ls -a /cache 2>/dev/null; echo end",
    ]);
    assert!(
        listing.ends_with("end\n") && !listing.contains("log"),
        "the cache is not in the image: {listing}"
    );
}

#[test]
fn a_secret_is_readable_in_run_and_absent_from_the_image_its_history_and_the_llb() {
    engine_ready();
    let ctx = fixture("stages");
    let salt = salt("secret");
    let value = format!("dockopt-secret-{salt}");
    let dir = dockopt_integration_tests::scratch_dir("secret");
    let file = dir.join("tok");
    std::fs::write(&file, &value).expect("secret file");
    let arg = format!("SALT={salt}");
    let tag = format!("dockopt-it/{salt}:secret");
    let _images = Images(vec![tag.clone()]);
    let secret = format!("id=tok,src={}", file.display());
    let (built, progress) = build(
        &ctx,
        FILE,
        &[
            "--target",
            "secret",
            "--build-arg",
            &arg,
            "--secret",
            &secret,
            "-t",
            &tag,
        ],
    );
    assert!(built, "{progress}");
    assert_eq!(cat(&tag, "/secret-ok").trim(), format!("{salt} readable"));
    assert!(!progress.contains(&value), "the secret in the build log");
    // Not in any layer or config: the saved image does not contain it.
    let saved = dir.join("image.tar");
    let _ = ok(&["save", "-o", saved.to_str().expect("utf-8"), &tag]);
    let bytes = std::fs::read(&saved).expect("saved image");
    assert!(
        !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
        "the secret is in the saved image"
    );
    let history = ok(&["history", "--no-trunc", &tag]);
    assert!(!history.contains(&value), "{history}");
    // Without the secret, the required mount fails the build.
    let (built, _) = build(
        &ctx,
        FILE,
        &[
            "--target",
            "secret",
            "--build-arg",
            &format!("SALT={salt}-none"),
        ],
    );
    assert!(!built, "a required secret that is missing fails the build");
    // The LLB the frontend makes holds the id only (the value never reaches the frontend).
    let text = std::fs::read_to_string(ctx.join(FILE)).expect("manifest");
    let args = std::collections::BTreeMap::from([("SALT".to_owned(), salt.clone())]);
    let planned = dockopt_project::plan(&dockopt_project::Input {
        file: FILE,
        text: &text,
        build_args: &args,
        lock: None,
        times: None,
        options: dockopt_planner::Options::default(),
    })
    .expect("plans");
    let m = &planned.manifest;
    let bases = m
        .targets
        .iter()
        .map(|t| (t.base.clone(), dockopt_llb::BaseConfig::unresolved(&t.base)))
        .collect();
    let built = dockopt_llb::build(
        m,
        &planned.plan,
        &bases,
        &dockopt_llb::BuildOptions::default(),
    )
    .expect("llb");
    let t = m.target_index("secret").expect("target");
    let def = built
        .graph
        .definition(built.leaves[t].as_ref().expect("leaf"));
    let has = |needle: &[u8]| {
        def.def
            .iter()
            .any(|op| op.windows(needle.len()).any(|w| w == needle))
    };
    assert!(has(b"/run/secrets/tok"), "the mount is in the LLB");
    assert!(!has(value.as_bytes()), "the secret's value is not");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_build_without_target_runs_the_stage_once_for_its_readers_and_does_not_count_it() {
    engine_ready();
    let ctx = fixture("stages");
    let salt = salt("all");
    let dir = dockopt_integration_tests::scratch_dir("all-secret");
    let file = dir.join("tok");
    std::fs::write(&file, format!("dockopt-secret-{salt}")).expect("secret file");
    let secret = format!("id=tok,src={}", file.display());
    let arg = format!("SALT={salt}");
    let (built, progress) = build(&ctx, FILE, &["--build-arg", &arg, "--secret", &secret]);
    assert!(built, "{progress}");
    // The variants, not the stage, are the targets of the all-targets op.
    assert!(progress.contains("[dockopt] all 5 targets"), "{progress}");
    let vs = steps(&progress);
    let stage_runs = vs
        .iter()
        .filter(|v| v.name.contains("/out/artifact"))
        .count();
    assert_eq!(stage_runs, 1, "{progress}");
    let copies = vs
        .iter()
        .filter(|v| v.name.starts_with("COPY --from=builder"))
        .count();
    assert_eq!(copies, 1, "one copy shared by left and right: {progress}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_squashed_target_adds_one_layer_for_its_own_steps() {
    engine_ready();
    let ctx = fixture("stages");
    let salt = salt("squash");
    let arg = format!("SALT={salt}");
    let tag = format!("dockopt-it/{salt}:squashed");
    let _images = Images(vec![tag.clone()]);
    let (built, progress) = build(
        &ctx,
        FILE,
        &["--target", "squashed", "--build-arg", &arg, "-t", &tag],
    );
    assert!(built, "{progress}");
    let layers = |image: &str| {
        ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", image])
            .trim()
            .parse::<usize>()
            .expect("a count")
    };
    // The base's layers, and one for the three steps.
    assert_eq!(layers(&tag), layers(dockopt_integration_tests::BUSYBOX) + 1);
    assert_eq!(cat(&tag, "/sq/salt").trim(), salt);
    assert_eq!(cat(&tag, "/sq/one").trim(), "one");
    assert_eq!(cat(&tag, "/sq/two").trim(), "two");
    let runs = steps(&progress);
    assert_eq!(runs.len(), 1, "one exec: {progress}");
    assert!(runs[0].name.contains(") && ("), "{}", runs[0].name);
    // `docker history`: one line for the squashed layer, naming its three steps.
    let history = ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]);
    let ours: Vec<&str> = history
        .lines()
        .filter(|l| l.contains("# dockopt"))
        .collect();
    assert_eq!(ours.len(), 1, "{history}");
    assert!(
        ours[0].ends_with("# dockopt steps sq-dir, sq-one, sq-two"),
        "{history}"
    );
}

use super::*;
use dockopt_manifest::{CacheSharing, Copy, Mount};

fn src(name: &str, text: &str) -> Source {
    Source {
        file: format!("{name}/Dockerfile"),
        name: name.into(),
        text: text.into(),
        context: format!("{name}/"),
    }
}

fn run(sources: &[Source], keep_order: bool) -> Result<Imported, Vec<String>> {
    import(
        sources,
        &Options {
            keep_order,
            build_args: BTreeMap::new(),
        },
        &mut |_| Some(vec!["PATH=/usr/bin:/bin".into()]),
        &mut |_| None,
    )
}

const A: &str = "ARG DISTRO=bookworm\nFROM debian:${DISTRO}\nENV LANG=C.UTF-8 PY=3.11\nRUN apt-get update\nRUN apt-get install -y \\\n      curl\nRUN apt-get install -y git\nRUN echo $PY > /py\nWORKDIR /app\nCOPY app.sh ./\nCMD [\"/app/app.sh\"]\n";
const B: &str = "FROM debian:bookworm\nENV PY=3.12\nENV LANG=C.UTF-8\nRUN apt-get update\nRUN apt-get install -y   git\nRUN apt-get install -y curl\nRUN echo $PY > /py\nHEALTHCHECK CMD true\n";

fn plan(yaml: &str) -> dockopt_project::Planned {
    dockopt_project::plan(&dockopt_project::Input {
        file: "variants.yaml",
        text: yaml,
        build_args: &BTreeMap::new(),
        lock: None,
        times: None,
        options: dockopt_planner::Options::default(),
    })
    .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

#[test]
fn identical_commands_become_one_step_and_installs_stay_free() {
    let out = run(&[src("a", A), src("b", B)], false).expect("imports");
    let planned = plan(&out.yaml);
    let m = &planned.manifest;
    // update, curl, git, two `echo $PY` (different env), one copy.
    assert_eq!(m.steps.len(), 6, "{}", out.yaml);
    let by_name = |n: &str| {
        m.steps
            .iter()
            .position(|s| s.name.as_deref() == Some(n))
            .unwrap_or_else(|| panic!("no step {n} in\n{}", out.yaml))
    };
    let (update, curl, git) = (
        by_name("apt-update"),
        by_name("install-curl"),
        by_name("install-git"),
    );
    assert!(m.after.contains(&(update, curl)));
    assert!(m.after.contains(&(update, git)));
    assert!(!m.after.contains(&(curl, git)) && !m.after.contains(&(git, curl)));
    assert!(
        out.yaml
            .contains("# installs packages: after the index update (a/Dockerfile:5 after line 4)"),
        "{}",
        out.yaml
    );
    // PY is folded into the step that reads it; LANG is ambient; the image gets both.
    let a = m.target("a").expect("a");
    assert_eq!(a.config.env.get("PY").map(String::as_str), Some("3.11"));
    assert_eq!(a.config.workdir.as_deref(), Some("/app"));
    assert_eq!(a.from, "debian:bookworm");
    let copy = m
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::Copy(_)))
        .expect("copy");
    assert_eq!(
        copy.action,
        Action::Copy(Copy {
            src: vec!["a/app.sh".into()],
            dest: "./".into(),
            from: None,
            stage: None,
        })
    );
    assert_eq!(copy.context.workdir.as_deref(), Some("/app"));
    // The plan shares what the Dockerfiles' orders could not and is never dearer.
    assert!(planned.plan.cost <= planned.plan.as_listed_cost + 1e-9);
    assert!(planned.plan.cost < planned.plan.as_listed_cost);
    assert_eq!(out.as_written_runs, 9);
    let b = m.target("b").expect("b");
    assert_eq!(
        b.config.healthcheck.as_ref().map(|h| h.test.clone()),
        Some(vec!["CMD-SHELL".to_owned(), "true".to_owned()])
    );
}

#[test]
fn keep_order_keeps_each_dockerfile_as_a_chain() {
    let out = run(&[src("a", A), src("b", B)], true).expect("imports");
    let planned = plan(&out.yaml);
    assert!(planned.manifest.after.is_empty());
    assert!(planned.manifest.targets.iter().all(|t| t.steps.is_empty()));
    assert!(planned.plan.cost <= planned.plan.as_listed_cost + 1e-9);
}

#[test]
fn what_the_manifest_cannot_express_is_an_error_with_its_line() {
    let text = "FROM debian:bookworm AS build\nRUN make\nFROM debian:bookworm\nRUN --mount=type=ssh git clone x\nRUN --mount=type=bind,from=alpine:3,target=/a ls /a\nCOPY --chown=1000 a /a\nADD https://example.org/x.tgz /x\nRUN --mount=type=cache,target=/c,uid=1000 ls\nRUN --network=none true\nRUN --mount=type=cache,target=/c,ro ls\n";
    let errors = run(&[src("m", text)], false).expect_err("refused");
    let joined = errors.join("\n");
    for needle in [
        "m/Dockerfile:4: RUN --mount=type=ssh: type=ssh: SSH agent mounts are not in the manifest",
        "m/Dockerfile:5: RUN --mount=type=bind,from=alpine:3,target=/a: from=alpine:3: a mount from an image cannot be expressed",
        "m/Dockerfile:6: COPY/ADD --chown",
        "m/Dockerfile:7: ADD https://example.org/x.tgz",
        "m/Dockerfile:8: RUN --mount=type=cache,target=/c,uid=1000: `uid` has no place in the manifest's mounts",
        "m/Dockerfile:9: RUN --network: not supported by the manifest (only --mount is)",
        "m/Dockerfile:10: RUN --mount=type=cache,target=/c,ro: a read-only cache mount (`ro`) cannot be expressed",
    ] {
        assert!(joined.contains(needle), "{needle:?} in\n{joined}");
    }
}

const STAGED: &str = "\
FROM debian:bookworm AS build
RUN apt-get update
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get install -y gcc
RUN --mount=type=bind,source=src,target=/src --mount=type=secret,id=tok,required cc -o /out/app /src/main.c
FROM debian:bookworm AS unused
RUN echo unused
FROM debian:bookworm
RUN --mount=type=tmpfs,target=/scratch,size=16m echo hi
COPY --from=build /out/app /usr/local/bin/app
COPY --from=0 /out/app /opt/app
COPY --from=busybox /bin/busybox /bin/
RUN --mount=type=bind,from=build,source=/out,target=/o,rw ls /o
";

#[test]
fn stages_others_copy_from_become_stage_targets_and_mounts_are_kept() {
    let out = run(&[src("a", STAGED)], false).expect("imports");
    let planned = plan(&out.yaml);
    let m = &planned.manifest;
    let names: Vec<&str> = m.target_names();
    assert_eq!(names, ["a", "a-build"], "{}", out.yaml);
    let stage = m.target("a-build").expect("stage");
    assert!(stage.stage);
    assert_eq!(stage.steps.len(), 3);
    let a = m.target("a").expect("a");
    let copies: Vec<&Copy> = a
        .steps
        .iter()
        .filter_map(|&s| match &m.steps[s].action {
            Action::Copy(c) => Some(c),
            Action::Run(_) => None,
        })
        .collect();
    // By name and by index: both the stage; a bare image name gets its tag.
    assert_eq!(
        copies
            .iter()
            .filter(|c| c.stage.as_deref() == Some("a-build"))
            .count(),
        2
    );
    assert!(
        copies
            .iter()
            .any(|c| c.from.as_deref() == Some("docker.io/library/busybox:latest"))
    );
    let mounts: Vec<&Mount> = m.steps.iter().flat_map(|s| &s.context.mounts).collect();
    for expected in [
        Mount::Cache {
            target: "/var/cache/apt".into(),
            id: None,
            sharing: CacheSharing::Locked,
        },
        Mount::Bind {
            target: "/src".into(),
            source: Some("a/src".into()),
            stage: None,
            rw: false,
        },
        Mount::Secret {
            id: "tok".into(),
            target: None,
            required: true,
        },
        Mount::Tmpfs {
            target: "/scratch".into(),
            size: Some(16 << 20),
        },
        Mount::Bind {
            target: "/o".into(),
            source: Some("/out".into()),
            stage: Some("a-build".into()),
            rw: true,
        },
    ] {
        assert!(mounts.contains(&&expected), "{expected:?} in\n{}", out.yaml);
    }
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("stage `unused` is read by nothing")),
        "{:?}",
        out.notes
    );
}

#[test]
fn identical_stages_of_several_dockerfiles_are_one_stage() {
    // (A bind of the context reads each Dockerfile's own folder: such stages differ.)
    let one = STAGED.replace("--mount=type=bind,source=src,target=/src ", "");
    let other = one.replace("echo hi", "echo other");
    let out = run(&[src("a", &one), src("b", &other)], false).expect("imports");
    let planned = plan(&out.yaml);
    let m = &planned.manifest;
    assert_eq!(m.target_names(), ["a", "a-build", "b"], "{}", out.yaml);
    let (a, b) = (m.target("a").expect("a"), m.target("b").expect("b"));
    let shared = a.steps.iter().filter(|s| b.steps.contains(s)).count();
    assert!(
        shared >= 3,
        "the copies from the one stage are shared steps:\n{}",
        out.yaml
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("stage `b-build` has the same base and steps as `a-build`"))
    );
}

#[test]
fn a_stage_target_may_not_take_a_variant_name() {
    // `a`'s stage `build` becomes target `a-build`: the Dockerfile named `a-build` collides.
    let plain = "FROM debian:bookworm\nRUN echo plain\n";
    let err = run(&[src("a", STAGED), src("a-build", plain)], false).expect_err("collides");
    assert!(
        err.iter()
            .any(|e| e.contains("target `a-build`") && e.contains("pass --name")),
        "{err:?}"
    );
}

#[test]
fn a_from_chain_within_a_file_is_followed() {
    let text = "FROM debian:bookworm AS base\nRUN apt-get update\nFROM base AS tools\nRUN apt-get install -y jq\nFROM busybox AS unused\nRUN true\nFROM tools\nENV X=1\n";
    let out = run(&[src("c", text)], false).expect("imports");
    let planned = plan(&out.yaml);
    let t = planned.manifest.target("c").expect("c");
    assert_eq!(t.from, "debian:bookworm");
    assert_eq!(t.steps.len(), 2);
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("c/Dockerfile:5: stage `unused`")),
        "{:?}",
        out.notes
    );
}

#[test]
fn repeated_steps_and_contradicting_orders_are_errors() {
    let twice =
        "FROM debian:bookworm\nRUN apt-get update\nRUN apt-get install -y a\nRUN apt-get update\n";
    let e = run(&[src("t", twice)], false).expect_err("refused");
    assert!(
        e[0].starts_with("t/Dockerfile:4: the same step as line 2"),
        "{e:?}"
    );
    let one = "FROM debian:bookworm\nRUN ./configure\nRUN make\n";
    let other = "FROM debian:bookworm\nRUN make\nRUN ./configure\n";
    let e = run(&[src("x", one), src("y", other)], false).expect_err("refused");
    assert!(e.iter().any(|l| l.contains("--keep-order")), "{e:?}");
    // --keep-order takes them as they are.
    assert!(run(&[src("x", one), src("y", other)], true).is_ok());
}

#[test]
fn build_args_and_global_args_reach_from_and_steps() {
    let text = "ARG V=1\nFROM debian:bookworm\nARG V\nRUN echo $V > /v\n";
    let out = import(
        &[src("v", text)],
        &Options {
            keep_order: false,
            build_args: [("V".to_owned(), "2".to_owned())].into(),
        },
        &mut |_| None,
        &mut |_| None,
    )
    .expect("imports");
    assert!(out.yaml.contains("env: {\"V\": \"2\"}"), "{}", out.yaml);
}

#[test]
fn identical_files_in_several_folders_are_copied_from_the_first() {
    let text = "FROM busybox\nCOPY entry.sh /usr/local/bin/\n";
    let out = import(
        &[src("x", text), src("y", text)],
        &Options::default(),
        &mut |_| None,
        &mut |p| {
            Some(if p.starts_with('z') {
                b"other".to_vec()
            } else {
                b"same".to_vec()
            })
        },
    )
    .expect("imports");
    let planned = plan(&out.yaml);
    assert_eq!(planned.manifest.steps.len(), 1, "{}", out.yaml);
    assert!(
        out.notes.iter().any(|n| n.starts_with(
            "y/Dockerfile:2: `y/entry.sh` has the same contents and mode as `x/entry.sh`"
        )),
        "{:?}",
        out.notes
    );
}

#[test]
fn from_scratch_is_refused() {
    let e = run(&[src("s", "FROM scratch\nCOPY x /x\n")], false).expect_err("refused");
    assert!(e[0].starts_with("s/Dockerfile:1: FROM scratch"), "{e:?}");
}

#[test]
fn a_dockerfile_of_config_only_imports_to_a_manifest_that_plans() {
    // FROM and image config, no RUN or COPY: `steps:` was written empty, which the manifest
    // reads as no mapping at all.
    let out = run(
        &[src("c", "FROM debian:bookworm\nLABEL a=b\nCMD [\"sh\"]\n")],
        false,
    )
    .expect("imports");
    assert!(out.yaml.contains("steps: {}"), "{}", out.yaml);
    let planned = plan(&out.yaml);
    assert_eq!(out.as_written_runs, 0);
    // No step: a cost of +0 (a sum from −0 was printed "-0 s").
    assert!(planned.plan.cost == 0.0 && planned.plan.cost.is_sign_positive());
    assert!(planned.plan.no_sharing_cost.is_sign_positive());
    assert!(planned.plan.lower_bound.is_sign_positive());
}

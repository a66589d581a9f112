//! The manifest contract: what parses, what it means, and the exact message for what does not.

use std::collections::BTreeMap;

use dockopt_manifest::{Action, CacheSharing, Mount, RunCommand, parse};
use proptest::prelude::*;

fn ok(text: &str) -> dockopt_manifest::Manifest {
    match parse("m.yaml", text, &BTreeMap::new()) {
        Ok(m) => m,
        Err(e) => panic!("expected a valid manifest, got:\n{}", e.render(text)),
    }
}

/// Asserts the one-line form of every error, in order.
fn check_errors(text: &str, expected: &[&str]) {
    let err = parse("m.yaml", text, &BTreeMap::new()).expect_err("expected errors");
    let got: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(got, expected, "\nrendered:\n{}", err.render(text));
}

const BASIC: &str = "\
# syntax=dockopt/frontend:local
version: 1
args: {DEBIAN: bookworm}
defaults: {from: \"debian:${DEBIAN}\"}
steps:
  update: {run: apt-get update, time: 20}
  git:    {run: apt-get install -y git, after: [update], time: 12}
targets:
  tools-git:
    steps: [update, git, {name: jq, run: apt-get install -y jq, after: [update], time: 3}]
    finally: [{copy: {src: [app/], dest: /app}}, {run: make -C /app}]
    env: {LANG: C.UTF-8}
    cmd: bash
  tools-jq:
    from: busybox
    steps: [update, {run: 'v=${x##*-}; echo $v $DEBIAN'}]
";

#[test]
fn the_issue_example_parses_with_its_meaning() {
    let m = ok(BASIC);
    assert_eq!(m.default_target, "tools-git");
    let names: Vec<&str> = m.target_names();
    assert_eq!(names, ["tools-git", "tools-jq"]);
    let git = m.target("tools-git").expect("target");
    assert_eq!(git.base, "docker.io/library/debian:bookworm");
    assert_eq!(git.steps.len(), 3);
    assert_eq!(git.finally.len(), 2);
    assert_eq!(
        git.config.cmd.as_deref(),
        Some(&["/bin/sh".to_owned(), "-c".into(), "bash".into()][..])
    );
    // `update` in both targets is one step; shell variables stay, declared args are substituted.
    let jq = m.target("tools-jq").expect("target");
    assert_eq!(jq.base, "docker.io/library/busybox:latest");
    assert!(jq.steps.contains(&git.steps[0]));
    let own = &m.steps[jq.steps[1]];
    assert_eq!(
        own.action,
        Action::Run(RunCommand::Shell("v=${x##*-}; echo $v bookworm".into()))
    );
    assert_eq!(own.time, 1.0);
    // `after` pairs name the declared predecessors.
    let update = m
        .steps
        .iter()
        .position(|s| s.name.as_deref() == Some("update"))
        .expect("update");
    let jq_step = m
        .steps
        .iter()
        .position(|s| s.name.as_deref() == Some("jq"))
        .expect("jq");
    assert!(m.after.contains(&(update, jq_step)));
}

#[test]
fn build_args_override_declared_args_and_unknown_ones_are_reported() {
    let args: BTreeMap<String, String> = [
        ("DEBIAN".to_owned(), "trixie".to_owned()),
        ("NOPE".into(), "1".into()),
        // Docker's predefined proxy args are never "not declared".
        ("https_proxy".into(), "http://proxy:3128".into()),
        ("NO_PROXY".into(), "localhost".into()),
    ]
    .into();
    let m = parse("m.yaml", BASIC, &args).expect("valid");
    assert_eq!(
        m.target("tools-git").expect("t").base,
        "docker.io/library/debian:trixie"
    );
    assert_eq!(m.unused_build_args, ["NOPE"]);
}

#[test]
fn identical_steps_are_one_step_whatever_their_names() {
    let m = ok("version: 1
steps:
  a: {run: echo hi, time: 2}
  b: {run: echo hi, time: 5}
targets:
  t: {from: busybox, steps: [a, {run: echo other}]}
  u: {from: busybox, steps: [b]}
");
    assert_eq!(m.steps.len(), 2);
    let t = m.target("t").expect("t");
    let u = m.target("u").expect("u");
    assert_eq!(t.steps[0], u.steps[0]);
    assert_eq!(m.steps[u.steps[0]].time, 5.0);
    assert_eq!(m.steps[u.steps[0]].name.as_deref(), Some("a"));
}

#[test]
fn the_examples_parse() {
    for path in ["toolbox/variants.yaml", "python-matrix/variants.yaml"] {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(path);
        let text = std::fs::read_to_string(&full).expect("example exists");
        let m = ok(&text);
        assert!(m.targets.len() >= 8, "{path}");
        assert!(
            text.starts_with("# syntax="),
            "{path}: the directive must be the first line"
        );
    }
}

#[test]
fn unknown_keys_name_the_field_and_suggest() {
    check_errors(
        "version: 1
steps:
  git: {run: x, aftr: [update]}
targets:
  t: {from: busybox, stepz: [git]}
",
        &[
            "m.yaml:3:17: steps.git.aftr: unknown key `aftr` (did you mean `after`?)",
            "m.yaml:5:22: targets.t.stepz: unknown key `stepz` (did you mean `steps`?)",
        ],
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    check_errors(
        "version: 1
targets:
  t:
    from: busybox
    steps: update
    env: [A]
  u: {from: busybox, steps: [{run: x, time: soon}]}
  v: {from: busybox, steps: [{run: y, time: 1e308}]}
",
        &[
            "m.yaml:5:12: targets.t.steps: expected a list of steps, found a string",
            "m.yaml:6:10: targets.t.env: expected a mapping of NAME: value, found a list",
            "m.yaml:7:45: targets.u.steps[0].time: expected a number of seconds from 0 to 31536000 (a year), found `soon`",
            "m.yaml:8:45: targets.v.steps[0].time: expected a number of seconds from 0 to 31536000 (a year), found `1e308`",
        ],
    );
}

#[test]
fn unknown_step_names_and_args_are_reported_with_suggestions() {
    check_errors(
        "version: 1
args: {DEBIAN: bookworm}
steps:
  update: apt-get update
  git: {run: apt-get install git, after: [updte]}
targets:
  t: {from: 'debian:${DEBAN}', steps: [update, gti]}
",
        &[
            "m.yaml:5:43: steps.git.after[0]: no step is named `updte` (did you mean `update`?)",
            "m.yaml:7:13: targets.t.from: `DEBAN` is not a declared arg (did you mean `DEBIAN`?)",
            "m.yaml:7:48: targets.t.steps[1]: target `t` steps: no step is named `gti` (did you mean `git`?)",
        ],
    );
}

#[test]
fn empty_commands_are_refused_in_both_forms() {
    check_errors(
        "version: 1
targets:
  t: {from: busybox, steps: [{run: ''}, {run: []}, {run: {x: 1}}]}
",
        &[
            "m.yaml:3:36: targets.t.steps[0].run: `run` is empty: expected a command",
            "m.yaml:3:47: targets.t.steps[1].run: `run` is empty: expected a command",
            "m.yaml:3:58: targets.t.steps[2].run: expected a command (a string, or a list for exec form), found a mapping",
        ],
    );
}

#[test]
fn cycles_name_the_cycle() {
    check_errors(
        "version: 1
steps:
  a: {run: a, after: [c]}
  b: {run: b, after: [a]}
  c: {run: c, after: [b]}
targets:
  t: {from: busybox, steps: [a, b, c]}
",
        &[
            "m.yaml:3:23: after: the `after` constraints form a cycle: `a` → `b` → `c` → `a` (each must run before the next)",
        ],
    );
}

#[test]
fn missing_base_duplicates_and_empty_targets() {
    check_errors(
        "version: 1
steps: {a: echo a}
targets:
  t: {steps: [a, a]}
",
        &[
            "m.yaml:4:3: targets.t: target `t` has no base image (add `from: IMAGE` to it, or `defaults: {from: IMAGE}`)",
            "m.yaml:4:18: targets.t.steps[1]: step `a` appears twice in target `t`",
        ],
    );
    check_errors(
        "version: 1
steps: {a: echo a}
targets:
  t: {from: busybox, steps: [a, {run: echo a}]}
",
        &["m.yaml:4:33: targets.t.steps[1]: step `a` appears twice in target `t`"],
    );
    check_errors(
        "version: 1\ntargets: {}\n",
        &["m.yaml:2:10: targets: `targets` is empty: name at least one target"],
    );
    check_errors(
        "version: 2\ntargets: {t: {from: busybox}}\n",
        &["m.yaml:1:10: version: unsupported version `2`: expected `1`"],
    );
}

#[test]
fn finally_cannot_hold_what_must_come_first() {
    check_errors(
        "version: 1
steps:
  copy-app: {copy: {src: app, dest: /app}}
  build: {run: make, after: [copy-app]}
targets:
  t: {from: busybox, steps: [build], finally: [copy-app]}
",
        &[
            "m.yaml:6:3: targets.t.finally: `copy-app` must run before `build` (by `after`), but target `t` runs it later, in `finally`",
        ],
    );
}

#[test]
fn yaml_syntax_errors_have_a_place() {
    let err =
        parse("m.yaml", "version: 1\ntargets: {t: [}\n", &BTreeMap::new()).expect_err("invalid");
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].span.line, 2);
    assert!(err.to_string().starts_with("m.yaml:2:"), "{err}");
    let dup = parse(
        "m.yaml",
        "version: 1\nversion: 1\ntargets: {}\n",
        &BTreeMap::new(),
    )
    .expect_err("dup");
    assert_eq!(
        dup.to_string(),
        "m.yaml:2:1: key `version` appears twice in one mapping (first at line 1)"
    );
}

#[test]
fn render_points_at_the_column() {
    let text = "version: 1\ntargets:\n  t: {from: busybox, stepz: []}\n";
    let err = parse("m.yaml", text, &BTreeMap::new()).expect_err("invalid");
    let rendered = err.render(text);
    assert_eq!(
        rendered,
        "error: unknown key `stepz` in `targets.t.stepz`
  --> m.yaml:3:22
  |
3 |   t: {from: busybox, stepz: []}
  |                      ^
  = help: did you mean `steps`?
"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse("m.yaml", &text, &BTreeMap::new());
    }

    #[test]
    fn mutated_manifests_never_panic(cut in 0usize..BASIC.len(), insert in "[-:{}\\[\\]#$ ,a-z\\n'\"]{0,6}", drop in 0usize..8) {
        let mut text: String = BASIC.to_owned();
        let at = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let end = (at + drop).min(text.len());
        let end = (end..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        text.replace_range(at..end, &insert);
        if let Err(e) = parse("m.yaml", &text, &BTreeMap::new()) {
            prop_assert!(!e.errors.is_empty());
            let _ = e.render(&text);
        }
    }
}

#[test]
fn one_cause_is_reported_once() {
    // A broken step declaration is not also an unknown step where it is used.
    check_errors(
        "version: 1
defaults: {from: debian}
steps:
  files: {copy: {src: [a, b], dest: /opt}}
targets:
  t: {steps: [files]}
",
        &[
            "m.yaml:4:37: steps.files.copy.dest: copying 2 sources needs a folder: a destination ending in `/`, found `/opt` (write `/opt/`)",
        ],
    );
    // A typo in `defaults:` is not also a missing base for every target.
    check_errors(
        "version: 1
defaults: {form: debian}
targets:
  t: {steps: [{run: a}]}
  u: {steps: [{run: b}]}
",
        &["m.yaml:2:12: defaults.form: unknown key `form` (did you mean `from`?)"],
    );
}

#[test]
fn declared_args_keep_their_default_declaration_and_uses() {
    let text = "\
version: 1
args:
  DEBIAN: bookworm
  UNUSED: x
defaults: {from: \"debian:${DEBIAN}\"}
steps:
  a: {run: echo $DEBIAN}
targets:
  t1: {steps: [a]}
  t2: {steps: [a]}
";
    let m = parse(
        "m.yaml",
        text,
        &BTreeMap::from([("DEBIAN".to_owned(), "trixie".to_owned())]),
    )
    .expect("valid");
    let debian = &m.declared_args["DEBIAN"];
    assert_eq!(debian.default, "bookworm", "the default, not the build arg");
    assert_eq!((debian.span.line, debian.span.column), (3, 3));
    let mut lines: Vec<usize> = debian.uses.iter().map(|s| s.line).collect();
    lines.sort_unstable();
    assert_eq!(lines, [5, 7], "each value that names it, once");
    assert_eq!(m.args["DEBIAN"], "trixie");
    assert!(m.declared_args["UNUSED"].uses.is_empty());
}

const MATRIX: &str = "\
version: 1
args: {FLAGS: -q}
steps:
  update: {run: 'apt-get ${FLAGS} update'}
targets:
  py-${PY}-${DISTRO}:
    matrix: {PY: [\"3.11\", \"3.12\"], DISTRO: [bookworm, trixie]}
    exclude: [{PY: \"3.11\", DISTRO: trixie}]
    from: debian:${DISTRO}
    steps: [update, {run: 'apt-get install -y python${PY}', after: [update]}]
    env: {PYTHON_VERSION: '${PY}'}
    tags: ['py:${PY}-${DISTRO}']
";

#[test]
fn a_matrix_expands_to_one_target_per_combination_less_the_excluded() {
    let m = ok(MATRIX);
    assert_eq!(
        m.target_names(),
        ["py-3.11-bookworm", "py-3.12-bookworm", "py-3.12-trixie"]
    );
    let t = m.target("py-3.12-trixie").expect("target");
    assert_eq!(t.from, "debian:trixie");
    assert_eq!(t.config.env["PYTHON_VERSION"], "3.12");
    assert_eq!(t.tags, ["py:3.12-trixie"]);
    // update is one step for all; the install differs by PY only.
    assert_eq!(m.steps.len(), 3);
    let installs: Vec<String> = m.steps.iter().map(|s| s.command_text()).collect();
    assert!(installs.contains(&"apt-get install -y python3.11".to_owned()));
    assert!(installs.contains(&"apt-get -q update".to_owned()));
    // The first combination is the default target.
    assert_eq!(m.default_target, "py-3.11-bookworm");
    // Same text, same expansion, every time.
    assert_eq!(ok(MATRIX), m);
}

#[test]
fn matrix_mistakes_are_errors_with_their_place() {
    check_errors(
        &MATRIX.replace("exclude: [{PY:", "exclude: [{PYY:"),
        &[
            "m.yaml:8:16: targets.py-${PY}-${DISTRO}.exclude[0].PYY: `PYY` is not an axis of this matrix (did you mean `PY`?)",
        ],
    );
    check_errors(
        &MATRIX.replace("DISTRO: trixie}]", "DISTRO: trixy}]"),
        &[
            "m.yaml:8:36: targets.py-${PY}-${DISTRO}.exclude[0].DISTRO: `trixy` is not a value of axis `DISTRO` (its values are: bookworm, trixie)",
        ],
    );
    check_errors(
        &MATRIX.replace("py-${PY}-${DISTRO}:", "py-${PY}:"),
        &[
            "m.yaml:6:3: targets.py-${PY}: matrix target `py-${PY}` is named `py-3.12` for both DISTRO=bookworm PY=3.12 and DISTRO=trixie PY=3.12 (put every axis in the name, e.g. `py-${PY}-${DISTRO}`)",
        ],
    );
    check_errors(
        &MATRIX.replace(
            "[{PY: \"3.11\", DISTRO: trixie}]",
            "[{PY: \"3.11\"}, {PY: \"3.12\"}]",
        ),
        &[
            "m.yaml:7:5: targets.py-${PY}-${DISTRO}.matrix: the matrix of target `py-${PY}-${DISTRO}` is empty: `exclude` leaves out every combination",
        ],
    );
    check_errors(
        &MATRIX.replace("DISTRO: [bookworm, trixie]", "DISTRO: []"),
        &["m.yaml:7:36: targets.py-${PY}-${DISTRO}.matrix.DISTRO: axis `DISTRO` has no values"],
    );
    check_errors(
        &format!("{MATRIX}  py-3.12-trixie: {{from: busybox}}\n"),
        &[
            "m.yaml:13:3: targets.py-3.12-trixie: target `py-3.12-trixie` is declared twice (first at line 6) (give every target, and every matrix combination, its own name: `name-${AXIS}`)",
        ],
    );
}

#[test]
fn a_target_over_the_layer_budget_is_an_error_naming_it_and_its_count() {
    let mut text = String::from(
        "version: 1\nlayers: 3\ntargets:\n  small: {from: busybox, steps: [{run: a}, {run: b}]}\n  big:\n    from: busybox\n    steps: [{run: a}, {run: b}, {run: c}]\n    finally: [{run: d}]\n",
    );
    check_errors(
        &text,
        &[
            "m.yaml:5:3: targets.big: target `big` adds 4 layers (one per step), over the limit of 3 (merge steps that always run together into one `run`, or raise `layers:` (Docker allows 125, the base image's layers included))",
        ],
    );
    text = text.replace("layers: 3", "layers: 200");
    check_errors(
        &text,
        &[
            "m.yaml:2:9: layers: expected a number of layers from 1 to 125 (Docker's limit), or 0 for no budget, found `200`",
        ],
    );
    // The default is 100.
    let steps: Vec<String> = (0..101).map(|i| format!("{{run: 'echo {i}'}}")).collect();
    let many = format!(
        "version: 1\ntargets:\n  t: {{from: busybox, steps: [{}]}}\n",
        steps.join(", ")
    );
    let err = parse("m.yaml", &many, &BTreeMap::new()).expect_err("over 100");
    assert!(err.to_string().contains("adds 101 layers"), "{err}");
    // 0: no budget.
    ok(&many.replace("version: 1\n", "version: 1\nlayers: 0\n"));
}

#[test]
fn volumes_stop_signal_and_healthcheck_are_image_config() {
    let m = ok(
        "version: 1\ntargets:\n  t:\n    from: busybox\n    volumes: [/data, /logs]\n    stop_signal: SIGINT\n    healthcheck: {test: 'wget -q localhost', interval: 1m30s, retries: 3}\n  u:\n    from: busybox\n    healthcheck: none\n",
    );
    let t = m.target("t").expect("t");
    assert_eq!(t.config.volumes, ["/data", "/logs"]);
    assert_eq!(t.config.stop_signal.as_deref(), Some("SIGINT"));
    let h = t.config.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(h.test, ["CMD-SHELL", "wget -q localhost"]);
    assert_eq!((h.interval, h.retries), (90_000_000_000, 3));
    let u = m.target("u").expect("u");
    assert_eq!(
        u.config.healthcheck.as_ref().map(|h| h.test.clone()),
        Some(vec!["NONE".to_owned()])
    );
    check_errors(
        "version: 1\ntargets:\n  t: {from: busybox, healthcheck: {test: [true], interval: 30}}\n",
        &[
            "m.yaml:3:60: targets.t.healthcheck.interval: expected a duration like `30s`, `1m30s` or `500ms`, found `30`",
        ],
    );
}

const STAGES: &str = "\
version: 1
defaults: {from: busybox}
targets:
  builder:
    stage: true
    steps: [{run: 'mkdir -p /out && echo built > /out/app', time: 30}]
  app-a:
    steps:
      - {copy: {from: builder, src: [/out/app], dest: /usr/local/bin/}}
      - {run: echo a}
  app-b:
    steps: [{copy: {from: builder, src: [/out/app], dest: /usr/local/bin/}}]
  tools:
    from: alpine
    steps: [{copy: {from: 'busybox:latest', src: [/bin/busybox], dest: /bin/}}]
";

#[test]
fn a_stage_is_planned_but_not_a_variant_and_its_copy_is_one_step() {
    let m = ok(STAGES);
    let builder = m.target_index("builder").expect("builder");
    assert!(m.targets[builder].stage);
    // Stages are not variants; the default is the first variant, not the first target.
    assert_eq!(m.default_target, "app-a");
    let variants: Vec<&str> = m
        .variants()
        .into_iter()
        .map(|t| m.targets[t].name.as_str())
        .collect();
    assert_eq!(variants, ["app-a", "app-b", "tools"]);
    // Both copies are one step, read from the stage; an image with a tag is an image.
    let a = m.target("app-a").expect("a");
    let b = m.target("app-b").expect("b");
    assert!(a.steps.contains(&b.steps[0]));
    let Action::Copy(c) = &m.steps[b.steps[0]].action else {
        panic!("a copy")
    };
    assert_eq!(c.stage.as_deref(), Some("builder"));
    assert_eq!(c.from, None);
    let t = m.target("tools").expect("tools");
    let Action::Copy(c) = &m.steps[t.steps[0]].action else {
        panic!("a copy")
    };
    assert_eq!(c.stage, None);
    assert_eq!(c.from.as_deref(), Some("docker.io/library/busybox:latest"));
    let app_a = m.target_index("app-a").expect("a");
    assert_eq!(m.stage_closure(app_a), [builder]);
    assert!(m.stage_closure(builder).is_empty());
    // Still planned like any target.
    assert_eq!(m.problem().targets.len(), 4);
}

#[test]
fn mounts_parse_with_their_defaults() {
    let m = ok("\
version: 1
defaults: {from: busybox}
targets:
  s: {stage: true, steps: [{run: 'echo s > /s'}]}
  t:
    steps:
      - run: make
        mounts:
          - {type: cache, target: /root/.cache, sharing: locked}
          - {type: secret, id: token}
          - {type: secret, id: key, target: /k, required: true}
          - {type: bind, target: /src, source: app}
          - {type: bind, from: s, target: /from-s, rw: true}
          - {type: tmpfs, target: /tmp, size: 64m}
");
    let t = m.target("t").expect("t");
    let mounts = &m.steps[t.steps[0]].context.mounts;
    assert_eq!(
        mounts,
        &[
            Mount::Cache {
                target: "/root/.cache".into(),
                id: None,
                sharing: CacheSharing::Locked
            },
            Mount::Secret {
                id: "token".into(),
                target: None,
                required: false
            },
            Mount::Secret {
                id: "key".into(),
                target: Some("/k".into()),
                required: true
            },
            Mount::Bind {
                target: "/src".into(),
                source: Some("app".into()),
                stage: None,
                rw: false
            },
            Mount::Bind {
                target: "/from-s".into(),
                source: None,
                stage: Some("s".into()),
                rw: true
            },
            Mount::Tmpfs {
                target: "/tmp".into(),
                size: Some(64 << 20)
            },
        ]
    );
    assert_eq!(mounts[1].target(), "/run/secrets/token");
    assert_eq!(m.stage_closure(m.target_index("t").expect("t")), [0]);
    // The same command with other mounts is another step.
    let two = ok("\
version: 1
defaults: {from: busybox}
targets:
  a: {steps: [{run: make, mounts: [{type: cache, target: /c}]}]}
  b: {steps: [{run: make, mounts: [{type: cache, target: /c, id: other}]}]}
  c: {steps: [{run: make}]}
");
    assert_eq!(two.steps.len(), 3);
}

#[test]
fn stage_errors_name_the_place() {
    check_errors(
        "\
version: 1
defaults: {from: busybox}
targets:
  builder: {stage: true, steps: [{run: x}]}
  app: {steps: [{copy: {from: biulder, src: [/x], dest: /x}}]}
  plain: {steps: [{copy: {from: nothing, src: [/x], dest: /x}}]}
",
        &[
            "m.yaml:5:31: targets.app.steps[0].copy.from: no stage is named `biulder` (did you mean `builder`?)",
            "m.yaml:6:33: targets.plain.steps[0].copy.from: no stage is named `nothing` (declare a target `nothing` with `stage: true`, or give an image with its tag (`nothing:latest`))",
        ],
    );
    check_errors(
        "\
version: 1
defaults: {from: busybox}
targets:
  app: {steps: [{run: x}]}
  me: {stage: true, steps: [{copy: {from: me, src: [/x], dest: /x}}]}
",
        &["m.yaml:5:43: targets.me.steps[0].copy.from: target `me` copies from itself"],
    );
    check_errors(
        "\
version: 1
defaults: {from: busybox}
targets:
  app: {steps: [{copy: {from: one, src: [/x], dest: /x}}]}
  one: {stage: true, steps: [{copy: {from: two, src: [/x], dest: /x}}]}
  two: {stage: true, steps: [{run: x, mounts: [{type: bind, from: one, target: /o}]}]}
",
        &[
            "m.yaml:6:67: targets.two.steps[0].mounts[0].from: stages read each other in a cycle: `one` → `two` → `one` (each needs the next built first)",
        ],
    );
    check_errors(
        "\
version: 1
defaults: {from: busybox}
default: s
targets:
  s: {stage: true, tags: ['x:1'], steps: [{run: x}]}
  t: {steps: [{run: y}]}
",
        &[
            "m.yaml:3:10: default: target `s` is a stage: it is not built on its own",
            "m.yaml:5:26: targets.s.tags: target `s` is a stage: stages are not tagged (remove `tags`, or `stage: true` to build and tag it)",
        ],
    );
    check_errors(
        "\
version: 1
defaults: {from: busybox}
targets:
  s: {stage: true, steps: [{run: x}]}
",
        &[
            "m.yaml:3:1: targets: every target is a stage (`stage: true`): there is nothing to build",
        ],
    );
}

#[test]
fn mount_errors_name_the_place() {
    check_errors(
        "\
version: 1
defaults: {from: busybox}
targets:
  t:
    steps:
      - {copy: {src: [a], dest: /a}, mounts: [{type: cache, target: /c}]}
      - run: x
        mounts:
          - {type: cahce, target: /c}
          - {type: cache}
          - {type: cache, target: /c, sharing: everyone}
          - {type: secret, target: /s}
          - {type: tmpfs, target: /t, size: lots}
          - {type: bind, target: /b, from: 'img:1'}
          - {type: tmpfs, target: /}
          - {type: cache, target: /d, mode: '0755'}
          - {type: cache, target: /d}
          - {type: tmpfs, target: /d}
",
        &[
            "m.yaml:6:46: targets.t.steps[0].mounts: `mounts` belong to `run` steps (a copy runs no command)",
            "m.yaml:9:20: targets.t.steps[1].mounts[0].type: unknown mount type `cahce` (did you mean `cache`?)",
            "m.yaml:10:13: targets.t.steps[1].mounts[1].target: missing `target`: where the cache mount appears",
            "m.yaml:11:48: targets.t.steps[1].mounts[2].sharing: expected `shared`, `private` or `locked`, found `everyone`",
            "m.yaml:12:13: targets.t.steps[1].mounts[3].id: missing `id`: the secret's id (`docker build --secret id=ID,src=FILE`)",
            "m.yaml:13:45: targets.t.steps[1].mounts[4].size: expected a size in bytes, or with a unit like `64m` or `1g`, found `lots`",
            "m.yaml:14:44: targets.t.steps[1].mounts[5].from: expected `context` or a stage name, found `img:1` (bind mounts read the build context or a target of this manifest)",
            "m.yaml:15:13: targets.t.steps[1].mounts[6].target: a mount cannot replace `/`, the step's own filesystem",
            "m.yaml:16:39: targets.t.steps[1].mounts[7].mode: unknown key `mode` (expected one of: type, target, id, sharing)",
            "m.yaml:17:13: targets.t.steps[1].mounts[8]: two mounts at `/d` (the first is mounts[7])",
            "m.yaml:18:13: targets.t.steps[1].mounts[9]: two mounts at `/d` (the first is mounts[8])",
        ],
    );
}

#[test]
fn squash_is_a_flag_and_lifts_the_parse_time_layer_count() {
    let m = ok(
        "version: 1\nlayers: 1\ndefaults: {from: busybox}\ntargets:\n  t: {steps: [{run: a}, {run: b}], squash: true}\n",
    );
    assert!(m.targets[0].squash);
    assert_eq!(m.layer_limit, 1);
    check_errors(
        "version: 1\ndefaults: {from: busybox}\ntargets:\n  t: {steps: [{run: a}], squash: maybe}\n",
        &["m.yaml:4:34: targets.t.squash: expected `true` or `false`, found `maybe`"],
    );
}

//! The manifest import writes: YAML with every string JSON-quoted, `$` doubled in the fields the
//! manifest reads strictly, the steps in order of first appearance (each `after` with its reason
//! as a comment above it), then the targets with their image config.

use std::collections::BTreeMap;
use std::fmt::Write;

use dockopt_manifest::{Action, Mount, RunCommand};

use super::{Key, Options, Source, VStep, Variant, key};

/// A JSON string, which YAML reads as the same string.
pub(super) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A YAML key or step reference: plain when it is a simple name, else quoted.
fn yaml_name(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain { s.to_owned() } else { quote(s) }
}

/// A mount as a YAML flow mapping (`{type: cache, target: "/root/.cache"}`).
fn yaml_mount(m: &Mount) -> String {
    let mut parts: Vec<String> = Vec::new();
    match m {
        Mount::Cache {
            target,
            id,
            sharing,
        } => {
            parts.push("type: cache".into());
            parts.push(format!("target: {}", quote(&strict(target))));
            if let Some(id) = id {
                parts.push(format!("id: {}", quote(&strict(id))));
            }
            parts.push(format!("sharing: {}", sharing.as_str()));
        }
        Mount::Secret {
            id,
            target,
            required,
        } => {
            parts.push("type: secret".into());
            parts.push(format!("id: {}", quote(&strict(id))));
            if let Some(t) = target {
                parts.push(format!("target: {}", quote(&strict(t))));
            }
            if *required {
                parts.push("required: true".into());
            }
        }
        Mount::Bind {
            target,
            source,
            stage,
            rw,
        } => {
            parts.push("type: bind".into());
            parts.push(format!("target: {}", quote(&strict(target))));
            if let Some(s) = source {
                parts.push(format!("source: {}", quote(&strict(s))));
            }
            if let Some(s) = stage {
                parts.push(format!("from: {}", quote(&strict(s))));
            }
            if *rw {
                parts.push("rw: true".into());
            }
        }
        Mount::Tmpfs { target, size } => {
            parts.push("type: tmpfs".into());
            parts.push(format!("target: {}", quote(&strict(target))));
            if let Some(n) = size {
                parts.push(format!("size: {n}"));
            }
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// Writes `$` in strict manifest fields (paths, images) so the manifest keeps it literal.
fn strict(s: &str) -> String {
    s.replace('$', "$$")
}

/// A YAML flow mapping of quoted strings.
fn yaml_map(map: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// A YAML flow sequence of quoted strings.
pub(super) fn yaml_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The manifest: the header comments, `steps:` (named by `step_names`, in id order, each
/// `after` pair with its reason) and `targets:` (each variant's steps by name, in
/// `finally` with `--keep-order`; a stage's image config is left out).
#[allow(clippy::too_many_lines)]
pub(super) fn manifest(
    sources: &[Source],
    options: &Options,
    steps: &[&VStep],
    step_names: &[String],
    ids: &BTreeMap<Key, usize>,
    after: &BTreeMap<(usize, usize), String>,
    variants: &[Variant],
) -> String {
    let mut y = String::new();
    let files: Vec<&str> = sources.iter().map(|s| s.file.as_str()).collect();
    let _ = writeln!(y, "# syntax=dockopt/frontend:local");
    let _ = writeln!(
        y,
        "# Written by `dockopt import` from {} Dockerfile{}: {}.",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        files.join(", ")
    );
    if options.keep_order {
        let _ = writeln!(
            y,
            "# --keep-order: each target runs its steps in the Dockerfile's order (`finally`)."
        );
    } else {
        let _ = writeln!(
            y,
            "# Each `after` below is an order import inferred; the comment above it says why."
        );
    }
    let _ = writeln!(y, "version: 1");
    // A Dockerfile of config only (FROM, then CMD, LABEL, …) has no step: an empty mapping.
    let _ = writeln!(
        y,
        "{}",
        if steps.is_empty() {
            "steps: {}"
        } else {
            "steps:"
        }
    );
    let mut preds: BTreeMap<usize, Vec<(usize, &String)>> = BTreeMap::new();
    for ((a, b), why) in after {
        preds.entry(*b).or_default().push((*a, why));
    }
    for (id, s) in steps.iter().enumerate() {
        let _ = writeln!(y, "  {}:", yaml_name(&step_names[id]));
        match &s.action {
            Action::Run(RunCommand::Shell(t)) => {
                let _ = writeln!(y, "    run: {}", quote(t));
            }
            Action::Run(RunCommand::Exec(argv)) => {
                let _ = writeln!(y, "    run: {}", yaml_list(argv));
            }
            Action::Copy(c) => {
                let src: Vec<String> = c.src.iter().map(|p| strict(p)).collect();
                let _ = write!(
                    y,
                    "    copy: {{src: {}, dest: {}",
                    yaml_list(&src),
                    quote(&strict(&c.dest))
                );
                if let Some(f) = c.stage.as_ref().or(c.from.as_ref()) {
                    let _ = write!(y, ", from: {}", quote(&strict(f)));
                }
                let _ = writeln!(y, "}}");
            }
        }
        if !s.context.env.is_empty() {
            let _ = writeln!(y, "    env: {}", yaml_map(&s.context.env));
        }
        if let Some(w) = &s.context.workdir {
            let _ = writeln!(y, "    workdir: {}", quote(w));
        }
        if let Some(u) = &s.context.user {
            let _ = writeln!(y, "    user: {}", quote(u));
        }
        if !s.context.mounts.is_empty() {
            let _ = writeln!(y, "    mounts:");
            for m in &s.context.mounts {
                let _ = writeln!(y, "      - {}", yaml_mount(m));
            }
        }
        if let Some(p) = preds.get(&id) {
            let _ = writeln!(y, "    after:");
            for (a, why) in p {
                let _ = writeln!(y, "      # {why}");
                let _ = writeln!(y, "      - {}", yaml_name(&step_names[*a]));
            }
        }
    }
    let _ = writeln!(y, "targets:");
    for v in variants {
        let _ = writeln!(y, "  {}:", yaml_name(&v.name));
        if v.stage {
            let _ = writeln!(
                y,
                "    # a stage of {}, read by the targets that copy from it",
                v.file
            );
            let _ = writeln!(y, "    stage: true");
        } else {
            let _ = writeln!(y, "    # from {}", v.file);
        }
        for c in &v.comments {
            let _ = writeln!(y, "    # {c}");
        }
        let _ = writeln!(y, "    from: {}", quote(&strict(&v.from)));
        let list: Vec<String> = v
            .steps
            .iter()
            .map(|s| yaml_name(&step_names[ids[&key(s)]]))
            .collect();
        let field = if options.keep_order {
            "finally"
        } else {
            "steps"
        };
        let _ = writeln!(y, "    {field}: [{}]", list.join(", "));
        if v.stage {
            // A stage's image config is never used: only its files are read.
            continue;
        }
        let st = &v.state;
        if !st.env.is_empty() {
            let env: BTreeMap<String, String> = st
                .env
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect();
            let _ = writeln!(y, "    env: {}", yaml_map(&env));
        }
        if let Some(w) = &st.workdir {
            let _ = writeln!(y, "    workdir: {}", quote(w));
        }
        if let Some(u) = &st.user {
            let _ = writeln!(y, "    user: {}", quote(u));
        }
        if let Some(c) = &st.entrypoint {
            let _ = writeln!(y, "    entrypoint: {}", yaml_list(c));
        }
        if let Some(c) = &st.cmd {
            let _ = writeln!(y, "    cmd: {}", yaml_list(c));
        }
        if !st.labels.is_empty() {
            let _ = writeln!(y, "    labels: {}", yaml_map(&st.labels));
        }
        if !st.expose.is_empty() {
            let _ = writeln!(y, "    expose: {}", yaml_list(&st.expose));
        }
        if !st.volumes.is_empty() {
            let volumes: Vec<String> = st.volumes.iter().map(|v| strict(v)).collect();
            let _ = writeln!(y, "    volumes: {}", yaml_list(&volumes));
        }
        if let Some(s) = &st.stop_signal {
            let _ = writeln!(y, "    stop_signal: {}", quote(&strict(s)));
        }
        if let Some(h) = &st.healthcheck {
            let _ = writeln!(y, "    healthcheck: {h}");
        }
    }
    y
}

//! Names import gives: a step's name from what it does (`install-curl-etc`, `apt-update`,
//! `copy-app.sh`, `run-make`), numbered when taken, and the part of a stage target's name that
//! comes from the stage.

use std::collections::BTreeMap;

use dockopt_manifest::{Action, RunCommand};

use super::VStep;

/// A name part: lowercase, `[a-z0-9._]` runs joined by `-`, at most 32 characters.
pub(super) fn sanitize(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches(['-', '.']).to_owned();
    out.chars().take(32).collect::<String>()
}

/// A step's name before numbering, from what it does.
fn base_name(s: &VStep) -> String {
    let f = &s.facts;
    let name = match &s.action {
        Action::Copy(c) => format!(
            "copy-{}",
            c.src
                .first()
                .and_then(|p| p.trim_end_matches('/').rsplit('/').next())
                .map(sanitize)
                .unwrap_or_default()
        ),
        Action::Run(_) if f.package && !f.packages.is_empty() => {
            let mut n = format!("install-{}", sanitize(&f.packages[0]));
            if f.packages.len() > 1 {
                n.push_str("-etc");
            }
            n
        }
        Action::Run(_) if f.package && f.fetches => "apt-update".into(),
        Action::Run(_) if f.package && f.drops => "clean-lists".into(),
        Action::Run(cmd) => {
            let text = match cmd {
                RunCommand::Shell(t) => t.clone(),
                RunCommand::Exec(a) => a.join(" "),
            };
            let word = text
                .split(['&', ';', '|'])
                .map(str::trim)
                .find(|seg| !seg.is_empty() && !seg.starts_with("set "))
                .and_then(|seg| seg.split_whitespace().next())
                .map(|w| sanitize(w.rsplit('/').next().unwrap_or(w)))
                .unwrap_or_default();
            format!("run-{word}")
        }
    };
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() { "step".into() } else { name }
}

/// Each step's name, by id: its [`base_name`], then `-2`, `-3`, … when taken by an earlier step.
pub(super) fn step_names(steps: &[&VStep]) -> Vec<String> {
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    steps
        .iter()
        .map(|s| {
            let base = base_name(s);
            let n = taken.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}-{n}") }
        })
        .collect()
}

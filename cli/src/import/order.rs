//! What import assumes about the order of a Dockerfile's steps: which step must stay after
//! which, and why. Conservative: what it cannot tell apart keeps the Dockerfile's order.
//!
//! - Package operations (`apt-get update/install`, `apk add`, `dnf install`, removing the
//!   package lists) are free among themselves, except: an install after the index update it
//!   needs, a removal of the lists after every step that uses them, an update after a step that
//!   configures the package manager (`/etc/apt`, keys).
//! - Any other RUN (a script) stays after every package operation and every script and copy
//!   before it: it may use what they installed or copied.
//! - A copy stays after a step that mentions its destination, and before a package operation
//!   that mentions it; two copies to overlapping destinations keep their order.
//! - ENV/ARG values are folded into the steps that read them, USER/WORKDIR/SHELL into every
//!   step after them, so they need no order of their own.

use std::collections::BTreeSet;

use dockopt_manifest::{Action, RunCommand};

/// What import reads off one step.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// The step is a package operation only (see the module doc).
    pub(crate) package: bool,
    /// A copy.
    pub(crate) copy: bool,
    /// Leaves a package index behind (an update not followed by removing the lists).
    pub(crate) fetches: bool,
    /// Installs from an index it does not fetch itself.
    pub(crate) needs: bool,
    /// Removes the package lists (and fetches none after).
    pub(crate) drops: bool,
    /// Mentions the package manager's configuration (`/etc/apt`, keys, `dpkg`).
    pub(crate) configures: bool,
    /// Packages it installs.
    pub(crate) packages: Vec<String>,
    /// Absolute paths it mentions (for a copy: its destination; `None` when relative to an
    /// unknown working directory, which overlaps everything).
    pub(crate) paths: Vec<Option<String>>,
    /// Words it mentions (for a copy: the sources' file names).
    pub(crate) words: BTreeSet<String>,
}

/// Paths too general to say two steps touch the same thing (caches and lists every package
/// step cleans, folders everything is under).
const GENERAL: &[&str] = &[
    "/",
    "/tmp",
    "/dev/null",
    "/var/lib/apt/lists",
    "/var/cache/apt",
    "/var/cache/apt/archives",
    "/var/cache/apk",
    "/root/.cache",
    "/usr",
    "/usr/local",
    "/etc",
    "/var",
];

fn segments(text: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    for part in text.split(['\n', ';']) {
        for part in part.split("&&") {
            for part in part.split("||") {
                for part in part.split('|') {
                    let tokens: Vec<&str> = part.split_whitespace().collect();
                    if !tokens.is_empty() {
                        out.push(tokens);
                    }
                }
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Seg {
    Update,
    Install { self_updating: bool },
    Drop,
    Neutral,
    Other,
}

fn classify(tokens: &[&str]) -> (Seg, Vec<String>) {
    let mut t: Vec<&str> = tokens
        .iter()
        .copied()
        .skip_while(|w| w.contains('=') && !w.starts_with('-') || *w == "sudo")
        .collect();
    if t.is_empty() {
        return (Seg::Neutral, Vec::new());
    }
    let tool = t.remove(0);
    let sub_at = t.iter().position(|w| !w.starts_with('-'));
    let sub = sub_at.map(|i| t[i]).unwrap_or_default();
    let after_sub: Vec<String> = sub_at
        .map(|i| {
            t[i + 1..]
                .iter()
                .filter(|w| !w.starts_with('-'))
                .map(|w| {
                    w.split(['=', ':'])
                        .next()
                        .unwrap_or_default()
                        .trim_matches(['"', '\''])
                        .to_owned()
                })
                .filter(|w| !w.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match tool {
        "apt-get" | "apt" | "aptitude" => match sub {
            "update" => (Seg::Update, Vec::new()),
            "install" | "upgrade" | "dist-upgrade" | "full-upgrade" | "build-dep" | "remove"
            | "purge" | "autoremove" | "reinstall" => (
                Seg::Install {
                    self_updating: false,
                },
                after_sub,
            ),
            "clean" | "autoclean" => (Seg::Neutral, Vec::new()),
            _ => (Seg::Other, Vec::new()),
        },
        "apk" => match sub {
            "update" => (Seg::Update, Vec::new()),
            "add" | "del" | "upgrade" => (
                Seg::Install {
                    self_updating: t.iter().any(|w| *w == "--no-cache" || *w == "--update"),
                },
                after_sub,
            ),
            _ => (Seg::Other, Vec::new()),
        },
        "dnf" | "yum" | "microdnf" => match sub {
            "makecache" => (Seg::Update, Vec::new()),
            "install" | "update" | "upgrade" | "remove" => (
                Seg::Install {
                    self_updating: true,
                },
                after_sub,
            ),
            "clean" => (Seg::Neutral, Vec::new()),
            _ => (Seg::Other, Vec::new()),
        },
        "rm" if !t.is_empty()
            && t.iter().filter(|w| !w.starts_with('-')).all(|w| {
                w.starts_with("/var/lib/apt/lists")
                    || w.starts_with("/var/cache/apt")
                    || w.starts_with("/var/cache/apk")
                    || w.starts_with("/tmp/")
            }) =>
        {
            if t.iter().any(|w| w.starts_with("/var/lib/apt/lists")) {
                (Seg::Drop, Vec::new())
            } else {
                (Seg::Neutral, Vec::new())
            }
        }
        "set" | "true" | ":" => (Seg::Neutral, Vec::new()),
        "export" if t.iter().all(|w| w.starts_with("DEBIAN_FRONTEND=")) => {
            (Seg::Neutral, Vec::new())
        }
        _ => (Seg::Other, Vec::new()),
    }
}

fn clean_path(p: &str) -> String {
    let mut p = p.trim_end_matches(['*', ')', '"', '\'']).to_owned();
    while p.len() > 1 && (p.ends_with('/') || p.ends_with("/.")) {
        p = p
            .trim_end_matches('/')
            .trim_end_matches("/.")
            .trim_end_matches('/')
            .to_owned();
        if p.is_empty() {
            p = "/".into();
        }
    }
    p
}

fn paths_in(text: &str) -> Vec<Option<String>> {
    let mut out = BTreeSet::new();
    for token in text.split(|c: char| {
        c.is_whitespace() || matches!(c, ';' | '&' | '|' | '<' | '>' | '(' | '=' | ',' | '`')
    }) {
        let token = token.trim_matches(['"', '\'']);
        if token.starts_with('/') {
            out.insert(clean_path(token));
        }
    }
    out.into_iter().map(Some).collect()
}

fn words_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Joins a possibly relative path to the working directory, when known.
pub(crate) fn absolute(path: &str, workdir: Option<&str>) -> Option<String> {
    if path.starts_with('/') {
        Some(clean_path(path))
    } else {
        workdir.map(|w| clean_path(&format!("{}/{path}", w.trim_end_matches('/'))))
    }
}

/// The facts of a step (`workdir` resolves a copy's relative destination).
pub(crate) fn facts(action: &Action, workdir: Option<&str>) -> Facts {
    let text = match action {
        Action::Copy(c) => {
            return Facts {
                copy: true,
                paths: vec![absolute(&c.dest, workdir)],
                words: c
                    .src
                    .iter()
                    .filter_map(|s| s.trim_end_matches('/').rsplit('/').next())
                    .filter(|s| !s.is_empty() && *s != "." && !s.contains('*'))
                    .map(str::to_owned)
                    .collect(),
                ..Facts::default()
            };
        }
        Action::Run(RunCommand::Shell(s)) => s.clone(),
        Action::Run(RunCommand::Exec(argv)) => argv.join(" "),
    };
    let mut f = Facts {
        paths: paths_in(&text),
        words: words_in(&text),
        configures: ["/etc/apt", "apt-key", "gpg", "dpkg", "debconf", "apt-mark"]
            .iter()
            .any(|k| text.contains(k)),
        ..Facts::default()
    };
    let mut any_package = false;
    let mut other = false;
    let mut updated = false;
    for seg in segments(&text) {
        let (kind, packages) = classify(&seg);
        match kind {
            Seg::Update => {
                any_package = true;
                updated = true;
                f.fetches = true;
                f.drops = false;
            }
            Seg::Install { self_updating } => {
                any_package = true;
                if !updated && !self_updating {
                    f.needs = true;
                }
                f.packages.extend(packages);
            }
            Seg::Drop => {
                any_package = true;
                f.drops = true;
                f.fetches = false;
            }
            Seg::Neutral => {}
            Seg::Other => other = true,
        }
    }
    f.package = any_package && !other;
    f
}

fn overlap(a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return true;
    };
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if GENERAL.contains(&short) {
        return false;
    }
    if a == b {
        return true;
    }
    !GENERAL.contains(&short) && long.starts_with(short) && long[short.len()..].starts_with('/')
}

fn paths_overlap(a: &Facts, b: &Facts) -> Option<String> {
    for p in &a.paths {
        for q in &b.paths {
            if overlap(p.as_deref(), q.as_deref()) {
                let shown = p.as_deref().or(q.as_deref()).unwrap_or("a relative path");
                return Some(shown.to_owned());
            }
        }
    }
    None
}

/// Why `later` must stay after `earlier` (both of one Dockerfile, in that order), if it must.
pub(crate) fn must_follow(earlier: &Facts, later: &Facts) -> Option<String> {
    let (e, l) = (earlier, later);
    let script = |f: &Facts| !f.package && !f.copy;
    if script(l) && !e.copy {
        return Some(if e.package {
            "a script after a package operation: it may use what that installs".into()
        } else {
            "two scripts: import keeps their order".into()
        });
    }
    if script(l) && e.copy {
        return Some("a script after a copy: it may read the copied files".into());
    }
    if l.package && e.package {
        if l.needs && e.fetches {
            return Some("installs packages: after the index update".into());
        }
        if l.drops && (e.fetches || e.needs) {
            return Some("removes the package lists: after the steps that use them".into());
        }
        if (l.fetches || l.needs) && e.drops {
            return Some("uses the package lists: after the step that removes them".into());
        }
    }
    if l.package && script(e) && e.configures && (l.fetches || l.needs) {
        return Some(
            "uses the package index: after the step that configures the package manager".into(),
        );
    }
    if l.package
        && e.copy
        && let Some(w) = e.words.iter().find(|w| l.words.contains(*w))
    {
        return Some(format!("reads the copied `{w}`"));
    }
    if let Some(p) = paths_overlap(e, l) {
        return Some(format!("both touch `{p}`"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Facts {
        facts(&Action::Run(RunCommand::Shell(s.into())), None)
    }

    #[test]
    fn package_operations_are_told_apart() {
        let u = run("apt-get update");
        assert!(u.package && u.fetches && !u.needs);
        let i = run("apt-get install -y --no-install-recommends curl=7.88 git");
        assert!(i.package && i.needs && !i.fetches);
        assert_eq!(i.packages, ["curl", "git"]);
        let whole =
            run("set -eux; apt-get update && apt-get install -y jq && rm -rf /var/lib/apt/lists/*");
        assert!(whole.package && !whole.needs && !whole.fetches && whole.drops);
        assert!(!run("apt-get update && make install").package);
        assert!(run("apk add --no-cache curl").package);
        assert!(!run("apk add --no-cache curl").needs);
    }

    #[test]
    fn installs_are_free_among_themselves_but_follow_the_update() {
        let u = run("apt-get update");
        let a = run("apt-get install -y curl");
        let b = run("apt-get install -y git");
        assert!(must_follow(&u, &a).is_some());
        assert!(must_follow(&a, &b).is_none());
        let clean = run("rm -rf /var/lib/apt/lists/*");
        assert!(must_follow(&a, &clean).is_some());
        let script = run("curl -fsSL https://example.org/x > /opt/x");
        assert!(must_follow(&a, &script).is_some());
        assert!(must_follow(&script, &b).is_none());
    }

    #[test]
    fn copies_order_by_what_they_touch() {
        let copy = facts(
            &Action::Copy(dockopt_manifest::Copy {
                src: vec!["app/entry.sh".into()],
                dest: "/usr/local/bin/".into(),
                from: None,
                stage: None,
            }),
            None,
        );
        assert_eq!(copy.paths, [Some("/usr/local/bin".to_owned())]);
        let chmod = run("chmod +x /usr/local/bin/entry.sh");
        assert!(must_follow(&copy, &chmod).is_some());
        let install = run("apt-get install -y curl");
        assert!(must_follow(&copy, &install).is_none());
        assert!(must_follow(&install, &copy).is_none());
        let mkdir = run("mkdir -p /usr/local/bin/x");
        assert!(must_follow(&mkdir, &copy).is_some());
    }
}

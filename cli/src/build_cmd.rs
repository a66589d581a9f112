//! `dockopt build`: every target (or the chosen ones) built and tagged through the frontend.

use std::io::Write;
use std::path::Path;

use dockopt_manifest::Manifest;
use dockopt_planner::{Plan, Trie};

use crate::engine::{self, BuildRequest};

/// Targets in the order a depth-first walk of the plan's trie meets their ends, so that each
/// build starts from what the previous ones left in the cache.
pub(crate) fn build_order(manifest: &Manifest, plan: &Plan) -> Vec<usize> {
    let trie = Trie::build(&manifest.problem(), &plan.orders);
    let mut order = Vec::new();
    let mut stack: Vec<usize> = trie.roots().collect::<Vec<_>>().into_iter().rev().collect();
    while let Some(n) = stack.pop() {
        order.extend(trie.nodes[n].ends.iter().copied());
        stack.extend(trie.nodes[n].children.iter().rev().copied());
    }
    order
}

/// The tags of a target: its `tags`, else `PREFIX:TARGET`.
pub(crate) fn tags_of(manifest: &Manifest, target: usize, prefix: &str) -> Vec<String> {
    let t = &manifest.targets[target];
    if t.tags.is_empty() {
        vec![format!("{prefix}:{}", t.name)]
    } else {
        t.tags.clone()
    }
}

/// A default image name from the manifest's folder: lowercase letters, digits, `-`, `_`, `.`.
pub(crate) fn default_prefix(manifest_path: &Path) -> String {
    let dir = manifest_path
        .canonicalize()
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let clean: String = dir
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    if clean.is_empty() {
        "dockopt".into()
    } else {
        clean
    }
}

/// Options of one `dockopt build` run.
pub(crate) struct Request<'a> {
    pub(crate) manifest_path: &'a Path,
    pub(crate) context: &'a Path,
    pub(crate) targets: Vec<usize>,
    pub(crate) prefix: String,
    pub(crate) build_args: &'a [(String, String)],
    pub(crate) no_cache: bool,
}

/// Builds each target in turn, printing one line per target; stops at the first failure and
/// shows its log.
pub(crate) fn run(
    manifest: &Manifest,
    req: &Request<'_>,
    out: &mut impl Write,
) -> Result<(), String> {
    let total = req.targets.len();
    let started = std::time::Instant::now();
    let (mut ran, mut cached) = (0usize, 0usize);
    for (i, &t) in req.targets.iter().enumerate() {
        let name = &manifest.targets[t].name;
        let tags = tags_of(manifest, t, &req.prefix);
        let _ = write!(out, "[{}/{total}] {name} → {} … ", i + 1, tags.join(", "));
        let _ = out.flush();
        let report = engine::build(&BuildRequest {
            manifest: req.manifest_path,
            context: req.context,
            target: name,
            tags: &tags,
            build_args: req.build_args,
            no_cache: req.no_cache,
        })
        .map_err(|e| format!("cannot run {}: {e}", engine::client()))?;
        if !report.ok {
            let _ = writeln!(out, "failed");
            let tail: Vec<&str> = report
                .log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(format!(
                "error: building target `{name}` failed; the end of its log:\n{}\n",
                tail.join("\n")
            ));
        }
        ran += report.ran.len();
        cached += report.cached;
        let _ = writeln!(
            out,
            "{:.1} s, {} steps run, {} from cache",
            report.wall.as_secs_f64(),
            report.ran.len(),
            report.cached
        );
    }
    let _ = writeln!(
        out,
        "built {total} targets in {:.1} s: {ran} steps run, {cached} reused from the cache",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

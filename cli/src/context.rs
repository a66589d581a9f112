//! The build context as the manifest's copies see it: a source that is not there is reported
//! with the manifest line before any build starts (Docker would report it only mid-build,
//! without the line).

use std::path::Path;

use dockopt_manifest::Action;
use dockopt_project::Planned;

/// One line per copy source (of a step some target in `targets` builds) that is missing from
/// `context`: `FILE:LINE:COLUMN: step `LABEL` copies `SRC`, which is not in the build context
/// `DIR``. Wildcard sources are checked up to their first wildcard (the folder must exist).
pub(crate) fn missing_sources(planned: &Planned, targets: &[usize], context: &Path) -> Vec<String> {
    let manifest = &planned.manifest;
    let mut used = vec![false; manifest.steps.len()];
    for &t in targets {
        for &s in &planned.plan.orders[t] {
            used[s] = true;
        }
    }
    let mut out = Vec::new();
    for (step, _) in manifest.steps.iter().zip(&used).filter(|(_, u)| **u) {
        let Action::Copy(copy) = &step.action else {
            continue;
        };
        // Sources in an image or a stage are there only at build time.
        if copy.from.is_some() || copy.stage.is_some() {
            continue;
        }
        for src in &copy.src {
            let checked = match src.find(['*', '?', '[']) {
                Some(i) => src[..i].rsplit_once('/').map_or("", |(dir, _)| dir),
                None => src.as_str(),
            };
            let path = context.join(checked.trim_start_matches('/'));
            if std::fs::symlink_metadata(&path).is_err() {
                out.push(format!(
                    "{}:{}:{}: step `{}` copies `{src}`, which is not in the build context `{}`",
                    manifest.file,
                    step.span.line,
                    step.span.column,
                    step.label(),
                    context.display()
                ));
            }
        }
    }
    out
}

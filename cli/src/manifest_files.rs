//! A manifest and the files beside it: the manifest read with its lock and times store and
//! planned through `dockopt_project` (the edge the frontend plans through too), the lock written
//! back, and files written whole.

use std::collections::BTreeMap;
use std::io::Write;

use dockopt_planner::Options;

use crate::Failure;

/// Reads a manifest with its lock and times store (beside it, when present) and plans it
/// through the one edge every command and the frontend share; warnings go to stderr.
pub(crate) fn load(
    path: &std::path::Path,
    build_args: &[(String, String)],
    options: Options,
    use_lock: bool,
) -> Result<dockopt_project::Planned, Failure> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::User(format!("error: cannot read {file}: {e}\n")))?;
    let lock = if use_lock {
        read_beside(&dockopt_project::lock_name(&file))?
    } else {
        None
    };
    let times = read_beside(&dockopt_project::times_name(&file))?;
    // Build args BuildKit (`BUILDKIT_*`) and dockopt (`DOCKOPT_*`) read are not the manifest's,
    // as in the frontend.
    let build_args: BTreeMap<String, String> = build_args
        .iter()
        .filter(|(k, _)| !k.starts_with("BUILDKIT_") && !k.starts_with("DOCKOPT_"))
        .cloned()
        .collect();
    let planned = dockopt_project::plan(&dockopt_project::Input {
        file: &file,
        text: &text,
        build_args: &build_args,
        lock: lock.as_deref(),
        times: times.as_deref(),
        options,
    })
    .map_err(|e| match e {
        dockopt_project::Error::Manifest(m, _) => Failure::User(m),
        dockopt_project::Error::Lock(m) => Failure::User(format!(
            "error: {m}\n  help: fix it, or move it away and run `dockopt plan --lock` to write a new one\n"
        )),
        dockopt_project::Error::Planner(e @ dockopt_planner::ProblemError::TooLarge { .. }) => {
            Failure::User(format!("error: {e}; raise --effort or use --method auto\n"))
        }
        dockopt_project::Error::Planner(e) => Failure::Internal(e.to_string()),
    })?;
    let mut err = std::io::stderr();
    for name in &planned.manifest.unused_build_args {
        let _ = writeln!(
            err,
            "warning: build arg `{name}` is not declared in {file}; it changes nothing"
        );
    }
    for w in &planned.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    if let Some(used) = &planned.lock
        && !used.repaired.is_empty()
    {
        let _ = writeln!(
            err,
            "note: the lock no longer fits {}: planned anew on top of the locked ones",
            used.repaired.join(", ")
        );
    }
    Ok(planned)
}

/// A file beside the manifest, or `None` when there is none.
pub(crate) fn read_beside(path: &str) -> Result<Option<String>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::User(format!("error: cannot read {path}: {e}\n"))),
    }
}

/// Writes `text` to `path` whole or not at all (a temporary file renamed over it).
pub(crate) fn write_atomic(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp.{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes the plan's lock beside the manifest when it differs from what is there.
pub(crate) fn write_lock(file: &str, planned: &dockopt_project::Planned) -> Result<(), Failure> {
    let path = dockopt_project::lock_name(file);
    let text = planned.lock().render();
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    write_atomic(&path, &text)
        .map_err(|e| Failure::User(format!("error: cannot write {path}: {e}\n")))?;
    let _ = writeln!(std::io::stderr(), "wrote {path}");
    Ok(())
}

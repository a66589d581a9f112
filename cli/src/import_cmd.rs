//! `dockopt import`'s edge: the Dockerfiles read, each given its context prefix (its folder
//! relative to the manifest's) and a variant name, the base images' env asked of the local
//! engine, [`crate::import::import`] run, the result planned (it must plan) and written.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use dockopt_planner::Options;

use crate::manifest_files::write_atomic;
use crate::{Failure, ImportArgs, engine};

/// A variant's name from its Dockerfile's path: `NAME.Dockerfile`/`Dockerfile.NAME` give NAME,
/// `DIR/Dockerfile` gives DIR (relative to `base`, `/` as `-`).
fn variant_name(path: &std::path::Path, base: &std::path::Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if let Some(n) = file
        .strip_suffix(".Dockerfile")
        .or_else(|| file.strip_prefix("Dockerfile."))
    {
        n.to_owned()
    } else {
        let dir = path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let abs = std::fs::canonicalize(&dir).unwrap_or(dir);
        let rel = abs
            .strip_prefix(base)
            .map(std::path::Path::to_path_buf)
            .unwrap_or(abs.clone());
        let rel = rel.to_string_lossy().replace('/', "-");
        if rel.is_empty() {
            abs.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "default".into())
        } else {
            rel
        }
    };
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    name.trim_matches('-').to_owned()
}

/// `dockopt import`.
pub(crate) fn import(args: &ImportArgs) -> Result<(), Failure> {
    if args.names.len() > args.dockerfiles.len() {
        return Err(Failure::User(format!(
            "error: {} --name for {} Dockerfiles\n",
            args.names.len(),
            args.dockerfiles.len()
        )));
    }
    let out_dir = args
        .output
        .as_ref()
        .and_then(|o| o.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let base = std::fs::canonicalize(&out_dir)
        .map_err(|e| Failure::User(format!("error: cannot open {}: {e}\n", out_dir.display())))?;
    let mut sources = Vec::new();
    for (i, path) in args.dockerfiles.iter().enumerate() {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::User(format!("error: cannot read {file}: {e}\n")))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
        let dir = std::fs::canonicalize(&dir)
            .map_err(|e| Failure::User(format!("error: cannot open {}: {e}\n", dir.display())))?;
        let Ok(rel) = dir.strip_prefix(&base) else {
            return Err(Failure::User(format!(
                "error: {file}: its folder (its build context) is not inside {}, the manifest's folder, so the manifest's COPY steps could not reach its files\n  help: write the manifest (-o) in a folder that holds every Dockerfile's folder\n",
                base.display()
            )));
        };
        let mut context = rel.to_string_lossy().into_owned();
        if !context.is_empty() {
            context.push('/');
        }
        let name = args
            .names
            .get(i)
            .cloned()
            .unwrap_or_else(|| variant_name(path, &base));
        sources.push(crate::import::Source {
            file,
            name,
            text,
            context,
        });
    }
    let options = crate::import::Options {
        keep_order: args.keep_order,
        build_args: args.build_args.iter().cloned().collect(),
    };
    let mut envs: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    let mut base_env = |image: &str| {
        envs.entry(image.to_owned())
            .or_insert_with(|| engine::image_env(image))
            .clone()
    };
    // A context file's mode and bytes (up to 1 MiB), to copy identical files from one place.
    let mut contents = |rel: &str| -> Option<Vec<u8>> {
        use std::os::unix::fs::PermissionsExt;
        let path = base.join(rel);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > 1 << 20 {
            return None;
        }
        let mut out = meta.permissions().mode().to_le_bytes().to_vec();
        out.extend(std::fs::read(&path).ok()?);
        Some(out)
    };
    let imported = crate::import::import(&sources, &options, &mut base_env, &mut contents)
        .map_err(|errors| {
            let mut msg = String::new();
            for e in errors {
                msg.push_str(&format!("error: {e}\n"));
            }
            Failure::User(msg)
        })?;
    // What was written must parse and plan; say what the plan saves.
    let file = args
        .output
        .as_ref()
        .map_or_else(|| "variants.yaml".to_owned(), |o| o.display().to_string());
    let planned = dockopt_project::plan(&dockopt_project::Input {
        file: &file,
        text: &imported.yaml,
        build_args: &BTreeMap::new(),
        lock: None,
        times: None,
        options: Options::default(),
    })
    .map_err(|e| {
        Failure::User(format!(
            "error: the manifest import wrote does not plan (nothing written):\n{e}\n{}",
            imported.yaml
        ))
    })?;
    let mut err = std::io::stderr();
    for n in &imported.notes {
        let _ = writeln!(err, "note: {n}");
    }
    let _ = writeln!(
        err,
        "plan: {} step runs for {}{} (the Dockerfiles as written: {}; their orders with the shared steps: {})",
        planned.plan.cost,
        match planned.manifest.variants().len() {
            1 => "the one variant".to_owned(),
            n => format!("all {n} variants"),
        },
        match planned.manifest.targets.len() - planned.manifest.variants().len() {
            0 => String::new(),
            n => format!(" and {}", crate::plan_view::count(n, "stage")),
        },
        imported.as_written_runs,
        planned.plan.as_listed_cost
    );
    match &args.output {
        Some(path) => {
            write_atomic(&file, &imported.yaml).map_err(|e| {
                Failure::User(format!("error: cannot write {}: {e}\n", path.display()))
            })?;
            let _ = writeln!(err, "wrote {file}");
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(imported.yaml.as_bytes())
                .and_then(|()| stdout.flush());
        }
    }
    Ok(())
}

//! `RUN --mount=…` → a manifest [`Mount`]: the flag's `key=value` list as BuildKit's
//! Dockerfile frontend reads it, limited to what the manifest can hold (the rest is an error
//! that says which key).

use dockopt_manifest::{CacheSharing, Mount};

use super::Source;
use super::lex::{self, Lookup};
use super::stages::StageRefs;

/// Reads one `--mount` value. A bind of the context gets the Dockerfile's context prefix; a
/// bind or a read of a stage records the stage in `reads`.
pub(super) fn parse(
    spec: &str,
    lookup: &dyn Fn(&str) -> Lookup,
    source: &Source,
    refs: &StageRefs,
    reads: &mut Vec<usize>,
) -> Result<Mount, String> {
    let mut kind = "bind".to_owned();
    let mut target = None;
    let mut src = None;
    let mut from = None;
    let mut id = None;
    let mut sharing = CacheSharing::Shared;
    let mut required = false;
    let mut rw = false;
    // `ro`/`readonly` given explicitly (a read-only cache cannot be expressed).
    let mut read_only = false;
    let mut size = None;
    for field in spec.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(expand(v.trim(), lookup))),
            None => (field.to_lowercase(), None),
        };
        let flag = |v: &Option<String>| -> Result<bool, String> {
            match v.as_deref() {
                None | Some("true") => Ok(true),
                Some("false") => Ok(false),
                Some(other) => Err(format!("`{key}={other}`: expected true or false")),
            }
        };
        match key.as_str() {
            "type" => kind = value.unwrap_or_default(),
            "target" | "dst" | "destination" => target = value,
            "source" | "src" => src = value,
            "from" => from = value,
            "id" => id = value,
            "sharing" => {
                sharing = match value.as_deref() {
                    Some("shared") => CacheSharing::Shared,
                    Some("private") => CacheSharing::Private,
                    Some("locked") => CacheSharing::Locked,
                    other => {
                        return Err(format!(
                            "sharing={}: expected shared, private or locked",
                            other.unwrap_or_default()
                        ));
                    }
                }
            }
            "required" => required = flag(&value)?,
            "rw" | "readwrite" => rw = flag(&value)?,
            "ro" | "readonly" => {
                read_only = flag(&value)?;
                rw = !read_only;
            }
            "size" => size = value,
            other => {
                return Err(format!(
                    "`{other}` has no place in the manifest's mounts (it has type, target, id, sharing, source, from, rw, required, size)"
                ));
            }
        }
    }
    let stage_of = |from: &str, reads: &mut Vec<usize>| -> Result<String, String> {
        let i = refs.stage(from).ok_or_else(|| {
            format!("from={from}: a mount from an image cannot be expressed; only from a stage of this Dockerfile or the context")
        })?;
        if !reads.contains(&i) {
            reads.push(i);
        }
        Ok(refs.targets[i].clone())
    };
    let need_target = |t: Option<String>| t.ok_or_else(|| "a mount needs `target=`".to_owned());
    match kind.as_str() {
        "cache" => {
            if from.is_some() || src.is_some() {
                return Err(
                    "a cache mount seeded `from` a stage or image cannot be expressed".into(),
                );
            }
            if read_only {
                return Err("a read-only cache mount (`ro`) cannot be expressed: the manifest's cache mounts are writable".into());
            }
            Ok(Mount::Cache {
                target: need_target(target)?,
                id,
                sharing,
            })
        }
        "secret" => Ok(Mount::Secret {
            id: match id {
                Some(id) => id,
                // Docker takes the target's file name as the id when none is given.
                None => target
                    .as_deref()
                    .and_then(|t| t.rsplit('/').next())
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .ok_or("a secret mount needs `id=` (or a `target=` to take it from)")?,
            },
            target,
            required,
        }),
        "bind" => {
            let (stage, source_path) = match from.as_deref() {
                Some(f) => (Some(stage_of(f, reads)?), src),
                None => {
                    // The context: paths under this Dockerfile's folder.
                    let p = src.as_deref().unwrap_or(".");
                    let p = p.trim_start_matches("./").trim_start_matches('/');
                    let joined = format!("{}{p}", source.context);
                    let joined = joined.trim_end_matches(['/', '.']).to_owned();
                    (None, Some(joined).filter(|j| !j.is_empty()))
                }
            };
            Ok(Mount::Bind {
                target: need_target(target)?,
                source: source_path,
                stage,
                rw,
            })
        }
        "tmpfs" => {
            let size = match size {
                None => None,
                Some(text) => Some(dockopt_manifest::parse_size(&text).ok_or(format!(
                    "size={text}: expected bytes, or a number with k, m or g"
                ))?),
            };
            Ok(Mount::Tmpfs {
                target: need_target(target)?,
                size,
            })
        }
        "ssh" => Err("type=ssh: SSH agent mounts are not in the manifest".into()),
        other => Err(format!("type={other}: not a mount type")),
    }
}

fn expand(value: &str, lookup: &dyn Fn(&str) -> Lookup) -> String {
    lex::words(value, false, lookup).0.concat()
}

//! The Docker engine, through its command-line client (the only place dockopt drives it).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The client: `DOCKOPT_DOCKER` if set, else Debian's BuildKit-capable `/usr/bin/docker` when
/// present, else `docker` on the PATH.
pub(crate) fn client() -> String {
    if let Ok(c) = std::env::var("DOCKOPT_DOCKER")
        && !c.is_empty()
    {
        return c;
    }
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker".into()
    } else {
        "docker".into()
    }
}

/// One `docker build` of one target.
pub(crate) struct BuildRequest<'a> {
    pub(crate) manifest: &'a Path,
    pub(crate) context: &'a Path,
    pub(crate) target: &'a str,
    pub(crate) tags: &'a [String],
    pub(crate) build_args: &'a [(String, String)],
    pub(crate) no_cache: bool,
}

/// What a build did, read from BuildKit's plain progress.
pub(crate) struct BuildReport {
    pub(crate) ok: bool,
    pub(crate) wall: Duration,
    /// Step vertices that ran, with their durations as BuildKit printed them.
    pub(crate) ran: Vec<(String, f64)>,
    /// Step vertices reused from the cache.
    pub(crate) cached: usize,
    /// The whole progress log.
    pub(crate) log: String,
}

/// Runs `docker build` with BuildKit and plain progress.
pub(crate) fn build(req: &BuildRequest<'_>) -> std::io::Result<BuildReport> {
    let mut cmd = Command::new(client());
    cmd.env("DOCKER_BUILDKIT", "1")
        .arg("build")
        .arg("--progress=plain")
        .arg("-f")
        .arg(req.manifest)
        .arg("--target")
        .arg(req.target);
    for t in req.tags {
        cmd.arg("-t").arg(t);
    }
    for (k, v) in req.build_args {
        cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    if req.no_cache {
        cmd.arg("--no-cache");
    }
    cmd.arg(req.context).stdin(Stdio::null());
    let start = Instant::now();
    let out = cmd.output()?;
    let wall = start.elapsed();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let (ran, cached) = read_progress(&log);
    Ok(BuildReport {
        ok: out.status.success(),
        wall,
        ran,
        cached,
        log,
    })
}

/// Step vertices (named `RUN …` or `COPY …`) that ran, with seconds, and how many were cached.
fn read_progress(log: &str) -> (Vec<(String, f64)>, usize) {
    use std::collections::BTreeMap;
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    let mut done: BTreeMap<u32, f64> = BTreeMap::new();
    let mut cached = std::collections::BTreeSet::new();
    for line in log.lines() {
        let Some((id, text)) = line.strip_prefix('#').and_then(|r| r.split_once(' ')) else {
            continue;
        };
        let Ok(id) = id.parse::<u32>() else { continue };
        if text == "CACHED" {
            cached.insert(id);
        } else if let Some(secs) = text.strip_prefix("DONE ") {
            done.insert(id, secs.trim_end_matches('s').parse().unwrap_or(0.0));
        } else if !text.starts_with("sha256:")
            && !names.contains_key(&id)
            && (text.starts_with("RUN ") || text.starts_with("COPY "))
        {
            names.insert(id, text.to_owned());
        }
    }
    let ran = names
        .iter()
        .filter(|(id, _)| !cached.contains(*id))
        .filter_map(|(id, n)| done.get(id).map(|&s| (n.clone(), s)))
        .collect();
    let n_cached = names.keys().filter(|id| cached.contains(*id)).count();
    (ran, n_cached)
}

#[cfg(test)]
mod tests {
    use super::read_progress;

    #[test]
    fn progress_is_read_per_vertex() {
        let log = "#7 [base] x\n#7 DONE 0.0s\n#8 RUN a  [shared by 2: x, y]\n#8 sha256:ab\n#8 CACHED\n\
                   #9 RUN b  [y]\n#9 sha256:cd\n#9 DONE 1.5s\n#10 COPY f /f  [y]\n#10 DONE 0.1s\n";
        let (ran, cached) = read_progress(log);
        assert_eq!(
            ran,
            vec![
                ("RUN b  [y]".to_owned(), 1.5),
                ("COPY f /f  [y]".to_owned(), 0.1)
            ]
        );
        assert_eq!(cached, 1);
    }
}

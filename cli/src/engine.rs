//! The Docker engine, through its command-line client (the only place dockopt drives it).

use std::path::Path;
use std::process::{Command, Stdio};

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

/// One `docker build`: one target (or, with `target: None`, the frontend's all-variants solve).
pub(crate) struct BuildSpec<'a> {
    pub(crate) manifest: &'a Path,
    pub(crate) context: &'a Path,
    pub(crate) target: Option<&'a str>,
    pub(crate) tags: &'a [String],
    /// Build args, including the reserved `BUILDKIT_SYNTAX` / `DOCKOPT_TARGETS`.
    pub(crate) build_args: &'a [(String, String)],
    pub(crate) labels: &'a [(String, String)],
    pub(crate) no_cache: bool,
    pub(crate) network: Option<&'a str>,
    pub(crate) cache_from: &'a [String],
    /// `--secret id=…,src=…` (the value stays in the file; only this argument is passed).
    pub(crate) secrets: &'a [String],
    /// `--cache-to` exports (buildx only).
    pub(crate) cache_to: &'a [String],
    /// `--platform`.
    pub(crate) platform: Option<&'a str>,
    /// Build through `docker buildx build --builder NAME --load` instead of `docker build`.
    pub(crate) builder: Option<&'a str>,
    /// `--pull`.
    pub(crate) pull: bool,
}

/// The `docker build` command of `spec`, with BuildKit and plain progress.
pub(crate) fn build_command(spec: &BuildSpec<'_>) -> Command {
    let mut cmd = Command::new(client());
    cmd.env("DOCKER_BUILDKIT", "1");
    match spec.builder {
        Some(b) => {
            cmd.args(["buildx", "build", "--load", "--builder", b]);
        }
        None if !spec.cache_to.is_empty() => {
            cmd.args(["buildx", "build", "--load"]);
        }
        None => {
            cmd.arg("build");
        }
    }
    cmd.arg("--progress=plain").arg("-f").arg(spec.manifest);
    if let Some(t) = spec.target {
        cmd.arg("--target").arg(t);
    }
    for t in spec.tags {
        cmd.arg("-t").arg(t);
    }
    for (k, v) in spec.build_args {
        cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    for (k, v) in spec.labels {
        cmd.arg("--label").arg(format!("{k}={v}"));
    }
    if spec.no_cache {
        cmd.arg("--no-cache");
    }
    if spec.pull {
        cmd.arg("--pull");
    }
    if let Some(n) = spec.network {
        cmd.arg("--network").arg(n);
    }
    for c in spec.cache_from {
        cmd.arg("--cache-from").arg(c);
    }
    for s in spec.secrets {
        cmd.arg("--secret").arg(s);
    }
    for c in spec.cache_to {
        cmd.arg("--cache-to").arg(c);
    }
    if let Some(p) = spec.platform {
        cmd.arg("--platform").arg(p);
    }
    cmd.arg(spec.context).stdin(Stdio::null());
    cmd
}

/// A command as a shell would take it (for `--print`).
pub(crate) fn shell_line(cmd: &Command) -> String {
    let quote = |s: &str| {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c))
        {
            s.to_owned()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| {
            v.map(|v| format!("{}={}", k.to_string_lossy(), quote(&v.to_string_lossy())))
        })
        .collect();
    parts.push(quote(&cmd.get_program().to_string_lossy()));
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

/// Checks that the client runs and reaches an engine; the error says which client (and where
/// its path came from) and what to set.
pub(crate) fn check() -> Result<(), String> {
    let client = client();
    let from = if std::env::var("DOCKOPT_DOCKER").is_ok_and(|c| !c.is_empty()) {
        " (from DOCKOPT_DOCKER)"
    } else {
        ""
    };
    let out = Command::new(&client)
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "cannot run the Docker client `{client}`{from}: {e}; set DOCKOPT_DOCKER to a \
                 BuildKit-capable client (`/usr/bin/docker` with Debian's docker.io, or any client \
                 with buildx)"
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr);
    let why = why
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("it exited with an error and said nothing");
    Err(format!(
        "the Docker client `{client}`{from} does not reach an engine: {why}; start dockerd, or set \
         DOCKER_HOST (or DOCKOPT_DOCKER to another client)"
    ))
}

/// Whether the engine has `image` locally.
pub(crate) fn has_image(image: &str) -> bool {
    Command::new(client())
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `Env` of a local image's config (`docker image inspect`), or `None` when the engine does
/// not answer or has no such image (nothing is pulled).
pub(crate) fn image_env(image: &str) -> Option<Vec<String>> {
    let out = Command::new(client())
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            image,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice::<Option<Vec<String>>>(&out.stdout)
        .ok()
        .map(Option::unwrap_or_default)
}

/// `docker push TAG`: (success, output).
pub(crate) fn push(tag: &str) -> std::io::Result<(bool, String)> {
    let out = Command::new(client())
        .args(["push", tag])
        .stdin(Stdio::null())
        .output()?;
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), log))
}

/// One line of BuildKit's plain progress: `#ID REST`.
pub(crate) fn progress_line(line: &str) -> Option<(u32, &str)> {
    let (id, rest) = line.strip_prefix('#')?.split_once(' ')?;
    Some((id.parse().ok()?, rest))
}

/// What a plain-progress line says about its vertex.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum VertexLine<'a> {
    Cached,
    Done(f64),
    Error(&'a str),
    Canceled,
    /// `sha256:…` (20.10 prints the vertex digest).
    Digest,
    /// Output of the step (`0.123 text`), without the timestamp.
    Output(&'a str),
    /// Anything else: the vertex name on its first line.
    Text(&'a str),
}

/// Classifies the text after `#ID `.
pub(crate) fn vertex_line(rest: &str) -> VertexLine<'_> {
    if rest == "CACHED" {
        return VertexLine::Cached;
    }
    if rest == "CANCELED" {
        return VertexLine::Canceled;
    }
    if let Some(secs) = rest.strip_prefix("DONE ")
        && let Ok(v) = secs.trim_end_matches('s').parse::<f64>()
    {
        return VertexLine::Done(v);
    }
    if let Some(e) = rest.strip_prefix("ERROR") {
        return VertexLine::Error(e.trim_start_matches(':').trim());
    }
    if rest.starts_with("sha256:") {
        return VertexLine::Digest;
    }
    if let Some((stamp, text)) = rest.split_once(' ')
        && stamp.contains('.')
        && stamp.parse::<f64>().is_ok()
    {
        return VertexLine::Output(text);
    }
    VertexLine::Text(rest)
}

#[cfg(test)]
mod tests {
    use super::{VertexLine, progress_line, vertex_line};

    #[test]
    fn progress_lines_are_classified() {
        let line = |l: &'static str| progress_line(l).map(|(id, rest)| (id, vertex_line(rest)));
        assert_eq!(line("#7 CACHED"), Some((7, VertexLine::Cached)));
        assert_eq!(line("#8 DONE 1.5s"), Some((8, VertexLine::Done(1.5))));
        assert_eq!(
            line("#9 ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3"),
            Some((
                9,
                VertexLine::Error("executor failed running [/bin/sh -c exit 3]: exit code: 3")
            ))
        );
        assert_eq!(
            line("#9 0.245 about to fail"),
            Some((9, VertexLine::Output("about to fail")))
        );
        assert_eq!(line("#9 sha256:abc"), Some((9, VertexLine::Digest)));
        assert_eq!(
            line("#10 RUN echo 1.5 x  [a]"),
            Some((10, VertexLine::Text("RUN echo 1.5 x  [a]")))
        );
        assert_eq!(line("#10 CANCELED"), Some((10, VertexLine::Canceled)));
        assert_eq!(line("------"), None);
        assert_eq!(line("#x y"), None);
    }
}

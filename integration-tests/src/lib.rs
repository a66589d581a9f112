//! Helpers for driving a real Docker engine from tests: the client, the test base image, and
//! reading BuildKit's plain progress.
#![allow(clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The frontend image tests build through (`scripts/frontend-image` makes it).
pub const FRONTEND: &str = "dockopt/frontend:local";
/// The busybox base image the fixtures use.
pub const BUSYBOX: &str = "dockopt-test/busybox:latest";

/// The Docker client: `DOCKOPT_DOCKER`, else Debian's BuildKit-capable `/usr/bin/docker`.
#[must_use]
pub fn docker() -> Command {
    let bin = std::env::var("DOCKOPT_DOCKER").unwrap_or_else(|_| "/usr/bin/docker".to_owned());
    let mut cmd = Command::new(bin);
    cmd.env("DOCKER_BUILDKIT", "1");
    cmd
}

/// `--build-arg BUILDKIT_SYNTAX=IMAGE` when `DOCKOPT_TEST_FRONTEND` names a frontend image built
/// from this tree under another tag: it overrides the fixtures' `# syntax=` line, so a test run
/// leaves the shared [`FRONTEND`] image alone.
#[must_use]
pub fn frontend_override() -> Vec<String> {
    std::env::var("DOCKOPT_TEST_FRONTEND")
        .ok()
        .filter(|f| !f.is_empty())
        .map(|f| vec!["--build-arg".to_owned(), format!("BUILDKIT_SYNTAX={f}")])
        .unwrap_or_default()
}

/// Runs a docker command and returns its output (any exit status).
#[must_use]
pub fn run(args: &[&str]) -> Output {
    docker()
        .args(args)
        .output()
        .expect("the docker client runs")
}

/// Runs a docker command that must succeed; returns stdout.
#[must_use]
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks the engine, the frontend image and the busybox base; makes the base if missing.
pub fn engine_ready() {
    let v = run(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        v.status.success(),
        "no Docker engine answers; run scripts/dockerd-up:\n{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let fe = run(&["image", "inspect", FRONTEND]);
    assert!(
        fe.status.success(),
        "the frontend image {FRONTEND} is missing; run scripts/frontend-image"
    );
    if !run(&["image", "inspect", BUSYBOX]).status.success() {
        // Test processes start together (nextest): one imports, the others wait and find it.
        let lock = std::env::temp_dir().join("dockopt-it-busybox.lock");
        let started = std::time::Instant::now();
        while std::fs::create_dir(&lock).is_err()
            && started.elapsed() < std::time::Duration::from_secs(60)
        {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if !run(&["image", "inspect", BUSYBOX]).status.success() {
            import_busybox(BUSYBOX);
        }
        std::fs::remove_dir(&lock).ok();
    }
}

/// Makes a busybox image from Debian's static busybox with `docker import`.
pub fn import_busybox(tag: &str) {
    let dir = scratch_dir("busybox-rootfs");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("/bin/busybox (apt-get install busybox-static)");
    for applet in [
        "sh", "ls", "cat", "echo", "mkdir", "id", "env", "test", "true", "rm", "cp", "grep",
        "sleep",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink");
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").expect("group");
    let tar = dir.with_extension("tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
    let _ = ok(&[
        "import",
        "-c",
        "ENV PATH=/bin",
        tar.to_str().expect("utf-8"),
        tag,
    ]);
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&tar).ok();
}

/// A fresh directory under the system temp dir.
#[must_use]
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dockopt-it-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A value unique to this test run, for build args that must miss the cache.
#[must_use]
pub fn salt(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// The toolbox fixture's folder.
#[must_use]
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// One vertex of BuildKit's plain progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vertex {
    /// Its name (`RUN …`, `[internal] …`).
    pub name: String,
    /// Its digest.
    pub digest: String,
    /// Reused from the cache.
    pub cached: bool,
    /// Finished (ran, or came from the cache).
    pub done: bool,
    /// Failed.
    pub error: bool,
}

/// Parses `--progress=plain` output into vertices, in order of first appearance.
#[must_use]
pub fn vertices(progress: &str) -> Vec<Vertex> {
    let mut by_id: BTreeMap<u32, Vertex> = BTreeMap::new();
    let mut order = Vec::new();
    for line in progress.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((id, text)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(id) = id.parse::<u32>() else { continue };
        let v = by_id.entry(id).or_insert_with(|| {
            order.push(id);
            Vertex::default()
        });
        if text == "CACHED" {
            v.cached = true;
            v.done = true;
        } else if text.starts_with("DONE") {
            v.done = true;
        } else if text.starts_with("ERROR") {
            v.error = true;
        } else if let Some(d) = text.strip_prefix("sha256:") {
            if v.digest.is_empty() {
                v.digest = format!("sha256:{d}");
            }
        } else if v.name.is_empty() {
            v.name = text.to_owned();
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

/// Parses buildx's `--progress=rawjson` output (a stream of BuildKit `SolveStatus` JSON
/// objects, then possibly an error in plain text) into vertices, in order of first appearance;
/// the vertex digests come from here on clients whose plain progress does not print them.
#[must_use]
pub fn vertices_rawjson(progress: &str) -> Vec<Vertex> {
    let mut by_digest: BTreeMap<String, Vertex> = BTreeMap::new();
    let mut order = Vec::new();
    let start = progress.find('{').unwrap_or(progress.len());
    let stream =
        serde_json::Deserializer::from_str(&progress[start..]).into_iter::<serde_json::Value>();
    for status in stream.map_while(Result::ok) {
        let Some(list) = status.get("vertexes").and_then(|v| v.as_array()) else {
            continue;
        };
        for v in list {
            let Some(digest) = v.get("digest").and_then(|d| d.as_str()) else {
                continue;
            };
            let entry = by_digest.entry(digest.to_owned()).or_insert_with(|| {
                order.push(digest.to_owned());
                Vertex {
                    digest: digest.to_owned(),
                    ..Vertex::default()
                }
            });
            if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
                name.clone_into(&mut entry.name);
            }
            if v.get("cached").and_then(serde_json::Value::as_bool) == Some(true) {
                entry.cached = true;
            }
            if v.get("completed").is_some_and(|c| !c.is_null()) {
                entry.done = true;
            }
            if v.get("error")
                .and_then(|e| e.as_str())
                .is_some_and(|e| !e.is_empty())
            {
                entry.error = true;
            }
        }
    }
    order
        .into_iter()
        .filter_map(|d| by_digest.remove(&d))
        .collect()
}

/// The engine's major version (20 for Debian 12's 20.10, 26 for the side-by-side engine).
#[must_use]
pub fn engine_major() -> u32 {
    let v = run(&["version", "--format", "{{.Server.Version}}"]);
    String::from_utf8_lossy(&v.stdout)
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Whether the client builds through buildx (it can print `--progress=rawjson`).
#[must_use]
pub fn client_has_buildx() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        docker()
            .args(["buildx", "version"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `docker build` that reports every vertex with its digest: rawjson progress through buildx,
/// plain progress (which prints digests) on the classic 20.10 client. (success, vertices, log).
#[must_use]
pub fn build_vertices(context: &Path, file: &str, args: &[&str]) -> (bool, Vec<Vertex>, String) {
    let progress = if client_has_buildx() {
        "rawjson"
    } else {
        "plain"
    };
    let mut cmd = docker();
    cmd.arg("build")
        .arg(format!("--progress={progress}"))
        .arg("-f")
        .arg(context.join(file));
    cmd.args(frontend_override()).args(args).arg(context);
    let out = cmd.output().expect("docker build runs");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let vs = if progress == "rawjson" {
        vertices_rawjson(&log)
    } else {
        vertices(&log)
    };
    (out.status.success(), vs, log)
}

/// The vertices that are build steps (`RUN …` or `COPY …`).
#[must_use]
pub fn steps(progress: &str) -> Vec<Vertex> {
    step_vertices(vertices(progress))
}

/// The build steps (`RUN …` or `COPY …`) among `vertices`.
#[must_use]
pub fn step_vertices(vertices: Vec<Vertex>) -> Vec<Vertex> {
    vertices
        .into_iter()
        .filter(|v| v.name.starts_with("RUN ") || v.name.starts_with("COPY "))
        .collect()
}

/// How many different op digests the vertices have (fewer than vertices: a step ran twice).
#[must_use]
pub fn distinct_digests(vertices: &[Vertex]) -> usize {
    let mut digests: Vec<&str> = vertices.iter().map(|v| v.digest.as_str()).collect();
    digests.sort_unstable();
    digests.dedup();
    digests.len()
}

/// `docker build --progress=plain -f FILE [ARGS] CONTEXT`: (success, progress text).
#[must_use]
pub fn build(context: &Path, file: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = docker();
    cmd.arg("build")
        .arg("--progress=plain")
        .arg("-f")
        .arg(context.join(file));
    cmd.args(frontend_override()).args(args).arg(context);
    let out = cmd.output().expect("docker build runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Number of trie step nodes dockopt's plan has for the manifest at `path` (with build args,
/// and the lock and times store beside it, as the CLI and the frontend plan it).
#[must_use]
pub fn planned_steps(
    path: &Path,
    build_args: &BTreeMap<String, String>,
    targets: Option<&[&str]>,
) -> usize {
    let text = std::fs::read_to_string(path).expect("manifest");
    let file = path.to_str().expect("utf-8");
    let lock = std::fs::read_to_string(dockopt_project::lock_name(file)).ok();
    let times = std::fs::read_to_string(dockopt_project::times_name(file)).ok();
    let p = dockopt_project::plan(&dockopt_project::Input {
        file: "variants.yaml",
        text: &text,
        build_args,
        lock: lock.as_deref(),
        times: times.as_deref(),
        options: dockopt_planner::Options::default(),
    })
    .expect("plans");
    p.trie
        .nodes
        .iter()
        .filter(|n| n.step.is_some())
        .filter(|n| {
            targets.is_none_or(|ts| {
                n.targets
                    .iter()
                    .any(|&t| ts.contains(&p.manifest.targets[t].name.as_str()))
            })
        })
        .count()
}

//! `dockopt import` against the local Docker engine: the Dockerfiles of the matrix example are
//! built as they are, and the manifest import writes from them is built through the frontend;
//! every variant's file list and image config must match.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dockopt_integration_tests::{BUSYBOX, engine_ready, ok, run, salt, scratch_dir};

const VARIANTS: [&str; 4] = ["1.0-bookworm", "1.0-busybox", "2.0-bookworm", "2.0-busybox"];

/// Every path in an image with its mode and owner (`docker export` of a created container:
/// works for images without `find`).
fn files(image: &str) -> Vec<String> {
    let id = ok(&["create", image]).trim().to_owned();
    let out = dockopt_integration_tests::docker()
        .args(["export", &id])
        .output()
        .expect("docker export");
    let _ = run(&["rm", &id]);
    assert!(out.status.success());
    let tar = scratch_dir("export").join("fs.tar");
    std::fs::write(&tar, &out.stdout).expect("write");
    let list = Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(&tar)
        .output()
        .expect("tar");
    std::fs::remove_file(&tar).ok();
    let mut lines: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| {
            // mode owner/group size date time name [-> target]
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() >= 6).then(|| format!("{} {} {}", cols[0], cols[1], cols[5..].join(" ")))
        })
        .collect();
    lines.sort();
    lines
}

/// The parts of `docker inspect` config a Dockerfile sets (Env as a sorted set).
fn config(image: &str) -> BTreeMap<String, serde_json::Value> {
    let raw = ok(&["image", "inspect", "--format", "{{json .Config}}", image]);
    let v: serde_json::Value = serde_json::from_str(raw.trim()).expect("json");
    let mut out = BTreeMap::new();
    for key in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "Labels",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Healthcheck",
        "OnBuild",
    ] {
        let mut value = v[key].clone();
        if let Some(list) = value.as_array_mut() {
            list.sort_by_key(ToString::to_string);
        }
        // Absent, null and empty say the same.
        let empty = value.is_null()
            || value.as_array().is_some_and(Vec::is_empty)
            || value.as_object().is_some_and(serde_json::Map::is_empty)
            || value.as_str().is_some_and(str::is_empty);
        if !empty {
            out.insert(key.to_owned(), value);
        }
    }
    out
}

/// Removes the test's images and folder however the test ends.
struct Cleanup {
    images: Vec<String>,
    dir: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for image in &self.images {
            let _ = run(&["rmi", image]);
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

#[test]
fn the_imported_manifest_builds_the_same_images_as_the_dockerfiles() {
    engine_ready();
    let dir = scratch_dir("import");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/matrix-dockerfiles");
    let status = Command::new("cp")
        .arg("-r")
        .arg(src.join("."))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(status.success());
    std::fs::remove_file(dir.join("variants.yaml")).ok();
    let tag = salt("import").to_lowercase();
    let prefix = format!("dockopt-it/imported-{tag}");
    let _cleanup = Cleanup {
        images: VARIANTS
            .iter()
            .flat_map(|v| {
                [
                    format!("dockopt-it/orig-{tag}:{v}"),
                    format!("{prefix}:{v}"),
                ]
            })
            .collect(),
        dir: dir.clone(),
    };
    let busybox_arg = format!("BUSYBOX={BUSYBOX}");

    // The originals, as docker build builds them.
    for v in VARIANTS {
        let folder = dir.join(v.replacen('-', "/", 1));
        let image = format!("dockopt-it/orig-{tag}:{v}");
        let out = dockopt_integration_tests::docker()
            .args(["build", "-q", "-t", &image, "--build-arg", &busybox_arg])
            .arg(&folder)
            .output()
            .expect("docker build");
        assert!(
            out.status.success(),
            "{v}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Imported and built through the frontend.
    let dockerfiles: Vec<String> = VARIANTS
        .iter()
        .map(|v| format!("{}/Dockerfile", v.replacen('-', "/", 1)))
        .collect();
    let mut args = vec!["import"];
    args.extend(dockerfiles.iter().map(String::as_str));
    args.extend(["-o", "variants.yaml", "--build-arg", &busybox_arg]);
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .current_dir(&dir)
        .args(&args)
        .output()
        .expect("import");
    let notes = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{notes}");
    build_imported(&dir, &prefix);

    let mut differences = Vec::new();
    for v in VARIANTS {
        let (orig, new) = (
            format!("dockopt-it/orig-{tag}:{v}"),
            format!("{prefix}:{v}"),
        );
        let (a, b) = (files(&orig), files(&new));
        for path in [" opt/tool/bin/tool", " usr/local/bin/docker-entrypoint.sh"] {
            assert!(
                a.iter().any(|l| l.ends_with(path)),
                "{v}: no {path} in {a:?}"
            );
        }
        for line in a.iter().filter(|l| !b.contains(l)) {
            differences.push(format!("{v}: only in the Dockerfile's image: {line}"));
        }
        for line in b.iter().filter(|l| !a.contains(l)) {
            differences.push(format!("{v}: only in the imported image: {line}"));
        }
        let (ca, cb) = (config(&orig), config(&new));
        if ca != cb {
            differences.push(format!("{v}: config {ca:?}\n   vs imported {cb:?}"));
        }
        // And the image does what the Dockerfile's does.
        let said = ok(&["run", "--rm", &new]);
        assert!(
            said.trim().starts_with(&format!("tool {}", &v[..3])),
            "{v}: {said}"
        );
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

const MULTI_STAGE: &str = "\
ARG BUSYBOX=dockopt-test/busybox:latest
FROM ${BUSYBOX} AS compile
RUN mkdir -p /out && echo compiled > /out/tool
RUN --mount=type=bind,source=lib,target=/lib-src cp /lib-src/part.txt /out/part.txt
FROM ${BUSYBOX} AS leftover
RUN echo never > /never
FROM ${BUSYBOX}
ARG SALT=none
RUN --mount=type=cache,target=/cache,id=import-it echo \"$SALT\" >> /cache/seen && mkdir -p /app && echo \"$SALT\" > /app/salt
COPY --from=compile /out/ /app/
CMD [\"cat\", \"/app/tool\"]
";

/// A multi-stage Dockerfile with mounts, built as it is and through its import: the stage
/// becomes an untagged stage target, and both images hold the same files and config.
#[test]
fn a_multi_stage_dockerfile_imports_to_a_stage_and_builds_the_same_image() {
    engine_ready();
    let dir = scratch_dir("import-multi");
    std::fs::create_dir_all(dir.join("multi/lib")).expect("mkdir");
    std::fs::write(dir.join("multi/Dockerfile"), MULTI_STAGE).expect("write");
    std::fs::write(dir.join("multi/lib/part.txt"), "a part\n").expect("write");
    let tag = salt("multi").to_lowercase();
    let salt_arg = format!("SALT={tag}");
    let (orig, prefix) = (
        format!("dockopt-it/orig-{tag}:multi"),
        format!("dockopt-it/imported-{tag}"),
    );
    let new = format!("{prefix}:multi");
    let _cleanup = Cleanup {
        images: vec![orig.clone(), new.clone()],
        dir: dir.clone(),
    };
    let out = dockopt_integration_tests::docker()
        .args(["build", "-q", "-t", &orig, "--build-arg", &salt_arg])
        .arg(dir.join("multi"))
        .output()
        .expect("docker build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .current_dir(&dir)
        .args([
            "import",
            "multi/Dockerfile",
            "-o",
            "variants.yaml",
            "--build-arg",
            &salt_arg,
        ])
        .output()
        .expect("import");
    let notes = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{notes}");
    let yaml = std::fs::read_to_string(dir.join("variants.yaml")).expect("manifest");
    assert!(yaml.contains("  multi-compile:\n"), "{yaml}");
    assert!(yaml.contains("    stage: true\n"), "{yaml}");
    assert!(yaml.contains("from: \"multi-compile\""), "{yaml}");
    assert!(
        yaml.contains("{type: cache, target: \"/cache\", id: \"import-it\", sharing: shared}"),
        "{yaml}"
    );
    assert!(!yaml.contains("leftover"), "{yaml}");
    assert!(
        notes.contains("stage `leftover` is read by nothing"),
        "{notes}"
    );

    build_imported(&dir, &prefix);
    // The stage is built, not tagged.
    assert!(
        !run(&["image", "inspect", &format!("{prefix}:multi-compile")])
            .status
            .success()
    );
    let (a, b) = (files(&orig), files(&new));
    for path in [" app/tool", " app/part.txt", " app/salt"] {
        assert!(a.iter().any(|l| l.ends_with(path)), "no {path} in {a:?}");
    }
    assert_eq!(a, b, "file lists differ");
    assert_eq!(config(&orig), config(&new));
    assert_eq!(ok(&["run", "--rm", &new]).trim(), "compiled");
}

/// `dockopt build variants.yaml --tag-prefix PREFIX` in `dir`, which must succeed; a frontend
/// image built from this tree under another tag (`DOCKOPT_TEST_FRONTEND`) leaves the shared one
/// alone.
fn build_imported(dir: &std::path::Path, prefix: &str) {
    let mut build = Command::new(env!("CARGO_BIN_EXE_dockopt"));
    build.current_dir(dir).args([
        "build",
        "variants.yaml",
        "--tag-prefix",
        prefix,
        "--progress",
        "plain",
    ]);
    if let Ok(frontend) = std::env::var("DOCKOPT_TEST_FRONTEND") {
        build.args(["--frontend", &frontend]);
    }
    let out = build.output().expect("build");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

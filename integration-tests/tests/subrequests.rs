//! Subrequests through buildx on a modern engine: `docker buildx build --print=targets` (buildx
//! 0.13; newer spells it `--call targets`) answered by the frontend image.
//!
//! Needs the Docker 26 engine `scripts/docker26-up` starts: `DOCKOPT_DOCKER26` (its client, with
//! the buildx plugin in `DOCKER_CONFIG`) and `DOCKER_HOST`. Without them the tests say so and pass:
//! the Docker 20.10 client has no buildx.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dockopt_integration_tests::{engine_ready, fixture};

const FILE: &str = "variants.yaml";

/// The Docker 26 client, or `None` (and a line saying why) when its engine is not configured.
#[allow(clippy::print_stderr)]
fn docker26() -> Option<String> {
    match (
        std::env::var("DOCKOPT_DOCKER26"),
        std::env::var("DOCKER_HOST"),
    ) {
        (Ok(client), Ok(_)) if !client.is_empty() => Some(client),
        _ => {
            eprintln!(
                "skipped: no Docker 26 engine (set DOCKOPT_DOCKER26 and DOCKER_HOST, e.g. \
                 eval \"$(scripts/docker26-up)\")"
            );
            None
        }
    }
}

/// `buildx build --print=NAME,format=json` (or `--call`, where buildx spells it so) of the fixture:
/// the JSON the frontend answered.
fn print(client: &str, context: &Path, request: &str, args: &[&str]) -> serde_json::Value {
    let help = Command::new(client)
        .args(["buildx", "build", "--help"])
        .output()
        .expect("the docker client runs");
    let flag = if String::from_utf8_lossy(&help.stdout).contains("--call") {
        "--call"
    } else {
        "--print"
    };
    let out = Command::new(client)
        .env("BUILDX_EXPERIMENTAL", "1")
        .args(["buildx", "build", "--progress=plain"])
        .arg(format!("{flag}={request},format=json"))
        .arg("-f")
        .arg(context.join(FILE))
        .args(args)
        .arg(context)
        .output()
        .expect("docker buildx build runs");
    assert!(
        out.status.success(),
        "{flag}={request} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{flag}={request}: stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn manifest(context: &Path) -> dockopt_manifest::Manifest {
    let text = std::fs::read_to_string(context.join(FILE)).expect("manifest");
    dockopt_manifest::parse(FILE, &text, &BTreeMap::new()).expect("valid manifest")
}

#[test]
fn print_targets_lists_every_variant_with_its_base_default_and_place() {
    let Some(client) = docker26() else { return };
    engine_ready();
    let ctx = fixture("toolbox");
    let m = manifest(&ctx);
    let list = print(&client, &ctx, "targets", &[]);
    let targets = list["targets"].as_array().expect("targets");
    let mut names: Vec<&str> = targets
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    let lines: Vec<u64> = targets
        .iter()
        .map(|t| {
            t["location"]["ranges"][0]["start"]["line"]
                .as_u64()
                .expect("line")
        })
        .collect();
    assert!(
        lines.windows(2).all(|w| w[0] < w[1]),
        "in declaration order: {lines:?}"
    );
    names.sort_unstable();
    assert_eq!(names, m.target_names());
    for t in targets {
        let name = t["name"].as_str().expect("name");
        let declared = m
            .targets
            .iter()
            .find(|d| d.name == name)
            .expect("a declared target");
        assert_eq!(t["base"], declared.from.as_str(), "{t}");
        assert_eq!(
            t["default"].as_bool().unwrap_or(false),
            name == m.default_target,
            "{t}"
        );
        let range = &t["location"]["ranges"][0];
        assert_eq!(range["start"]["line"], declared.span.line, "{t}");
        assert!(range["end"]["line"].as_u64() >= range["start"]["line"].as_u64());
        let steps = declared.steps.len();
        assert!(
            t["description"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("{steps} steps"))),
            "{t}"
        );
    }
    // The source the locations index is the manifest itself (Go's []byte: base64).
    assert!(list["sources"][0].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn print_outline_lists_the_build_args_and_describe_lists_the_requests() {
    let Some(client) = docker26() else { return };
    engine_ready();
    let ctx = fixture("toolbox");
    let m = manifest(&ctx);
    let outline = print(
        &client,
        &ctx,
        "outline",
        &["--target", "git", "--build-arg", "SALT=s1"],
    );
    assert_eq!(outline["name"], "git");
    let args: BTreeMap<&str, &serde_json::Value> = outline["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| (a["name"].as_str().expect("name"), a))
        .collect();
    assert_eq!(
        args.keys().copied().collect::<Vec<_>>(),
        m.declared_args
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(args["SALT"]["value"], "s1", "the build arg's value");
    assert_eq!(
        args["BASE"]["value"],
        m.declared_args["BASE"].default.as_str()
    );
    assert_eq!(
        args["BASE"]["location"]["ranges"][0]["start"]["line"],
        m.declared_args["BASE"].span.line
    );

    let describe = print(&client, &ctx, "subrequests.describe", &[]);
    let mut names: Vec<&str> = describe
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "frontend.outline",
            "frontend.subrequests.describe",
            "frontend.targets"
        ]
    );
}

//! Frontend option sets: generated and mutated `BUILDKIT_FRONTEND_OPT_<i>=key=value` variables
//! (build args, `target`, `platform`, `force-network-mode`, `requestid`, cache imports, dockopt's
//! own `DOCKOPT_*` args) through the frontend's own decoding (`dockopt_frontend::opts`), then,
//! when they are accepted, through the rest of a build's pure part: the manifest parsed and
//! planned with those build args, the targets chosen, LLB emitted with the options, the image
//! config of the returned target written.

use std::collections::BTreeMap;

use dockopt_frontend::opts::Opts;

use super::{FRAGMENTS, mutate};
use crate::rng::Rng;

/// The manifest every option set is built against: args in the base, a run, env and a label,
/// a copy (so the session reaches a source op), and three targets.
pub(super) const MANIFEST: &str = "version: 1
args: {DEBIAN: bookworm, SALT: ''}
defaults: {from: 'debian:${DEBIAN}'}
default: two
steps:
  update: {run: 'apt-get update ${SALT}', time: 20}
  curl: {run: apt-get install -y curl, after: [update], time: 5}
  app: {copy: {src: [app/], dest: /app}, time: 1}
targets:
  one: {steps: [update, curl]}
  two: {steps: [update, curl, app], env: {SALT: '${SALT}'}, labels: {salt: '${SALT}'}}
  three: {steps: [app], from: 'busybox:${DEBIAN}'}
";

/// Option names BuildKit and `docker build` set, and some they never do.
const KEYS: &[&str] = &[
    "filename",
    "target",
    "platform",
    "force-network-mode",
    "requestid",
    "cache-imports",
    "cache-from",
    "no-cache",
    "image-resolve-mode",
    "label:team",
    "label:",
    "build-arg:DEBIAN",
    "build-arg:SALT",
    "build-arg:UNDECLARED",
    "build-arg:DOCKOPT_TARGETS",
    "build-arg:DOCKOPT_MERGEOP",
    "build-arg:DOCKOPT_LOCK",
    "build-arg:DOCKOPT_WARN",
    "build-arg:BUILDKIT_SYNTAX",
    "build-arg:",
    "context:app",
    "frontend.caps",
    "multi-platform",
    "attest:sbom",
    "",
];

/// Values for them: the valid ones, near misses, and hostile text.
const VALUES: &[&str] = &[
    "",
    "one",
    "two",
    "three",
    "one,two",
    "two, one,two",
    " , ",
    "nope",
    "on",
    "off",
    "host",
    "none",
    "default",
    "sandbox",
    "bridge",
    "linux/amd64",
    "linux/arm64",
    "linux/amd64/v2",
    "linux/amd64,linux/arm64",
    "windows/amd64",
    "frontend.targets",
    "frontend.outline",
    "frontend.subrequests.describe",
    "[]",
    r#"[{"Type":"registry","Attrs":{"ref":"r/x:1"}}]"#,
    r#"[{"type":"local","attrs":{"src":"/c","n":1}}]"#,
    r#"[{"type":1}]"#,
    r#"[{"attrs":[]}]"#,
    "[null]",
    "{}",
    "null",
    "r/y:1, r/z:2",
    "bookworm",
    "trixie",
    "Bookworm",
    "${SALT}",
    "${DEBIAN",
    "$DEBIAN",
    "a=b",
    "==",
    "latest@sha256:0123",
    "x\ny",
    "9223372036854775807",
    "1e308",
    "../../etc/passwd",
];

/// One option set: environment variables as BuildKit would pass them, and some it would not
/// (no `=`, repeated indexes, other variables).
pub(super) fn generate(rng: &mut Rng) -> Vec<(String, String)> {
    let n = rng.below(12);
    let mut vars = Vec::with_capacity(n + 1);
    for i in 0..n {
        let key = rng.pick(KEYS);
        let mut value = rng.pick(VALUES).to_owned();
        match rng.below(6) {
            0 => value = mutate(rng, &value).trim_end_matches('\n').to_owned(),
            1 => {
                for _ in 0..1 + rng.below(3) {
                    value.push_str(rng.pick(FRAGMENTS));
                }
            }
            _ => {}
        }
        let text = match rng.below(10) {
            0 => key.to_owned(),
            1 => format!("{key}{value}"),
            _ => format!("{key}={value}"),
        };
        let index = if rng.below(8) == 0 { rng.below(3) } else { i };
        let name = match rng.below(20) {
            0 => "BUILDKIT_SESSION_ID".to_owned(),
            1 => "HOME".to_owned(),
            _ => format!("BUILDKIT_FRONTEND_OPT_{index}"),
        };
        vars.push((name, text));
    }
    vars
}

/// One option set through the frontend's decoding and a build's pure part; true when it got
/// all the way to the LLB and the image config.
pub(super) fn case(vars: Vec<(String, String)>) -> bool {
    let opts = Opts::from_vars(vars);
    let _ = (opts.filename(), opts.request_id(), opts.resolve_mode());
    let _ = (opts.no_cache(), opts.use_mergeop(), opts.use_lock());
    let _ = opts.check_platform("amd64");
    let (Ok(network), Ok(_)) = (opts.network(), opts.cache_imports()) else {
        return false;
    };
    let args = opts.build_args();
    let options = super::planner_options();
    let Ok(planned) = dockopt_project::plan(&dockopt_project::Input {
        file: "fuzz.yaml",
        text: MANIFEST,
        build_args: &args,
        lock: None,
        times: None,
        options,
    }) else {
        return false;
    };
    let Ok(targets) = opts.targets(&planned.manifest) else {
        return false;
    };
    let manifest = &planned.manifest;
    let bases: BTreeMap<String, dockopt_llb::BaseConfig> = manifest
        .targets
        .iter()
        .map(|t| (t.base.clone(), dockopt_llb::BaseConfig::unresolved(&t.base)))
        .collect();
    let build = dockopt_llb::BuildOptions {
        session: opts.session.clone(),
        no_cache: opts.no_cache(),
        targets: Some(targets.wanted.clone()),
        network,
    };
    if dockopt_llb::build(manifest, &planned.plan, &bases, &build).is_err() {
        return false;
    }
    let target = &manifest.targets[targets.chosen];
    let Some(base) = bases.get(&target.base) else {
        return false;
    };
    let layers = dockopt_llb::target_layers(manifest, &planned.trie, targets.chosen);
    let config =
        dockopt_llb::final_config(base, target, &layers, &opts.labels(), ("linux", "amd64"));
    !config.is_empty()
}

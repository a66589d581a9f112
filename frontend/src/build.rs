//! The build sequence: read the manifest, plan, resolve bases, emit LLB, solve, return.

use std::collections::BTreeMap;

use dockopt_llb::{BaseConfig, BuildOptions, Graph, Output, final_config};
use dockopt_manifest::Manifest;
use dockopt_planner::Options;
use dockopt_proto::pb;
use prost::Message;

use crate::bridge::Bridge;
use crate::opts::{Opts, Targets};
use crate::subrequest::{self, Request};

/// What the frontend returns: the image's reference and its metadata.
pub(crate) struct Outcome {
    pub(crate) reference: String,
    pub(crate) metadata: BTreeMap<String, Vec<u8>>,
    /// One line for the daemon's log: what was built, how big its graph was.
    pub(crate) summary: String,
}

/// Why a build ended early.
pub(crate) enum Failure {
    /// The user's input is wrong; the message says where.
    User(String),
    /// The manifest is wrong: its diagnostics, and its text (BuildKit shows the lines at fault).
    Manifest(dockopt_manifest::Diagnostics, String),
    /// BuildKit refused or failed something.
    Daemon(tonic::Status),
    /// dockopt itself is wrong.
    Internal(String),
    /// A subrequest dockopt does not answer (BuildKit's "unsupported request NAME").
    UnsupportedRequest(String),
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Self::Daemon(s)
    }
}

impl Failure {
    /// The gRPC status the user sees through `docker build`: a code, one clean message, and
    /// details BuildKit understands. A user error is sent with code `Unknown`, which BuildKit
    /// prints as the bare message (any other code is prefixed with its name once per layer it
    /// passes: `InvalidArgument: InvalidArgument: …`); a manifest error carries BuildKit's
    /// `errdefs.Source` detail per problem, so the client prints the manifest lines at fault.
    pub(crate) fn into_status(self) -> (tonic::Code, String, Vec<prost_types::Any>) {
        match self {
            Self::User(m) => (tonic::Code::Unknown, m, Vec::new()),
            Self::Manifest(d, text) => {
                let details = d
                    .errors
                    .iter()
                    .take(MAX_SOURCES)
                    .map(|e| source_detail(&d.file, &text, e.span))
                    .collect();
                (tonic::Code::Unknown, d.to_string(), details)
            }
            Self::Daemon(s) => (s.code(), s.message().to_owned(), Vec::new()),
            Self::Internal(m) => (
                tonic::Code::Internal,
                format!("dockopt internal error: {m}"),
                Vec::new(),
            ),
            // The wording buildx looks for to fall back (it cannot read typed errors from v0.8).
            Self::UnsupportedRequest(id) => (
                tonic::Code::Unimplemented,
                format!("unsupported request {id}"),
                Vec::new(),
            ),
        }
    }
}

/// Problems sent with their place (BuildKit prints a snippet for each).
const MAX_SOURCES: usize = 8;

/// BuildKit's `errdefs.Source` error detail (registered as JSON under this type URL since
/// BuildKit 0.8): the file, its text, and the range at fault (lines from 1).
fn source_detail(file: &str, text: &str, span: dockopt_manifest::Span) -> prost_types::Any {
    use base64::Engine as _;
    let line = i64::try_from(span.line).unwrap_or(i64::MAX).max(1);
    let character = i64::try_from(span.column).unwrap_or(0);
    let value = serde_json::json!({
        "info": {
            "filename": file,
            "data": base64::engine::general_purpose::STANDARD.encode(text),
            "language": "YAML",
        },
        "ranges": [{
            "start": {"line": line, "character": character},
            "end": {"line": line, "character": character},
        }],
    });
    prost_types::Any {
        type_url: "github.com/moby/buildkit/errdefs.Source+json".into(),
        value: value.to_string().into_bytes(),
    }
}

/// A Definition that loads the manifest file from the `dockerfile` local, and the digest of its
/// vertex (warnings about the manifest attach to it).
fn spec_definition(filename: &str, session: Option<&str>) -> (pb::Definition, String) {
    let mut attrs = BTreeMap::from([
        (
            "local.followpaths".to_owned(),
            serde_json::json!([
                filename,
                dockopt_project::lock_name(filename),
                dockopt_project::times_name(filename)
            ])
            .to_string(),
        ),
        ("local.sharedkeyhint".to_owned(), "dockerfile".to_owned()),
    ]);
    if let Some(s) = session {
        attrs.insert("local.session".to_owned(), s.to_owned());
    }
    let mut graph = Graph::new();
    let op = pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: "local://dockerfile".into(),
            attrs,
        })),
        ..Default::default()
    };
    let name = format!("[internal] load build definition from {filename}");
    let meta = pb::OpMetadata {
        description: BTreeMap::from([("llb.customname".to_owned(), name)]),
        ..Default::default()
    };
    let out = graph.add(&op, Some(meta));
    (graph.definition(&out), out.digest)
}

/// The manifest read from the `dockerfile` local.
struct Spec {
    filename: String,
    /// The solved local's reference (the lock and times store are read from it too).
    reference: String,
    /// The vertex that loaded it.
    vertex: String,
    text: String,
}

/// Sends the plan's warnings (a named step no target lists, a lock that needed repair, build
/// args the manifest does not declare, a corrupt times store) as BuildKit warnings, each with
/// the manifest line it is about, on engines with `gateway.warnings`; a failed send is logged.
async fn send_warnings(
    bridge: &mut Bridge,
    spec: &Spec,
    planned: &dockopt_project::Planned,
) -> usize {
    let mut warnings: Vec<(String, Option<dockopt_manifest::Span>)> = planned
        .warnings
        .iter()
        .map(|w| {
            let text = if w.file == spec.filename {
                w.message.clone()
            } else {
                format!("{}: {}", w.file, w.message)
            };
            (text, w.at)
        })
        .collect();
    warnings.extend(planned.manifest.unused_build_args.iter().map(|name| {
        (
            format!("build arg `{name}` is not declared in the manifest; it changes nothing"),
            None,
        )
    }));
    if let Some(lock) = &planned.lock
        && !lock.repaired.is_empty()
    {
        warnings.push((
            format!(
                "the lock no longer fits {}: planned anew on top of the locked orders (`dockopt plan --lock` writes a new lock)",
                lock.repaired.join(", ")
            ),
            None,
        ));
    }
    let mut sent = 0;
    for (short, at) in warnings {
        let (info, ranges) = match at {
            Some(at) => {
                let line = i32::try_from(at.line).unwrap_or(i32::MAX);
                let character = i32::try_from(at.column).unwrap_or(i32::MAX);
                let position = pb::Position { line, character };
                (
                    Some(pb::SourceInfo {
                        filename: spec.filename.clone(),
                        data: spec.text.as_bytes().to_vec(),
                        language: "YAML".into(),
                    }),
                    vec![pb::Range {
                        start: Some(position),
                        end: Some(position),
                    }],
                )
            }
            None => (None, Vec::new()),
        };
        let req = dockopt_proto::gateway::WarnRequest {
            digest: spec.vertex.clone(),
            level: 1,
            short: short.into_bytes(),
            detail: Vec::new(),
            url: String::new(),
            info,
            ranges,
        };
        match bridge.warn(req).await {
            Ok(()) => sent += 1,
            Err(e) => crate::log(&format!("a warning was not sent: {}", e.message())),
        }
    }
    sent
}

/// Builds what the options ask for.
pub(crate) async fn run(bridge: &mut Bridge, opts: &Opts) -> Result<Outcome, Failure> {
    let caps = bridge.ping().await?;
    // FileOp (copy steps, building all targets at once) needs BuildKit 0.5+; an empty list means
    // a daemon that does not report caps, which the gateway treats as its frozen defaults.
    if !caps.llb.is_empty() && !caps.llb.contains("file.base") {
        return Err(Failure::User(
            "this BuildKit lacks the `file.base` capability dockopt needs (BuildKit 0.5 or later)"
                .into(),
        ));
    }
    if let Some(id) = opts.request_id() {
        return answer(bridge, opts, id).await;
    }
    let spec = read_manifest(bridge, opts).await?;
    let (filename, text) = (&spec.filename, &spec.text);
    // The lock and the times store travel with the manifest when they exist beside it.
    let lock = if opts.use_lock() {
        read_optional(
            bridge,
            &spec.reference,
            &dockopt_project::lock_name(filename),
        )
        .await
    } else {
        None
    };
    let times = read_optional(
        bridge,
        &spec.reference,
        &dockopt_project::times_name(filename),
    )
    .await;
    let build_args = opts.build_args();
    let planned = dockopt_project::plan(&dockopt_project::Input {
        file: filename,
        text,
        build_args: &build_args,
        lock: lock.as_deref(),
        times: times.as_deref(),
        // No bounds that cannot change the plan: the frontend shows none (same orders).
        options: Options {
            bounds: false,
            ..Options::default()
        },
    })
    .map_err(|e| match e {
        dockopt_project::Error::Planner(p) => Failure::Internal(p.to_string()),
        dockopt_project::Error::Manifest(_, d) => Failure::Manifest(d, text.clone()),
        other => Failure::User(other.to_string()),
    })?;
    // BuildKit 0.8 has no `Warn`: its users see the warnings with `dockopt plan`.
    let warned = if caps.api.contains("gateway.warnings") && opts.send_warnings() {
        send_warnings(bridge, &spec, &planned).await
    } else {
        0
    };
    let manifest = &planned.manifest;
    let plan = &planned.plan;
    let network = opts.network().map_err(Failure::User)?;
    bridge.cache_imports = opts.cache_imports().map_err(Failure::User)?;
    opts.check_platform(host_arch()).map_err(Failure::User)?;
    let Targets { chosen, wanted } = opts.targets(manifest).map_err(Failure::User)?;
    // Bases of the targets this build runs and of the stages they read.
    let mut needed: Vec<usize> = wanted
        .iter()
        .chain([&chosen])
        .flat_map(|&t| std::iter::once(t).chain(manifest.stage_closure(t)))
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let mut bases = BTreeMap::new();
    for &t in &needed {
        let base = &manifest.targets[t].base;
        if !bases.contains_key(base) {
            bases.insert(
                base.clone(),
                resolve_base(bridge, base, opts.resolve_mode()).await?,
            );
        }
    }
    let options = BuildOptions {
        session: opts.session.clone(),
        no_cache: opts.no_cache(),
        targets: None,
        network,
    };
    // Which of the newer ops the engine offers (the MergeOp finding in BENCHMARKS.md).
    let has = |c: &str| if caps.llb.contains(c) { "yes" } else { "no" };
    let caps_note = format!(
        " [caps: mergeop {}, diffop {}]",
        has("mergeop"),
        has("diffop")
    );
    let mut summary = String::new();
    if wanted.len() > 1 {
        // One solve that needs every target's result runs every trie node once; the chosen
        // target's own solve after it finds everything in the cache.
        let merge = caps.llb.contains("mergeop") && opts.use_mergeop();
        let (graph, all) = build_for(manifest, plan, &bases, &options, &wanted, merge)?;
        let def = graph.definition(&all);
        summary = format!(
            "all {} targets: {} ops, {} bytes of LLB{}; ",
            wanted.len(),
            def.def.len(),
            def.encoded_len(),
            if merge { " (MergeOp)" } else { " (FileOp)" }
        );
        if merge {
            bridge.solve_evaluated(def).await?;
        } else {
            let id = bridge.solve(def).await?;
            bridge.read_file(&id, MARKER).await?;
        }
    }
    // After the all-targets solve every step of the chosen target was just built (with
    // `--no-cache` too): its own solve may take them from the cache.
    let options = if wanted.len() > 1 {
        BuildOptions {
            no_cache: false,
            ..options
        }
    } else {
        options
    };
    let (graph, leaf) = build_for(manifest, plan, &bases, &options, &[chosen], false)?;
    let def = graph.definition(&leaf);
    let name = &manifest.targets[chosen].name;
    summary.push_str(&format!(
        "target {name}: {} ops, {} bytes of LLB{caps_note}, {warned} warnings sent",
        def.def.len(),
        def.encoded_len()
    ));
    let id = bridge.solve(def).await?;
    Ok(Outcome {
        reference: id,
        metadata: image_metadata(manifest, &planned.trie, &bases, chosen, opts)?,
        summary,
    })
}

/// The manifest: its file name, the solved `dockerfile` local it is in, and its text.
async fn read_manifest(bridge: &mut Bridge, opts: &Opts) -> Result<Spec, Failure> {
    let filename = opts.filename().to_owned();
    let (definition, vertex) = spec_definition(&filename, opts.session.as_deref());
    let reference = bridge.solve(definition).await?;
    let bytes = bridge.read_file(&reference, &filename).await.map_err(|e| {
        Failure::User(format!(
            "cannot read the manifest `{filename}`: {}",
            e.message()
        ))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::User(format!("{filename}: the manifest is not UTF-8 text")))?;
    Ok(Spec {
        filename,
        reference,
        vertex,
        text,
    })
}

/// Answers a subrequest: the manifest is parsed (with the build args), not planned or built.
async fn answer(bridge: &mut Bridge, opts: &Opts, id: &str) -> Result<Outcome, Failure> {
    let request = Request::from_id(id).ok_or_else(|| Failure::UnsupportedRequest(id.to_owned()))?;
    let metadata = if request == Request::Describe {
        subrequest::describe()
    } else {
        let Spec { filename, text, .. } = read_manifest(bridge, opts).await?;
        let manifest = dockopt_manifest::parse(&filename, &text, &opts.build_args())
            .map_err(|d| Failure::Manifest(d, text.clone()))?;
        if request == Request::Targets {
            subrequest::targets(&manifest, &text)
        } else {
            let name = opts.target().unwrap_or(&manifest.default_target);
            let target = manifest.target_index(name).map_err(Failure::User)?;
            subrequest::outline(&manifest, &text, target)
        }
    };
    Ok(Outcome {
        reference: String::new(),
        metadata,
        summary: format!("answered {id}"),
    })
}

/// A file of the `dockerfile` local that may be missing (then `None`).
async fn read_optional(bridge: &mut Bridge, spec: &str, name: &str) -> Option<String> {
    let bytes = bridge.read_file(spec, name).await.ok()?;
    String::from_utf8(bytes).ok()
}

/// File the all-targets op writes, read back to force the solve.
const MARKER: &str = "/dockopt-targets";

/// The graph of the wanted targets and the output to solve: the target's leaf, or, for several
/// targets, an op that depends on every leaf. Ops are those of the whole plan (same bytes, and
/// descriptions that say which targets share them); only the wanted paths are emitted.
fn build_for(
    manifest: &Manifest,
    plan: &dockopt_planner::Plan,
    bases: &BTreeMap<String, BaseConfig>,
    options: &BuildOptions,
    wanted: &[usize],
    merge: bool,
) -> Result<(Graph, Output), Failure> {
    let options = BuildOptions {
        targets: Some(wanted.to_vec()),
        ..options.clone()
    };
    let built = dockopt_llb::build(manifest, plan, bases, &options)
        .map_err(|e| Failure::User(e.to_string()))?;
    let leaves: Vec<Output> = wanted
        .iter()
        .filter_map(|&t| built.leaves[t].clone())
        .collect();
    let mut graph = built.graph;
    if let [leaf] = leaves.as_slice() {
        return Ok((graph, leaf.clone()));
    }
    let names: Vec<&str> = wanted
        .iter()
        .map(|&t| manifest.targets[t].name.as_str())
        .collect();
    // With the `mergeop` capability, a MergeOp of the leaves; else (BuildKit 0.8, or an engine
    // without the containerd snapshotter) a FileOp that copies nothing out of each.
    let op = if merge {
        dockopt_llb::merge_of(&leaves)
    } else {
        dockopt_llb::all_of(&leaves, MARKER, names.join("\n").as_bytes())
    };
    let meta = pb::OpMetadata {
        description: BTreeMap::from([(
            "llb.customname".to_owned(),
            format!("[dockopt] all {} targets", names.len()),
        )]),
        caps: if merge {
            BTreeMap::from([("mergeop".to_owned(), true)])
        } else {
            BTreeMap::new()
        },
        ..Default::default()
    };
    let out = graph.add(&op, Some(meta));
    Ok((graph, out))
}

fn image_metadata(
    manifest: &Manifest,
    trie: &dockopt_planner::Trie,
    bases: &BTreeMap<String, BaseConfig>,
    chosen: usize,
    opts: &Opts,
) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let target = &manifest.targets[chosen];
    let base = bases
        .get(&target.base)
        .ok_or_else(|| Failure::Internal(format!("base {} not resolved", target.base)))?;
    // One history entry per layer: a squashed layer is one entry naming each of its steps.
    let layers = dockopt_llb::target_layers(manifest, trie, chosen);
    let config = final_config(
        base,
        target,
        &layers,
        &opts.labels(),
        ("linux", host_arch()),
    );
    Ok(BTreeMap::from([(
        "containerimage.config".to_owned(),
        config,
    )]))
}

/// The engine's architecture as OCI names it.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Resolves a base image's config; pins the reference to the digest when the daemon gives one.
async fn resolve_base(bridge: &mut Bridge, base: &str, mode: &str) -> Result<BaseConfig, Failure> {
    let (digest, config) = bridge.resolve_image_config(base, mode).await.map_err(|e| {
        Failure::User(format!(
            "cannot resolve base image `{base}`: {}",
            e.message()
        ))
    })?;
    let config = serde_json::from_slice(&config)
        .map_err(|e| Failure::Internal(format!("config of {base}: {e}")))?;
    let reference = if digest.is_empty() || base.contains('@') {
        base.to_owned()
    } else {
        format!("{base}@{digest}")
    };
    Ok(BaseConfig { reference, config })
}

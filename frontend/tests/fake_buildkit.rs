//! The frontend binary against a fake BuildKit: an in-process `LLBBridge` server (tonic) on the
//! child's stdin/stdout, as the gateway runs it, so the whole gRPC sequence is tested without
//! Docker. The fake serves Ping (chosen caps), Solve (records the Definition, returns a ref),
//! ReadFile (the `dockerfile` local's files, or "not found"), ResolveImageConfig (a canned config)
//! and Return (records the result or error).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use dockopt_proto::gateway::llb_bridge_server::{LlbBridge, LlbBridgeServer};
use dockopt_proto::gateway::{self as gw, result::Result as ResultKind};
use dockopt_proto::moby::buildkit::v1::apicaps::ApiCap;
use dockopt_proto::pb;
use prost::Message;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tonic::{Request, Response, Status};

const TOOLBOX: &str = include_str!("../../examples/toolbox/variants.yaml");
const FILE: &str = "variants.yaml";
/// The ref the fake gives the `local://dockerfile` solve.
const SPEC_REF: &str = "spec-ref";
/// The file the all-targets FileOp writes, which the frontend reads back to force the solve.
const MARKER: &str = "/dockopt-targets";
/// Every LLB cap a v0.12+ engine reports that matters here.
const ALL_CAPS: &[&str] = &[
    "source.image",
    "source.local",
    "exec.meta.base",
    "file.base",
    "mergeop",
    "diffop",
];
const NO_MERGEOP: &[&str] = &[
    "source.image",
    "source.local",
    "exec.meta.base",
    "file.base",
];

/// What the fake daemon serves.
#[derive(Clone)]
struct Daemon {
    llb_caps: Vec<&'static str>,
    /// Files of the `dockerfile` local, by path.
    files: BTreeMap<String, Vec<u8>>,
    /// ResolveImageConfig's answer: digest (may be empty) and config JSON.
    digest: String,
    config: Value,
    /// Whether Ping offers `gateway.warnings` (BuildKit 0.10+).
    warnings: bool,
}

impl Daemon {
    /// A daemon with every cap, serving `manifest` as `variants.yaml`, and a base config without
    /// env, user or workdir (as `dockopt llb` assumes for bases it cannot resolve).
    fn serving(manifest: &str) -> Self {
        Self {
            llb_caps: ALL_CAPS.to_vec(),
            files: BTreeMap::from([(FILE.to_owned(), manifest.as_bytes().to_vec())]),
            digest: String::new(),
            config: serde_json::json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["bash"], "Labels": {"from.base": "yes"}},
                "rootfs": {"type": "layers", "diff_ids": []},
            }),
            warnings: false,
        }
    }
}

/// What the frontend asked, in order.
#[derive(Debug, Default)]
struct Log {
    calls: Vec<&'static str>,
    solves: Vec<gw::SolveRequest>,
    /// The ref each solve got, in order.
    solve_refs: Vec<String>,
    reads: Vec<(String, String)>,
    resolves: Vec<gw::ResolveImageConfigRequest>,
    returns: Vec<gw::ReturnRequest>,
    warns: Vec<gw::WarnRequest>,
}

struct Fake {
    daemon: Daemon,
    log: Arc<Mutex<Log>>,
}

impl Fake {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a Definition is the one that loads the `dockerfile` local.
fn is_spec(def: &pb::Definition) -> bool {
    ops(def).iter().any(|(_, op)| {
        matches!(&op.op, Some(pb::op::Op::Source(s)) if s.identifier == "local://dockerfile")
    })
}

#[tonic::async_trait]
impl LlbBridge for Fake {
    async fn resolve_image_config(
        &self,
        request: Request<gw::ResolveImageConfigRequest>,
    ) -> Result<Response<gw::ResolveImageConfigResponse>, Status> {
        let mut log = self.log();
        log.calls.push("ResolveImageConfig");
        log.resolves.push(request.into_inner());
        Ok(Response::new(gw::ResolveImageConfigResponse {
            digest: self.daemon.digest.clone(),
            config: self.daemon.config.to_string().into_bytes(),
        }))
    }

    async fn solve(
        &self,
        request: Request<gw::SolveRequest>,
    ) -> Result<Response<gw::SolveResponse>, Status> {
        let req = request.into_inner();
        let mut log = self.log();
        log.calls.push("Solve");
        let id = match &req.definition {
            Some(def) if is_spec(def) => SPEC_REF.to_owned(),
            Some(_) => format!("result-{}", log.solves.len()),
            None => return Err(Status::invalid_argument("no definition")),
        };
        log.solves.push(req);
        log.solve_refs.push(id.clone());
        Ok(Response::new(gw::SolveResponse {
            r#ref: String::new(),
            result: Some(gw::Result {
                result: Some(ResultKind::Ref(gw::Ref { id, def: None })),
                metadata: BTreeMap::new(),
            }),
        }))
    }

    async fn read_file(
        &self,
        request: Request<gw::ReadFileRequest>,
    ) -> Result<Response<gw::ReadFileResponse>, Status> {
        let req = request.into_inner();
        let mut log = self.log();
        log.calls.push("ReadFile");
        log.reads.push((req.r#ref.clone(), req.file_path.clone()));
        let data = if req.r#ref == SPEC_REF {
            self.daemon.files.get(&req.file_path).cloned()
        } else if log.solve_refs.contains(&req.r#ref) && req.file_path == MARKER {
            Some(b"targets".to_vec())
        } else {
            None
        };
        data.map(|data| Response::new(gw::ReadFileResponse { data }))
            .ok_or_else(|| {
                Status::not_found(format!("open {}: no such file or directory", req.file_path))
            })
    }

    async fn ping(
        &self,
        _request: Request<gw::PingRequest>,
    ) -> Result<Response<gw::PongResponse>, Status> {
        self.log().calls.push("Ping");
        let cap = |id: &str| ApiCap {
            id: id.to_owned(),
            enabled: true,
            ..Default::default()
        };
        Ok(Response::new(gw::PongResponse {
            frontend_api_caps: ["solve.base", "readfile", "resolveimage", "return"]
                .into_iter()
                .chain(self.daemon.warnings.then_some("gateway.warnings"))
                .map(cap)
                .collect(),
            llb_caps: self.daemon.llb_caps.iter().map(|c| cap(c)).collect(),
        }))
    }

    async fn warn(
        &self,
        request: Request<gw::WarnRequest>,
    ) -> Result<Response<gw::WarnResponse>, Status> {
        let mut log = self.log();
        log.calls.push("Warn");
        if !self.daemon.warnings {
            return Err(Status::unimplemented("unknown method Warn"));
        }
        log.warns.push(request.into_inner());
        Ok(Response::new(gw::WarnResponse {}))
    }

    async fn r#return(
        &self,
        request: Request<gw::ReturnRequest>,
    ) -> Result<Response<gw::ReturnResponse>, Status> {
        let mut log = self.log();
        log.calls.push("Return");
        if !log.returns.is_empty() {
            // BuildKit's own rule.
            return Err(Status::failed_precondition("gateway result is already set"));
        }
        log.returns.push(request.into_inner());
        Ok(Response::new(gw::ReturnResponse {}))
    }
}

/// One run of the frontend binary against the fake.
struct Run {
    log: Log,
    exit: Option<i32>,
    stderr: String,
}

impl Run {
    /// The one Return's result (panics with the frontend's stderr when it returned an error).
    fn result(&self) -> &gw::Result {
        let [ret] = self.log.returns.as_slice() else {
            panic!(
                "expected one Return, got {:?}\n{}",
                self.log.returns, self.stderr
            );
        };
        match (&ret.result, &ret.error) {
            (Some(r), None) => r,
            _ => panic!("expected a result, got {ret:?}\n{}", self.stderr),
        }
    }

    /// The one Return's error.
    fn error(&self) -> &dockopt_proto::google::rpc::Status {
        let [ret] = self.log.returns.as_slice() else {
            panic!(
                "expected one Return, got {:?}\n{}",
                self.log.returns, self.stderr
            );
        };
        match (&ret.result, &ret.error) {
            (None, Some(e)) => e,
            _ => panic!("expected an error, got {ret:?}\n{}", self.stderr),
        }
    }

    /// The returned ref's id.
    fn returned_ref(&self) -> &str {
        match &self.result().result {
            Some(ResultKind::Ref(r)) => &r.id,
            other => panic!("expected a ref, got {other:?}"),
        }
    }

    /// The definition of the last Solve (the target's).
    fn last_definition(&self) -> &pb::Definition {
        self.log
            .solves
            .last()
            .and_then(|s| s.definition.as_ref())
            .expect("a solve with a definition")
    }

    /// `result.json` of a subrequest's answer.
    fn answer(&self) -> Value {
        let json = self
            .result()
            .metadata
            .get("result.json")
            .expect("result.json");
        serde_json::from_slice(json).expect("result.json is JSON")
    }
}

/// Runs the frontend with `opts` (`BUILDKIT_FRONTEND_OPT_<i>=key=value`) against `daemon`.
async fn drive(daemon: Daemon, opts: &[(&str, &str)], session: Option<&str>) -> Run {
    let log = Arc::new(Mutex::new(Log::default()));
    let fake = Fake {
        daemon,
        log: Arc::clone(&log),
    };
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dockopt-frontend"));
    command
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (i, (k, v)) in opts.iter().enumerate() {
        command.env(format!("BUILDKIT_FRONTEND_OPT_{i}"), format!("{k}={v}"));
    }
    if let Some(s) = session {
        command.env("BUILDKIT_SESSION_ID", s);
    }
    let mut child = command.spawn().expect("the frontend binary starts");
    let mut to_child = child.stdin.take().expect("stdin");
    let mut from_child = child.stdout.take().expect("stdout");
    // The server's end of the connection is one half of an in-memory pipe; the other half is
    // copied to and from the child's stdio.
    let (server_end, pipe_end) = tokio::io::duplex(1 << 20);
    let (mut pipe_read, mut pipe_write) = tokio::io::split(pipe_end);
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_child, &mut pipe_write).await;
        let _ = pipe_write.shutdown().await;
    });
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut pipe_read, &mut to_child).await;
    });
    // One HTTP/2 connection, as the gateway serves it (tonic's router is not compiled in).
    let server = tokio::spawn(async move {
        let service = hyper_util::service::TowerToHyperService::new(LlbBridgeServer::new(fake));
        let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
            .http2_only()
            .serve_connection(hyper_util::rt::TokioIo::new(server_end), service)
            .await;
    });
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the frontend exits within a minute")
        .expect("the frontend's status");
    server.abort();
    let log = std::mem::take(
        &mut *log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    Run {
        log,
        exit: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A Definition's ops with their digests, in order.
fn ops(def: &pb::Definition) -> Vec<(String, pb::Op)> {
    def.def
        .iter()
        .map(|bytes| {
            let op = pb::Op::decode(bytes.as_slice()).expect("an op decodes");
            (dockopt_llb::digest_of(bytes), op)
        })
        .collect()
}

/// What `dockopt llb --target NAME` builds for `text`: the same library calls, bases unresolved.
fn cli_llb(text: &str, target: &str) -> pb::Definition {
    let planned = dockopt_project::plan(&dockopt_project::Input {
        file: FILE,
        text,
        build_args: &BTreeMap::new(),
        lock: None,
        times: None,
        options: dockopt_planner::Options::default(),
    })
    .expect("the manifest plans");
    let t = planned.target(target).expect("the target exists");
    let bases = planned
        .manifest
        .targets
        .iter()
        .map(|x| (x.base.clone(), dockopt_llb::BaseConfig::unresolved(&x.base)))
        .collect();
    let options = dockopt_llb::BuildOptions {
        targets: Some(vec![t]),
        ..Default::default()
    };
    let built =
        dockopt_llb::build(&planned.manifest, &planned.plan, &bases, &options).expect("LLB");
    let leaf = built.leaves[t].clone().expect("a leaf");
    built.graph.definition(&leaf)
}

fn target_names(text: &str) -> Vec<String> {
    dockopt_manifest::parse(FILE, text, &BTreeMap::new())
        .expect("the manifest parses")
        .targets
        .iter()
        .map(|t| t.name.clone())
        .collect()
}

fn image_config(run: &Run) -> Value {
    let bytes = run
        .result()
        .metadata
        .get("containerimage.config")
        .expect("the Return carries containerimage.config");
    serde_json::from_slice(bytes).expect("the image config is JSON")
}

#[tokio::test]
async fn a_target_build_runs_the_gateway_sequence() {
    let run = drive(
        Daemon::serving(TOOLBOX),
        &[
            ("filename", FILE),
            ("target", "git"),
            ("label:team", "core"),
        ],
        Some("session-1"),
    )
    .await;
    assert_eq!(
        run.log.calls,
        [
            "Ping",
            "Solve",
            "ReadFile",
            "ReadFile",
            "ReadFile",
            "ResolveImageConfig",
            "Solve",
            "Return"
        ],
        "{}",
        run.stderr
    );
    assert_eq!(run.exit, Some(0), "{}", run.stderr);
    // The first solve loads the manifest, its lock and its times store from the client session.
    let spec = ops(run.log.solves[0].definition.as_ref().expect("definition"));
    let Some(pb::op::Op::Source(source)) = &spec[0].1.op else {
        panic!("the first solve loads a source: {spec:?}");
    };
    assert_eq!(source.identifier, "local://dockerfile");
    assert_eq!(
        source.attrs.get("local.session").map(String::as_str),
        Some("session-1")
    );
    let follow: Vec<String> = serde_json::from_str(&source.attrs["local.followpaths"])
        .expect("followpaths is a JSON list");
    assert_eq!(follow[0], FILE);
    let read: Vec<&str> = run.log.reads.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        read, follow,
        "every followed file is read (the lock and times store are absent)"
    );
    assert!(run.log.reads.iter().all(|(r, _)| r == SPEC_REF));
    // One base, resolved once, in its full form.
    assert_eq!(run.log.resolves.len(), 1);
    assert_eq!(
        run.log.resolves[0].r#ref,
        "docker.io/library/debian:bookworm"
    );
    // The Return is the target's solve, with the image config of `git` on the base's.
    assert_eq!(
        run.returned_ref(),
        run.log.solve_refs.last().expect("a ref").as_str()
    );
    let config = image_config(&run);
    assert_eq!(config["config"]["User"], "1000");
    assert_eq!(config["config"]["WorkingDir"], "/home/tools");
    assert_eq!(config["config"]["Labels"]["team"], "core");
    assert_eq!(config["config"]["Labels"]["from.base"], "yes");
    assert_eq!(config["os"], "linux");
}

#[tokio::test]
async fn every_target_solves_the_ops_dockopt_llb_prints() {
    for name in target_names(TOOLBOX) {
        let run = drive(
            Daemon::serving(TOOLBOX),
            &[("filename", FILE), ("target", &name)],
            None,
        )
        .await;
        let got: Vec<String> = ops(run.last_definition())
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        let want: Vec<String> = ops(&cli_llb(TOOLBOX, &name))
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(
            got, want,
            "target {name}: the frontend's ops differ from `dockopt llb`'s"
        );
        assert!(got.len() > 1, "target {name}: a base and its steps");
    }
}

#[tokio::test]
async fn a_resolved_base_is_pinned_and_its_config_carried() {
    let mut daemon = Daemon::serving(TOOLBOX);
    let digest = format!("sha256:{}", "ab".repeat(32));
    daemon.digest = digest.clone();
    daemon.config["config"]["Env"] =
        serde_json::json!(["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]);
    let run = drive(daemon, &[("filename", FILE), ("target", "editor")], None).await;
    let ops = ops(run.last_definition());
    let image = ops
        .iter()
        .find_map(|(_, op)| match &op.op {
            Some(pb::op::Op::Source(s)) => Some(s.identifier.clone()),
            _ => None,
        })
        .expect("a source op");
    assert_eq!(
        image,
        format!("docker-image://docker.io/library/debian:bookworm@{digest}")
    );
    let execs: Vec<&pb::ExecOp> = ops
        .iter()
        .filter_map(|(_, op)| match &op.op {
            Some(pb::op::Op::Exec(e)) => Some(e),
            _ => None,
        })
        .collect();
    assert!(!execs.is_empty());
    for exec in &execs {
        let env = &exec.meta.as_ref().expect("exec meta").env;
        assert!(
            env.iter().any(|e| e == "LANG=C.UTF-8"),
            "the base's env in every RUN: {env:?}"
        );
    }
    let config = image_config(&run);
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&"LANG=C.UTF-8") && env.contains(&"EDITOR=vi"),
        "{env:?}"
    );
}

#[tokio::test]
async fn a_bad_manifest_returns_its_file_line_and_source() {
    let text = TOOLBOX.replace(
        "    steps: [update, certs, curl]\n",
        "    stpes: [update, certs, curl]\n",
    );
    assert_ne!(text, TOOLBOX);
    let line = 1 + text
        .lines()
        .position(|l| l.contains("stpes:"))
        .expect("the typo");
    let run = drive(
        Daemon::serving(&text),
        &[("filename", FILE), ("target", "minimal")],
        None,
    )
    .await;
    let error = run.error();
    assert!(
        error.message.contains(&format!("{FILE}:{line}:")),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("steps"),
        "suggests the key: {}",
        error.message
    );
    let detail = error.details.first().expect("a source detail");
    assert_eq!(
        detail.type_url,
        "github.com/moby/buildkit/errdefs.Source+json"
    );
    let source: Value = serde_json::from_slice(&detail.value).expect("the detail is JSON");
    assert_eq!(source["info"]["filename"], FILE);
    let data = base64::engine::general_purpose::STANDARD
        .decode(source["info"]["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(data, text.as_bytes());
    assert_eq!(source["ranges"][0]["start"]["line"], line);
    // Nothing was resolved or built, the error was returned once, and the process exited.
    assert!(run.log.resolves.is_empty());
    assert_eq!(run.log.solves.len(), 1);
    assert_eq!(run.exit, Some(0), "{}", run.stderr);
}

/// The all-targets solve of a build without `--target`, and the target's solve after it.
fn all_targets_solve(run: &Run) -> &gw::SolveRequest {
    assert_eq!(
        run.log.solves.len(),
        3,
        "spec, all targets, default target: {:?}",
        run.log.calls
    );
    &run.log.solves[1]
}

/// The digests of every target's leaf, as `dockopt llb` builds them.
fn leaves(text: &str) -> BTreeSet<String> {
    target_names(text)
        .iter()
        .map(|name| {
            let def = cli_llb(text, name);
            ops(&def)
                .last()
                .map(|(_, op)| op.inputs[0].digest.clone())
                .expect("a leaf")
        })
        .collect()
}

#[tokio::test]
async fn all_targets_use_mergeop_when_the_engine_has_it() {
    let run = drive(Daemon::serving(TOOLBOX), &[("filename", FILE)], None).await;
    let all = all_targets_solve(&run);
    assert!(all.evaluate, "a MergeOp result is forced with Evaluate");
    let def = all.definition.as_ref().expect("definition");
    let ops = ops(def);
    let (digest, last) = ops.last().expect("ops");
    // The last op of a Definition is the terminal marker; the one before it is the MergeOp.
    let merge = ops
        .iter()
        .find(|(d, _)| Some(d) == last.inputs.first().map(|i| &i.digest))
        .expect("the terminal's input");
    let Some(pb::op::Op::Merge(_)) = &merge.1.op else {
        panic!(
            "expected a MergeOp, got {:?} (terminal {digest})",
            merge.1.op
        );
    };
    let inputs: BTreeSet<String> = merge.1.inputs.iter().map(|i| i.digest.clone()).collect();
    assert_eq!(
        inputs,
        leaves(TOOLBOX),
        "the MergeOp depends on every target's leaf"
    );
    assert_eq!(def.metadata[&merge.0].caps.get("mergeop"), Some(&true));
    assert!(!run.log.reads.iter().any(|(_, p)| p == MARKER));
    // Then the default target (`full`) is returned.
    assert_eq!(run.returned_ref(), run.log.solve_refs[2]);
    assert_eq!(
        image_config(&run)["config"]["Labels"]["org.opencontainers.image.title"],
        "toolbox-full"
    );
}

#[tokio::test]
async fn without_mergeop_all_targets_use_a_fileop_read_back() {
    let mut daemon = Daemon::serving(TOOLBOX);
    daemon.llb_caps = NO_MERGEOP.to_vec();
    let without_cap = drive(daemon, &[("filename", FILE)], None).await;
    let turned_off = drive(
        Daemon::serving(TOOLBOX),
        &[("filename", FILE), ("build-arg:DOCKOPT_MERGEOP", "off")],
        None,
    )
    .await;
    for run in [&without_cap, &turned_off] {
        let all = all_targets_solve(run);
        assert!(!all.evaluate);
        let ops = ops(all.definition.as_ref().expect("definition"));
        let (_, terminal) = ops.last().expect("ops");
        let file = ops
            .iter()
            .find(|(d, _)| Some(d) == terminal.inputs.first().map(|i| &i.digest))
            .expect("the terminal's input");
        let Some(pb::op::Op::File(_)) = &file.1.op else {
            panic!("expected a FileOp, got {:?}", file.1.op);
        };
        assert!(
            ops.iter()
                .all(|(_, op)| !matches!(op.op, Some(pb::op::Op::Merge(_))))
        );
        let leaves_in: BTreeSet<String> = file.1.inputs.iter().map(|i| i.digest.clone()).collect();
        assert!(
            leaves(TOOLBOX).is_subset(&leaves_in),
            "the FileOp reads every target's leaf"
        );
        // The marker is read from the all-targets ref, which forces the solve.
        assert!(
            run.log
                .reads
                .contains(&(run.log.solve_refs[1].clone(), MARKER.to_owned()))
        );
        assert_eq!(run.returned_ref(), run.log.solve_refs[2]);
    }
}

#[tokio::test]
async fn a_present_lock_is_read_and_can_be_turned_off() {
    let mut daemon = Daemon::serving(TOOLBOX);
    let lock = dockopt_project::lock_name(FILE);
    daemon
        .files
        .insert(lock.clone(), b"{ this is not a lock".to_vec());
    let with_lock = drive(
        daemon.clone(),
        &[("filename", FILE), ("target", "git")],
        None,
    )
    .await;
    let message = &with_lock.error().message;
    assert!(
        message.contains(&lock),
        "the corrupt lock is named: {message}"
    );
    let without = drive(
        daemon,
        &[
            ("filename", FILE),
            ("target", "git"),
            ("build-arg:DOCKOPT_LOCK", "off"),
        ],
        None,
    )
    .await;
    assert!(
        !without.log.reads.iter().any(|(_, p)| *p == lock),
        "{:?}",
        without.log.reads
    );
    assert!(
        without
            .result()
            .metadata
            .contains_key("containerimage.config")
    );
}

#[tokio::test]
async fn cache_imports_go_with_every_solve() {
    let imports = r#"[{"Type":"registry","Attrs":{"ref":"r/x:1"}}]"#;
    let run = drive(
        Daemon::serving(TOOLBOX),
        &[
            ("filename", FILE),
            ("target", "web"),
            ("cache-imports", imports),
        ],
        None,
    )
    .await;
    let target_solve = run.log.solves.last().expect("a solve");
    assert_eq!(target_solve.cache_imports.len(), 1);
    assert_eq!(target_solve.cache_imports[0].r#type, "registry");
    assert_eq!(target_solve.cache_imports[0].attrs["ref"], "r/x:1");
    let bad = drive(
        Daemon::serving(TOOLBOX),
        &[
            ("filename", FILE),
            ("target", "web"),
            ("cache-imports", "[{"),
        ],
        None,
    )
    .await;
    assert!(
        bad.error().message.contains("cache-imports"),
        "{}",
        bad.error().message
    );
}

#[tokio::test]
async fn user_errors_come_back_through_return() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("filename", FILE), ("target", "minimall")], "minimal"),
        (
            &[
                ("filename", FILE),
                ("target", "git"),
                ("force-network-mode", "bridge"),
            ],
            "bridge",
        ),
        (&[("filename", "missing.yaml")], "missing.yaml"),
    ];
    for (opts, named) in cases {
        let run = drive(Daemon::serving(TOOLBOX), opts, None).await;
        let error = run.error();
        assert!(error.message.contains(named), "{opts:?}: {}", error.message);
        assert_eq!(run.log.calls.last(), Some(&"Return"));
        assert_eq!(run.exit, Some(0), "{}", run.stderr);
    }
    let mut old = Daemon::serving(TOOLBOX);
    old.llb_caps = vec!["source.image"];
    let run = drive(old, &[("filename", FILE)], None).await;
    assert!(
        run.error().message.contains("file.base"),
        "{}",
        run.error().message
    );
    assert_eq!(run.log.calls, ["Ping", "Return"]);
}

#[tokio::test]
async fn subrequests_are_answered_without_building() {
    let describe = drive(
        Daemon::serving(TOOLBOX),
        &[("requestid", "frontend.subrequests.describe")],
        None,
    )
    .await;
    assert_eq!(describe.log.calls, ["Ping", "Return"]);
    let names: BTreeSet<String> = describe
        .answer()
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    let want: BTreeSet<String> = [
        "frontend.subrequests.describe",
        "frontend.targets",
        "frontend.outline",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(names, want);

    let targets = drive(
        Daemon::serving(TOOLBOX),
        &[("filename", FILE), ("requestid", "frontend.targets")],
        None,
    )
    .await;
    assert_eq!(targets.log.calls, ["Ping", "Solve", "ReadFile", "Return"]);
    let answer = targets.answer();
    let listed: Vec<&str> = answer["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut declared = target_names(TOOLBOX);
    let targets_block = &TOOLBOX[TOOLBOX.find("\ntargets:").expect("a targets block")..];
    declared.sort_by_key(|n| {
        targets_block
            .find(&format!("\n  {n}:"))
            .unwrap_or(usize::MAX)
    });
    assert_eq!(listed, declared, "declaration order");
    let defaults: Vec<&str> = answer["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter(|t| t["default"] == true)
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(defaults, ["full"]);

    let outline = drive(
        Daemon::serving(TOOLBOX),
        &[
            ("filename", FILE),
            ("requestid", "frontend.outline"),
            ("target", "git"),
            ("build-arg:DEBIAN", "trixie"),
        ],
        None,
    )
    .await;
    let answer = outline.answer();
    assert_eq!(answer["name"], "git");
    let debian = answer["args"]
        .as_array()
        .expect("args")
        .iter()
        .find(|a| a["name"] == "DEBIAN")
        .expect("DEBIAN is outlined");
    assert_eq!(debian["value"], "trixie");

    let unknown = drive(
        Daemon::serving(TOOLBOX),
        &[("requestid", "frontend.lint")],
        None,
    )
    .await;
    let error = unknown.error();
    assert_eq!(error.code, tonic::Code::Unimplemented as i32);
    assert_eq!(error.message, "unsupported request frontend.lint");
}

#[tokio::test]
async fn dockopt_targets_limits_the_all_targets_solve() {
    let run = drive(
        Daemon::serving(TOOLBOX),
        &[
            ("filename", FILE),
            ("build-arg:DOCKOPT_TARGETS", "web, minimal,web"),
        ],
        None,
    )
    .await;
    let all = all_targets_solve(&run);
    let ops = ops(all.definition.as_ref().expect("definition"));
    let (_, terminal) = ops.last().expect("ops");
    let merge = ops
        .iter()
        .find(|(d, _)| Some(d) == terminal.inputs.first().map(|i| &i.digest))
        .expect("the terminal's input");
    let inputs: BTreeSet<String> = merge.1.inputs.iter().map(|i| i.digest.clone()).collect();
    let want: BTreeSet<String> = ["web", "minimal"]
        .iter()
        .map(|name| {
            let def = cli_llb(TOOLBOX, name);
            ops_of_leaf(&def)
        })
        .collect();
    assert_eq!(inputs, want, "only the listed targets are solved together");
    // The default target (`full`) is not among them: the first listed one is returned.
    let config = image_config(&run);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["curl", "--version"])
    );
}

/// The digest of a `dockopt llb` Definition's output (the terminal op's input).
fn ops_of_leaf(def: &pb::Definition) -> String {
    ops(def)
        .last()
        .map(|(_, op)| op.inputs[0].digest.clone())
        .expect("a terminal")
}

#[tokio::test]
async fn plan_warnings_are_sent_only_to_an_engine_that_takes_them() {
    // `cleanup` is declared and listed by no target.
    let text = TOOLBOX.replace(
        "  user:     {run:",
        "  cleanup:  {run: rm -rf /var/lib/apt/lists/*}\n  user:     {run:",
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("  cleanup:"))
        .expect("the line")
        + 1;
    let opts = [("filename", FILE), ("target", "git")];
    let old = drive(Daemon::serving(&text), &opts, None).await;
    assert_eq!(old.exit, Some(0), "{}", old.stderr);
    assert!(!old.log.calls.contains(&"Warn"), "{:?}", old.log.calls);

    let mut daemon = Daemon::serving(&text);
    daemon.warnings = true;
    let new = drive(daemon, &opts, None).await;
    assert_eq!(new.exit, Some(0), "{}", new.stderr);
    assert_eq!(new.log.warns.len(), 1, "{:?}", new.log.calls);
    let warn = &new.log.warns[0];
    assert_eq!(
        String::from_utf8_lossy(&warn.short),
        "step `cleanup` is listed by no target; it is not built"
    );
    // On the vertex that loaded the manifest, with the manifest and the line.
    let spec = new.log.solves[0].definition.as_ref().expect("definition");
    let (load_vertex, _) = ops(spec)
        .into_iter()
        .find(|(_, op)| matches!(&op.op, Some(pb::op::Op::Source(_))))
        .expect("the local source");
    assert_eq!(warn.digest, load_vertex);
    let info = warn.info.as_ref().expect("source info");
    assert_eq!(info.filename, FILE);
    assert_eq!(info.data, text.as_bytes());
    let start = warn.ranges[0].start.expect("a start");
    assert_eq!(
        (start.line, start.character),
        (i32::try_from(line).expect("small"), 3)
    );
    // Warnings come after the manifest is read and before the build's own solve.
    let at = |name: &str| new.log.calls.iter().position(|c| *c == name).expect(name);
    let last_solve = new
        .log
        .calls
        .iter()
        .rposition(|c| *c == "Solve")
        .expect("the build's solve");
    assert!(at("ReadFile") < at("Warn") && at("Warn") < last_solve);

    // `dockopt build` shows the warnings itself and asks the frontend not to send them.
    let mut daemon = Daemon::serving(&text);
    daemon.warnings = true;
    let quiet = drive(
        daemon,
        &[
            ("filename", FILE),
            ("target", "git"),
            ("build-arg:DOCKOPT_WARN", "off"),
        ],
        None,
    )
    .await;
    assert_eq!(quiet.exit, Some(0), "{}", quiet.stderr);
    assert!(quiet.log.warns.is_empty(), "{:?}", quiet.log.calls);
}

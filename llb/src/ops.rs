//! Plan → ops: one op per trie node, its input the node's parent.

use std::collections::BTreeMap;

use dockopt_manifest::{Action, Manifest, RunCommand, Step};
use dockopt_planner::{Plan, Trie};
use dockopt_proto::pb;

use crate::graph::{Graph, Output};
use crate::image::{BaseConfig, set_env};

/// How to emit the graph.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The client session that owns the `context` local (`BUILDKIT_SESSION_ID`); `None` outside
    /// a build (the bytes then name no session).
    pub session: Option<String>,
    /// Mark every step op to ignore the cache (`--no-cache`).
    pub no_cache: bool,
    /// Emit only the ops on these targets' paths (manifest indexes); `None` for every target.
    /// Ops are the same bytes either way: a path does not depend on which others are emitted.
    pub targets: Option<Vec<usize>>,
    /// The network every RUN step gets (`docker build --network`, BuildKit's
    /// `force-network-mode`); `Unset` leaves it to the engine and keeps the op bytes unchanged.
    pub network: pb::NetMode,
}

/// The graph of a whole plan.
pub struct Built {
    /// Every op of every target, each once.
    pub graph: Graph,
    /// Per target (manifest order), the output holding its final filesystem (`None` for a
    /// target not emitted).
    pub leaves: Vec<Option<Output>>,
    /// Per trie node, its output (roots: the base image), `None` where not emitted.
    pub nodes: Vec<Option<Output>>,
}

/// What cannot be turned into LLB.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LlbError {
    /// A target's base has no resolved config.
    #[error("base image `{0}` was not resolved")]
    UnresolvedBase(String),
    /// A `copy` with several sources needs a directory destination.
    #[error(
        "step `{step}`: copying several sources needs a destination ending in `/`, found `{dest}`"
    )]
    CopyDest {
        /// The step's label.
        step: String,
        /// Its destination.
        dest: String,
    },
}

/// Joins a possibly relative `path` onto `dir`, keeping a trailing `/`.
fn resolve(dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_owned();
    }
    let mut out = dir.trim_end_matches('/').to_owned();
    out.push('/');
    out.push_str(path.trim_start_matches("./"));
    out
}

/// The name a step's vertex shows in BuildKit's progress: the command, then the targets that
/// share it. The CLI reads progress back by these names.
#[must_use]
pub fn step_name(manifest: &Manifest, step: &Step, targets: &[usize]) -> String {
    let kind = match step.action {
        Action::Run(_) => "RUN",
        Action::Copy(_) => "",
    };
    let text = step.command_text();
    let mut name = if kind.is_empty() {
        text
    } else {
        format!("{kind} {text}")
    };
    if targets.len() > 1 {
        let names: Vec<&str> = targets
            .iter()
            .take(4)
            .map(|&t| manifest.targets[t].name.as_str())
            .collect();
        let more = if targets.len() > 4 {
            format!(" +{}", targets.len() - 4)
        } else {
            String::new()
        };
        name.push_str(&format!(
            "  [shared by {}: {}{more}]",
            targets.len(),
            names.join(", ")
        ));
    } else if let Some(&t) = targets.first() {
        name.push_str(&format!("  [{}]", manifest.targets[t].name));
    }
    name
}

fn metadata(name: String, no_cache: bool) -> pb::OpMetadata {
    pb::OpMetadata {
        ignore_cache: no_cache,
        description: BTreeMap::from([("llb.customname".to_owned(), name)]),
        ..Default::default()
    }
}

fn input(o: &Output) -> pb::Input {
    pb::Input {
        digest: o.digest.clone(),
        index: o.index,
    }
}

/// Builds the ops of every trie node of `plan` over the resolved `bases` (keyed by the
/// manifest's fully qualified base).
///
/// # Errors
/// A base missing from `bases`, or a copy the manifest cannot express in LLB.
pub fn build(
    manifest: &Manifest,
    plan: &Plan,
    bases: &BTreeMap<String, BaseConfig>,
    options: &BuildOptions,
) -> Result<Built, LlbError> {
    let trie = Trie::build(&manifest.problem(), &plan.orders);
    let mut graph = Graph::new();
    let mut nodes: Vec<Option<Output>> = Vec::with_capacity(trie.nodes.len());
    let mut context: Option<Output> = None;
    for node in &trie.nodes {
        if let Some(only) = &options.targets
            && !node.targets.iter().any(|t| only.contains(t))
        {
            nodes.push(None);
            continue;
        }
        let base = bases
            .get(&node.base)
            .ok_or_else(|| LlbError::UnresolvedBase(node.base.clone()))?;
        let out = match (node.step, node.parent) {
            (Some(step_id), Some(parent)) => {
                let step = &manifest.steps[step_id];
                let parent = nodes[parent]
                    .clone()
                    .ok_or_else(|| LlbError::UnresolvedBase(node.base.clone()))?;
                let name = step_name(manifest, step, &node.targets);
                match &step.action {
                    Action::Run(cmd) => graph.add(
                        &exec_op(step, cmd, base, &parent, options.network),
                        Some(metadata(name, options.no_cache)),
                    ),
                    Action::Copy(copy) => {
                        let source = match &copy.from {
                            Some(image) => image_source(&mut graph, image),
                            None => context
                                .get_or_insert_with(|| context_source(&mut graph, options))
                                .clone(),
                        };
                        let cwd = step
                            .context
                            .workdir
                            .as_deref()
                            .map_or_else(|| base.workdir(), |w| resolve(&base.workdir(), w));
                        let dest = resolve(&cwd, &copy.dest);
                        if copy.src.len() > 1 && !dest.ends_with('/') {
                            return Err(LlbError::CopyDest {
                                step: step.label(),
                                dest: copy.dest.clone(),
                            });
                        }
                        graph.add(
                            &copy_op(&copy.src, &dest, &parent, &source),
                            Some(metadata(name, options.no_cache)),
                        )
                    }
                }
            }
            _ => {
                let name = format!("[base] {}", base.reference);
                let op = pb::Op {
                    op: Some(pb::op::Op::Source(pb::SourceOp {
                        identifier: format!("docker-image://{}", base.reference),
                        attrs: BTreeMap::new(),
                    })),
                    ..Default::default()
                };
                graph.add(&op, Some(metadata(name, false)))
            }
        };
        nodes.push(Some(out));
    }
    let leaves = trie.leaf_of.iter().map(|&n| nodes[n].clone()).collect();
    Ok(Built {
        graph,
        leaves,
        nodes,
    })
}

fn exec_op(
    step: &Step,
    cmd: &RunCommand,
    base: &BaseConfig,
    parent: &Output,
    network: pb::NetMode,
) -> pb::Op {
    let args = match cmd {
        RunCommand::Shell(s) => vec!["/bin/sh".to_owned(), "-c".to_owned(), s.clone()],
        RunCommand::Exec(argv) => argv.clone(),
    };
    let mut env = base.env();
    for (k, v) in &step.context.env {
        set_env(&mut env, k, v);
    }
    let cwd = step
        .context
        .workdir
        .as_deref()
        .map_or_else(|| base.workdir(), |w| resolve(&base.workdir(), w));
    let user = step.context.user.clone().unwrap_or_else(|| base.user());
    pb::Op {
        inputs: vec![input(parent)],
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta {
                args,
                env,
                cwd,
                user,
            }),
            mounts: vec![pb::Mount {
                input: 0,
                dest: "/".into(),
                output: 0,
                ..Default::default()
            }],
            network: network as i32,
            security: pb::SecurityMode::Sandbox as i32,
        })),
        ..Default::default()
    }
}

/// Copies every `src` of `source` onto `parent` at `dest`, the way a Dockerfile `COPY` does.
fn copy_op(srcs: &[String], dest: &str, parent: &Output, source: &Output) -> pb::Op {
    let inputs = vec![input(parent), input(source)];
    let n = srcs.len();
    let actions = srcs
        .iter()
        .enumerate()
        .map(|(k, src)| pb::FileAction {
            // The first action copies onto the parent; each next one onto the previous result.
            input: if k == 0 {
                0
            } else {
                (inputs.len() + k - 1) as i64
            },
            secondary_input: 1,
            output: if k + 1 == n { 0 } else { -1 },
            action: Some(pb::file_action::Action::Copy(pb::FileActionCopy {
                src: resolve("/", src),
                dest: dest.to_owned(),
                owner: None,
                mode: -1,
                follow_symlink: true,
                dir_copy_contents: true,
                attempt_unpack_docker_compatibility: false,
                create_dest_path: true,
                allow_wildcard: true,
                allow_empty_wildcard: false,
                timestamp: -1,
            })),
        })
        .collect();
    pb::Op {
        inputs,
        op: Some(pb::op::Op::File(pb::FileOp { actions })),
        ..Default::default()
    }
}

/// A MergeOp of every one of `leaves` (engines with the `mergeop` capability): solving it builds
/// every leaf, each shared op once, with no file copied.
#[must_use]
pub fn merge_of(leaves: &[Output]) -> pb::Op {
    pb::Op {
        inputs: leaves.iter().map(input).collect(),
        op: Some(pb::op::Op::Merge(pb::MergeOp {
            inputs: (0..leaves.len() as i64)
                .map(|input| pb::MergeInput { input })
                .collect(),
        })),
        ..Default::default()
    }
}

/// An op that needs every one of `leaves` and copies nothing from them: it writes `marker` with
/// `data` on scratch, then copies a pattern that matches nothing out of each leaf. Solving it
/// builds every leaf (each shared op once) without MergeOp, which BuildKit 0.8 lacks.
#[must_use]
pub fn all_of(leaves: &[Output], marker: &str, data: &[u8]) -> pb::Op {
    let inputs: Vec<pb::Input> = leaves.iter().map(input).collect();
    let n = inputs.len() as i64;
    let mut actions = vec![pb::FileAction {
        input: -1,
        secondary_input: -1,
        output: if leaves.is_empty() { 0 } else { -1 },
        action: Some(pb::file_action::Action::Mkfile(pb::FileActionMkFile {
            path: marker.to_owned(),
            mode: 0o644,
            data: data.to_vec(),
            owner: None,
            timestamp: -1,
        })),
    }];
    for k in 0..leaves.len() {
        actions.push(pb::FileAction {
            // Onto the previous action's result; from leaf k.
            input: n + k as i64,
            secondary_input: k as i64,
            output: if k + 1 == leaves.len() { 0 } else { -1 },
            action: Some(pb::file_action::Action::Copy(pb::FileActionCopy {
                src: "/.dockopt-nothing-*".to_owned(),
                dest: "/".to_owned(),
                owner: None,
                mode: -1,
                follow_symlink: false,
                dir_copy_contents: false,
                attempt_unpack_docker_compatibility: false,
                create_dest_path: false,
                allow_wildcard: true,
                allow_empty_wildcard: true,
                timestamp: -1,
            })),
        });
    }
    pb::Op {
        inputs,
        op: Some(pb::op::Op::File(pb::FileOp { actions })),
        ..Default::default()
    }
}

fn image_source(graph: &mut Graph, reference: &str) -> Output {
    let op = pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: format!("docker-image://{reference}"),
            attrs: BTreeMap::new(),
        })),
        ..Default::default()
    };
    graph.add(
        &op,
        Some(metadata(format!("[copy source] {reference}"), false)),
    )
}

fn context_source(graph: &mut Graph, options: &BuildOptions) -> Output {
    let mut attrs = BTreeMap::from([("local.sharedkeyhint".to_owned(), "context".to_owned())]);
    if let Some(s) = &options.session {
        attrs.insert("local.session".to_owned(), s.clone());
    }
    let op = pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: "local://context".into(),
            attrs,
        })),
        ..Default::default()
    };
    graph.add(
        &op,
        Some(metadata("[internal] load build context".into(), false)),
    )
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn relative_paths_join_the_workdir() {
        assert_eq!(resolve("/app", "bin/"), "/app/bin/");
        assert_eq!(resolve("/", "./x"), "/x");
        assert_eq!(resolve("/app/", "/etc"), "/etc");
    }
}

//! Plan → ops: one op per trie node, its input the node's parent.

use std::collections::{BTreeMap, HashMap};

use dockopt_manifest::{Action, CacheSharing, Manifest, Mount, RunCommand, Step};
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
    /// A step reads a target the manifest does not have.
    #[error("no stage is named `{0}`")]
    UnknownStage(String),
    /// A stage reads itself (the manifest rejects this; here it is an error, not a hang).
    #[error("stages on base `{0}` read each other in a cycle")]
    StageCycle(String),
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
    // The wanted targets and the stages they read (a stage's path is an input of its readers).
    let wanted: Option<Vec<usize>> = options.targets.as_ref().map(|only| {
        let mut w: Vec<usize> = only
            .iter()
            .flat_map(|&t| std::iter::once(t).chain(manifest.stage_closure(t)))
            .collect();
        w.sort_unstable();
        w.dedup();
        w
    });
    // `squash: true`: the nodes of each merged layer are emitted as one op, at its last node.
    let mut merged_into: Vec<Option<usize>> = vec![None; trie.nodes.len()];
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for t in (0..manifest.targets.len()).filter(|&t| manifest.targets[t].squash) {
        for layer in manifest.layers(&trie, t) {
            if let [first @ .., last] = layer.as_slice()
                && !first.is_empty()
            {
                for &n in first {
                    merged_into[n] = Some(*last);
                }
                groups.insert(*last, layer.clone());
            }
        }
    }
    let mut e = Emitter {
        manifest,
        trie: &trie,
        bases,
        options,
        graph: Graph::new(),
        nodes: vec![None; trie.nodes.len()],
        busy: vec![false; trie.nodes.len()],
        context: None,
        merged_into,
        groups,
        stage_index: manifest
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect(),
    };
    // Trie order; a node that reads a stage emits the stage's path first. Each node is emitted
    // after what it needs (see `Emitter::order`), so `emit` finds its inputs done and never
    // recurses deeply, whatever the length of a stage chain or of a target's order.
    let roots: Vec<usize> = (0..trie.nodes.len())
        .filter(|&i| {
            wanted
                .as_ref()
                .is_none_or(|only| trie.nodes[i].targets.iter().any(|t| only.contains(t)))
        })
        .collect();
    for i in e.order(&roots) {
        e.emit(i)?;
    }
    let leaves = trie.leaf_of.iter().map(|&n| e.nodes[n].clone()).collect();
    Ok(Built {
        graph: e.graph,
        leaves,
        nodes: e.nodes,
    })
}

/// The state of one [`build`]: ops emitted so far, per trie node.
struct Emitter<'a> {
    manifest: &'a Manifest,
    trie: &'a Trie,
    bases: &'a BTreeMap<String, BaseConfig>,
    options: &'a BuildOptions,
    graph: Graph,
    nodes: Vec<Option<Output>>,
    /// Nodes being emitted (a stage read in a cycle, which the manifest rejects, ends here).
    busy: Vec<bool>,
    context: Option<Output>,
    /// Per node inside a squashed layer (not its last), the layer's last node.
    merged_into: Vec<Option<usize>>,
    /// Per last node of a squashed layer, the layer's nodes in order.
    groups: BTreeMap<usize, Vec<usize>>,
    /// Target index by name (a stage's readers name it).
    stage_index: HashMap<&'a str, usize>,
}

impl Emitter<'_> {
    /// The nodes `emit` needs done before node `i`, in the order it would emit them itself:
    /// its parent, then the paths of the stages its step reads (for a squashed layer's last
    /// node: the layer's parent and the stages its command mounts; for a node inside a
    /// layer: the layer's last node).
    fn needs(&self, i: usize) -> Vec<usize> {
        if let Some(last) = self.merged_into[i] {
            return vec![last];
        }
        let (parent, step) = match self.groups.get(&i) {
            Some(group) => {
                let first = &self.trie.nodes[group[0]];
                (first.parent, first.step)
            }
            None => (self.trie.nodes[i].parent, self.trie.nodes[i].step),
        };
        let stages = step
            .map(|s| self.manifest.steps[s].stages())
            .unwrap_or_default();
        parent
            .into_iter()
            .chain(
                stages
                    .into_iter()
                    .filter_map(|name| self.stage_index.get(name))
                    .map(|&t| self.trie.leaf_of[t]),
            )
            .collect()
    }

    /// Every node reachable from `roots` through [`Emitter::needs`], each after what it needs,
    /// in the order recursive calls to `emit` from `roots` in turn would emit them
    /// ([`dockopt_planner::post_order`]). A need that closes a stage cycle (which the manifest
    /// rejects) comes after its reader here and is reported by `emit`.
    fn order(&self, roots: &[usize]) -> Vec<usize> {
        dockopt_planner::post_order(self.trie.nodes.len(), roots, |i| self.needs(i))
    }

    /// The output of trie node `i`, emitting it (and what it needs) first if not yet done.
    fn emit(&mut self, i: usize) -> Result<Output, LlbError> {
        if let Some(out) = &self.nodes[i] {
            return Ok(out.clone());
        }
        if let Some(last) = self.merged_into[i] {
            let out = self.emit(last)?;
            self.nodes[i] = Some(out.clone());
            return Ok(out);
        }
        if let Some(group) = self.groups.get(&i).cloned() {
            return self.emit_squashed(i, &group);
        }
        let node = &self.trie.nodes[i];
        if std::mem::replace(&mut self.busy[i], true) {
            return Err(LlbError::StageCycle(node.base.clone()));
        }
        let base = self
            .bases
            .get(&node.base)
            .ok_or_else(|| LlbError::UnresolvedBase(node.base.clone()))?;
        let options = self.options;
        let out = match (node.step, node.parent) {
            (Some(step_id), Some(parent)) => {
                let manifest = self.manifest;
                let step = &manifest.steps[step_id];
                let parent = self.emit(parent)?;
                let name = step_name(manifest, step, &node.targets);
                match &step.action {
                    Action::Run(cmd) => self.run_op(step, cmd, base, &parent, name)?,
                    Action::Copy(copy) => {
                        let source = match (&copy.stage, &copy.from) {
                            (Some(stage), _) => self.stage(stage)?,
                            (None, Some(image)) => image_source(&mut self.graph, image),
                            (None, None) => self.context(),
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
                        self.graph.add(
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
                self.graph.add(&op, Some(metadata(name, false)))
            }
        };
        self.nodes[i] = Some(out.clone());
        Ok(out)
    }

    /// An exec of `step` running `cmd` on `parent`, its mounts' sources emitted first.
    fn run_op(
        &mut self,
        step: &Step,
        cmd: &RunCommand,
        base: &BaseConfig,
        parent: &Output,
        name: String,
    ) -> Result<Output, LlbError> {
        let mut sources = Vec::with_capacity(step.context.mounts.len());
        for m in &step.context.mounts {
            sources.push(match m {
                Mount::Bind { stage: Some(s), .. } => Some(self.stage(s)?),
                Mount::Bind { stage: None, .. } => Some(self.context()),
                _ => None,
            });
        }
        let op = exec_op(step, cmd, base, parent, &sources, self.options.network);
        Ok(self
            .graph
            .add(&op, Some(metadata(name, self.options.no_cache))))
    }

    /// One exec for a squashed layer (shell-form runs with one context, see
    /// [`Manifest::layers`]): each command in a subshell, the next only if it succeeded, as
    /// separate `RUN`s would; its output stands for every node of the layer.
    fn emit_squashed(&mut self, last: usize, group: &[usize]) -> Result<Output, LlbError> {
        let manifest = self.manifest;
        let trie = self.trie;
        let first = &trie.nodes[group[0]];
        if std::mem::replace(&mut self.busy[last], true) {
            return Err(LlbError::StageCycle(first.base.clone()));
        }
        let (Some(parent), Some(first_step)) = (first.parent, first.step) else {
            return Err(LlbError::UnresolvedBase(first.base.clone()));
        };
        let base = self
            .bases
            .get(&first.base)
            .ok_or_else(|| LlbError::UnresolvedBase(first.base.clone()))?;
        let parent = self.emit(parent)?;
        let commands: Vec<String> = group
            .iter()
            .filter_map(|&n| trie.nodes[n].step)
            .map(|s| match &manifest.steps[s].action {
                // On lines of their own: a command ending in a `#` comment or a heredoc still
                // closes its group.
                Action::Run(RunCommand::Shell(c)) => format!("(\n{c}\n)"),
                other => format!("(\n{other:?}\n)"),
            })
            .collect();
        let template = &manifest.steps[first_step];
        let step = Step {
            name: None,
            action: Action::Run(RunCommand::Shell(commands.join(" && "))),
            context: template.context.clone(),
            time: 0.0,
            span: template.span,
        };
        let Action::Run(cmd) = &step.action else {
            return Err(LlbError::UnresolvedBase(first.base.clone()));
        };
        // The vertex name on one line (progress is read back line by line).
        let shown: Vec<String> = group
            .iter()
            .filter_map(|&n| trie.nodes[n].step)
            .map(|s| format!("({})", manifest.steps[s].command_text()))
            .collect();
        let named = Step {
            action: Action::Run(RunCommand::Shell(shown.join(" && "))),
            ..step.clone()
        };
        let name = step_name(manifest, &named, &trie.nodes[last].targets);
        let out = self.run_op(&step, cmd, base, &parent, name)?;
        for &n in group {
            self.nodes[n] = Some(out.clone());
        }
        Ok(out)
    }

    /// The final filesystem of the target named `name` (a stage), emitted if not yet done.
    fn stage(&mut self, name: &str) -> Result<Output, LlbError> {
        let t = *self
            .stage_index
            .get(name)
            .ok_or_else(|| LlbError::UnknownStage(name.to_owned()))?;
        let leaf = self.trie.leaf_of[t];
        self.emit(leaf)
    }

    /// The build context's source op, added on first use.
    fn context(&mut self) -> Output {
        if let Some(c) = &self.context {
            return c.clone();
        }
        let c = context_source(&mut self.graph, self.options);
        self.context = Some(c.clone());
        c
    }
}

fn exec_op(
    step: &Step,
    cmd: &RunCommand,
    base: &BaseConfig,
    parent: &Output,
    sources: &[Option<Output>],
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
    let mut inputs = vec![input(parent)];
    let mut mounts = vec![pb::Mount {
        input: 0,
        dest: "/".into(),
        output: 0,
        ..Default::default()
    }];
    let mut extra: Vec<pb::Mount> = step
        .context
        .mounts
        .iter()
        .zip(sources)
        .map(|(m, source)| {
            let source = source.as_ref().map(|o| {
                let wanted = input(o);
                match inputs.iter().position(|i| *i == wanted) {
                    Some(k) => k as i64,
                    None => {
                        inputs.push(wanted);
                        (inputs.len() - 1) as i64
                    }
                }
            });
            exec_mount(m, &cwd, source)
        })
        .collect();
    // Sorted by destination, as BuildKit's Go client marshals them; the root stays first.
    extra.sort_by(|a, b| a.dest.cmp(&b.dest));
    mounts.extend(extra);
    pb::Op {
        inputs,
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta {
                args,
                env,
                cwd,
                user,
            }),
            mounts,
            network: network as i32,
            security: pb::SecurityMode::Sandbox as i32,
        })),
        ..Default::default()
    }
}

/// One `RUN --mount` as BuildKit's ExecOp holds it. Nothing but the root mount has an output
/// (`-1`): cache, tmpfs and secret mounts are never part of the step's result, and a writable
/// bind mount's writes are thrown away (cap `exec.mount.bind.readwrite-nooutput`).
fn exec_mount(m: &Mount, cwd: &str, source: Option<i64>) -> pb::Mount {
    let dest = resolve(cwd, &m.target());
    match m {
        Mount::Cache { id, sharing, .. } => pb::Mount {
            input: -1,
            output: -1,
            mount_type: pb::MountType::Cache as i32,
            cache_opt: Some(pb::CacheOpt {
                id: id.clone().unwrap_or_else(|| dest.clone()),
                sharing: match sharing {
                    CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                    CacheSharing::Private => pb::CacheSharingOpt::Private,
                    CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                } as i32,
            }),
            dest,
            ..Default::default()
        },
        Mount::Secret { id, required, .. } => pb::Mount {
            input: -1,
            output: -1,
            mount_type: pb::MountType::Secret as i32,
            secret_opt: Some(pb::SecretOpt {
                id: id.clone(),
                uid: 0,
                gid: 0,
                mode: 0o400,
                optional: !required,
            }),
            dest,
            ..Default::default()
        },
        Mount::Bind {
            source: path, rw, ..
        } => pb::Mount {
            input: source.unwrap_or(-1),
            selector: path
                .as_deref()
                .map(|p| resolve("/", p))
                .filter(|p| p != "/")
                .unwrap_or_default(),
            output: -1,
            readonly: !rw,
            mount_type: pb::MountType::Bind as i32,
            dest,
            ..Default::default()
        },
        Mount::Tmpfs { size, .. } => pb::Mount {
            input: -1,
            output: -1,
            mount_type: pb::MountType::Tmpfs as i32,
            tmpfs_opt: size.map(|b| pb::TmpfsOpt {
                size: i64::try_from(b).unwrap_or(i64::MAX),
            }),
            dest,
            ..Default::default()
        },
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

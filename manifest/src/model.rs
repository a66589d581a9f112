//! The validated manifest: what every later layer reads.

use std::collections::BTreeMap;

use dockopt_diagnostics::Span;

/// A validated manifest with every arg substituted and every step interned.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The file name the text came from, for messages.
    pub file: String,
    /// Final values of the declared args (defaults overridden by build args).
    pub args: BTreeMap<String, String>,
    /// The declared args by name: default, where declared, where used (`--print=outline`).
    pub declared_args: BTreeMap<String, Arg>,
    /// Build args that name no declared arg (Docker warns about these; they change nothing).
    pub unused_build_args: Vec<String>,
    /// Named steps (under `steps:`) that no target lists, with where each is declared.
    pub unused_steps: Vec<(String, Span)>,
    /// The target built when none is asked for: top-level `default:`, else the first declared.
    pub default_target: String,
    /// Distinct steps in a canonical order (by content); a step's index is its planner id.
    pub steps: Vec<Step>,
    /// Targets sorted by name.
    pub targets: Vec<Target>,
    /// `(a, b)`: step `a` runs before step `b` wherever both appear (as declared, not closed).
    pub after: Vec<(usize, usize)>,
    /// Layers a target may add (`layers:`, default [`crate::DEFAULT_LAYER_LIMIT`]); 0: no budget.
    pub layer_limit: usize,
}

/// A declared arg (`args:`), for tools that list them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Its default, as declared.
    pub default: String,
    /// Where it is declared (its key under `args:`).
    pub span: Span,
    /// The values that substitute it, in the order they were read (each once).
    pub uses: Vec<Span>,
}

/// One distinct step. Two declarations are the same step when action and context are equal.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Its name, when declared with one (the smallest, when several names declare it).
    pub name: Option<String>,
    /// What it does.
    pub action: Action,
    /// The context it runs in.
    pub context: StepContext,
    /// Estimated seconds (the largest estimate given, else 1).
    pub time: f64,
    /// Where it is first declared.
    pub span: Span,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Run a command.
    Run(RunCommand),
    /// Copy files from the build context (or another source) into the image.
    Copy(Copy),
}

/// A command, as in a Dockerfile `RUN`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunCommand {
    /// Shell form: run by `/bin/sh -c`.
    Shell(String),
    /// Exec form: argv as given.
    Exec(Vec<String>),
}

/// A copy, as in a Dockerfile `COPY`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Copy {
    /// Source paths inside the source.
    pub src: Vec<String>,
    /// Destination path in the image.
    pub dest: String,
    /// An image the sources come from (fully qualified); `None` for the build context or a
    /// stage.
    pub from: Option<String>,
    /// The target (usually a `stage: true` one) whose final filesystem the sources come from.
    /// The step is the same step wherever the same stage is copied from; the stage's content is
    /// part of its key (`dockopt_project::step_key`), not of the manifest's interning.
    pub stage: Option<String>,
}

/// Environment, working directory and user a step runs with.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepContext {
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory, when not the base image's.
    pub workdir: Option<String>,
    /// User, when not the base image's.
    pub user: Option<String>,
    /// Mounts a `run` step's command sees (`RUN --mount`), in the order written; empty for
    /// copies. Part of the step's identity: BuildKit's op (and so its cache key) holds them.
    pub mounts: Vec<Mount>,
}

/// A mount of a `run` step, as `RUN --mount=type=…` writes it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mount {
    /// A persistent cache directory, kept by the engine across builds (never in the image).
    Cache {
        /// Where the command sees it.
        target: String,
        /// The cache's id (default: the target path, as Docker does).
        id: Option<String>,
        /// How concurrent builds share it.
        sharing: CacheSharing,
    },
    /// A secret the client supplies at solve time (`docker build --secret id=…`): only its id
    /// is in the manifest, the LLB and the step key.
    Secret {
        /// The id the client supplies it under.
        id: String,
        /// Where the command reads it (default: `/run/secrets/ID`).
        target: Option<String>,
        /// The build fails when the client does not supply it (default: it is optional).
        required: bool,
    },
    /// Files of the build context or of a stage, mounted for the command only.
    Bind {
        /// Where the command sees them.
        target: String,
        /// The path inside the source (default: its root).
        source: Option<String>,
        /// The target (stage) whose final filesystem is mounted; `None` for the build context.
        stage: Option<String>,
        /// Writes allowed (and thrown away after the command); read-only by default.
        rw: bool,
    },
    /// An empty in-memory filesystem for the command only.
    Tmpfs {
        /// Where the command sees it.
        target: String,
        /// Its size limit in bytes (`None`: the engine's default).
        size: Option<u64>,
    },
}

/// `sharing:` of a cache mount, BuildKit's `CacheSharingOpt`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CacheSharing {
    /// Concurrent builds use it at once (Docker's default).
    #[default]
    Shared,
    /// A concurrent build gets its own empty copy.
    Private,
    /// A concurrent build waits until it is free.
    Locked,
}

impl CacheSharing {
    /// The word the manifest and the Dockerfile use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CacheSharing::Shared => "shared",
            CacheSharing::Private => "private",
            CacheSharing::Locked => "locked",
        }
    }
}

impl Mount {
    /// The path the command sees the mount at, as written (relative paths are under the
    /// step's working directory).
    #[must_use]
    pub fn target(&self) -> String {
        match self {
            Mount::Cache { target, .. }
            | Mount::Bind { target, .. }
            | Mount::Tmpfs { target, .. } => target.clone(),
            Mount::Secret { id, target, .. } => target
                .clone()
                .unwrap_or_else(|| format!("/run/secrets/{id}")),
        }
    }

    /// The stage the mount reads, if any.
    #[must_use]
    pub fn stage(&self) -> Option<&str> {
        match self {
            Mount::Bind { stage, .. } => stage.as_deref(),
            _ => None,
        }
    }

    /// The mount as a Dockerfile's `--mount=` flag writes it (without `--mount=`).
    #[must_use]
    pub fn flag(&self) -> String {
        match self {
            Mount::Cache {
                target,
                id,
                sharing,
            } => {
                let mut s = format!("type=cache,target={target}");
                if let Some(id) = id {
                    s.push_str(&format!(",id={id}"));
                }
                if *sharing != CacheSharing::Shared {
                    s.push_str(&format!(",sharing={}", sharing.as_str()));
                }
                s
            }
            Mount::Secret {
                id,
                target,
                required,
            } => {
                let mut s = format!("type=secret,id={id}");
                if let Some(t) = target {
                    s.push_str(&format!(",target={t}"));
                }
                if *required {
                    s.push_str(",required=true");
                }
                s
            }
            Mount::Bind {
                target,
                source,
                stage,
                rw,
            } => {
                let mut s = format!("type=bind,target={target}");
                if let Some(src) = source {
                    s.push_str(&format!(",source={src}"));
                }
                if let Some(st) = stage {
                    s.push_str(&format!(",from={st}"));
                }
                if *rw {
                    s.push_str(",rw");
                }
                s
            }
            Mount::Tmpfs { target, size } => {
                let mut s = format!("type=tmpfs,target={target}");
                if let Some(n) = size {
                    s.push_str(&format!(",size={n}"));
                }
                s
            }
        }
    }
}

/// One build target (a variant image).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Its name (`--target NAME`).
    pub name: String,
    /// Where it is declared.
    pub span: Span,
    /// The base image as written (after substitution).
    pub from: String,
    /// The base image, fully qualified (`docker.io/library/debian:bookworm`).
    pub base: String,
    /// Reorderable steps, as listed.
    pub steps: Vec<usize>,
    /// Fixed tail, in order.
    pub finally: Vec<usize>,
    /// Image config of the final image.
    pub config: ImageConfig,
    /// Tags to give the built image.
    pub tags: Vec<String>,
    /// A build stage (`stage: true`): planned and shared like any target, built only as the
    /// source of other targets' `copy: {from: STAGE}` (or bind mounts), never tagged.
    pub stage: bool,
    /// `squash: true`: consecutive steps only this target runs are merged into one layer where
    /// one op can hold them ([`Manifest::layers`]); its layer budget is checked on the plan.
    pub squash: bool,
}

/// Image config a target sets on its final image (merged over the base image's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Default command.
    pub cmd: Option<Vec<String>>,
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Exposed ports, `PORT[/PROTO]`.
    pub expose: Vec<String>,
    /// Volumes (paths), as `VOLUME`.
    pub volumes: Vec<String>,
    /// The signal that stops the container, as `STOPSIGNAL`.
    pub stop_signal: Option<String>,
    /// The health check, as `HEALTHCHECK`.
    pub healthcheck: Option<Healthcheck>,
}

/// A health check, as the image config holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", argv…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// Nanoseconds between checks (0: Docker's default).
    pub interval: u64,
    /// Nanoseconds a check may take (0: the default).
    pub timeout: u64,
    /// Nanoseconds after start before failures count (0: the default).
    pub start_period: u64,
    /// Failures in a row that make it unhealthy (0: the default).
    pub retries: u64,
}

impl Step {
    /// How people see the step: its name, else its command.
    #[must_use]
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.command_text())
    }

    /// The step as a Dockerfile would write it, without the instruction word for `run`.
    #[must_use]
    pub fn command_text(&self) -> String {
        match &self.action {
            Action::Run(RunCommand::Shell(s)) => s.clone(),
            Action::Run(RunCommand::Exec(argv)) => argv.join(" "),
            Action::Copy(c) => {
                format!("COPY {}{} {}", c.from_flag(), c.src.join(" "), c.dest)
            }
        }
    }

    /// The targets (stages) this step reads: a copy's `from` and bind mounts' `from`.
    #[must_use]
    pub fn stages(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Action::Copy(c) = &self.action
            && let Some(s) = &c.stage
        {
            out.push(s);
        }
        for m in &self.context.mounts {
            if let Some(s) = m.stage()
                && !out.contains(&s)
            {
                out.push(s);
            }
        }
        out
    }
}

impl Copy {
    /// `--from=IMAGE ` as a Dockerfile writes it, or nothing for the build context.
    #[must_use]
    pub fn from_flag(&self) -> String {
        self.stage
            .as_ref()
            .or(self.from.as_ref())
            .map(|f| format!("--from={f} "))
            .unwrap_or_default()
    }
}

impl Manifest {
    /// The target named `name`.
    #[must_use]
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// Names of all targets, sorted.
    #[must_use]
    pub fn target_names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.name.as_str()).collect()
    }

    /// Indexes of the targets that are built and tagged on their own (not stages), in
    /// manifest order.
    #[must_use]
    pub fn variants(&self) -> Vec<usize> {
        (0..self.targets.len())
            .filter(|&t| !self.targets[t].stage)
            .collect()
    }

    /// The targets `t` needs built first (stages it copies or mounts from, and theirs), each
    /// once, sorted; `t` itself is not included.
    #[must_use]
    pub fn stage_closure(&self, t: usize) -> Vec<usize> {
        let mut out = self.stages_in_order(&[t]);
        out.retain(|&x| x != t);
        out.sort_unstable();
        out
    }

    /// Every target that `roots` read as a stage, directly or through other stages, each once
    /// and after every stage it reads itself (reads in step order; any length of stage chain).
    /// A root is included only where some search reads it. On a cycle (which the manifest
    /// rejects) a stage comes before one it reads.
    #[must_use]
    pub fn stages_in_order(&self, roots: &[usize]) -> Vec<usize> {
        let mut read = vec![false; self.targets.len()];
        let mut order = self.in_read_order(roots, |t| read[t] = true);
        order.retain(|&t| read[t]);
        order
    }

    /// Every target, each after the stages it reads (see [`Manifest::stages_in_order`]).
    #[must_use]
    pub fn targets_in_read_order(&self) -> Vec<usize> {
        let all: Vec<usize> = (0..self.targets.len()).collect();
        self.in_read_order(&all, |_| {})
    }

    /// The post-order of [`dockopt_planner::post_order`] over stage reads from `roots`;
    /// `on_read` sees each target a placed one reads.
    fn in_read_order(&self, roots: &[usize], mut on_read: impl FnMut(usize)) -> Vec<usize> {
        let index: std::collections::HashMap<&str, usize> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        dockopt_planner::post_order(self.targets.len(), roots, |t| {
            let mut out: Vec<usize> = Vec::new();
            let Some(target) = self.targets.get(t) else {
                return out;
            };
            for &s in target.steps.iter().chain(&target.finally) {
                for name in self.steps.get(s).map(Step::stages).unwrap_or_default() {
                    if let Some(&i) = index.get(name)
                        && !out.contains(&i)
                    {
                        on_read(i);
                        out.push(i);
                    }
                }
            }
            out
        })
    }

    /// The index of the target named `name` (`--target`), or a message naming the file with
    /// the closest name, else every name.
    ///
    /// # Errors
    /// No target has that name.
    pub fn target_index(&self, name: &str) -> Result<usize, String> {
        if let Some(i) = self.targets.iter().position(|t| t.name == name) {
            return Ok(i);
        }
        let names = self.target_names();
        let hint = dockopt_diagnostics::did_you_mean(name, names.iter().copied())
            .unwrap_or_else(|| format!("the targets are: {}", names.join(", ")));
        Err(format!("{}: no target `{name}`; {hint}", self.file))
    }
}

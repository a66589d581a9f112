//! The validated manifest: what every later layer reads.

use std::collections::BTreeMap;

use crate::diagnostic::Span;

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
    /// Where the sources come from: `None` for the build context, else an image reference.
    pub from: Option<String>,
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
}

impl Copy {
    /// `--from=IMAGE ` as a Dockerfile writes it, or nothing for the build context.
    #[must_use]
    pub fn from_flag(&self) -> String {
        self.from
            .as_ref()
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
        let hint = crate::suggest::did_you_mean(name, names.iter().copied())
            .unwrap_or_else(|| format!("the targets are: {}", names.join(", ")));
        Err(format!("{}: no target `{name}`; {hint}", self.file))
    }
}

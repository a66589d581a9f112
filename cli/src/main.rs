//! dockopt: the command line. CLI and glue over the library crates; the only crate that
//! touches files, the terminal and (later) the Docker engine.
//!
//! This file is the arguments (clap) and the dispatch to each subcommand's module, and how a
//! [`Failure`] ends the process.

mod build_cmd;
mod context;
mod dockerfile_view;
mod engine;
mod import;
mod import_cmd;
mod inspect;
mod inspect_cmd;
mod manifest_files;
mod manual;
mod place_cmd;
mod plan_cmd;
mod plan_view;
mod progress;
mod swarm_cmd;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dockopt_planner::Options;

/// What `--version` prints: the version, and the frontend image a manifest without a
/// `# syntax=` line is built with.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (frontend image dockopt/frontend:local, made by scripts/frontend-image)"
);

/// Plan, inspect and build many variant images so they share the most expensive steps.
#[derive(Parser, Debug)]
#[command(name = "dockopt", version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Plan the step order of every target and show the shared tree and the savings.
    Plan(PlanArgs),
    /// Build and tag every target (or the chosen ones) with the local Docker engine, through
    /// the frontend named on the manifest's `# syntax=` line.
    Build(BuildArgs),
    /// Print one target as a plain Dockerfile, in the plan's order or as listed.
    Dockerfile(DockerfileArgs),
    /// Write the LLB Definition (protobuf) of a target, or of every target, to stdout, as the
    /// frontend would emit it; base images are not resolved without a daemon, so steps get only
    /// a default PATH where the frontend adds the base image's env.
    Llb(LlbArgs),
    /// Explain a variant's order, or where a step runs and why there.
    Explain(ExplainArgs),
    /// Write a `docker-bake.json` with one bake target per variant (and a `default` group of
    /// all), for `docker buildx bake -f`.
    Bake(BakeArgs),
    /// Place containers of pools onto hosts (capacity, spread, failover).
    Place(place_cmd::PlaceArgs),
    /// Write a manifest from existing Dockerfiles: one target per Dockerfile, its steps as a
    /// set with the orders import infers (each `after` with a comment saying why).
    Import(ImportArgs),
    /// Write a shell completion script to stdout (`dockopt completions bash >
    /// /etc/bash_completion.d/dockopt`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual page (roff) to stdout (`dockopt man | man -l -`).
    Man,
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// The Dockerfiles (each one's folder is its build context).
    #[arg(required = true, value_name = "DOCKERFILE")]
    dockerfiles: Vec<PathBuf>,
    /// Where to write the manifest (default: stdout); COPY sources are written relative to
    /// its folder (default: the current folder).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The variants' names, one per Dockerfile in the order given (default: from the path).
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Keep each Dockerfile's order (only identical prefixes are shared).
    #[arg(long)]
    keep_order: bool,
    /// Set an ARG: `NAME=VALUE` (repeatable), as `docker build --build-arg`.
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
}

#[derive(clap::Args, Debug)]
struct DockerfileArgs {
    /// The manifest.
    manifest: PathBuf,
    /// The target to print.
    #[arg(long, value_name = "NAME")]
    target: String,
    /// Step order: the plan's (`planned`) or the manifest's (`listed`).
    #[arg(long, value_enum, default_value_t = Order::Planned)]
    order: Order,
    /// Set a declared arg: `NAME=VALUE` (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
}

#[derive(clap::Args, Debug)]
struct ExplainArgs {
    /// The manifest.
    manifest: PathBuf,
    /// A variant, or a step (its name or its command).
    what: String,
    /// Set a declared arg: `NAME=VALUE` (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
}

#[derive(clap::Args, Debug)]
struct BakeArgs {
    /// The manifest.
    manifest: PathBuf,
    /// Image name for targets without `tags` (`PREFIX:TARGET`; default: the manifest's folder).
    #[arg(long, value_name = "PREFIX")]
    tag_prefix: Option<String>,
    /// Set a declared arg for every target: `NAME=VALUE` (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
    /// The frontend image, passed as `BUILDKIT_SYNTAX` (needed when the manifest has no
    /// `# syntax=` line).
    #[arg(long, value_name = "IMAGE")]
    frontend: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LlbFormat {
    /// `raw` when stdout is not a terminal, else `json`.
    Auto,
    /// The protobuf Definition, as the frontend sends it.
    Raw,
    /// Every op decoded, with its digest, inputs and the variants that use it.
    Json,
    /// The op graph as Graphviz DOT.
    Dot,
}

#[derive(clap::Args, Debug)]
struct LlbArgs {
    /// The manifest.
    manifest: PathBuf,
    /// Output form.
    #[arg(long, value_enum, default_value_t = LlbFormat::Auto)]
    format: LlbFormat,
    /// The target whose graph to write (default: the manifest's default target).
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
    /// Set a declared arg: `NAME=VALUE` (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    Planned,
    Listed,
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// The manifest (YAML, `version: 1`).
    manifest: PathBuf,
    /// The build context (default: the manifest's folder).
    #[arg(long, value_name = "DIR")]
    context: Option<PathBuf>,
    /// Build only this target (repeatable); default: all, in the plan's order.
    #[arg(long, value_name = "NAME")]
    target: Vec<String>,
    /// Set a declared arg: `NAME=VALUE` (repeatable).
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
    /// Image name for targets without `tags`: each is tagged `PREFIX:TARGET` (default: the
    /// manifest's folder name).
    #[arg(long, value_name = "PREFIX")]
    tag_prefix: Option<String>,
    /// Do not use the build cache (each shared step still runs once per run).
    #[arg(long)]
    no_cache: bool,
    /// Variant builds at a time (BuildKit runs a step that several need once).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Stop at the first failing variant (cancel the others) instead of building every variant
    /// that does not depend on the failed step.
    #[arg(long)]
    fail_fast: bool,
    /// How to show progress.
    #[arg(long, value_enum, default_value_t = progress::Mode::Auto)]
    progress: progress::Mode,
    /// Network for RUN steps, as `docker build --network` (`default`, `host`, `none`).
    #[arg(long, value_name = "MODE")]
    network: Option<String>,
    /// Add a label to every image: `NAME=VALUE` (repeatable).
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    labels: Vec<(String, String)>,
    /// Images to use as cache sources (repeatable), as `docker build --cache-from`.
    #[arg(long, value_name = "IMAGE")]
    cache_from: Vec<String>,
    /// A secret for `type: secret` mounts (repeatable), as `docker build --secret`
    /// (`id=ID,src=FILE`); passed to every build, never written anywhere.
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    secrets: Vec<String>,
    /// Cache exports (repeatable), as `docker buildx build --cache-to` (builds through buildx).
    #[arg(long, value_name = "SPEC")]
    cache_to: Vec<String>,
    /// Target platform, as `docker build --platform` (the frontend builds for the engine's own
    /// platform and refuses others with a clear error).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// The buildx builder to use (builds through `docker buildx build --load`).
    #[arg(long, value_name = "NAME")]
    builder: Option<String>,
    /// Push every tag of every variant that built.
    #[arg(long)]
    push: bool,
    /// Resolve base images from their registry, not from the local engine (`docker build
    /// --pull`): every engine then pins the same base digests, so caches match across machines.
    #[arg(long)]
    pull: bool,
    /// The frontend image (default: the manifest's `# syntax=` line, else
    /// `dockopt/frontend:local`).
    #[arg(long, value_name = "IMAGE")]
    frontend: Option<String>,
    /// Show the plan and the commands, run nothing.
    #[arg(long)]
    print: bool,
    /// Neither read nor write the lock file.
    #[arg(long)]
    no_lock: bool,
}

#[derive(clap::Args, Debug)]
struct PlanArgs {
    /// The manifest (YAML, `version: 1`).
    manifest: PathBuf,
    /// Output for people (`text`) or machines (`json`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Set a declared arg: `NAME=VALUE` (repeatable), as `docker build --build-arg`.
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
    /// Plan for all targets, show this one.
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
    /// Planning method.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    method: MethodArg,
    /// Work budget of the whole plan, in work units (about one hash lookup of the exact method
    /// each; the default is at most about a second on one core; `--method exact` takes it per
    /// independent part). Counted, never timed: the same budget gives the same plan on any
    /// machine.
    #[arg(long, default_value_t = Options::default().effort, value_parser = parse_effort, allow_negative_numbers = true)]
    effort: f64,
    /// Write the plan's orders to the lock file beside the manifest (`MANIFEST.lock`).
    #[arg(long)]
    lock: bool,
    /// Re-plan from scratch, ignoring the lock; show what it costs to rebuild against what it
    /// saves, and write the new lock.
    #[arg(long)]
    update: bool,
    /// Neither read nor write the lock file.
    #[arg(long, conflicts_with_all = ["lock", "update"])]
    no_lock: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Json,
    /// The plan's trie as Graphviz DOT.
    Dot,
    /// The plan's trie drawn as SVG (needs Graphviz's `dot` on the PATH).
    Svg,
    /// The plan's trie drawn as PNG (needs Graphviz's `dot` on the PATH).
    Png,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    Auto,
    Exact,
    Heuristic,
    Greedy,
    CliqueMip,
}

/// A work budget: above 0 and at most 10¹² units (NaN, infinity or a huge budget would make every
/// limit moot: the exact phases are exponential).
fn parse_effort(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1e12 => Ok(v),
        _ => Err(format!(
            "expected a number of work units above 0 and at most 1e12, found `{s}`"
        )),
    }
}

fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected NAME=VALUE, found `{s}`")),
    }
}

/// A failure and how the process should end.
enum Failure {
    /// The user's input is wrong: exit 1 with this message.
    User(String),
    /// dockopt itself failed: exit 2.
    Internal(String),
}

fn main() -> ExitCode {
    // Bad arguments are the user's input being wrong: exit 1 (clap's own default is 2, which
    // dockopt keeps for its internal errors); `--help` and `--version` exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::from(e.use_stderr()));
        }
    };
    let result = match cli.command {
        Command::Plan(args) => plan_cmd::plan(&args),
        Command::Build(args) => build_cmd::build(&args),
        Command::Dockerfile(args) => inspect_cmd::dockerfile(&args),
        Command::Llb(args) => inspect_cmd::llb(&args),
        Command::Explain(args) => inspect_cmd::explain(&args),
        Command::Bake(args) => inspect_cmd::bake(&args),
        Command::Import(args) => import_cmd::import(&args),
        Command::Completions { shell } => {
            manual::completions(shell);
            Ok(())
        }
        Command::Man => manual::man(),
        Command::Place(args) => place_cmd::run(&args).map_err(Failure::User).map(|out| {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush());
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::User(msg)) => {
            let _ = write!(std::io::stderr(), "{msg}");
            ExitCode::from(1)
        }
        Err(Failure::Internal(msg)) => {
            let _ = writeln!(std::io::stderr(), "internal error: {msg}");
            ExitCode::from(2)
        }
    }
}

//! dockopt: the command line. CLI and glue over the library crates; the only crate that
//! touches files, the terminal and (later) the Docker engine.

mod build_cmd;
mod context;
mod dockerfile_view;
mod engine;
mod import;
mod inspect;
mod place_cmd;
mod plan_view;
mod progress;
mod swarm_cmd;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dockopt_planner::{Method, Options};

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
    /// Work budget per independent part of the problem, in work units (about one hash lookup
    /// of the exact method each; the default is about 0.5–1 s on one core). Counted, never
    /// timed: the same budget gives the same plan on any machine.
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
        Command::Plan(args) => plan(&args),
        Command::Build(args) => build(&args),
        Command::Dockerfile(args) => dockerfile(&args),
        Command::Llb(args) => llb(&args),
        Command::Explain(args) => explain(&args),
        Command::Bake(args) => bake(&args),
        Command::Import(args) => import_cmd(&args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "dockopt", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => man(),
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

/// The manual page: `dockopt` and each subcommand, one roff document.
fn man() -> Result<(), Failure> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    let page = |c: &clap::Command, title: String, out: &mut Vec<u8>| {
        clap_mangen::Man::new(c.clone().version(env!("CARGO_PKG_VERSION")))
            .title(title)
            .render(out)
            .map_err(|e| Failure::Internal(format!("man page: {e}")))
    };
    page(&cmd, "dockopt".into(), &mut out)?;
    for sub in cmd.get_subcommands() {
        page(sub, format!("dockopt-{}", sub.get_name()), &mut out)?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Internal(format!("writing the man page: {e}")))
}

/// Reads a manifest with its lock and times store (beside it, when present) and plans it
/// through the one edge every command and the frontend share; warnings go to stderr.
fn load(
    path: &std::path::Path,
    build_args: &[(String, String)],
    options: Options,
    use_lock: bool,
) -> Result<dockopt_project::Planned, Failure> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::User(format!("error: cannot read {file}: {e}\n")))?;
    let lock = if use_lock {
        read_beside(&dockopt_project::lock_name(&file))?
    } else {
        None
    };
    let times = read_beside(&dockopt_project::times_name(&file))?;
    // Build args BuildKit (`BUILDKIT_*`) and dockopt (`DOCKOPT_*`) read are not the manifest's,
    // as in the frontend.
    let build_args: BTreeMap<String, String> = build_args
        .iter()
        .filter(|(k, _)| !k.starts_with("BUILDKIT_") && !k.starts_with("DOCKOPT_"))
        .cloned()
        .collect();
    let planned = dockopt_project::plan(&dockopt_project::Input {
        file: &file,
        text: &text,
        build_args: &build_args,
        lock: lock.as_deref(),
        times: times.as_deref(),
        options,
    })
    .map_err(|e| match e {
        dockopt_project::Error::Manifest(m, _) => Failure::User(m),
        dockopt_project::Error::Lock(m) => Failure::User(format!(
            "error: {m}\n  help: fix it, or move it away and run `dockopt plan --lock` to write a new one\n"
        )),
        dockopt_project::Error::Planner(e @ dockopt_planner::ProblemError::TooLarge { .. }) => {
            Failure::User(format!("error: {e}; raise --effort or use --method auto\n"))
        }
        dockopt_project::Error::Planner(e) => Failure::Internal(e.to_string()),
    })?;
    let mut err = std::io::stderr();
    for name in &planned.manifest.unused_build_args {
        let _ = writeln!(
            err,
            "warning: build arg `{name}` is not declared in {file}; it changes nothing"
        );
    }
    for w in &planned.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    if let Some(used) = &planned.lock
        && !used.repaired.is_empty()
    {
        let _ = writeln!(
            err,
            "note: the lock no longer fits {}: planned anew on top of the locked ones",
            used.repaired.join(", ")
        );
    }
    Ok(planned)
}

/// A file beside the manifest, or `None` when there is none.
fn read_beside(path: &str) -> Result<Option<String>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::User(format!("error: cannot read {path}: {e}\n"))),
    }
}

/// Writes `text` to `path` whole or not at all (a temporary file renamed over it).
pub(crate) fn write_atomic(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp.{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn llb(args: &LlbArgs) -> Result<(), Failure> {
    use prost::Message;
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let manifest = &planned.manifest;
    let t = match &args.target {
        Some(name) => planned
            .target(name)
            .map_err(|e| Failure::User(format!("error: {e}\n")))?,
        None => manifest
            .targets
            .iter()
            .position(|x| x.name == manifest.default_target)
            .unwrap_or(0),
    };
    let bases = manifest
        .targets
        .iter()
        .map(|x| (x.base.clone(), dockopt_llb::BaseConfig::unresolved(&x.base)))
        .collect();
    let options = dockopt_llb::BuildOptions {
        targets: Some(vec![t]),
        ..Default::default()
    };
    let built = dockopt_llb::build(manifest, &planned.plan, &bases, &options)
        .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    let leaf = built.leaves[t]
        .clone()
        .ok_or_else(|| Failure::Internal("no leaf for the target".into()))?;
    let def = built.graph.definition(&leaf);
    let format = match args.format {
        LlbFormat::Auto if std::io::IsTerminal::is_terminal(&std::io::stdout()) => LlbFormat::Json,
        LlbFormat::Auto => LlbFormat::Raw,
        f => f,
    };
    let bytes = match format {
        LlbFormat::Json => {
            // Which variants each step op belongs to, from the trie.
            let mut variants = BTreeMap::new();
            for (node, out) in planned.trie.nodes.iter().zip(&built.nodes) {
                if let Some(out) = out {
                    let names: Vec<String> = node
                        .targets
                        .iter()
                        .map(|&x| manifest.targets[x].name.clone())
                        .collect();
                    variants.insert(out.digest.clone(), names);
                }
            }
            inspect::llb_json(&def, &variants).into_bytes()
        }
        LlbFormat::Dot => inspect::llb_dot(&def).into_bytes(),
        LlbFormat::Raw | LlbFormat::Auto => def.encode_to_vec(),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
    Ok(())
}

fn explain(args: &ExplainArgs) -> Result<(), Failure> {
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let text = inspect::explain(&planned, &args.what)
        .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

fn bake(args: &BakeArgs) -> Result<(), Failure> {
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let context = args
        .manifest
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".into());
    let dockerfile = args
        .manifest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(&args.manifest).unwrap_or_default();
    let mut build_args: BTreeMap<String, String> = args.build_args.iter().cloned().collect();
    if args.frontend.is_some() || syntax_line(&text).is_none() {
        build_args.insert(
            "BUILDKIT_SYNTAX".into(),
            frontend_image(args.frontend.as_deref(), &text),
        );
    }
    let prefix = args
        .tag_prefix
        .clone()
        .unwrap_or_else(|| build_cmd::default_prefix(&args.manifest));
    let out = inspect::bake(&planned, &context, &dockerfile, &prefix, &build_args);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

fn dockerfile(args: &DockerfileArgs) -> Result<(), Failure> {
    let planned = load(&args.manifest, &args.build_args, Options::default(), true)?;
    let manifest = &planned.manifest;
    let t = planned
        .target(&args.target)
        .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    let order_of = |t: usize| -> Vec<usize> {
        match args.order {
            Order::Listed => manifest.targets[t]
                .steps
                .iter()
                .chain(&manifest.targets[t].finally)
                .copied()
                .collect(),
            Order::Planned => planned.plan.orders[t].clone(),
        }
    };
    let text = dockerfile_view::dockerfile(manifest, t, &order_of);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

/// The image a manifest's `# syntax=IMAGE` directive names (in its leading comments), if any.
fn syntax_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches('#').split_once('='))
        .find(|(k, v)| k.trim().eq_ignore_ascii_case("syntax") && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
}

/// The frontend image: `--frontend`, else the manifest's `# syntax=` line, else the default.
fn frontend_image(flag: Option<&str>, text: &str) -> String {
    flag.map(str::to_owned)
        .or_else(|| syntax_line(text))
        .unwrap_or_else(|| DEFAULT_FRONTEND.to_owned())
}

/// The image `scripts/frontend-image` makes.
const DEFAULT_FRONTEND: &str = "dockopt/frontend:local";

fn build(args: &BuildArgs) -> Result<(), Failure> {
    let file = args.manifest.display().to_string();
    let planned = load(
        &args.manifest,
        &args.build_args,
        Options::default(),
        !args.no_lock,
    )?;
    let manifest = &planned.manifest;
    let mut targets = build_cmd::build_order(&planned);
    if !args.target.is_empty() {
        for t in &args.target {
            let i = planned
                .target(t)
                .map_err(|e| Failure::User(format!("error: {e}\n")))?;
            if manifest.targets[i].stage {
                let readers: Vec<&str> = (0..manifest.targets.len())
                    .filter(|&x| manifest.stage_closure(x).contains(&i))
                    .map(|x| manifest.targets[x].name.as_str())
                    .collect();
                return Err(Failure::User(format!(
                    "error: {file}: target `{t}` is a stage (`stage: true`): it is built, untagged, by the targets that read it ({})\n",
                    if readers.is_empty() {
                        "none does".to_owned()
                    } else {
                        readers.join(", ")
                    }
                )));
            }
        }
        targets.retain(|&t| args.target.contains(&manifest.targets[t].name));
    }
    let context = match &args.context {
        Some(c) => c.clone(),
        None => args
            .manifest
            .parent()
            .map(std::path::Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let text = std::fs::read_to_string(&args.manifest).unwrap_or_default();
    let request = build_cmd::Request {
        manifest_path: &args.manifest,
        context: &context,
        targets,
        prefix: args
            .tag_prefix
            .clone()
            .unwrap_or_else(|| build_cmd::default_prefix(&args.manifest)),
        build_args: &args.build_args,
        labels: &args.labels,
        no_cache: args.no_cache,
        jobs: usize::from(args.jobs),
        fail_fast: args.fail_fast,
        network: args.network.as_deref(),
        cache_from: &args.cache_from,
        secrets: &args.secrets,
        cache_to: &args.cache_to,
        platform: args.platform.as_deref(),
        builder: args.builder.as_deref(),
        pull: args.pull,
        frontend: frontend_image(args.frontend.as_deref(), &text),
        use_lock: !args.no_lock,
    };
    if args.print {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(plan_view::text(&planned, None).as_bytes());
        let _ = writeln!(out);
        build_cmd::print_commands(&planned, &request, &mut out);
        return Ok(());
    }
    // The stages the chosen variants read are built too.
    let mut built: Vec<usize> = request
        .targets
        .iter()
        .flat_map(|&t| std::iter::once(t).chain(manifest.stage_closure(t)))
        .collect();
    built.sort_unstable();
    built.dedup();
    let missing = context::missing_sources(&planned, &built, &context);
    if !missing.is_empty() {
        return Err(Failure::User(
            missing.iter().map(|m| format!("error: {m}\n")).collect(),
        ));
    }
    engine::check().map_err(|e| Failure::User(format!("error: {e}\n")))?;
    // A frontend from a registry is pulled by the engine; a local name must be there already.
    let from_registry = request
        .frontend
        .split_once('/')
        .is_some_and(|(host, _)| host.contains('.') || host.contains(':') || host == "localhost");
    if !from_registry && !engine::has_image(&request.frontend) {
        let how = if request.frontend == DEFAULT_FRONTEND {
            "make it with `scripts/frontend-image` in a dockopt checkout".to_owned()
        } else {
            format!("pull or build it, or pass `--frontend {DEFAULT_FRONTEND}`")
        };
        return Err(Failure::User(format!(
            "error: the frontend image `{}` is not in the local Docker engine ({}); {how}\n",
            request.frontend,
            engine::client()
        )));
    }
    let mut sink = progress::Sink::new(args.progress);
    let report = build_cmd::run(&planned, &request, &mut sink);
    sink.finish();

    // Learned times and the lock, written whole, beside the manifest.
    let mut measured = dockopt_project::Times::default();
    for &(node, seconds) in &report.ran {
        let n = &planned.trie.nodes[node];
        if let Some(s) = n.step {
            let key = dockopt_project::time_key(&planned.keys[s], &n.base);
            measured.record(&key, &manifest.steps[s].label(), &n.base, seconds);
        }
    }
    let mut err = std::io::stderr();
    if !measured.entries.is_empty() {
        let times_path = dockopt_project::times_name(&file);
        let mut store = match std::fs::read_to_string(&times_path) {
            Ok(t) => dockopt_project::Times::parse(&times_path, &t).0,
            Err(_) => dockopt_project::Times::default(),
        };
        store.merge(&measured);
        if let Err(e) = write_atomic(&times_path, &store.render()) {
            let _ = writeln!(err, "warning: cannot write {times_path}: {e}");
        }
    }
    if !args.no_lock {
        write_lock(&file, &planned)?;
    }
    let mut failed = report
        .outcomes
        .values()
        .any(|o| !matches!(o, build_cmd::Outcome::Built { .. }));
    if args.push {
        for (&t, o) in &report.outcomes {
            if !matches!(o, build_cmd::Outcome::Built { .. }) {
                continue;
            }
            for tag in build_cmd::tags_of(&planned, t, &request.prefix) {
                match engine::push(&tag) {
                    Ok((true, _)) => {
                        let _ = writeln!(err, "pushed {tag}");
                    }
                    Ok((false, log)) => {
                        failed = true;
                        let _ = writeln!(err, "error: pushing {tag} failed:\n{log}");
                    }
                    Err(e) => {
                        failed = true;
                        let _ = writeln!(err, "error: cannot run {}: {e}", engine::client());
                    }
                }
            }
        }
    }
    if !sink.is_json() {
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(build_cmd::summary(&planned, &request, &report).as_bytes())
            .and_then(|()| out.flush());
    }
    if failed {
        return Err(Failure::User(String::new()));
    }
    Ok(())
}

/// Writes the plan's lock beside the manifest when it differs from what is there.
fn write_lock(file: &str, planned: &dockopt_project::Planned) -> Result<(), Failure> {
    let path = dockopt_project::lock_name(file);
    let text = planned.lock().render();
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    write_atomic(&path, &text)
        .map_err(|e| Failure::User(format!("error: cannot write {path}: {e}\n")))?;
    let _ = writeln!(std::io::stderr(), "wrote {path}");
    Ok(())
}

fn plan(args: &PlanArgs) -> Result<(), Failure> {
    let file = args.manifest.display().to_string();
    let method = match args.method {
        MethodArg::Auto => Method::Auto,
        MethodArg::Exact => Method::Exact,
        MethodArg::Heuristic => Method::Heuristic,
        MethodArg::CliqueMip => Method::CliqueMip,
        MethodArg::Greedy => Method::Greedy,
    };
    let options = Options {
        method,
        effort: args.effort,
        ..Options::default()
    };
    let use_lock = !args.no_lock && !args.update;
    let mut planned = load(&args.manifest, &args.build_args, options.clone(), use_lock)?;
    let folder = args
        .manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let all: Vec<usize> = (0..planned.manifest.targets.len()).collect();
    for m in context::missing_sources(&planned, &all, folder) {
        let _ = writeln!(std::io::stderr(), "warning: {m}");
    }
    if planned.lock.is_some() {
        // A locked plan carries no proof of its own: the fresh plan's bound holds for it too.
        let fresh = load(&args.manifest, &args.build_args, options.clone(), false)?;
        let plan = &mut planned.plan;
        plan.lower_bound = plan.lower_bound.max(fresh.plan.lower_bound).min(plan.cost);
        plan.optimal = plan.cost <= plan.lower_bound + 1e-9 * plan.cost.abs().max(1.0);
        if fresh.plan.cost + 1e-9 < plan.cost {
            let _ = writeln!(
                std::io::stderr(),
                "note: the lock costs {:.1} s more per full build than a fresh plan; `dockopt plan --update` re-plans",
                plan.cost - fresh.plan.cost
            );
        }
    }
    if let Some(t) = &args.target {
        planned
            .target(t)
            .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    }
    let out: Vec<u8> = match args.format {
        Format::Text => plan_view::text(&planned, args.target.as_deref()).into_bytes(),
        Format::Json => plan_view::json(&planned, args.target.as_deref()).into_bytes(),
        Format::Dot => plan_view::dot(&planned).into_bytes(),
        Format::Svg => render(&plan_view::dot(&planned), "svg")?,
        Format::Png => render(&plan_view::dot(&planned), "png")?,
    };
    if args.update
        && let Ok(Some(_)) = read_beside(&dockopt_project::lock_name(&file))
    {
        let locked = load(&args.manifest, &args.build_args, options, true)?;
        let note = plan_view::update_note(&locked, &planned);
        let _ = write!(std::io::stderr(), "{note}");
    }
    if args.lock || args.update {
        write_lock(&file, &planned)?;
    }
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`dockopt plan … | head`) is not an error worth a message.
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    Ok(())
}

/// A variant's name from its Dockerfile's path: `NAME.Dockerfile`/`Dockerfile.NAME` give NAME,
/// `DIR/Dockerfile` gives DIR (relative to `base`, `/` as `-`).
fn variant_name(path: &std::path::Path, base: &std::path::Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if let Some(n) = file
        .strip_suffix(".Dockerfile")
        .or_else(|| file.strip_prefix("Dockerfile."))
    {
        n.to_owned()
    } else {
        let dir = path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let abs = std::fs::canonicalize(&dir).unwrap_or(dir);
        let rel = abs
            .strip_prefix(base)
            .map(std::path::Path::to_path_buf)
            .unwrap_or(abs.clone());
        let rel = rel.to_string_lossy().replace('/', "-");
        if rel.is_empty() {
            abs.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "default".into())
        } else {
            rel
        }
    };
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    name.trim_matches('-').to_owned()
}

fn import_cmd(args: &ImportArgs) -> Result<(), Failure> {
    if args.names.len() > args.dockerfiles.len() {
        return Err(Failure::User(format!(
            "error: {} --name for {} Dockerfiles\n",
            args.names.len(),
            args.dockerfiles.len()
        )));
    }
    let out_dir = args
        .output
        .as_ref()
        .and_then(|o| o.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let base = std::fs::canonicalize(&out_dir)
        .map_err(|e| Failure::User(format!("error: cannot open {}: {e}\n", out_dir.display())))?;
    let mut sources = Vec::new();
    for (i, path) in args.dockerfiles.iter().enumerate() {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::User(format!("error: cannot read {file}: {e}\n")))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
        let dir = std::fs::canonicalize(&dir)
            .map_err(|e| Failure::User(format!("error: cannot open {}: {e}\n", dir.display())))?;
        let Ok(rel) = dir.strip_prefix(&base) else {
            return Err(Failure::User(format!(
                "error: {file}: its folder (its build context) is not inside {}, the manifest's folder, so the manifest's COPY steps could not reach its files\n  help: write the manifest (-o) in a folder that holds every Dockerfile's folder\n",
                base.display()
            )));
        };
        let mut context = rel.to_string_lossy().into_owned();
        if !context.is_empty() {
            context.push('/');
        }
        let name = args
            .names
            .get(i)
            .cloned()
            .unwrap_or_else(|| variant_name(path, &base));
        sources.push(import::Source {
            file,
            name,
            text,
            context,
        });
    }
    let options = import::Options {
        keep_order: args.keep_order,
        build_args: args.build_args.iter().cloned().collect(),
    };
    let mut envs: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    let mut base_env = |image: &str| {
        envs.entry(image.to_owned())
            .or_insert_with(|| engine::image_env(image))
            .clone()
    };
    // A context file's mode and bytes (up to 1 MiB), to copy identical files from one place.
    let mut contents = |rel: &str| -> Option<Vec<u8>> {
        use std::os::unix::fs::PermissionsExt;
        let path = base.join(rel);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > 1 << 20 {
            return None;
        }
        let mut out = meta.permissions().mode().to_le_bytes().to_vec();
        out.extend(std::fs::read(&path).ok()?);
        Some(out)
    };
    let imported =
        import::import(&sources, &options, &mut base_env, &mut contents).map_err(|errors| {
            let mut msg = String::new();
            for e in errors {
                msg.push_str(&format!("error: {e}\n"));
            }
            Failure::User(msg)
        })?;
    // What was written must parse and plan; say what the plan saves.
    let file = args
        .output
        .as_ref()
        .map_or_else(|| "variants.yaml".to_owned(), |o| o.display().to_string());
    let planned = dockopt_project::plan(&dockopt_project::Input {
        file: &file,
        text: &imported.yaml,
        build_args: &BTreeMap::new(),
        lock: None,
        times: None,
        options: Options::default(),
    })
    .map_err(|e| {
        Failure::User(format!(
            "error: the manifest import wrote does not plan (nothing written):\n{e}\n{}",
            imported.yaml
        ))
    })?;
    let mut err = std::io::stderr();
    for n in &imported.notes {
        let _ = writeln!(err, "note: {n}");
    }
    let _ = writeln!(
        err,
        "plan: {} step runs for {}{} (the Dockerfiles as written: {}; their orders with the shared steps: {})",
        planned.plan.cost,
        match planned.manifest.variants().len() {
            1 => "the one variant".to_owned(),
            n => format!("all {n} variants"),
        },
        match planned.manifest.targets.len() - planned.manifest.variants().len() {
            0 => String::new(),
            n => format!(" and {}", crate::plan_view::count(n, "stage")),
        },
        imported.as_written_runs,
        planned.plan.as_listed_cost
    );
    match &args.output {
        Some(path) => {
            write_atomic(&file, &imported.yaml).map_err(|e| {
                Failure::User(format!("error: cannot write {}: {e}\n", path.display()))
            })?;
            let _ = writeln!(err, "wrote {file}");
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(imported.yaml.as_bytes())
                .and_then(|()| stdout.flush());
        }
    }
    Ok(())
}

/// DOT drawn by Graphviz (`dot -T FORMAT`).
fn render(dot: &str, format: &str) -> Result<Vec<u8>, Failure> {
    use std::process::{Command, Stdio};
    let missing = |e: std::io::Error| {
        Failure::User(format!(
            "error: --format {format} draws the plan with Graphviz's `dot`, which cannot run here ({e}); install Graphviz (Debian: apt-get install graphviz), or use --format dot and draw it elsewhere\n"
        ))
    };
    let mut child = Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(missing)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| Failure::Internal(format!("writing to dot: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::Internal(format!("dot: {e}")))?;
    if !out.status.success() {
        return Err(Failure::Internal(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

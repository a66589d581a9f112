//! dockopt: the command line. CLI and glue over the library crates; the only crate that
//! touches files, the terminal and (later) the Docker engine.

mod build_cmd;
mod dockerfile_view;
mod engine;
mod place_cmd;
mod plan_view;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dockopt_planner::{Method, Options};

/// Plan, inspect and build many variant images so they share the most expensive steps.
#[derive(Parser, Debug)]
#[command(name = "dockopt", version, about)]
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
    /// Place containers of pools onto hosts (capacity, spread, failover).
    Place(place_cmd::PlaceArgs),
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
struct LlbArgs {
    /// The manifest.
    manifest: PathBuf,
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
    /// The manifest (YAML, `version: 1`, first line `# syntax=FRONTEND-IMAGE`).
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
    /// Do not use the build cache.
    #[arg(long)]
    no_cache: bool,
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
    /// Work budget per group of targets, in DP split evaluations (the exact method on n
    /// distinct step sets needs about 3^n/2).
    #[arg(long, default_value_t = Options::default().effort)]
    effort: f64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Json,
    /// The plan's trie as Graphviz DOT.
    Dot,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    Auto,
    Exact,
    Heuristic,
    Greedy,
    CliqueMip,
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
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan(&args),
        Command::Build(args) => build(&args),
        Command::Dockerfile(args) => dockerfile(&args),
        Command::Llb(args) => llb(&args),
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

/// Reads and validates a manifest; warnings go to stderr.
fn load(
    path: &std::path::Path,
    build_args: &[(String, String)],
) -> Result<dockopt_manifest::Manifest, Failure> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::User(format!("error: cannot read {file}: {e}\n")))?;
    let build_args: BTreeMap<String, String> = build_args.iter().cloned().collect();
    let manifest = dockopt_manifest::parse(&file, &text, &build_args)
        .map_err(|d| Failure::User(d.render(&text)))?;
    for name in &manifest.unused_build_args {
        let _ = writeln!(
            std::io::stderr(),
            "warning: build arg `{name}` is not declared in {file}; it changes nothing"
        );
    }
    Ok(manifest)
}

fn llb(args: &LlbArgs) -> Result<(), Failure> {
    use prost::Message;
    let manifest = load(&args.manifest, &args.build_args)?;
    let name = args
        .target
        .clone()
        .unwrap_or_else(|| manifest.default_target.clone());
    let Some(t) = manifest.targets.iter().position(|x| x.name == name) else {
        return Err(Failure::User(format!(
            "error: no target `{name}` in {}; targets: {}\n",
            args.manifest.display(),
            manifest.target_names().join(", ")
        )));
    };
    let plan = dockopt_planner::solve(&manifest.problem(), &Options::default())
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let bases = manifest
        .targets
        .iter()
        .map(|x| (x.base.clone(), dockopt_llb::BaseConfig::unresolved(&x.base)))
        .collect();
    let options = dockopt_llb::BuildOptions {
        targets: Some(vec![t]),
        ..Default::default()
    };
    let built = dockopt_llb::build(&manifest, &plan, &bases, &options)
        .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    let leaf = built.leaves[t]
        .clone()
        .ok_or_else(|| Failure::Internal("no leaf for the target".into()))?;
    let bytes = built.graph.definition(&leaf).encode_to_vec();
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
    Ok(())
}

fn dockerfile(args: &DockerfileArgs) -> Result<(), Failure> {
    let manifest = load(&args.manifest, &args.build_args)?;
    let Some(t) = manifest.targets.iter().position(|t| t.name == args.target) else {
        return Err(Failure::User(format!(
            "error: no target `{}` in {}; targets: {}\n",
            args.target,
            args.manifest.display(),
            manifest.target_names().join(", ")
        )));
    };
    let order: Vec<usize> = match args.order {
        Order::Listed => manifest.targets[t]
            .steps
            .iter()
            .chain(&manifest.targets[t].finally)
            .copied()
            .collect(),
        Order::Planned => {
            let plan = dockopt_planner::solve(&manifest.problem(), &Options::default())
                .map_err(|e| Failure::Internal(e.to_string()))?;
            plan.orders[t].clone()
        }
    };
    let text = dockerfile_view::dockerfile(&manifest, t, &order);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

fn build(args: &BuildArgs) -> Result<(), Failure> {
    let manifest = load(&args.manifest, &args.build_args)?;
    let plan = dockopt_planner::solve(&manifest.problem(), &Options::default())
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let mut targets = build_cmd::build_order(&manifest, &plan);
    if !args.target.is_empty() {
        for t in &args.target {
            if manifest.target(t).is_none() {
                return Err(Failure::User(format!(
                    "error: no target `{t}` in {}; targets: {}\n",
                    args.manifest.display(),
                    manifest.target_names().join(", ")
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
    let request = build_cmd::Request {
        manifest_path: &args.manifest,
        context: &context,
        targets,
        prefix: args
            .tag_prefix
            .clone()
            .unwrap_or_else(|| build_cmd::default_prefix(&args.manifest)),
        build_args: &args.build_args,
        no_cache: args.no_cache,
    };
    build_cmd::run(&manifest, &request, &mut std::io::stdout()).map_err(Failure::User)
}

fn plan(args: &PlanArgs) -> Result<(), Failure> {
    let file = args.manifest.display().to_string();
    let manifest = load(&args.manifest, &args.build_args)?;
    if let Some(t) = &args.target
        && manifest.target(t).is_none()
    {
        return Err(Failure::User(format!(
            "error: no target `{t}` in {file}; targets: {}\n",
            manifest.target_names().join(", ")
        )));
    }
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
    let plan = dockopt_planner::solve(&manifest.problem(), &options).map_err(|e| match e {
        dockopt_planner::ProblemError::TooLarge { .. } => {
            Failure::User(format!("error: {e}; raise --effort or use --method auto\n"))
        }
        other => Failure::Internal(other.to_string()),
    })?;
    let out = match args.format {
        Format::Text => plan_view::text(&manifest, &plan, args.target.as_deref()),
        Format::Json => plan_view::json(&manifest, &plan, args.target.as_deref()),
        Format::Dot => plan_view::dot(&manifest, &plan),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`dockopt plan … | head`) is not an error worth a message.
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

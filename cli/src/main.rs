//! dockopt: the command line. CLI and glue over the library crates; the only crate that
//! touches files, the terminal and (later) the Docker engine.

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
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    Auto,
    Exact,
    Greedy,
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

fn plan(args: &PlanArgs) -> Result<(), Failure> {
    let file = args.manifest.display().to_string();
    let text = std::fs::read_to_string(&args.manifest)
        .map_err(|e| Failure::User(format!("error: cannot read {file}: {e}\n")))?;
    let build_args: BTreeMap<String, String> = args.build_args.iter().cloned().collect();
    let manifest = dockopt_manifest::parse(&file, &text, &build_args)
        .map_err(|d| Failure::User(d.render(&text)))?;
    for name in &manifest.unused_build_args {
        let _ = writeln!(
            std::io::stderr(),
            "warning: build arg `{name}` is not declared in {file}; it changes nothing"
        );
    }
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
        MethodArg::Greedy => Method::Greedy,
    };
    let options = Options {
        method,
        effort: args.effort,
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
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`dockopt plan … | head`) is not an error worth a message.
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    Ok(())
}

//! `dockopt place`: a cluster file (plus usage history) → a placement with its bound.

use std::path::PathBuf;

use dockopt_placement::cluster_file;
use dockopt_placement::{Objective, Options, render, solve, stats};

/// Arguments of `dockopt place`.
#[derive(clap::Args, Debug)]
pub(crate) struct PlaceArgs {
    /// The cluster file (YAML: pools, hosts, current placement).
    cluster: PathBuf,
    /// What to optimise.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::MaxCpu)]
    objective: ObjectiveArg,
    /// CPU may use at most this fraction of each host's cores (the seed's constraint mode).
    #[arg(long, value_name = "FRACTION", value_parser = positive, allow_negative_numbers = true)]
    cpu_limit: Option<f64>,
    /// `docker stats --no-stream --format '{{json .}}'` lines collected over time (repeatable).
    #[arg(long, value_name = "FILE")]
    stats: Vec<PathBuf>,
    /// A CSV of samples: container, memory, cpu, network (repeatable).
    #[arg(long, value_name = "FILE")]
    csv: Vec<PathBuf>,
    /// Usage = mean + K standard deviations of the samples.
    #[arg(long, default_value_t = 1.0, value_parser = non_negative, allow_negative_numbers = true)]
    k: f64,
    /// Seconds between two samples of a container (network counters become rates).
    #[arg(long, default_value_t = 60.0, value_parser = positive, allow_negative_numbers = true)]
    interval: f64,
    /// This host is down: move its containers elsewhere with the fewest moves.
    #[arg(long, value_name = "HOST")]
    failover: Vec<String>,
    /// Re-plan from the current placement moving as few containers as the rules allow.
    #[arg(long)]
    min_moves: bool,
    /// Work budget of the local search, in move evaluations.
    #[arg(long, default_value_t = Options::default().effort, value_parser = effort, allow_negative_numbers = true)]
    effort: f64,
    /// Solve the integer model to optimality instead of the heuristics (small clusters only:
    /// its work is not bounded).
    #[arg(long)]
    prove: bool,
    /// Output: a table, JSON, Docker Swarm commands or Kubernetes node affinity.
    #[arg(long, value_enum, default_value_t = PlaceFormat::Text)]
    format: PlaceFormat,
}

/// A finite number, for the value parsers below.
fn finite(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{text}` is not a finite number"))
    }
}

/// A finite number > 0 (a fraction of cores, seconds between samples).
fn positive(text: &str) -> Result<f64, String> {
    let v = finite(text)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("`{text}`: must be greater than 0"))
    }
}

/// A finite number ≥ 0 (standard deviations added to the mean).
fn non_negative(text: &str) -> Result<f64, String> {
    let v = finite(text)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{text}`: must be 0 or more"))
    }
}

/// A work budget: a whole number of move evaluations from 0 (construction only) to 10¹².
fn effort(text: &str) -> Result<f64, String> {
    let v = non_negative(text)?;
    if v <= 1e12 {
        Ok(v.floor())
    } else {
        Err(format!("`{text}`: at most 1e12 move evaluations"))
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ObjectiveArg {
    MaxCpu,
    Balance,
    FewestHosts,
    Feasible,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PlaceFormat {
    Text,
    Json,
    Swarm,
    K8s,
}

/// Runs `dockopt place`; `Err` is a message for the user (exit 1).
pub(crate) fn run(args: &PlaceArgs) -> Result<String, String> {
    let file = args.cluster.display().to_string();
    let text = std::fs::read_to_string(&args.cluster)
        .map_err(|e| format!("error: cannot read {file}: {e}\n"))?;
    let parsed = cluster_file::parse(&file, &text).map_err(|d| d.render(&text))?;
    let mut cluster = parsed.cluster;
    // History fills in what the file does not say.
    let mut samples = Vec::new();
    for path in &args.stats {
        let t = std::fs::read_to_string(path)
            .map_err(|e| format!("error: cannot read {}: {e}\n", path.display()))?;
        samples.extend(
            stats::parse_docker_stats(&t)
                .map_err(|e| format!("error: {}: {e}\n", path.display()))?,
        );
    }
    for path in &args.csv {
        let t = std::fs::read_to_string(path)
            .map_err(|e| format!("error: cannot read {}: {e}\n", path.display()))?;
        samples
            .extend(stats::parse_csv(&t).map_err(|e| format!("error: {}: {e}\n", path.display()))?);
    }
    let names: Vec<String> = cluster.pools.iter().map(|p| p.name.clone()).collect();
    let (usage, _unknown) = stats::usage(&samples, &names, args.k, args.interval);
    let mut missing = Vec::new();
    for (spec, pool) in parsed.pools.iter().zip(cluster.pools.iter_mut()) {
        for r in 0..3 {
            if !spec.given[r] {
                match usage.get(&pool.name) {
                    Some(u) => pool.usage[r] = u[r],
                    None => missing.push(format!(
                        "{file}:{}:{}: pools.{}: no {} usage: give it in the file or pass --stats/--csv samples of its containers",
                        spec.span.line,
                        spec.span.column,
                        pool.name,
                        dockopt_placement::model::RESOURCE_NAMES[r]
                    )),
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!("error: {}\n", missing.join("\nerror: ")));
    }
    for name in &args.failover {
        let host = cluster
            .hosts
            .iter_mut()
            .find(|h| &h.name == name)
            .ok_or_else(|| {
                format!("error: --failover {name}: no host is named `{name}` in {file}\n")
            })?;
        host.down = true;
    }
    if (!args.failover.is_empty() || args.min_moves) && cluster.current.is_none() {
        return Err(format!(
            "error: {file} has no `current:` placement to move from\n"
        ));
    }
    let objective = match args.objective {
        ObjectiveArg::MaxCpu => Objective::MaxCpu,
        ObjectiveArg::Balance => Objective::Balance,
        ObjectiveArg::FewestHosts => Objective::FewestHosts,
        ObjectiveArg::Feasible => Objective::Feasible,
    };
    let options = Options {
        objective,
        cpu_limit: args.cpu_limit,
        effort: args.effort,
        min_moves: args.min_moves || !args.failover.is_empty(),
    };
    let out = if args.prove {
        dockopt_placement::prove(&cluster, &options)
            .map_err(|e| format!("error: --prove: {e}\n"))?
    } else {
        solve(&cluster, &options)
    };
    let rendered = match args.format {
        PlaceFormat::Text => render::text(&cluster, &out, objective),
        PlaceFormat::Json => render::json(&cluster, &out, objective),
        PlaceFormat::Swarm => render::swarm(&cluster, &out),
        PlaceFormat::K8s => render::kubernetes(&cluster, &out),
    };
    if out.host_of.iter().any(Option::is_none) {
        return Err(format!(
            "{rendered}error: capacity is short; not every container could be placed:\n  {}\n",
            out.shortages.join("\n  ")
        ));
    }
    Ok(rendered)
}

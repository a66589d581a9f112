//! `dockopt place`: a cluster file (plus usage history) → a placement with its bound.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dockopt_placement::{Cluster, Objective, Options, Outcome, render, solve, stats, swarm};
use dockopt_placement::{cluster_file, units};

use crate::swarm_cmd::{self, log};

/// Arguments of `dockopt place`.
#[derive(clap::Args, Debug)]
pub(crate) struct PlaceArgs {
    /// The cluster file (YAML: pools, hosts, current placement); not with `--from-engine`.
    #[arg(
        required_unless_present = "from_engine",
        conflicts_with = "from_engine"
    )]
    cluster: Option<PathBuf>,
    /// Read the cluster from the Docker Swarm the engine (DOCKER_HOST) manages: hosts from its
    /// nodes (resources, labels; drained or down nodes are down), a pool per replicated service,
    /// usage from `docker stats` (at least the service's reservations), the current placement
    /// from its tasks. The plan keeps the current placement unless it gains more than
    /// `--min-gain`.
    #[arg(long, conflicts_with_all = ["stats", "csv"])]
    from_engine: bool,
    /// The container label whose value names a container's pool.
    #[arg(long, value_name = "LABEL", default_value = swarm::SERVICE_LABEL)]
    pool_label: String,
    /// The node label whose value is a node's zone (pools are then spread across zones).
    #[arg(long, value_name = "LABEL")]
    zone_label: Option<String>,
    /// Network capacity of a node without the `dockopt.capacity.network` label (bytes/s).
    #[arg(long, value_name = "BYTES", default_value = "125MB", value_parser = size)]
    node_network: f64,
    /// Another engine to sample with `docker stats` (a `docker -H` URL: the other nodes'
    /// engines; the one DOCKER_HOST names is always sampled). Repeatable.
    #[arg(long, value_name = "URL")]
    stats_host: Vec<String>,
    /// `docker stats` rounds per engine with `--from-engine`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    samples: u32,
    /// Time between two `docker stats` rounds (`5s`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    sample_every: f64,
    /// Carry out the plan on the Swarm (node labels `dockopt.POOL`, service constraints and
    /// `--replicas-max-per-node`; only services with moves, fewest moves first), then check that
    /// every task runs where the plan says.
    #[arg(long, requires = "from_engine")]
    apply: bool,
    /// Print the exact commands `--apply` would run, and run nothing.
    #[arg(long, requires = "from_engine", conflicts_with = "apply")]
    dry_run: bool,
    /// Keep watching: every `--interval`, sample, re-plan and apply when the gain beats
    /// `--min-gain` (or containers must move); log each round on stderr.
    #[arg(long, requires = "from_engine", conflicts_with = "dry_run")]
    watch: bool,
    /// Stop `--watch` after this many rounds.
    #[arg(long, requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    rounds: Option<u64>,
    /// With `--from-engine`: move containers that may stay only when the objective improves by
    /// more than this fraction of its current value.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.05, value_parser = non_negative, allow_negative_numbers = true)]
    min_gain: f64,
    /// How long `--apply` waits for a service to converge and the tasks to match the plan.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = duration)]
    apply_timeout: f64,
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
    /// Time between two samples of a container in `--stats`/`--csv` files (network counters
    /// become rates); with `--watch`, the time between two rounds. Seconds, or with a unit:
    /// `90s`, `5m`, `1h`, `1d`.
    #[arg(long, value_name = "DURATION", default_value = "60", value_parser = duration, allow_negative_numbers = true)]
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

/// A duration > 0 in seconds: a number with an optional unit `s`, `m`, `h` or `d`.
fn duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, scale) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86_400.0),
        _ => (t, 1.0),
    };
    let v =
        positive(num).map_err(|e| format!("{e} (a duration: `90`, `90s`, `5m`, `1h`, `1d`)"))?;
    let secs = v * scale;
    if secs <= 1e9 {
        Ok(secs)
    } else {
        Err(format!("`{text}`: at most 10⁹ seconds"))
    }
}

/// A size in bytes (`125MB`, `1GiB`), > 0.
fn size(text: &str) -> Result<f64, String> {
    let v = units::bytes(text)?;
    if v > 0.0 && v.is_finite() {
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
    if args.from_engine {
        return if args.watch {
            watch(args)
        } else {
            from_engine(args)
        };
    }
    // clap's `requires` counts a flag's default `false` as given: checked here.
    for (given, flag) in [
        (args.apply, "--apply"),
        (args.dry_run, "--dry-run"),
        (args.watch, "--watch"),
    ] {
        if given {
            return Err(format!(
                "error: {flag} needs --from-engine (a cluster file has no Swarm to change)\n"
            ));
        }
    }
    let Some(path) = &args.cluster else {
        return Err("error: give a cluster file or --from-engine\n".into());
    };
    let file = path.display().to_string();
    let mut cluster = from_file(args, path, &file)?;
    failover(&mut cluster, &args.failover, &file)?;
    if (!args.failover.is_empty() || args.min_moves) && cluster.current.is_none() {
        return Err(format!(
            "error: {file} has no `current:` placement to move from\n"
        ));
    }
    let options = options(args);
    let out = if args.prove {
        dockopt_placement::prove(&cluster, &options)
            .map_err(|e| format!("error: --prove: {e}\n"))?
    } else {
        solve(&cluster, &options)
    };
    rendered(args, &cluster, &out)
}

/// The settings of a run from the arguments.
fn options(args: &PlaceArgs) -> Options {
    Options {
        objective: objective(args),
        cpu_limit: args.cpu_limit,
        effort: args.effort,
        min_moves: args.min_moves || !args.failover.is_empty(),
    }
}

fn objective(args: &PlaceArgs) -> Objective {
    match args.objective {
        ObjectiveArg::MaxCpu => Objective::MaxCpu,
        ObjectiveArg::Balance => Objective::Balance,
        ObjectiveArg::FewestHosts => Objective::FewestHosts,
        ObjectiveArg::Feasible => Objective::Feasible,
    }
}

/// Marks the `--failover` hosts down.
fn failover(cluster: &mut Cluster, names: &[String], source: &str) -> Result<(), String> {
    for name in names {
        let host = cluster
            .hosts
            .iter_mut()
            .find(|h| &h.name == name)
            .ok_or_else(|| {
                format!("error: --failover {name}: no host is named `{name}` in {source}\n")
            })?;
        host.down = true;
    }
    Ok(())
}

/// The plan rendered in the chosen format; `Err` (with the rendering first) when some
/// container could not be placed.
fn rendered(args: &PlaceArgs, cluster: &Cluster, out: &Outcome) -> Result<String, String> {
    let rendered = match args.format {
        PlaceFormat::Text => render::text(cluster, out, objective(args)),
        PlaceFormat::Json => render::json(cluster, out, objective(args)),
        PlaceFormat::Swarm => render::swarm(cluster, out),
        PlaceFormat::K8s => render::kubernetes(cluster, out),
    };
    if out.host_of.iter().any(Option::is_none) {
        return Err(format!(
            "{rendered}error: capacity is short; not every container could be placed:\n  {}\n",
            out.shortages.join("\n  ")
        ));
    }
    Ok(rendered)
}

/// The placement to carry out from the current one: the fewest moves the rules allow, unless a
/// full re-plan improves the objective by more than `min_gain` of the current value (or the
/// current placement cannot be kept at all). Returns it with the reason, for the log.
fn decide(
    cluster: &Cluster,
    options: &Options,
    prove: bool,
    min_gain: f64,
) -> Result<(Outcome, String), String> {
    let keep = solve(
        cluster,
        &Options {
            min_moves: true,
            ..options.clone()
        },
    );
    if options.min_moves {
        return Ok((keep, "fewest moves asked for".into()));
    }
    let best = if prove {
        dockopt_placement::prove(cluster, options).map_err(|e| format!("error: --prove: {e}\n"))?
    } else {
        solve(cluster, options)
    };
    let complete = |o: &Outcome| o.host_of.iter().all(Option::is_some);
    if !complete(&keep) || !complete(&best) {
        let why = "the current placement cannot be kept".to_owned();
        return Ok(if complete(&keep) {
            (keep, why)
        } else {
            (best, why)
        });
    }
    let gain = if keep.value > 0.0 {
        (keep.value - best.value) / keep.value
    } else {
        0.0
    };
    let text = format!(
        "value {:.4} with the fewest moves ({}), {:.4} re-planned ({}): gain {:.1} %",
        keep.value,
        keep.moves.len(),
        best.value,
        crate::plan_view::count(best.moves.len(), "move"),
        100.0 * gain
    );
    Ok(if gain > min_gain {
        (best, format!("{text} > {:.1} %", 100.0 * min_gain))
    } else {
        (keep, format!("{text} ≤ {:.1} %: kept", 100.0 * min_gain))
    })
}

fn source(args: &PlaceArgs) -> swarm_cmd::Source<'_> {
    swarm_cmd::Source {
        reading: swarm::Reading {
            pool_label: args.pool_label.clone(),
            zone_label: args.zone_label.clone(),
            node_network: args.node_network,
            k: args.k,
        },
        stats_hosts: &args.stats_host,
        samples: args.samples as usize,
        sample_every: Duration::from_secs_f64(args.sample_every),
    }
}

/// One read of the Swarm, its plan and (with `--apply`/`--dry-run`) what carries it out.
fn from_engine(args: &PlaceArgs) -> Result<String, String> {
    let mut read = swarm_cmd::read(&source(args)).map_err(|e| format!("error: {e}\n"))?;
    failover(&mut read.cluster, &args.failover, "the Swarm")?;
    let (out, why) = decide(&read.cluster, &options(args), args.prove, args.min_gain)?;
    let shown = rendered(args, &read.cluster, &out)?;
    if args.dry_run {
        let mut s = format!(
            "# {}: {why}\n",
            crate::plan_view::count(out.moves.len(), "move")
        );
        for line in swarm_cmd::commands(&read, &out) {
            s.push_str(&line);
            s.push('\n');
        }
        return Ok(s);
    }
    if args.apply {
        log(&format!(
            "dockopt place: {}: {why}",
            crate::plan_view::count(out.moves.len(), "move")
        ));
        if out.moves.is_empty() {
            log("dockopt place: nothing to move");
        } else {
            let n = swarm_cmd::apply(&read, &out, Duration::from_secs_f64(args.apply_timeout))
                .map_err(|e| format!("error: --apply: {e}\n"))?;
            log(&format!(
                "dockopt place: {} run; every task runs where the plan says",
                crate::plan_view::count(n, "command")
            ));
        }
    }
    Ok(shown)
}

/// `--watch`: rounds of sample, re-plan, apply when worth it; a line per round on stderr.
fn watch(args: &PlaceArgs) -> Result<String, String> {
    let started = Instant::now();
    let (mut applied, mut moved, mut failed) = (0usize, 0usize, 0usize);
    let mut round = 0usize;
    loop {
        round += 1;
        let begun = Instant::now();
        let at = started.elapsed().as_secs_f64();
        let result = swarm_cmd::read(&source(args)).and_then(|mut read| {
            failover(&mut read.cluster, &args.failover, "the Swarm")?;
            let (out, why) = decide(&read.cluster, &options(args), args.prove, args.min_gain)?;
            if out.host_of.iter().any(Option::is_none) {
                return Err(format!("capacity is short: {}", out.shortages.join("; ")));
            }
            if out.moves.is_empty() {
                return Ok(format!("nothing to move ({why})"));
            }
            let n = swarm_cmd::apply(&read, &out, Duration::from_secs_f64(args.apply_timeout))?;
            applied += 1;
            moved += out.moves.len();
            Ok(format!(
                "{} applied with {} and verified ({why})",
                crate::plan_view::count(out.moves.len(), "move"),
                crate::plan_view::count(n, "command")
            ))
        });
        match result {
            Ok(line) => log(&format!("watch: round {round} at +{at:.0}s: {line}")),
            Err(e) => {
                failed += 1;
                log(&format!(
                    "watch: round {round} at +{at:.0}s: failed: {}",
                    e.trim_end()
                ));
            }
        }
        if args
            .rounds
            .is_some_and(|n| u64::try_from(round).is_ok_and(|r| r >= n))
        {
            break;
        }
        let wait = Duration::from_secs_f64(args.interval).saturating_sub(begun.elapsed());
        std::thread::sleep(wait);
    }
    let summary = format!(
        "watch: {}, {applied} applied ({}), {failed} failed\n",
        crate::plan_view::count(round, "round"),
        crate::plan_view::count(moved, "move")
    );
    if failed > 0 {
        Err(format!(
            "{summary}error: {} failed (see the log above)\n",
            crate::plan_view::count(failed, "round")
        ))
    } else {
        Ok(summary)
    }
}

/// The cluster of a file, with usage the file leaves out filled from `--stats`/`--csv`.
fn from_file(args: &PlaceArgs, path: &std::path::Path, file: &str) -> Result<Cluster, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("error: cannot read {file}: {e}\n"))?;
    let parsed = cluster_file::parse(file, &text).map_err(|d| d.render(&text))?;
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
    Ok(cluster)
}

//! `dockopt place --from-engine / --apply / --watch`: reads a Docker Swarm through the docker
//! CLI (nodes, services, tasks, `docker stats` of each engine), and carries out a plan with node
//! labels and service updates, then checks that every task runs where the plan says.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dockopt_placement::stats::{self, Sample};
use dockopt_placement::swarm::{self, Node, Reading, Service, Step, Task};
use dockopt_placement::{Cluster, Outcome};

use crate::engine;

/// One `docker` command against the engine DOCKER_HOST names, or `host` (`-H`).
fn command(host: Option<&str>, args: &[String]) -> Command {
    let mut cmd = Command::new(engine::client());
    if let Some(h) = host {
        cmd.arg("-H").arg(h);
    }
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Runs `docker ARGS`; its stdout, or an error naming the command and its stderr.
fn docker(host: Option<&str>, args: &[&str]) -> Result<String, String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut cmd = command(host, &args);
    let line = engine::shell_line(&cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run `{line}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{line}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A line on stderr (the log of `--apply` and `--watch`).
pub(crate) fn log(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// What was read from the Swarm.
pub(crate) struct Read {
    /// The cluster: hosts = nodes, pools = services, current = their tasks.
    pub(crate) cluster: Cluster,
    /// The service of each pool.
    pub(crate) service: Vec<String>,
    nodes: Vec<Node>,
    services: Vec<Service>,
}

/// How to read the Swarm.
pub(crate) struct Source<'a> {
    pub(crate) reading: Reading,
    /// Engines to sample besides the one DOCKER_HOST names (the other nodes', `-H` URLs).
    pub(crate) stats_hosts: &'a [String],
    /// `docker stats` rounds per engine.
    pub(crate) samples: usize,
    /// Time between two rounds.
    pub(crate) sample_every: Duration,
}

/// Tasks that should run, per service.
fn tasks(names: &[String]) -> Result<BTreeMap<String, Vec<Task>>, String> {
    let mut out = BTreeMap::new();
    for name in names {
        let text = docker(
            None,
            &[
                "service",
                "ps",
                "--no-trunc",
                "--filter",
                "desired-state=running",
                "--format",
                "{{json .}}",
                name,
            ],
        )?;
        out.insert(name.clone(), swarm::parse_tasks(&text)?);
    }
    Ok(out)
}

/// What sampling found: the samples, each container's pool label, seconds between rounds.
type Sampled = (Vec<Sample>, BTreeMap<String, String>, f64);

/// Samples every engine: `docker stats` of all its running containers, and each container's
/// pool label.
fn sample(src: &Source<'_>) -> Result<Sampled, String> {
    let mut engines: Vec<Option<&str>> = vec![None];
    engines.extend(src.stats_hosts.iter().map(|h| Some(h.as_str())));
    let format = format!(
        "{{{{.Names}}}}\t{{{{.Label \"{}\"}}}}",
        src.reading.pool_label
    );
    let mut pools = BTreeMap::new();
    let mut samples = Vec::new();
    let started = Instant::now();
    let rounds = src.samples.max(1);
    for round in 0..rounds {
        if round > 0 {
            std::thread::sleep(src.sample_every);
        }
        // The engines at once: `docker stats --no-stream` takes about two seconds each.
        let answers: Vec<Result<(String, String), String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = engines
                .iter()
                .map(|&e| {
                    let format = &format;
                    scope.spawn(move || {
                        Ok((
                            docker(e, &["ps", "--format", format])?,
                            docker(e, &["stats", "--no-stream", "--format", "{{json .}}"])?,
                        ))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a sampling thread panicked".into()))
                })
                .collect()
        });
        for answer in answers {
            let (labels, text) = answer?;
            pools.extend(swarm::parse_container_labels(&labels));
            samples.extend(
                stats::parse_docker_stats(&text).map_err(|e| format!("docker stats: {e}"))?,
            );
        }
    }
    let interval = if rounds > 1 {
        (started.elapsed().as_secs_f64() / (rounds - 1) as f64).max(1e-3)
    } else {
        1.0
    };
    Ok((samples, pools, interval))
}

/// Reads the Swarm the engine (DOCKER_HOST) manages.
pub(crate) fn read(src: &Source<'_>) -> Result<Read, String> {
    let ids = docker(None, &["node", "ls", "-q"])?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Err("the engine is part of no Swarm (docker node ls lists nothing)".into());
    }
    let mut args = vec!["node", "inspect"];
    args.extend(&ids);
    let nodes = swarm::parse_nodes(&docker(None, &args)?)?;
    let ids = docker(None, &["service", "ls", "-q"])?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let services = if ids.is_empty() {
        Vec::new()
    } else {
        let mut args = vec!["service", "inspect"];
        args.extend(&ids);
        swarm::parse_services(&docker(None, &args)?)?
    };
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let tasks = tasks(&names)?;
    let (samples, pools, interval) = sample(src)?;
    let (cluster, service) = swarm::cluster(
        &nodes,
        &services,
        &tasks,
        &samples,
        &pools,
        interval,
        &src.reading,
    )?;
    Ok(Read {
        cluster,
        service,
        nodes,
        services,
    })
}

/// The commands that carry out `out`, as a shell runs them.
pub(crate) fn commands(read: &Read, out: &Outcome) -> Vec<String> {
    steps(read, out)
        .iter()
        .map(|s| engine::shell_line(&command(None, &s.args)))
        .collect()
}

fn steps(read: &Read, out: &Outcome) -> Vec<Step> {
    swarm::apply_steps(
        &read.cluster,
        out,
        &read.nodes,
        &read.services,
        &read.service,
    )
}

/// Whether a service's rolling update is over and its tasks all run.
fn converged(name: &str, replicas: usize) -> Result<bool, String> {
    let state = docker(
        None,
        &[
            "service",
            "inspect",
            "--format",
            "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
            name,
        ],
    )?;
    let state = state.trim();
    if state == "paused" || state == "rollback_completed" {
        return Err(format!("the update of service {name} stopped: {state}"));
    }
    let ts = tasks(&[name.to_owned()])?;
    let ts = ts.get(name).map(Vec::as_slice).unwrap_or_default();
    Ok((state.is_empty() || state == "completed")
        && ts.len() == replicas
        && ts.iter().all(Task::running))
}

/// Carries out `out`: each step in turn, waiting after a service update until the service has
/// converged; then checks every task against the plan (until `timeout`). Returns the number of
/// commands run.
pub(crate) fn apply(read: &Read, out: &Outcome, timeout: Duration) -> Result<usize, String> {
    let steps = steps(read, out);
    for step in &steps {
        let mut cmd = command(None, &step.args);
        let line = engine::shell_line(&cmd);
        log(&format!("+ {line}"));
        let res = cmd
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `{line}`: {e}"))?;
        if !res.status.success() {
            return Err(format!(
                "`{line}` failed: {}",
                String::from_utf8_lossy(&res.stderr).trim()
            ));
        }
        if let Some(service) = &step.converge {
            let replicas = read
                .services
                .iter()
                .find(|s| &s.name == service)
                .map_or(0, |s| s.replicas);
            let started = Instant::now();
            while !converged(service, replicas)? {
                if started.elapsed() > timeout {
                    let ts = tasks(std::slice::from_ref(service))?;
                    let states: Vec<String> = ts
                        .values()
                        .flatten()
                        .map(|t| format!("{} on {}: {}", t.name, t.node, t.current_state))
                        .collect();
                    return Err(format!(
                        "service {service} did not converge within {} s; its tasks:\n  {}",
                        timeout.as_secs(),
                        states.join("\n  ")
                    ));
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            log(&format!(
                "  {service} converged in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
        }
    }
    let started = Instant::now();
    loop {
        let diffs = swarm::verify(&read.cluster, out, &read.service, &tasks(&read.service)?);
        if diffs.is_empty() {
            return Ok(steps.len());
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "applied, but not every task runs where the plan says:\n  {}",
                diffs.join("\n  ")
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

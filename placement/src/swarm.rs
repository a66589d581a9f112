//! Docker Swarm as text: what `docker node inspect`, `docker service inspect`, `docker service ps`
//! and `docker ps` print becomes hosts, pools and the current placement; a placement becomes the
//! `docker node update` / `docker service update` commands that carry it out, and the tasks read
//! back afterwards are checked against it. Pure: the CLI runs the commands.
//!
//! How a plan is carried out: each pool is one replicated service; the nodes the plan gives it
//! carry the label `dockopt.<pool>=true`, the service the constraint
//! `node.labels.dockopt.<pool>==true` and `--replicas-max-per-node` = the most the plan puts on
//! one node. Only services with moves are touched, fewest moves first. Swarm never moves a
//! running task when a label changes, so each such service is updated with `--force`: its tasks
//! are replaced one by one onto the labelled nodes. With at most one container of a pool per node
//! (the default spread) that is exactly the plan; with more, the scheduler's even spread over
//! the labelled nodes decides which node takes the larger share, and the check after applying
//! says so if it differs.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{Cluster, Host, Pool, Resources};
use crate::solve::Outcome;
use crate::stats::Sample;

/// The label (and constraint) prefix of the nodes a pool may run on.
pub const LABEL_PREFIX: &str = "dockopt.";
/// A node label giving the node's network capacity (bytes/s, e.g. `1GB`); the Engine does not
/// report it.
pub const NETWORK_LABEL: &str = "dockopt.capacity.network";
/// The default pool label: Swarm puts it on every task's container.
pub const SERVICE_LABEL: &str = "com.docker.swarm.service.name";

/// A Swarm node as `docker node inspect` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Its ID.
    pub id: String,
    /// Its hostname (what `docker service ps` shows and commands name).
    pub hostname: String,
    /// Cores and memory (bytes) it offers.
    pub cpu: f64,
    /// Memory in bytes.
    pub memory: f64,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// `ready`, `down`, …
    pub state: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// A replicated service as `docker service inspect` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// Replicas it asks for.
    pub replicas: usize,
    /// Its tasks' container labels (with the service-name label Swarm adds).
    pub container_labels: BTreeMap<String, String>,
    /// Reserved memory (bytes) and cores per task.
    pub reservation: Resources,
    /// Placement constraints.
    pub constraints: Vec<String>,
    /// `--replicas-max-per-node` (0: none).
    pub max_replicas: usize,
}

/// One task of a service as `docker service ps --format '{{json .}}'` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// `web.1`.
    pub name: String,
    /// The node's hostname (empty while unassigned).
    pub node: String,
    /// `Running 3 minutes ago`, `Preparing …`, `Pending …`.
    pub current_state: String,
}

impl Task {
    /// Whether it runs.
    #[must_use]
    pub fn running(&self) -> bool {
        self.current_state.starts_with("Running")
    }
}

fn json_array(text: &str, what: &str) -> Result<Vec<Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(_) => Err(format!("{what}: expected a JSON array")),
        Err(e) => Err(format!("{what}: not JSON: {e}")),
    }
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn field(v: &Value, path: &[&str]) -> String {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn number(v: &Value, path: &[&str]) -> f64 {
    path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(0.0)
}

/// Parses `docker node inspect NODE…` (a JSON array).
///
/// # Errors
/// When the text is not such an array or a node has no hostname.
pub fn parse_nodes(text: &str) -> Result<Vec<Node>, String> {
    let mut out = Vec::new();
    for n in json_array(text, "docker node inspect")? {
        let hostname = field(&n, &["Description", "Hostname"]);
        if hostname.is_empty() {
            return Err("docker node inspect: a node without Description.Hostname".into());
        }
        out.push(Node {
            id: field(&n, &["ID"]),
            hostname,
            cpu: number(&n, &["Description", "Resources", "NanoCPUs"]) / 1e9,
            memory: number(&n, &["Description", "Resources", "MemoryBytes"]),
            availability: field(&n, &["Spec", "Availability"]),
            state: field(&n, &["Status", "State"]),
            labels: labels(&n["Spec"]["Labels"]),
        });
    }
    out.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(out)
}

/// Parses `docker service inspect SERVICE…`; global services are left out (nothing to place).
///
/// # Errors
/// When the text is not such an array or a count does not fit.
pub fn parse_services(text: &str) -> Result<Vec<Service>, String> {
    let mut out = Vec::new();
    for s in json_array(text, "docker service inspect")? {
        let spec = &s["Spec"];
        let Some(replicas) = spec["Mode"]["Replicated"]["Replicas"].as_u64() else {
            continue;
        };
        let name = field(spec, &["Name"]);
        let task = &spec["TaskTemplate"];
        let mut container_labels = labels(&task["ContainerSpec"]["Labels"]);
        container_labels.insert(SERVICE_LABEL.to_owned(), name.clone());
        let reserve = &task["Resources"]["Reservations"];
        let count =
            |v: u64| usize::try_from(v).map_err(|_| format!("service {name}: {v} is too large"));
        out.push(Service {
            replicas: count(replicas)?,
            container_labels,
            reservation: [
                number(reserve, &["MemoryBytes"]),
                number(reserve, &["NanoCPUs"]) / 1e9,
                0.0,
            ],
            constraints: task["Placement"]["Constraints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            max_replicas: count(task["Placement"]["MaxReplicas"].as_u64().unwrap_or(0))?,
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Parses `docker service ps --filter desired-state=running --format '{{json .}}' SERVICE` lines.
///
/// # Errors
/// When a line is not a JSON object with `Name`.
pub fn parse_tasks(text: &str) -> Result<Vec<Task>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("docker service ps, line {}: not JSON: {e}", i + 1))?;
        let name = field(&v, &["Name"]);
        if name.is_empty() {
            return Err(format!("docker service ps, line {}: no `Name`", i + 1));
        }
        out.push(Task {
            name,
            node: field(&v, &["Node"]),
            current_state: field(&v, &["CurrentState"]),
        });
    }
    Ok(out)
}

/// Parses `docker ps --format '{{.Names}}\t{{.Label "LABEL"}}'`: container name → label value
/// (containers without the label are left out).
#[must_use]
pub fn parse_container_labels(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// How a Swarm becomes a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Container label whose value names the pool (default [`SERVICE_LABEL`]).
    pub pool_label: String,
    /// Node label whose value is the node's zone.
    pub zone_label: Option<String>,
    /// Network capacity (bytes/s) of nodes without the [`NETWORK_LABEL`].
    pub node_network: f64,
    /// Usage = mean + k·stddev of the samples.
    pub k: f64,
}

/// What a Swarm says, as a cluster: hosts from the nodes (a node that is not `ready` and
/// `active` is down), one pool per service (named by its tasks' `pool_label`), usage per pool =
/// the larger of its reservation and what the samples say (mean + k·stddev; network per second
/// between samples `interval` apart), and the current placement from the tasks.
///
/// `samples` are keyed by container name and `container_pool` names each container's pool (from
/// [`parse_container_labels`]).
///
/// # Errors
/// When two services share a pool name (one pool must be one service to be moved), or a node's
/// network label is not a size.
pub fn cluster(
    nodes: &[Node],
    services: &[Service],
    tasks: &BTreeMap<String, Vec<Task>>,
    samples: &[Sample],
    container_pool: &BTreeMap<String, String>,
    interval: f64,
    how: &Reading,
) -> Result<(Cluster, Vec<String>), String> {
    let mut hosts = Vec::new();
    for n in nodes {
        let network = match n.labels.get(NETWORK_LABEL) {
            Some(v) => crate::units::bytes(v)
                .map_err(|e| format!("node {}: label {NETWORK_LABEL}={v}: {e}", n.hostname))?,
            None => how.node_network,
        };
        hosts.push(Host {
            name: n.hostname.clone(),
            capacity: [n.memory, n.cpu, network],
            zone: how
                .zone_label
                .as_ref()
                .and_then(|z| n.labels.get(z).cloned()),
            labels: n.labels.clone(),
            down: n.availability != "active" || n.state != "ready",
        });
    }
    let mut names: BTreeMap<String, &str> = BTreeMap::new();
    let mut pools = Vec::new();
    let mut pool_service = Vec::new();
    for s in services {
        let Some(pool) = s.container_labels.get(&how.pool_label) else {
            continue;
        };
        if let Some(other) = names.insert(pool.clone(), &s.name) {
            return Err(format!(
                "services {other} and {} both have {}={pool}: a pool must be one service to be moved; group by {SERVICE_LABEL}",
                s.name, how.pool_label
            ));
        }
        pools.push(pool.clone());
        pool_service.push(s);
    }
    let (measured, _unknown) = crate::stats::usage_by(
        samples,
        |c| {
            container_pool
                .get(c)
                .and_then(|p| pools.iter().find(|q| *q == p))
                .map(String::as_str)
        },
        how.k,
        interval,
    );
    let host_index: BTreeMap<&str, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    let mut current = Vec::new();
    let mut out_pools = Vec::new();
    for (name, s) in pools.iter().zip(&pool_service) {
        let m = measured.get(name).copied().unwrap_or([0.0; 3]);
        let mut usage = [0.0; 3];
        for r in 0..3 {
            usage[r] = m[r].max(s.reservation[r]);
        }
        out_pools.push(Pool {
            name: name.clone(),
            replicas: s.replicas,
            usage,
            max_per_host: (s.max_replicas > 0 && !has_own_constraint(s, name))
                .then_some(s.max_replicas),
            spread_zones: how.zone_label.is_some(),
        });
        let mut on: Vec<usize> = tasks
            .get(&s.name)
            .map(|ts| {
                ts.iter()
                    .filter_map(|t| host_index.get(t.node.as_str()).copied())
                    .collect()
            })
            .unwrap_or_default();
        on.sort_unstable();
        current.push(on);
    }
    Ok((
        Cluster {
            pools: out_pools,
            hosts,
            current: Some(current),
        },
        pool_service.iter().map(|s| s.name.clone()).collect(),
    ))
}

/// The constraint dockopt gives a pool's service.
#[must_use]
pub fn constraint(pool: &str) -> String {
    format!("node.labels.{LABEL_PREFIX}{pool}==true")
}

/// Whether the service already carries dockopt's constraint (then its `max_replicas` is ours,
/// not a rule of the user's, and the planner may change it).
fn has_own_constraint(s: &Service, pool: &str) -> bool {
    s.constraints.contains(&constraint(pool))
}

/// Per pool, per host: containers of a placement.
#[must_use]
pub fn counts(cl: &Cluster, out: &Outcome) -> Vec<Vec<usize>> {
    let mut c = vec![vec![0usize; cl.hosts.len()]; cl.pools.len()];
    for (i, h) in out.host_of.iter().enumerate() {
        if let Some(h) = h {
            c[out.pool_of[i]][*h] += 1;
        }
    }
    c
}

/// One step of carrying out a plan: a `docker` command line (without the program) and, for a
/// service update, the service to wait for before the next step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Arguments after `docker`.
    pub args: Vec<String>,
    /// The service whose tasks must converge after this step.
    pub converge: Option<String>,
}

/// The commands that carry out `out` on the Swarm read as `nodes` and `services` (`service[p]`
/// is pool p's service): per pool with moves, fewest moves first, label the nodes it should run
/// on (and unlabel the others), then update its service (constraint, per-node maximum, `--force`
/// so its tasks are rescheduled). Pools without moves are not touched.
#[must_use]
pub fn apply_steps(
    cl: &Cluster,
    out: &Outcome,
    nodes: &[Node],
    services: &[Service],
    service: &[String],
) -> Vec<Step> {
    let want = counts(cl, out);
    let mut moves = vec![0usize; cl.pools.len()];
    for m in &out.moves {
        moves[m.pool] += 1;
    }
    let mut order: Vec<usize> = (0..cl.pools.len()).filter(|&p| moves[p] > 0).collect();
    order.sort_by_key(|&p| (moves[p], cl.pools[p].name.clone()));
    let mut steps = Vec::new();
    let arg = |s: &str| s.to_owned();
    for p in order {
        let pool = &cl.pools[p].name;
        let label = format!("{LABEL_PREFIX}{pool}");
        for (h, host) in cl.hosts.iter().enumerate() {
            let has = nodes
                .iter()
                .find(|n| n.hostname == host.name)
                .is_some_and(|n| n.labels.get(&label).is_some_and(|v| v == "true"));
            let wanted = want[p][h] > 0;
            if wanted && !has {
                steps.push(Step {
                    args: vec![
                        arg("node"),
                        arg("update"),
                        arg("--label-add"),
                        format!("{label}=true"),
                        host.name.clone(),
                    ],
                    converge: None,
                });
            } else if !wanted && has {
                steps.push(Step {
                    args: vec![
                        arg("node"),
                        arg("update"),
                        arg("--label-rm"),
                        label.clone(),
                        host.name.clone(),
                    ],
                    converge: None,
                });
            }
        }
        let name = &service[p];
        let most = want[p].iter().copied().max().unwrap_or(0).max(1);
        let mut args = vec![
            arg("service"),
            arg("update"),
            arg("--detach"),
            arg("--no-resolve-image"),
        ];
        let s = services.iter().find(|s| &s.name == name);
        if !s.is_some_and(|s| s.constraints.contains(&constraint(pool))) {
            args.push(arg("--constraint-add"));
            args.push(constraint(pool));
        }
        if s.is_none_or(|s| s.max_replicas != most) {
            args.push(arg("--replicas-max-per-node"));
            args.push(most.to_string());
        }
        args.push(arg("--force"));
        args.push(name.clone());
        steps.push(Step {
            args,
            converge: Some(name.clone()),
        });
    }
    steps
}

/// Whether every task runs where the plan says: per pool and node, the running tasks match the
/// plan's count, and none runs on a node the plan does not know (one that joined after the
/// Swarm was read). Returns what differs (empty when all is as planned).
#[must_use]
pub fn verify(
    cl: &Cluster,
    out: &Outcome,
    service: &[String],
    tasks: &BTreeMap<String, Vec<Task>>,
) -> Vec<String> {
    let want = counts(cl, out);
    let mut diffs = Vec::new();
    for (p, pool) in cl.pools.iter().enumerate() {
        let ts = tasks
            .get(&service[p])
            .map(Vec::as_slice)
            .unwrap_or_default();
        for t in ts.iter().filter(|t| !t.running()) {
            diffs.push(format!(
                "{}: task {} is `{}`",
                pool.name, t.name, t.current_state
            ));
        }
        // The counts below are per host of the plan: a task elsewhere would go unseen.
        for t in ts
            .iter()
            .filter(|t| t.running() && !cl.hosts.iter().any(|h| h.name == t.node))
        {
            diffs.push(format!(
                "{}: task {} runs on {}, a node the plan does not know",
                pool.name, t.name, t.node
            ));
        }
        let have: Vec<usize> = cl
            .hosts
            .iter()
            .map(|host| {
                ts.iter()
                    .filter(|t| t.running() && t.node == host.name)
                    .count()
            })
            .collect();
        // With more than one task per node, Swarm chooses which of the labelled nodes gets how
        // many (a service pins nodes, not counts): the pool is where the plan says when it runs
        // on exactly the plan's nodes, as many tasks in all, none over the plan's largest count.
        let most = want[p].iter().copied().max().unwrap_or(0);
        if most > 1
            && have.iter().sum::<usize>() == want[p].iter().sum::<usize>()
            && have
                .iter()
                .zip(&want[p])
                .all(|(&h, &w)| (h > 0) == (w > 0) && h <= most)
        {
            continue;
        }
        for (h, host) in cl.hosts.iter().enumerate() {
            let have = have[h];
            if have != want[p][h] {
                diffs.push(format!(
                    "{}: {have} task(s) run on {}, the plan says {}",
                    pool.name, host.name, want[p][h]
                ));
            }
        }
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Objective, Options};

    const NODES: &str = r#"[
 {"ID":"n1","Spec":{"Labels":{"zone":"a"},"Role":"manager","Availability":"active"},
  "Description":{"Hostname":"s-1","Resources":{"NanoCPUs":2000000000,"MemoryBytes":4294967296}},
  "Status":{"State":"ready","Addr":"172.17.0.2"}},
 {"ID":"n2","Spec":{"Labels":{"dockopt.capacity.network":"1GB","dockopt.web":"true"},"Role":"worker","Availability":"drain"},
  "Description":{"Hostname":"s-2","Resources":{"NanoCPUs":2000000000,"MemoryBytes":4294967296}},
  "Status":{"State":"ready","Addr":"172.17.0.3"}},
 {"ID":"n3","Spec":{"Labels":{},"Role":"worker","Availability":"active"},
  "Description":{"Hostname":"s-3","Resources":{"NanoCPUs":2000000000,"MemoryBytes":4294967296}},
  "Status":{"State":"ready","Addr":"172.17.0.4"}}]"#;

    const SERVICES: &str = r#"[
 {"ID":"x","Spec":{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Labels":{"tier":"front"}},
   "Resources":{"Limits":{},"Reservations":{"NanoCPUs":200000000,"MemoryBytes":16777216}},
   "Placement":{}},"Mode":{"Replicated":{"Replicas":2}}}},
 {"ID":"y","Spec":{"Name":"agent","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Global":{}}}}]"#;

    fn tasks() -> BTreeMap<String, Vec<Task>> {
        let lines = r#"{"CurrentState":"Running 2 minutes ago","DesiredState":"Running","ID":"t1","Name":"web.1","Node":"s-1"}
{"CurrentState":"Running 2 minutes ago","DesiredState":"Running","ID":"t2","Name":"web.2","Node":"s-1"}
"#;
        BTreeMap::from([("web".to_owned(), parse_tasks(lines).expect("tasks"))])
    }

    fn read() -> (Cluster, Vec<String>, Vec<Node>, Vec<Service>) {
        let nodes = parse_nodes(NODES).expect("nodes");
        let services = parse_services(SERVICES).expect("services");
        let samples = vec![Sample {
            container: "web.1.abc".into(),
            memory: 64.0 * 1024.0 * 1024.0,
            cpu: 0.01,
            net_total: 0.0,
        }];
        let pools = BTreeMap::from([("web.1.abc".to_owned(), "web".to_owned())]);
        let how = Reading {
            pool_label: SERVICE_LABEL.into(),
            zone_label: None,
            node_network: 125e6,
            k: 1.0,
        };
        let (cl, service) =
            cluster(&nodes, &services, &tasks(), &samples, &pools, 1.0, &how).expect("cluster");
        (cl, service, nodes, services)
    }

    #[test]
    fn a_swarm_reads_as_a_cluster() {
        let (cl, service, nodes, services) = read();
        assert_eq!(nodes.len(), 3);
        assert_eq!(services.len(), 1, "the global service is left out");
        assert_eq!(service, ["web"]);
        assert_eq!(cl.hosts[1].capacity, [4294967296.0, 2.0, 1e9]);
        assert!(cl.hosts[1].down, "drained");
        assert!(!cl.hosts[0].down);
        // Memory measured above the reservation, CPU below it.
        assert_eq!(cl.pools[0].usage, [64.0 * 1024.0 * 1024.0, 0.2, 0.0]);
        assert_eq!(cl.current, Some(vec![vec![0, 0]]));
    }

    #[test]
    fn a_plan_becomes_labels_and_a_forced_update_and_is_verified() {
        let (cl, service, nodes, services) = read();
        let out = crate::solve(&cl, &Options::default());
        assert_eq!(out.moves.len(), 1, "one web task leaves s-1 for s-3");
        let steps = apply_steps(&cl, &out, &nodes, &services, &service);
        let lines: Vec<String> = steps.iter().map(|s| s.args.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "node update --label-add dockopt.web=true s-1",
                "node update --label-rm dockopt.web s-2",
                "node update --label-add dockopt.web=true s-3",
                "service update --detach --no-resolve-image --constraint-add node.labels.dockopt.web==true --replicas-max-per-node 1 --force web",
            ]
        );
        let diffs = verify(&cl, &out, &service, &tasks());
        assert_eq!(
            diffs,
            [
                "web: 2 task(s) run on s-1, the plan says 1",
                "web: 0 task(s) run on s-3, the plan says 1"
            ]
        );
        // As planned: nothing differs, and a re-plan with fewest moves moves nothing.
        let moved = BTreeMap::from([(
            "web".to_owned(),
            vec![
                Task {
                    name: "web.1".into(),
                    node: "s-1".into(),
                    current_state: "Running".into(),
                },
                Task {
                    name: "web.2".into(),
                    node: "s-3".into(),
                    current_state: "Running 1 second ago".into(),
                },
            ],
        )]);
        assert!(verify(&cl, &out, &service, &moved).is_empty());
        let mut again = cl.clone();
        again.current = Some(vec![vec![0, 2]]);
        let options = Options {
            objective: Objective::MaxCpu,
            min_moves: true,
            ..Options::default()
        };
        assert!(crate::solve(&again, &options).moves.is_empty());
    }

    /// One pool `web` on hosts `names`, planned `plan[h]` containers on host h.
    fn planned(names: &[&str], plan: &[usize]) -> (Cluster, Outcome, Vec<String>) {
        let hosts = names
            .iter()
            .map(|n| Host {
                name: (*n).to_owned(),
                capacity: [1e9, 4.0, 1e9],
                zone: None,
                labels: BTreeMap::new(),
                down: false,
            })
            .collect();
        let replicas = plan.iter().sum();
        let pool = Pool {
            name: "web".into(),
            replicas,
            usage: [1e6, 0.1, 0.0],
            max_per_host: None,
            spread_zones: false,
        };
        let cl = Cluster {
            pools: vec![pool],
            hosts,
            current: None,
        };
        let host_of = plan
            .iter()
            .enumerate()
            .flat_map(|(h, &n)| std::iter::repeat_n(Some(h), n))
            .collect();
        let out = Outcome {
            pool_of: vec![0; replicas],
            host_of,
            loads: Vec::new(),
            value: 0.0,
            lower_bound: 0.0,
            moves: Vec::new(),
            min_moves: 0,
            shortages: Vec::new(),
            method: String::new(),
            work: 0.0,
        };
        (cl, out, vec!["web".to_owned()])
    }

    /// `web`'s running tasks: `n` on each named node.
    fn running(on: &[(&str, usize)]) -> BTreeMap<String, Vec<Task>> {
        let mut tasks = Vec::new();
        for &(node, n) in on {
            for _ in 0..n {
                tasks.push(Task {
                    name: format!("web.{}", tasks.len() + 1),
                    node: node.to_owned(),
                    current_state: "Running 5 seconds ago".into(),
                });
            }
        }
        BTreeMap::from([("web".to_owned(), tasks)])
    }

    #[test]
    fn more_than_one_per_node_is_as_planned_on_the_same_nodes_with_the_same_total() {
        // Swarm spreads evenly among the labelled nodes: the plan's 2 + 1 may run as 1 + 2.
        let (cl, out, service) = planned(&["a", "b"], &[2, 1]);
        assert_eq!(counts(&cl, &out), [[2, 1]]);
        assert!(verify(&cl, &out, &service, &running(&[("a", 2), ("b", 1)])).is_empty());
        assert!(verify(&cl, &out, &service, &running(&[("a", 1), ("b", 2)])).is_empty());
        // A third host the plan leaves empty changes nothing.
        let (cl, out, service) = planned(&["a", "b", "c"], &[2, 1, 0]);
        assert!(verify(&cl, &out, &service, &running(&[("a", 1), ("b", 2)])).is_empty());
    }

    #[test]
    fn a_task_on_a_node_the_plan_leaves_empty_is_reported() {
        let (cl, out, service) = planned(&["a", "b", "c"], &[2, 1, 0]);
        assert_eq!(
            verify(
                &cl,
                &out,
                &service,
                &running(&[("a", 1), ("b", 1), ("c", 1)])
            ),
            [
                "web: 1 task(s) run on a, the plan says 2",
                "web: 1 task(s) run on c, the plan says 0"
            ]
        );
        // All of them on one of the plan's nodes: the other planned node runs none.
        assert_eq!(
            verify(&cl, &out, &service, &running(&[("a", 3)])),
            [
                "web: 3 task(s) run on a, the plan says 2",
                "web: 0 task(s) run on b, the plan says 1"
            ]
        );
    }

    #[test]
    fn a_different_total_is_reported() {
        let (cl, out, service) = planned(&["a", "b"], &[2, 1]);
        assert_eq!(
            verify(&cl, &out, &service, &running(&[("a", 1), ("b", 1)])),
            ["web: 1 task(s) run on a, the plan says 2"]
        );
        assert_eq!(
            verify(&cl, &out, &service, &running(&[("a", 2), ("b", 2)])),
            ["web: 2 task(s) run on b, the plan says 1"]
        );
    }

    #[test]
    fn a_node_over_the_plans_largest_count_is_reported() {
        // Same nodes, same total, but 3 on one node where the plan puts at most 2 on any.
        let (cl, out, service) = planned(&["a", "b"], &[2, 2]);
        assert!(verify(&cl, &out, &service, &running(&[("a", 2), ("b", 2)])).is_empty());
        assert_eq!(
            verify(&cl, &out, &service, &running(&[("a", 3), ("b", 1)])),
            [
                "web: 3 task(s) run on a, the plan says 2",
                "web: 1 task(s) run on b, the plan says 2"
            ]
        );
    }

    #[test]
    fn with_one_per_node_the_nodes_must_be_exactly_the_plans() {
        // The plan's largest count is 1: no freedom, a swap of nodes is a difference.
        let (cl, out, service) = planned(&["a", "b", "c"], &[1, 1, 0]);
        assert!(verify(&cl, &out, &service, &running(&[("a", 1), ("b", 1)])).is_empty());
        assert_eq!(
            verify(&cl, &out, &service, &running(&[("a", 1), ("c", 1)])),
            [
                "web: 0 task(s) run on b, the plan says 1",
                "web: 1 task(s) run on c, the plan says 0"
            ]
        );
    }

    #[test]
    fn a_task_that_does_not_run_is_reported_even_when_the_counts_fit() {
        let (cl, out, service) = planned(&["a", "b"], &[2, 1]);
        let mut tasks = running(&[("a", 1), ("b", 2)]);
        tasks.get_mut("web").expect("web").push(Task {
            name: "web.4".into(),
            node: String::new(),
            current_state: "Pending 2 seconds ago".into(),
        });
        assert_eq!(
            verify(&cl, &out, &service, &tasks),
            ["web: task web.4 is `Pending 2 seconds ago`"]
        );
    }

    #[test]
    fn a_task_on_a_node_the_cluster_does_not_have_is_reported() {
        // A node that joined after the Swarm was read: the plan knows nothing of it, and the
        // tasks on the plan's nodes match, so only the unknown node says the pool is not as
        // planned (with one per node and with more).
        for plan in [[1, 1], [2, 1]] {
            let (cl, out, service) = planned(&["a", "b"], &plan);
            let tasks = running(&[("a", plan[0]), ("b", plan[1]), ("z", 1)]);
            let last = plan[0] + plan[1] + 1;
            assert_eq!(
                verify(&cl, &out, &service, &tasks),
                [format!(
                    "web: task web.{last} runs on z, a node the plan does not know"
                )]
            );
        }
    }

    #[test]
    fn bad_engine_output_is_an_error() {
        assert!(parse_nodes("{}").is_err());
        assert!(parse_services("not json").is_err());
        assert!(parse_tasks("{\"Node\":\"x\"}").is_err());
        assert_eq!(
            parse_container_labels("a\tweb\nb\t\nc\n"),
            BTreeMap::from([("a".to_owned(), "web".to_owned())])
        );
    }
}

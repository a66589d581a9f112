//! Renderings of a placement: a table for people, JSON for machines, and snippets a cluster
//! manager can use (Docker Swarm node labels and constraints, Kubernetes node affinity).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;

use crate::model::{CPU, Cluster, MEM, NET, Objective};
use crate::solve::Outcome;
use crate::units::show_bytes;

/// Per host, per pool: how many containers.
fn counts(cl: &Cluster, out: &Outcome) -> Vec<BTreeMap<usize, usize>> {
    let mut per_host = vec![BTreeMap::new(); cl.hosts.len()];
    for (c, h) in out.host_of.iter().enumerate() {
        if let Some(h) = h {
            *per_host[*h].entry(out.pool_of[c]).or_insert(0) += 1;
        }
    }
    per_host
}

fn objective_name(o: Objective) -> &'static str {
    match o {
        Objective::MaxCpu => "largest CPU load",
        Objective::Balance => "largest load over memory, CPU and network",
        Objective::FewestHosts => "hosts in use",
        Objective::Feasible => "feasibility",
    }
}

/// Containers the placement leaves unplaced: then it has no value (the case is infeasible as
/// planned), only its bound.
fn unplaced(out: &Outcome) -> usize {
    out.host_of.iter().filter(|h| h.is_none()).count()
}

/// `x` rounded to `digits` decimals (JSON shows `3.9`, not `3.9000000000000004`).
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    let r = (x * scale).round() / scale;
    if r.is_finite() { r } else { x }
}

fn gap(out: &Outcome) -> String {
    if unplaced(out) > 0 {
        "–".into()
    } else if out.lower_bound > 0.0 && out.lower_bound.is_finite() {
        format!(
            "{:.3} %",
            100.0 * (out.value - out.lower_bound) / out.lower_bound
        )
    } else {
        "–".into()
    }
}

/// A table per host, the objective with its bound, the moves, and any shortage.
#[must_use]
pub fn text(cl: &Cluster, out: &Outcome, objective: Objective) -> String {
    let mut s = String::new();
    let per_host = counts(cl, out);
    let _ = writeln!(
        s,
        "{:<16} {:>22} {:>18} {:>22}  containers",
        "host", "memory (headroom)", "cpu (load)", "network (headroom)"
    );
    for (h, host) in cl.hosts.iter().enumerate() {
        let l = out.loads[h];
        let c = host.capacity;
        let pools: Vec<String> = per_host[h]
            .iter()
            .map(|(&p, &n)| format!("{}×{n}", cl.pools[p].name))
            .collect();
        let name = if host.down {
            format!("{} (down)", host.name)
        } else {
            host.name.clone()
        };
        let _ = writeln!(
            s,
            "{:<16} {:>22} {:>18} {:>22}  {}",
            name,
            format!("{} ({})", show_bytes(l[MEM]), show_bytes(c[MEM] - l[MEM])),
            format!(
                "{:.2}/{:.0} ({:.1} %)",
                l[CPU],
                c[CPU],
                if c[CPU] > 0.0 {
                    100.0 * l[CPU] / c[CPU]
                } else {
                    0.0
                }
            ),
            format!(
                "{}/s ({}/s)",
                show_bytes(l[NET]),
                show_bytes(c[NET] - l[NET])
            ),
            pools.join(", ")
        );
    }
    let value = |v: f64| {
        if objective == Objective::FewestHosts {
            format!("{v:.0}")
        } else {
            format!("{:.4} ({:.2} %)", v, 100.0 * v)
        }
    };
    let shown = match unplaced(out) {
        0 => value(out.value),
        n => format!("– (infeasible as planned: {n} container(s) unplaced)"),
    };
    let _ = writeln!(
        s,
        "\n{}: {shown}  lower bound {}  gap {}",
        objective_name(objective),
        value(out.lower_bound),
        gap(out)
    );
    let _ = writeln!(s, "method: {} ({} move evaluations)", out.method, out.work);
    if cl.current.is_some() {
        let _ = writeln!(
            s,
            "moves: {} ({} could not stay where {} ran)",
            out.moves.len(),
            match out.min_moves {
                1 => "1 container".to_owned(),
                n => format!("{n} containers"),
            },
            if out.min_moves == 1 { "it" } else { "they" }
        );
        for m in &out.moves {
            let from = m
                .from
                .map_or("(unplaced)".to_owned(), |h| cl.hosts[h].name.clone());
            let _ = writeln!(
                s,
                "  {}: {from} → {}",
                cl.pools[m.pool].name, cl.hosts[m.to].name
            );
        }
    }
    for short in &out.shortages {
        let _ = writeln!(s, "short: {short}");
    }
    s
}

/// The placement as JSON.
#[must_use]
pub fn json(cl: &Cluster, out: &Outcome, objective: Objective) -> String {
    let per_host = counts(cl, out);
    let hosts: serde_json::Map<String, serde_json::Value> = cl
        .hosts
        .iter()
        .enumerate()
        .map(|(h, host)| {
            let pools: BTreeMap<&str, usize> = per_host[h]
                .iter()
                .map(|(&p, &n)| (cl.pools[p].name.as_str(), n))
                .collect();
            let l = out.loads[h];
            let c = host.capacity;
            (
                host.name.clone(),
                json!({"pools": pools, "down": host.down,
                       "memory": {"used": round(l[MEM], 0), "capacity": round(c[MEM], 0)},
                       "cpu": {"used": round(l[CPU], 6), "capacity": round(c[CPU], 6)},
                       "network": {"used": round(l[NET], 0), "capacity": round(c[NET], 0)}}),
            )
        })
        .collect();
    let moves: Vec<serde_json::Value> = out
        .moves
        .iter()
        .map(|m| json!({"pool": cl.pools[m.pool].name, "from": m.from.map(|h| cl.hosts[h].name.clone()), "to": cl.hosts[m.to].name}))
        .collect();
    let doc = json!({
        "objective": objective_name(objective),
        // Without a complete placement there is no value: the case is infeasible as planned.
        "value": (unplaced(out) == 0).then(|| round(out.value, 6)),
        "lower_bound": round(out.lower_bound, 6),
        "infeasible": unplaced(out) > 0,
        "unplaced": unplaced(out),
        "method": out.method, "hosts": hosts, "moves": moves, "min_moves": out.min_moves, "shortages": out.shortages,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Docker Swarm: a node label per pool a node runs, and each service constrained to its nodes
/// with at most as many replicas per node as the plan puts there.
#[must_use]
pub fn swarm(cl: &Cluster, out: &Outcome) -> String {
    let per_host = counts(cl, out);
    let mut s = String::from("# Node labels: the pools each node runs\n");
    for (h, host) in cl.hosts.iter().enumerate() {
        for &p in per_host[h].keys() {
            let _ = writeln!(
                s,
                "docker node update --label-add dockopt.{}=true {}",
                cl.pools[p].name, host.name
            );
        }
    }
    s.push_str("# Services: only on their nodes, spread as planned\n");
    for (p, pool) in cl.pools.iter().enumerate() {
        let most = per_host
            .iter()
            .map(|m| m.get(&p).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "docker service update --constraint-add node.labels.dockopt.{0}==true --replicas {1} --replicas-max-per-node {2} {0}",
            pool.name, pool.replicas, most
        );
    }
    s
}

/// Kubernetes: a `nodeAffinity` per pool listing its hosts.
#[must_use]
pub fn kubernetes(cl: &Cluster, out: &Outcome) -> String {
    let per_host = counts(cl, out);
    let mut s = String::new();
    for (p, pool) in cl.pools.iter().enumerate() {
        let nodes: Vec<&str> = cl
            .hosts
            .iter()
            .enumerate()
            .filter(|(h, _)| per_host[*h].contains_key(&p))
            .map(|(_, h)| h.name.as_str())
            .collect();
        let _ = writeln!(s, "# {}: {} replicas", pool.name, pool.replicas);
        s.push_str("affinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n      nodeSelectorTerms:\n        - matchExpressions:\n            - key: kubernetes.io/hostname\n              operator: In\n              values:\n");
        for n in nodes {
            let _ = writeln!(s, "                - {n}");
        }
        s.push_str("---\n");
    }
    s
}

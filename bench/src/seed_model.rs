//! The seed's model beside dockopt on the same generated clusters: the per-container binary
//! assignment (x[c][h] = 1 when container c runs on host h; each container on one host; memory and
//! network within capacity; CPU load ≤ z · cores; at most the per-host limit of a pool on a host;
//! zone spread), minimising z, written as an LP file and solved by CBC (Debian's `coinor-cbc`,
//! one thread, a time limit). Beside it, `dockopt place`'s search (median of 5) and its bound.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use dockopt_placement::model::{CPU, MEM, NET};
use dockopt_placement::{Cluster, Objective, Options, bound, solve};

/// The model in CPLEX LP format.
fn lp(cl: &Cluster) -> String {
    let containers = cl.containers();
    let hosts: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    let x = |c: usize, h: usize| format!("x{c}_{h}");
    let mut s = String::from("Minimize\n obj: z\nSubject To\n");
    let sum = |s: &mut String, terms: Vec<String>| {
        for (i, t) in terms.iter().enumerate() {
            if i > 0 {
                s.push_str(if i % 8 == 0 { "\n + " } else { " + " });
            }
            s.push_str(t);
        }
    };
    for c in 0..containers.len() {
        let _ = write!(s, " one{c}: ");
        sum(&mut s, hosts.iter().map(|&h| x(c, h)).collect());
        s.push_str(" = 1\n");
    }
    for &h in &hosts {
        let cap = cl.hosts[h].capacity;
        for (r, name) in [(MEM, "mem"), (NET, "net")] {
            let _ = write!(s, " {name}{h}: ");
            sum(
                &mut s,
                (0..containers.len())
                    .map(|c| format!("{} {}", cl.pools[containers[c]].usage[r], x(c, h)))
                    .collect(),
            );
            let _ = writeln!(s, " <= {}", cap[r]);
        }
        let _ = write!(s, " cpu{h}: ");
        sum(
            &mut s,
            (0..containers.len())
                .map(|c| format!("{} {}", cl.pools[containers[c]].usage[CPU], x(c, h)))
                .collect(),
        );
        let _ = writeln!(s, " - {} z <= 0", cap[CPU]);
    }
    let zones = cl.zones();
    let mut first = 0;
    for (p, pool) in cl.pools.iter().enumerate() {
        let mine: Vec<usize> = (first..first + pool.replicas).collect();
        first += pool.replicas;
        let most = cl.max_per_host(p);
        if most < pool.replicas {
            for &h in &hosts {
                let _ = write!(s, " per{p}_{h}: ");
                sum(&mut s, mine.iter().map(|&c| x(c, h)).collect());
                let _ = writeln!(s, " <= {most}");
            }
        }
        if pool.spread_zones && !zones.is_empty() {
            let zone_max = pool.replicas.div_ceil(zones.len());
            for (zi, z) in zones.iter().enumerate() {
                let in_zone: Vec<String> = hosts
                    .iter()
                    .filter(|&&h| cl.hosts[h].zone.as_ref() == Some(z))
                    .flat_map(|&h| mine.iter().map(move |&c| x(c, h)))
                    .collect();
                if !in_zone.is_empty() {
                    let _ = write!(s, " zone{p}_{zi}: ");
                    sum(&mut s, in_zone);
                    let _ = writeln!(s, " <= {zone_max}");
                }
            }
        }
    }
    s.push_str("Bounds\n z >= 0\nBinaries\n");
    for c in 0..containers.len() {
        for &h in &hosts {
            let _ = writeln!(s, " {}", x(c, h));
        }
    }
    s.push_str("End\n");
    s
}

/// What CBC's summary says: (objective of its best solution, its lower bound, optimal).
fn cbc_result(out: &str) -> (Option<f64>, Option<f64>, bool) {
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let optimal = out.contains("Result - Optimal solution found");
    let objective = value("Objective value:");
    let bound = value("Lower bound:").or(if optimal { objective } else { None });
    let objective = if out.contains("No feasible solution found") {
        None
    } else {
        objective
    };
    (objective, bound, optimal)
}

/// Runs the side-by-side; prints the Markdown table, returns the raw rows (JSON lines).
pub(crate) fn run(
    sets: Vec<(&'static str, Cluster, Objective)>,
    limit: f64,
) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("dockopt-seed-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "| set | containers × hosts | dockopt | its bound | seconds | seed model on CBC | CBC's bound | seconds (limit {limit:.0}) | status |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut raw = String::new();
    for (name, cl, objective) in sets {
        if objective != Objective::MaxCpu {
            continue;
        }
        let containers = cl.containers().len();
        let options = Options::default();
        let (ours, secs) = crate::placement::timed(|| solve(&cl, &options));
        let lb = bound(&cl, &options);
        let size = containers * cl.hosts.len();
        let (seed, seed_lb, seed_secs, status) = if size > 1_000_000 {
            (None, None, 0.0, "not run: over 10⁶ binaries".to_owned())
        } else {
            let file = dir.join("model.lp");
            std::fs::write(&file, lp(&cl)).map_err(|e| format!("{}: {e}", file.display()))?;
            let start = Instant::now();
            let out = Command::new("cbc")
                .arg(&file)
                .args(["threads", "1", "sec", &format!("{limit}"), "solve"])
                .output()
                .map_err(|e| format!("cbc (apt-get install coinor-cbc): {e}"))?;
            let wall = start.elapsed().as_secs_f64();
            let text = String::from_utf8_lossy(&out.stdout);
            let (v, b, optimal) = cbc_result(&text);
            let status = if optimal {
                "optimal".to_owned()
            } else if text.contains("Stopped on time") {
                "time limit".to_owned()
            } else {
                text.lines()
                    .find(|l| l.starts_with("Result - "))
                    .unwrap_or("no result line")
                    .trim_start_matches("Result - ")
                    .to_owned()
            };
            (v, b, wall, status)
        };
        let f = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.5}"));
        println!(
            "| {name} | {containers} × {} | {:.5} | {lb:.5} | {secs:.3} | {} | {} | {seed_secs:.1} | {status} |",
            cl.hosts.len(),
            ours.value,
            f(seed),
            f(seed_lb),
        );
        raw.push_str(
            &serde_json::json!({"set": name, "containers": containers, "hosts": cl.hosts.len(),
                "dockopt": ours.value, "dockopt_bound": lb, "dockopt_seconds": secs,
                "seed_cbc": seed, "seed_cbc_bound": seed_lb, "seed_cbc_seconds": seed_secs,
                "seed_cbc_limit": limit, "status": status})
            .to_string(),
        );
        raw.push('\n');
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbc_summaries_are_read() {
        let stopped = "Result - Stopped on time limit\n\nObjective value:                0.60123000\nLower bound:                    0.600\nGap:                            0.00\n";
        assert_eq!(cbc_result(stopped), (Some(0.60123), Some(0.6), false));
        let optimal = "Result - Optimal solution found\n\nObjective value:                0.5\n";
        assert_eq!(cbc_result(optimal), (Some(0.5), Some(0.5), true));
    }
}

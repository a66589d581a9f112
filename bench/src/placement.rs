//! Placement benchmark: generated clusters like the seed's and larger, every method side by side.

use std::time::Instant;

use dockopt_placement::generate::{Shape, cluster};
use dockopt_placement::{Cluster, Construct, Objective, Options, bound, place, prove, solve};

/// The bench's old call shape over the crate's generator.
fn generate(
    seed: u64,
    pools: usize,
    hosts: usize,
    fill: f64,
    uneven: bool,
    alibaba: bool,
    spread_binding: bool,
) -> Cluster {
    let shape = Shape {
        uneven,
        alibaba,
        spread_binding,
    };
    cluster(seed, pools, hosts, fill, shape)
}

pub(crate) fn timed<T>(f: impl Fn() -> T) -> (T, f64) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..5 {
        let start = Instant::now();
        out = Some(f());
        times.push(start.elapsed().as_secs_f64());
        if times[0] > 5.0 {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    (out.expect("ran"), times[times.len() / 2])
}

/// The generated clusters of the table (the seed's sizes and larger), with their objective.
pub(crate) fn sets() -> Vec<(&'static str, Cluster, Objective)> {
    vec![
        (
            "seed 20 pools × 4 hosts, memory 70 %",
            generate(1, 20, 4, 0.70, false, false, false),
            Objective::MaxCpu,
        ),
        (
            "seed 200 pools × 10 hosts, memory 70 %",
            generate(2, 200, 10, 0.70, false, false, false),
            Objective::MaxCpu,
        ),
        (
            "alibaba-like 2,000 pools × 100 hosts",
            generate(3, 2000, 100, 0.70, false, true, false),
            Objective::MaxCpu,
        ),
        (
            "10,000 containers × 500 hosts",
            generate(4, 2500, 500, 0.70, false, false, false),
            Objective::MaxCpu,
        ),
        (
            "tight: memory 95 %, uneven hosts",
            generate(5, 200, 10, 0.95, true, false, false),
            Objective::MaxCpu,
        ),
        (
            "spread binding: 1 per host, replicas = hosts",
            generate(6, 30, 10, 0.60, false, false, true),
            Objective::MaxCpu,
        ),
        (
            "balance, 200 × 10",
            generate(2, 200, 10, 0.70, false, false, false),
            Objective::Balance,
        ),
        (
            "fewest hosts, 200 pools × 40 hosts, memory 40 %",
            generate(7, 200, 40, 0.40, false, false, false),
            Objective::FewestHosts,
        ),
        (
            "fewest hosts, alibaba-like 2,000 × 200",
            generate(8, 2000, 200, 0.35, false, true, false),
            Objective::FewestHosts,
        ),
    ]
}

/// Prints the placement table (Markdown) and returns the raw rows (JSON lines).
pub(crate) fn run() -> String {
    let sets = sets();
    let mut raw = String::new();
    println!(
        "| set | containers | hosts | FFD | LPT / largest-first | + local search | MIP (microlp) | bound | gap | seconds (search) | unplaced |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, cl, objective) in sets {
        let options = Options {
            objective,
            ..Options::default()
        };
        let containers: usize = cl.pools.iter().map(|p| p.replicas).sum();
        let ffd = place(&cl, &options, Construct::FirstFit, false);
        let lpt = place(&cl, &options, Construct::Greedy, false);
        let (best, secs) = timed(|| solve(&cl, &options));
        let lb = bound(&cl, &options);
        // The integer model only where microlp finishes (its work is not bounded).
        let mip = (cl.pools.len() * cl.hosts.len() <= 100).then(|| prove(&cl, &options));
        let fmt = |v: f64| {
            if objective == Objective::FewestHosts {
                format!("{v:.0}")
            } else {
                format!("{v:.5}")
            }
        };
        let unplaced =
            |o: &dockopt_placement::Outcome| o.host_of.iter().filter(|h| h.is_none()).count();
        let gap = if lb > 0.0 {
            100.0 * (best.value - lb) / lb
        } else {
            0.0
        };
        let mip_cell = match &mip {
            Some(Ok(m)) => fmt(m.value),
            Some(Err(e)) => format!("failed: {e}"),
            None => "–".into(),
        };
        println!(
            "| {name} | {containers} | {} | {} | {} | {} | {mip_cell} | {} | {gap:.3} % | {secs:.3} | {} |",
            cl.hosts.len(),
            fmt(ffd.value),
            fmt(lpt.value),
            fmt(best.value),
            fmt(lb),
            unplaced(&best),
        );
        // Failover of the first host from the best placement: moves against the minimum.
        let mut failed = cl.clone();
        let mut current = vec![Vec::new(); cl.pools.len()];
        for (c, h) in best.host_of.iter().enumerate() {
            current[best.pool_of[c]].push(h.unwrap_or(0));
        }
        failed.current = Some(current);
        failed.hosts[0].down = true;
        let fo = solve(
            &failed,
            &Options {
                min_moves: true,
                ..options.clone()
            },
        );
        let must = best.host_of.iter().filter(|h| **h == Some(0)).count();
        println!(
            "|  ↳ failover of {}: {} moves for {must} that must move ({:.2}×), {} unplaced | | | | | | | | | | |",
            cl.hosts[0].name,
            fo.moves.len(),
            if must > 0 {
                fo.moves.len() as f64 / must as f64
            } else {
                1.0
            },
            unplaced(&fo)
        );
        raw.push_str(
            &serde_json::json!({"set": name, "containers": containers, "hosts": cl.hosts.len(), "ffd": ffd.value, "lpt": lpt.value,
                "search": best.value, "bound": lb, "seconds": secs, "mip": mip.and_then(Result::ok).map(|m| m.value),
                "failover_moves": fo.moves.len(), "failover_min": must})
            .to_string(),
        );
        raw.push('\n');
    }
    raw
}

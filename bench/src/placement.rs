//! Placement benchmark: generated clusters like the seed's and larger, every method side by side.

use std::time::Instant;

use dockopt_placement::{
    Cluster, Construct, Host, Objective, Options, Pool, bound, place, prove, solve,
};

/// A small deterministic generator (xorshift64*), so every run builds the same clusters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    /// Lognormal with the given median and sigma (Box–Muller).
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        median * (sigma * z).exp()
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `pools` pools with 1–7 replicas on `hosts` hosts; memory sized so the containers fill
/// `fill` of the hosts' memory. `uneven`: host sizes vary 1×–4×. `alibaba`: heavy-tailed,
/// correlated CPU and memory (shaped like the Alibaba 2018 container usage columns).
fn generate(
    seed: u64,
    pools: usize,
    hosts: usize,
    fill: f64,
    uneven: bool,
    alibaba: bool,
    spread_binding: bool,
) -> Cluster {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let host_list: Vec<Host> = (0..hosts)
        .map(|h| {
            let scale = if uneven { [1.0, 2.0, 4.0][h % 3] } else { 1.0 };
            Host {
                name: format!("h{h:03}"),
                capacity: [64.0 * GIB * scale, 32.0 * scale, 1.25e9 * scale],
                zone: Some(format!("z{}", h % 3)),
                labels: Default::default(),
                down: false,
            }
        })
        .collect();
    let mut pool_list: Vec<Pool> = (0..pools)
        .map(|p| {
            let replicas = if spread_binding {
                hosts
            } else {
                rng.range(1, 7)
            };
            let (mem, cpu) = if alibaba {
                let cpu = rng.lognormal(1.0, 0.9).min(16.0);
                (cpu * rng.lognormal(2.0, 0.4) * GIB, cpu)
            } else {
                (rng.lognormal(1.0, 0.6) * GIB, rng.lognormal(0.5, 0.8))
            };
            Pool {
                name: format!("p{p:04}"),
                replicas,
                usage: [mem, cpu, rng.lognormal(5e6, 1.0)],
                max_per_host: if spread_binding { Some(1) } else { None },
                spread_zones: p % 4 == 0,
            }
        })
        .collect();
    // Scale memory so the containers fill `fill` of the hosts' memory, CPU to 60 % and
    // network to 40 % of theirs.
    for (r, target) in [(0, fill), (1, 0.6), (2, 0.4)] {
        let demand: f64 = pool_list
            .iter()
            .map(|p| p.usage[r] * p.replicas as f64)
            .sum();
        let supply: f64 = host_list.iter().map(|h| h.capacity[r]).sum();
        for p in &mut pool_list {
            p.usage[r] *= target * supply / demand;
        }
    }
    Cluster {
        pools: pool_list,
        hosts: host_list,
        current: None,
    }
}

fn timed<T>(f: impl Fn() -> T) -> (T, f64) {
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

/// Prints the placement table (Markdown) and returns the raw rows (JSON lines).
pub(crate) fn run() -> String {
    let sets: Vec<(&str, Cluster, Objective)> = vec![
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
    ];
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

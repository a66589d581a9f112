//! The placement solver against its rules, its bound and brute force.
#![allow(clippy::needless_range_loop)]

use dockopt_placement::{
    CPU, Cluster, Construct, Host, MEM, NET, Objective, Options, Pool, place, solve,
};
use proptest::prelude::*;

fn host(name: &str, mem: f64, cpu: f64, net: f64) -> Host {
    Host {
        name: name.into(),
        capacity: [mem, cpu, net],
        zone: None,
        labels: Default::default(),
        down: false,
    }
}

fn pool(name: &str, replicas: usize, mem: f64, cpu: f64, net: f64) -> Pool {
    Pool {
        name: name.into(),
        replicas,
        usage: [mem, cpu, net],
        max_per_host: None,
        spread_zones: false,
    }
}

/// Every rule of a placement, checked from scratch.
fn check_rules(cl: &Cluster, out: &dockopt_placement::Outcome, cpu_limit: Option<f64>) {
    let mut loads = vec![[0.0f64; 3]; cl.hosts.len()];
    let mut count = vec![vec![0usize; cl.pools.len()]; cl.hosts.len()];
    for (c, h) in out.host_of.iter().enumerate() {
        let h = h.expect("placed");
        assert!(!cl.hosts[h].down, "nothing on a host that is down");
        let p = out.pool_of[c];
        for r in 0..3 {
            loads[h][r] += cl.pools[p].usage[r];
        }
        count[h][p] += 1;
    }
    for (h, host) in cl.hosts.iter().enumerate() {
        assert!(
            loads[h][MEM] <= host.capacity[MEM] * (1.0 + 1e-9),
            "memory on {}",
            host.name
        );
        assert!(
            loads[h][NET] <= host.capacity[NET] * (1.0 + 1e-9),
            "network on {}",
            host.name
        );
        if let Some(l) = cpu_limit {
            assert!(
                loads[h][CPU] <= host.capacity[CPU] * l * (1.0 + 1e-9),
                "cpu limit on {}",
                host.name
            );
        }
        for p in 0..cl.pools.len() {
            assert!(
                count[h][p] <= cl.max_per_host(p),
                "spread of {} on {}",
                cl.pools[p].name,
                host.name
            );
        }
    }
    assert_eq!(
        out.host_of.len(),
        cl.pools.iter().map(|p| p.replicas).sum::<usize>()
    );
}

fn small_cluster() -> impl Strategy<Value = Cluster> {
    let pools = proptest::collection::vec((1usize..4, 1u32..8, 1u32..8, 0u32..4), 1..4);
    let hosts = proptest::collection::vec((16u32..40, 4u32..12, 8u32..20), 2..4);
    (pools, hosts).prop_map(|(pools, hosts)| Cluster {
        pools: pools
            .into_iter()
            .enumerate()
            .map(|(i, (r, m, c, n))| {
                pool(
                    &format!("p{i}"),
                    r,
                    f64::from(m),
                    f64::from(c) / 2.0,
                    f64::from(n),
                )
            })
            .collect(),
        hosts: hosts
            .into_iter()
            .enumerate()
            .map(|(i, (m, c, n))| host(&format!("h{i}"), f64::from(m), f64::from(c), f64::from(n)))
            .collect(),
        current: None,
    })
}

/// The best max-CPU-load of every assignment (tiny clusters only).
fn brute_force(cl: &Cluster) -> Option<f64> {
    let pool_of = cl.containers();
    let hosts = cl.hosts.len();
    let mut best: Option<f64> = None;
    let total = hosts.pow(pool_of.len() as u32);
    for code in 0..total {
        let mut x = code;
        let mut loads = vec![[0.0f64; 3]; hosts];
        let mut count = vec![vec![0usize; cl.pools.len()]; hosts];
        for &p in &pool_of {
            let h = x % hosts;
            x /= hosts;
            for r in 0..3 {
                loads[h][r] += cl.pools[p].usage[r];
            }
            count[h][p] += 1;
        }
        let ok = (0..hosts).all(|h| {
            loads[h][MEM] <= cl.hosts[h].capacity[MEM] + 1e-9
                && loads[h][NET] <= cl.hosts[h].capacity[NET] + 1e-9
                && (0..cl.pools.len()).all(|p| count[h][p] <= cl.max_per_host(p))
        });
        if ok {
            let v = (0..hosts)
                .map(|h| loads[h][CPU] / cl.hosts[h].capacity[CPU])
                .fold(0.0, f64::max);
            best = Some(best.map_or(v, |b: f64| b.min(v)));
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn placements_keep_every_rule_and_respect_the_bound(cl in small_cluster()) {
        let options = Options::default();
        let out = solve(&cl, &options);
        let optimum = brute_force(&cl);
        match optimum {
            Some(opt) if out.host_of.iter().all(Option::is_some) => {
                check_rules(&cl, &out, None);
                prop_assert!(out.value + 1e-9 >= opt, "value {} below the optimum {}", out.value, opt);
                prop_assert!(out.lower_bound <= opt + 1e-9, "bound {} above the optimum {}", out.lower_bound, opt);
            }
            Some(_) => {
                // Fragmentation may defeat the heuristics; they must say what is short.
                prop_assert!(!out.shortages.is_empty());
            }
            None => prop_assert!(out.host_of.iter().any(Option::is_none) && !out.shortages.is_empty()),
        }
        // Local search never makes the construction worse.
        let plain = place(&cl, &options, Construct::Greedy, false);
        let searched = place(&cl, &options, Construct::Greedy, true);
        if plain.host_of.iter().all(Option::is_some) {
            prop_assert!(searched.value <= plain.value + 1e-12);
        }
        prop_assert_eq!(solve(&cl, &options), out, "deterministic");
        // The integer model finds the brute-force optimum; its LP relaxation bounds it.
        match (optimum, dockopt_placement::prove(&cl, &options)) {
            (Some(opt), Ok(proved)) => {
                check_rules(&cl, &proved, None);
                prop_assert!((proved.value - opt).abs() < 1e-6, "mip {} vs brute force {}", proved.value, opt);
                prop_assert!(dockopt_placement::bound(&cl, &options) <= opt + 1e-6);
            }
            (None, Err(_)) => {}
            (opt, proved) => prop_assert!(false, "brute force {:?} but mip {:?}", opt, proved.map(|p| p.value)),
        }
    }
}

#[test]
fn failover_moves_only_what_ran_on_the_failed_host() {
    let mut cl = Cluster {
        pools: vec![pool("web", 4, 1.0, 1.0, 1.0), pool("db", 2, 4.0, 2.0, 1.0)],
        hosts: (0..4)
            .map(|i| host(&format!("h{i}"), 16.0, 8.0, 10.0))
            .collect(),
        current: None,
    };
    let first = solve(&cl, &Options::default());
    check_rules(&cl, &first, None);
    let mut current = vec![Vec::new(); 2];
    for (c, h) in first.host_of.iter().enumerate() {
        current[first.pool_of[c]].push(h.expect("placed"));
    }
    cl.current = Some(current);
    let on_h0 = first.host_of.iter().filter(|h| **h == Some(0)).count();
    assert!(on_h0 > 0);
    cl.hosts[0].down = true;
    let out = solve(
        &cl,
        &Options {
            min_moves: true,
            ..Options::default()
        },
    );
    check_rules(&cl, &out, None);
    assert_eq!(out.min_moves, on_h0);
    assert_eq!(
        out.moves.len(),
        on_h0,
        "only the failed host's containers move"
    );
    assert!(out.moves.iter().all(|m| m.from == Some(0)));
}

#[test]
fn shortages_name_the_resource_and_the_amount() {
    let cl = Cluster {
        pools: vec![pool("big", 3, 10.0 * 1024.0 * 1024.0 * 1024.0, 1.0, 0.0)],
        hosts: vec![
            host("a", 16.0 * 1024.0 * 1024.0 * 1024.0, 8.0, 1e9),
            host("b", 8.0 * 1024.0 * 1024.0 * 1024.0, 8.0, 1e9),
        ],
        current: None,
    };
    let out = solve(&cl, &Options::default());
    assert!(out.host_of.iter().any(Option::is_none));
    let text = out.shortages.join("\n");
    assert!(
        text.contains(
            "memory: the pools need 30.0GiB, the 2 hosts that are up offer 24.0GiB: short by 6.0GiB"
        ),
        "{text}"
    );
    assert!(text.contains("pool big: 2 container(s)"), "{text}");
}

#[test]
fn fewest_hosts_meets_its_bound_on_an_easy_set() {
    let cl = Cluster {
        pools: vec![pool("a", 8, 4.0, 1.0, 1.0), pool("b", 8, 2.0, 1.0, 1.0)],
        hosts: (0..10)
            .map(|i| host(&format!("h{i}"), 16.0, 16.0, 100.0))
            .collect(),
        current: None,
    };
    let options = Options {
        objective: Objective::FewestHosts,
        ..Options::default()
    };
    let out = solve(&cl, &options);
    check_rules(&cl, &out, None);
    // 48 memory units over hosts of 16, but each pool at most ⌈8/10⌉ = 1 per host: 8 hosts.
    assert_eq!(out.lower_bound, 8.0);
    assert!(out.value <= out.lower_bound + 1.0, "{} hosts", out.value);
}

#[test]
fn huge_per_host_limits_are_no_limit_and_never_overflow() {
    for limit in [1usize << 32, (1usize << 63) - 1, usize::MAX] {
        let mut web = pool("web", 4, 1.0, 1.0, 1.0);
        web.max_per_host = Some(limit);
        web.spread_zones = true;
        let mut hosts: Vec<Host> = (0..2)
            .map(|i| host(&format!("h{i}"), 16.0, 8.0, 10.0))
            .collect();
        hosts[0].zone = Some("a".into());
        let cl = Cluster {
            pools: vec![web],
            hosts,
            current: None,
        };
        assert_eq!(cl.max_per_host(0), 4);
        let out = solve(&cl, &Options::default());
        assert!(out.shortages.is_empty(), "{limit}: {:?}", out.shortages);
        check_rules(&cl, &out, None);
        assert!(dockopt_placement::infeasibility(&cl, None).is_empty());
    }
}

#[test]
fn prove_says_up_front_when_the_model_is_too_large() {
    use dockopt_placement::generate::{Shape, cluster};
    // The seed's small size: 20 pools × 4 hosts, 80 integer variables. microlp has no work
    // limit, so the answer comes at once, with the reason.
    let cl = cluster(1, 20, 4, 0.7, Shape::default());
    let err = dockopt_placement::prove(&cl, &Options::default()).expect_err("too large");
    assert!(
        err.contains("too large to prove: 80 integer variables (20 pools × 4 hosts that are up)"),
        "{err}"
    );
}

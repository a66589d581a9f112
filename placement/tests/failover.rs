//! Failover on tight generated clusters: search (chains of evictions) before reporting a
//! shortage, and a shortage names what is short.

use dockopt_placement::generate::planted_failover;
use dockopt_placement::{MEM, Options, solve};

fn min_moves() -> Options {
    Options {
        min_moves: true,
        ..Options::default()
    }
}

#[test]
fn a_tight_failover_searches_and_places_everything() {
    // 200 pools × 10 hosts, memory 89 % full; with host 0 down the nine left are 99.9 % full
    // in the planted answer. Placing host 0's containers one by one (with single evictions)
    // leaves one unplaced; chains of evictions place it.
    let (mut cl, _planted) = planted_failover(1, 200, 10, 0.899);
    let must: usize = cl
        .current
        .iter()
        .flatten()
        .flatten()
        .filter(|&&h| h == 0)
        .count();
    cl.hosts[0].down = true;
    let one_by_one = solve(
        &cl,
        &Options {
            effort: 0.0,
            ..min_moves()
        },
    );
    assert_eq!(
        one_by_one.host_of.iter().filter(|h| h.is_none()).count(),
        1,
        "the instance is tight enough to need a search"
    );
    let out = solve(&cl, &min_moves());
    assert!(out.shortages.is_empty(), "{:?}", out.shortages);
    let mut mem = vec![0.0; cl.hosts.len()];
    for (c, h) in out.host_of.iter().enumerate() {
        let h = h.expect("placed");
        assert_ne!(h, 0, "nothing on the host that is down");
        mem[h] += cl.pools[out.pool_of[c]].usage[MEM];
    }
    for (h, host) in cl.hosts.iter().enumerate() {
        assert!(mem[h] <= host.capacity[MEM] * (1.0 + 1e-9), "{}", host.name);
    }
    assert_eq!(out.min_moves, must);
    assert!(
        out.moves.len() as f64 <= 1.2 * must as f64,
        "{} moves for {must}",
        out.moves.len()
    );
    assert_eq!(solve(&cl, &min_moves()), out, "deterministic");
}

#[test]
fn a_shortage_after_the_search_names_the_resource() {
    // The nine hosts left exactly full in the planted answer: the search does not find that
    // perfect packing, and says which resource refuses the container on how many hosts.
    let (mut cl, _) = planted_failover(1, 200, 10, 0.9);
    cl.hosts[0].down = true;
    let out = solve(&cl, &min_moves());
    assert!(out.host_of.iter().any(Option::is_none));
    let text = out.shortages.join("\n");
    assert!(text.contains("fit on no host after searching"), "{text}");
    assert!(text.contains("memory is short on 9 host(s)"), "{text}");
}

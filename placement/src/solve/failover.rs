//! Placing what did not fit: one container moved out of the way (`make_room`), then chains of
//! evictions (`eviction_chains`); what is still unplaced is explained per host (`why_unplaced`).

use super::construct::by_size;
use super::state::State;
use crate::model::{CPU, MEM, NET, Objective, RESOURCE_NAMES};
use crate::units::show_bytes;

/// How deep an eviction chain goes: the container placed, then up to this many containers
/// each moved out of the way of the one before it.
pub(super) const CHAIN_DEPTH: usize = 3;
/// Per level of a chain, the evictions tried on one host (the smallest that make room).
pub(super) const CHAIN_WIDTH: usize = 4;

/// Places containers that nothing else could by chains of evictions: put the container on a
/// host its rules allow, move one container there out of the way to another host, which may
/// in turn move one, up to [`CHAIN_DEPTH`] levels (iterative deepening, so short chains and
/// few moves come first). Returns those still unplaced and the work (evictions tried).
pub(super) fn eviction_chains(
    state: &mut State<'_>,
    pool_of: &[usize],
    host_of: &mut [Option<usize>],
    unplaced: &[usize],
    budget: f64,
) -> (Vec<usize>, f64) {
    let mut work = 0.0;
    let mut left = Vec::new();
    // Largest first: they have the fewest places.
    let mut order = unplaced.to_vec();
    by_size(state.cl, pool_of, &mut order);
    for c in order {
        let placed = (0..=CHAIN_DEPTH)
            .any(|depth| chain(state, pool_of, host_of, c, depth, None, &mut work, budget));
        if !placed {
            left.push(c);
        }
    }
    (left, work)
}

/// Whether pool p's rules (host up, per-host limit, zone spread) allow one more on host h,
/// capacity aside.
pub(super) fn rules_allow(state: &State<'_>, p: usize, h: usize) -> bool {
    !state.cl.hosts[h].down
        && state.count[h][p] < state.max_per_host[p]
        && state.zone_of[h].is_none_or(|z| state.zone_count[z][p] < state.zone_max[p])
}

/// One step of [`eviction_chains`]: places container c (unplaced) with at most `depth`
/// evictions below it, never on `avoid` (the host it was just evicted from).
#[allow(clippy::too_many_arguments)]
pub(super) fn chain(
    state: &mut State<'_>,
    pool_of: &[usize],
    host_of: &mut [Option<usize>],
    c: usize,
    depth: usize,
    avoid: Option<usize>,
    work: &mut f64,
    budget: f64,
) -> bool {
    let cl = state.cl;
    let p = pool_of[c];
    let hosts: Vec<usize> = (0..cl.hosts.len())
        .filter(|&h| Some(h) != avoid && rules_allow(state, p, h))
        .collect();
    // Directly, best fit: the host left with the least room on its tightest resource.
    let slack = |state: &State<'_>, h: usize| {
        let u = state.usage(p);
        [MEM, CPU, NET]
            .iter()
            .filter(|&&r| r != CPU || state.check_cpu)
            .map(|&r| {
                let cap = cl.hosts[h].capacity[r];
                if cap > 0.0 {
                    (state.limit[h][r] - state.loads[h][r] - u[r]) / cap
                } else {
                    0.0
                }
            })
            .fold(f64::INFINITY, f64::min)
    };
    *work += hosts.len() as f64;
    if let Some(h) = hosts
        .iter()
        .copied()
        .filter(|&h| state.fits(p, h))
        .min_by(|&a, &b| slack(state, a).total_cmp(&slack(state, b)).then(a.cmp(&b)))
    {
        state.add(p, h);
        host_of[c] = Some(h);
        return true;
    }
    if depth == 0 || *work >= budget {
        return false;
    }
    // Hosts missing the least room first.
    let mut by_missing: Vec<(f64, usize)> = hosts.iter().map(|&h| (-slack(state, h), h)).collect();
    by_missing.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (_, h) in by_missing {
        // Pools on h whose one container, moved away, makes room for c: smallest first.
        let size = |q: usize| {
            (0..3)
                .map(|r| {
                    let cap = cl.hosts[h].capacity[r];
                    if cap > 0.0 {
                        cl.pools[q].usage[r] / cap
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        };
        let mut evictable: Vec<usize> = (0..cl.pools.len())
            .filter(|&q| q != p && state.count[h][q] > 0)
            .filter(|&q| {
                let mut l = state.loads[h];
                for r in 0..3 {
                    l[r] += cl.pools[p].usage[r] - cl.pools[q].usage[r];
                }
                state.fits_load(h, &l)
            })
            .collect();
        evictable.sort_by(|&a, &b| size(a).total_cmp(&size(b)).then(a.cmp(&b)));
        for q in evictable.into_iter().take(CHAIN_WIDTH) {
            *work += 1.0;
            if *work >= budget {
                return false;
            }
            let Some(cq) = (0..pool_of.len()).find(|&k| pool_of[k] == q && host_of[k] == Some(h))
            else {
                continue;
            };
            state.remove(q, h);
            host_of[cq] = None;
            state.add(p, h);
            host_of[c] = Some(h);
            if chain(
                state,
                pool_of,
                host_of,
                cq,
                depth - 1,
                Some(h),
                work,
                budget,
            ) {
                return true;
            }
            state.remove(p, h);
            host_of[c] = None;
            state.add(q, h);
            host_of[cq] = Some(h);
        }
    }
    false
}

/// Why the containers of pool p that are left fit nowhere: per host that is up, the first
/// rule or resource that refuses one more.
pub(super) fn why_unplaced(state: &State<'_>, p: usize) -> String {
    let cl = state.cl;
    let u = cl.pools[p].usage;
    let mut per_host_limit = 0;
    let mut zone = 0;
    let mut short = [0usize; 3];
    let mut free = [0.0f64; 3];
    for h in (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down) {
        for r in 0..3 {
            free[r] = free[r].max(state.limit[h][r] - state.loads[h][r]);
        }
        if state.count[h][p] >= state.max_per_host[p] {
            per_host_limit += 1;
        } else if state.zone_of[h].is_some_and(|z| state.zone_count[z][p] >= state.zone_max[p]) {
            zone += 1;
        } else if let Some(r) = [MEM, NET, CPU]
            .into_iter()
            .filter(|&r| r != CPU || state.check_cpu)
            .find(|&r| state.loads[h][r] + u[r] > state.limit[h][r] * (1.0 + 1e-9) + 1e-9)
        {
            short[r] += 1;
        }
    }
    let show = |r: usize, v: f64| match r {
        CPU => format!("{v:.2} cores"),
        MEM => show_bytes(v),
        _ => format!("{}/s", show_bytes(v)),
    };
    let mut parts = Vec::new();
    if per_host_limit > 0 {
        parts.push(format!(
            "{per_host_limit} host(s) already run {} of it (its per-host limit)",
            state.max_per_host[p]
        ));
    }
    if zone > 0 {
        parts.push(format!(
            "{zone} host(s) are in zones that already run {} of it (zone spread)",
            state.zone_max[p]
        ));
    }
    for r in [MEM, NET, CPU] {
        if short[r] > 0 {
            let what = if r == CPU {
                "cpu limit"
            } else {
                RESOURCE_NAMES[r]
            };
            parts.push(format!(
                "{what} is short on {} host(s): one needs {}, the most free is {}",
                short[r],
                show(r, u[r]),
                show(r, free[r])
            ));
        }
    }
    parts.join("; ")
}

/// Places containers that did not fit by moving one other container out of the way: for a host
/// where the rules allow the container but capacity does not, move one container of another
/// pool to a host where it fits, if that makes room. Returns those still unplaced and the work.
pub(super) fn make_room(
    state: &mut State<'_>,
    pool_of: &[usize],
    host_of: &mut [Option<usize>],
    unplaced: &[usize],
    objective: Objective,
) -> (Vec<usize>, f64) {
    let cl = state.cl;
    let hosts: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    let mut left = Vec::new();
    let mut work = 0.0;
    'container: for &c in unplaced {
        let p = pool_of[c];
        let mut targets = hosts.clone();
        targets.sort_by(|&a, &b| {
            state
                .key(a, objective)
                .total_cmp(&state.key(b, objective))
                .then(a.cmp(&b))
        });
        // Room made for an earlier container may already be enough.
        if let Some(&h) = targets.iter().find(|&&h| state.fits(p, h)) {
            state.add(p, h);
            host_of[c] = Some(h);
            continue;
        }
        for h in targets {
            if state.count[h][p] >= state.max_per_host[p]
                || state.zone_of[h].is_some_and(|z| state.zone_count[z][p] >= state.zone_max[p])
            {
                continue;
            }
            // Try the largest containers first: one eviction then makes room for more.
            let mut present: Vec<usize> = (0..cl.pools.len())
                .filter(|&q| q != p && state.count[h][q] > 0)
                .collect();
            let cap = cl.hosts[h].capacity;
            let size = |q: usize| {
                (0..3)
                    .map(|r| {
                        if cap[r] > 0.0 {
                            cl.pools[q].usage[r] / cap[r]
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>()
            };
            present.sort_by(|&a, &b| size(b).total_cmp(&size(a)).then(a.cmp(&b)));
            for q in present {
                work += hosts.len() as f64;
                state.remove(q, h);
                let room = state.fits(p, h);
                let elsewhere = hosts.iter().copied().find(|&g| g != h && state.fits(q, g));
                match (room, elsewhere) {
                    (true, Some(g)) => {
                        state.add(q, g);
                        if let Some(qc) =
                            (0..pool_of.len()).find(|&k| pool_of[k] == q && host_of[k] == Some(h))
                        {
                            host_of[qc] = Some(g);
                        }
                        state.add(p, h);
                        host_of[c] = Some(h);
                        continue 'container;
                    }
                    _ => state.add(q, h),
                }
            }
        }
        left.push(c);
    }
    (left, work)
}

//! Constructive heuristics: the order containers are placed in, and one placement pass
//! (LPT, first fit decreasing, dot product, norm greedy).

use super::Construct;
use super::state::State;
use crate::model::{CPU, Cluster, MEM, NET, Objective};

/// The order containers are placed in: largest (by their largest normalised need) first.
pub(super) fn by_size(cl: &Cluster, pool_of: &[usize], containers: &mut [usize]) {
    let up: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    let mean = |r: usize| {
        up.iter().map(|&h| cl.hosts[h].capacity[r]).sum::<f64>() / up.len().max(1) as f64
    };
    let means = [mean(MEM), mean(CPU), mean(NET)];
    let size = |p: usize| {
        (0..3)
            .map(|r| {
                if means[r] > 0.0 {
                    cl.pools[p].usage[r] / means[r]
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max)
    };
    containers.sort_by(|&a, &b| {
        size(pool_of[b])
            .total_cmp(&size(pool_of[a]))
            .then(pool_of[a].cmp(&pool_of[b]))
            .then(a.cmp(&b))
    });
}

/// Places every container of `order` not yet placed; returns those that did not fit.
pub(super) fn construct(
    state: &mut State<'_>,
    pool_of: &[usize],
    host_of: &mut [Option<usize>],
    order: &[usize],
    how: Construct,
    objective: Objective,
) -> Vec<usize> {
    let cl = state.cl;
    let hosts = cl.hosts.len();
    // Hosts by decreasing normalised capacity, for opening hosts one by one.
    let mut by_capacity: Vec<usize> = (0..hosts).filter(|&h| !cl.hosts[h].down).collect();
    let total = |h: usize| cl.hosts[h].capacity.iter().sum::<f64>();
    by_capacity.sort_by(|&a, &b| total(b).total_cmp(&total(a)).then(a.cmp(&b)));
    let mut open: Vec<bool> = (0..hosts)
        .map(|h| state.count[h].iter().any(|&n| n > 0))
        .collect();
    let mut unplaced = Vec::new();
    for &c in order {
        if host_of[c].is_some() {
            continue;
        }
        let p = pool_of[c];
        let u = *state.usage(p);
        let packing = objective == Objective::FewestHosts;
        let candidates: Vec<usize> = match how {
            Construct::FirstFit => (0..hosts).collect(),
            _ if packing => by_capacity.iter().copied().filter(|&h| open[h]).collect(),
            _ => (0..hosts).collect(),
        };
        let score = |state: &State<'_>, h: usize| -> f64 {
            let cap = &cl.hosts[h].capacity;
            let free = |r: usize| {
                if cap[r] > 0.0 {
                    (state.limit[h][r] - state.loads[h][r]) / cap[r]
                } else {
                    0.0
                }
            };
            let need = |r: usize| if cap[r] > 0.0 { u[r] / cap[r] } else { 0.0 };
            match how {
                Construct::FirstFit => 0.0,
                Construct::DotProduct if packing => -(0..3).map(|r| need(r) * free(r)).sum::<f64>(),
                Construct::NormGreedy if packing => {
                    (0..3).map(|r| (free(r) - need(r)).powi(2)).sum::<f64>()
                }
                _ if packing => 0.0,
                _ => {
                    let l = &state.loads[h];
                    state.key_of(h, &[l[0] + u[0], l[1] + u[1], l[2] + u[2]], objective)
                }
            }
        };
        let mut best: Option<(f64, usize)> = None;
        for h in candidates {
            if state.fits(p, h) {
                let s = score(state, h);
                if best.is_none_or(|(b, _)| s < b) {
                    best = Some((s, h));
                }
            }
        }
        if best.is_none() && packing {
            // Open the largest closed host that fits.
            best = by_capacity
                .iter()
                .copied()
                .find(|&h| !open[h] && state.fits(p, h))
                .map(|h| (0.0, h));
        }
        match best {
            Some((_, h)) => {
                state.add(p, h);
                open[h] = true;
                host_of[c] = Some(h);
            }
            None => unplaced.push(c),
        }
    }
    unplaced
}

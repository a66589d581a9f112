//! Local search on a complete placement: best-improvement moves and swaps off the most loaded
//! host (balance objectives), and emptying the least loaded hosts (fewest hosts).

use super::construct::by_size;
use super::state::State;
use crate::model::{Objective, Resources};

/// Best-improvement moves and swaps off the most loaded host while they lower the objective
/// (max load, then the sum of squared loads). Returns the work spent.
pub(super) fn improve_balance(
    state: &mut State<'_>,
    pool_of: &[usize],
    host_of: &mut [Option<usize>],
    objective: Objective,
    budget: f64,
) -> f64 {
    let cl = state.cl;
    let hosts: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    let pools = cl.pools.len();
    let mut work = 0.0;
    let eps = 1e-12;
    while work < budget {
        let mut keys: Vec<(f64, usize)> = hosts
            .iter()
            .map(|&h| (state.key(h, objective), h))
            .collect();
        keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let Some(&(top, hmax)) = keys.first() else {
            break;
        };
        let sumsq: f64 = keys.iter().map(|k| k.0 * k.0).sum();
        let rest_max = |a: usize, b: usize| {
            keys.iter()
                .find(|k| k.1 != a && k.1 != b)
                .map_or(0.0, |k| k.0)
        };
        let after = |state: &State<'_>, h: usize, minus: Option<usize>, plus: Option<usize>| {
            let mut l = state.loads[h];
            for (p, sign) in [(minus, -1.0), (plus, 1.0)] {
                if let Some(p) = p {
                    for r in 0..3 {
                        l[r] += sign * cl.pools[p].usage[r];
                    }
                }
            }
            (l, state.key_of(h, &l, objective))
        };
        // (new max, new sum of squares, move) of the best change found.
        let mut best: Option<(f64, f64, usize, usize, Option<usize>)> = None;
        let better =
            |m: f64, s: f64, best: &Option<(f64, f64, usize, usize, Option<usize>)>| match best {
                None => m < top - eps || (m <= top + eps && s < sumsq - eps),
                Some((bm, bs, ..)) => m < bm - eps || (m <= bm + eps && s < bs - eps),
            };
        for p in (0..pools).filter(|&p| state.count[hmax][p] > 0) {
            let (_, kh) = after(state, hmax, Some(p), None);
            for &g in hosts.iter().filter(|&&g| g != hmax) {
                work += 1.0;
                if !state.fits(p, g) {
                    continue;
                }
                let (_, kg) = after(state, g, None, Some(p));
                let m = rest_max(hmax, g).max(kh).max(kg);
                let old_g = state.key(g, objective);
                let s = sumsq - top * top - old_g * old_g + kh * kh + kg * kg;
                if better(m, s, &best) {
                    best = Some((m, s, p, g, None));
                }
            }
        }
        if best.is_none() {
            // Swaps: one container of p from hmax with one of q from g.
            for p in (0..pools).filter(|&p| state.count[hmax][p] > 0) {
                for &g in hosts.iter().filter(|&&g| g != hmax) {
                    for q in (0..pools).filter(|&q| q != p && state.count[g][q] > 0) {
                        work += 1.0;
                        let (lh, kh) = after(state, hmax, Some(p), Some(q));
                        let (lg, kg) = after(state, g, Some(q), Some(p));
                        let m = rest_max(hmax, g).max(kh).max(kg);
                        let old_g = state.key(g, objective);
                        let s = sumsq - top * top - old_g * old_g + kh * kh + kg * kg;
                        if !better(m, s, &best) || !swap_ok(state, p, q, hmax, g, &lh, &lg) {
                            continue;
                        }
                        best = Some((m, s, p, g, Some(q)));
                    }
                }
            }
        }
        let Some((_, _, p, g, q)) = best else { break };
        move_one(state, pool_of, host_of, p, hmax, g);
        if let Some(q) = q {
            move_one(state, pool_of, host_of, q, g, hmax);
        }
    }
    work
}

/// Whether exchanging one p (on a) with one q (on b) keeps every rule.
pub(super) fn swap_ok(
    state: &State<'_>,
    p: usize,
    q: usize,
    a: usize,
    b: usize,
    la: &Resources,
    lb: &Resources,
) -> bool {
    if !state.fits_load(a, la) || !state.fits_load(b, lb) {
        return false;
    }
    if state.count[b][p] >= state.max_per_host[p] || state.count[a][q] >= state.max_per_host[q] {
        return false;
    }
    match (state.zone_of[a], state.zone_of[b]) {
        (Some(za), Some(zb)) if za != zb => {
            state.zone_count[zb][p] < state.zone_max[p]
                && state.zone_count[za][q] < state.zone_max[q]
        }
        _ => true,
    }
}

/// Moves one container of pool p from host a to host b (the lowest-numbered such container).
pub(super) fn move_one(
    state: &mut State<'_>,
    pool_of: &[usize],
    host_of: &mut [Option<usize>],
    p: usize,
    a: usize,
    b: usize,
) {
    if let Some(c) = (0..pool_of.len()).find(|&c| pool_of[c] == p && host_of[c] == Some(a)) {
        state.remove(p, a);
        state.add(p, b);
        host_of[c] = Some(b);
    }
}

/// Fewest hosts: empty the least loaded hosts into the others while possible.
pub(super) fn improve_packing(
    state: &mut State<'_>,
    pool_of: &[usize],
    host_of: &mut [Option<usize>],
    budget: f64,
) -> f64 {
    let cl = state.cl;
    let mut work = 0.0;
    let mut failed = vec![false; cl.hosts.len()];
    loop {
        let used: Vec<usize> = (0..cl.hosts.len())
            .filter(|&h| state.count[h].iter().any(|&n| n > 0))
            .collect();
        let victim = used
            .iter()
            .copied()
            .filter(|&h| !failed[h])
            .min_by(|&a, &b| {
                state
                    .key(a, Objective::Balance)
                    .total_cmp(&state.key(b, Objective::Balance))
                    .then(a.cmp(&b))
            });
        let Some(v) = victim else { break };
        if work >= budget {
            break;
        }
        let saved = (state.clone_counts(), host_of.to_vec());
        let mut containers: Vec<usize> = (0..pool_of.len())
            .filter(|&c| host_of[c] == Some(v))
            .collect();
        by_size(cl, pool_of, &mut containers);
        let mut ok = true;
        for c in containers {
            let p = pool_of[c];
            state.remove(p, v);
            host_of[c] = None;
            // Best fit among the other used hosts: the one left fullest.
            let target = used
                .iter()
                .copied()
                .filter(|&h| h != v && state.fits(p, h))
                .min_by(|&a, &b| {
                    let left = |h: usize| 1.0 - state.key(h, Objective::Balance);
                    left(a).total_cmp(&left(b)).then(a.cmp(&b))
                });
            work += used.len() as f64;
            match target {
                Some(h) => {
                    state.add(p, h);
                    host_of[c] = Some(h);
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            state.restore_counts(saved.0);
            host_of.copy_from_slice(&saved.1);
            failed[v] = true;
        }
    }
    work
}

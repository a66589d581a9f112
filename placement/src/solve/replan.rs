//! A re-plan's relation to the current placement: the moves to a new placement, the containers
//! that cannot stay, and per-(pool, host) counts (the integer model's answer) as a placement that
//! keeps containers where they run.

use super::Move;
use super::state::State;
use crate::model::Cluster;

/// The moves from the current placement to `host_of` (empty without a current placement):
/// replica i of a pool is the i-th container of that pool, as everywhere.
#[must_use]
pub fn moves_from_current(cl: &Cluster, pool_of: &[usize], host_of: &[Option<usize>]) -> Vec<Move> {
    let Some(current) = &cl.current else {
        return Vec::new();
    };
    let mut next = vec![0usize; cl.pools.len()];
    let mut out = Vec::new();
    for (c, &p) in pool_of.iter().enumerate() {
        let was = current.get(p).and_then(|hs| hs.get(next[p])).copied();
        next[p] += 1;
        if let Some(to) = host_of[c]
            && was != Some(to)
        {
            out.push(Move {
                pool: p,
                from: was,
                to,
            });
        }
    }
    out
}

/// Containers of the current placement that cannot stay where they run (their host is down,
/// or a limit is reached as the current placement is read in pool order).
pub(super) fn must_move(cl: &Cluster, cpu_limit: Option<f64>) -> usize {
    let Some(current) = &cl.current else {
        return 0;
    };
    let mut state = State::new(cl, cpu_limit);
    let mut n = 0;
    for (p, pool) in cl.pools.iter().enumerate() {
        for replica in 0..pool.replicas {
            match current.get(p).and_then(|hs| hs.get(replica)) {
                Some(&h) if h < cl.hosts.len() && state.fits(p, h) => state.add(p, h),
                _ => n += 1,
            }
        }
    }
    n
}

/// Containers per (pool, host) `counts` as a placement: each container whose current host
/// keeps a count of its pool stays there; the others take the hosts left, in host order.
pub(super) fn assign_counts(
    cl: &Cluster,
    pool_of: &[usize],
    counts: &[Vec<usize>],
) -> Vec<Option<usize>> {
    let mut left: Vec<Vec<usize>> = counts.to_vec();
    let mut host_of = vec![None; pool_of.len()];
    if let Some(current) = &cl.current {
        let mut next = vec![0usize; cl.pools.len()];
        for (c, &p) in pool_of.iter().enumerate() {
            let was = current.get(p).and_then(|hs| hs.get(next[p])).copied();
            next[p] += 1;
            if let Some(h) = was
                && h < cl.hosts.len()
                && left[p][h] > 0
            {
                left[p][h] -= 1;
                host_of[c] = Some(h);
            }
        }
    }
    for (c, &p) in pool_of.iter().enumerate() {
        if host_of[c].is_none()
            && let Some(h) = (0..cl.hosts.len()).find(|&h| left[p][h] > 0)
        {
            left[p][h] -= 1;
            host_of[c] = Some(h);
        }
    }
    host_of
}

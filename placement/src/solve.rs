//! Constructive heuristics, local search, bounds and re-plans.

use crate::model::{CPU, Cluster, MEM, NET, Objective, Options, RESOURCE_NAMES, Resources};
use crate::units::show_bytes;

/// A constructive heuristic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Construct {
    /// Largest first onto the host whose load stays lowest (LPT); for fewest hosts: first fit
    /// decreasing over hosts opened largest first.
    Greedy,
    /// First fit decreasing onto hosts in their listed order.
    FirstFit,
    /// Fewest hosts: the open host whose free capacity points most the way the container does
    /// (dot product, Panigrahy et al.).
    DotProduct,
    /// Fewest hosts: the open host left with the smallest normalised free capacity (L2 norm).
    NormGreedy,
}

/// One container moved from where it ran (or from nowhere) to a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// Its pool.
    pub pool: usize,
    /// Where it ran, if anywhere.
    pub from: Option<usize>,
    /// Where it runs now.
    pub to: usize,
}

/// A placement and what it is worth.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Pool of each container.
    pub pool_of: Vec<usize>,
    /// Host of each container (`None`: could not be placed).
    pub host_of: Vec<Option<usize>>,
    /// Per host, what its containers use.
    pub loads: Vec<Resources>,
    /// The objective's value (see [`Objective`]).
    pub value: f64,
    /// No placement does better than this.
    pub lower_bound: f64,
    /// Moves from the current placement (empty without one).
    pub moves: Vec<Move>,
    /// Containers that could not stay where they ran (on a host that is down, or over a limit
    /// as the current placement was read in order): every re-plan moves at least these.
    pub min_moves: usize,
    /// Why containers are unplaced, when some are.
    pub shortages: Vec<String>,
    /// Which construction and search produced it.
    pub method: String,
    /// Work spent, in move evaluations.
    pub work: f64,
}

/// A count as the search's `u32` counters hold it: a limit past `u32::MAX` is no limit there.
fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Per-host loads and per-(host, pool) counts, with the rules to check a change.
#[derive(Clone)]
struct State<'a> {
    cl: &'a Cluster,
    /// Capacity used for feasibility (CPU scaled by the limit, when there is one).
    limit: Vec<Resources>,
    loads: Vec<Resources>,
    count: Vec<Vec<u32>>,
    max_per_host: Vec<u32>,
    zone_of: Vec<Option<usize>>,
    zone_count: Vec<Vec<u32>>,
    zone_max: Vec<u32>,
    check_cpu: bool,
}

impl<'a> State<'a> {
    fn new(cl: &'a Cluster, cpu_limit: Option<f64>) -> Self {
        let h = cl.hosts.len();
        let p = cl.pools.len();
        let limit = cl
            .hosts
            .iter()
            .map(|host| {
                [
                    host.capacity[MEM],
                    host.capacity[CPU] * cpu_limit.unwrap_or(1.0),
                    host.capacity[NET],
                ]
            })
            .collect();
        let zones = cl.zones();
        let zone_of = cl
            .hosts
            .iter()
            .map(|host| {
                host.zone
                    .as_ref()
                    .and_then(|z| zones.iter().position(|x| x == z))
            })
            .collect();
        let zone_max = (0..p)
            .map(|k| {
                let pool = &cl.pools[k];
                if pool.spread_zones && !zones.is_empty() {
                    saturating_u32(pool.replicas.div_ceil(zones.len()))
                } else {
                    u32::MAX
                }
            })
            .collect();
        Self {
            cl,
            limit,
            loads: vec![[0.0; 3]; h],
            count: vec![vec![0; p]; h],
            max_per_host: (0..p).map(|k| saturating_u32(cl.max_per_host(k))).collect(),
            zone_of,
            zone_count: vec![vec![0; p]; zones.len()],
            zone_max,
            check_cpu: cpu_limit.is_some(),
        }
    }

    fn usage(&self, p: usize) -> &Resources {
        &self.cl.pools[p].usage
    }

    fn fits_load(&self, h: usize, load: &Resources) -> bool {
        let eps = 1e-9;
        load[MEM] <= self.limit[h][MEM] * (1.0 + eps) + eps
            && load[NET] <= self.limit[h][NET] * (1.0 + eps) + eps
            && (!self.check_cpu || load[CPU] <= self.limit[h][CPU] * (1.0 + eps) + eps)
    }

    fn fits(&self, p: usize, h: usize) -> bool {
        if self.cl.hosts[h].down || self.count[h][p] >= self.max_per_host[p] {
            return false;
        }
        if let Some(z) = self.zone_of[h]
            && self.zone_count[z][p] >= self.zone_max[p]
        {
            return false;
        }
        let u = self.usage(p);
        let l = &self.loads[h];
        self.fits_load(h, &[l[0] + u[0], l[1] + u[1], l[2] + u[2]])
    }

    fn add(&mut self, p: usize, h: usize) {
        let u = *self.usage(p);
        for r in 0..3 {
            self.loads[h][r] += u[r];
        }
        self.count[h][p] += 1;
        if let Some(z) = self.zone_of[h] {
            self.zone_count[z][p] += 1;
        }
    }

    fn remove(&mut self, p: usize, h: usize) {
        let u = *self.usage(p);
        for r in 0..3 {
            self.loads[h][r] -= u[r];
        }
        self.count[h][p] -= 1;
        if let Some(z) = self.zone_of[h] {
            self.zone_count[z][p] -= 1;
        }
    }

    /// The objective's per-host load of `load` on host `h`.
    fn key_of(&self, h: usize, load: &Resources, objective: Objective) -> f64 {
        let cap = &self.cl.hosts[h].capacity;
        let frac = |r: usize| {
            if cap[r] > 0.0 {
                load[r] / cap[r]
            } else if load[r] > 0.0 {
                f64::INFINITY
            } else {
                0.0
            }
        };
        match objective {
            Objective::MaxCpu | Objective::Feasible => frac(CPU),
            Objective::Balance | Objective::FewestHosts => frac(MEM).max(frac(CPU)).max(frac(NET)),
        }
    }

    fn key(&self, h: usize, objective: Objective) -> f64 {
        self.key_of(h, &self.loads[h], objective)
    }

    fn used_hosts(&self) -> usize {
        self.count
            .iter()
            .filter(|c| c.iter().any(|&n| n > 0))
            .count()
    }
}

/// The objective's value of a state.
fn value(state: &State<'_>, objective: Objective) -> f64 {
    match objective {
        Objective::FewestHosts => state.used_hosts() as f64,
        _ => (0..state.cl.hosts.len())
            .map(|h| state.key(h, objective))
            .fold(0.0, f64::max),
    }
}

/// No placement beats this (a relaxation: loads spread like a fluid over the hosts that are up).
#[must_use]
pub fn lower_bound(cl: &Cluster, objective: Objective) -> f64 {
    let up: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    let demand = |r: usize| {
        cl.pools
            .iter()
            .map(|p| p.usage[r] * p.replicas as f64)
            .sum::<f64>()
    };
    let supply = |r: usize| up.iter().map(|&h| cl.hosts[h].capacity[r]).sum::<f64>();
    let largest = |r: usize| {
        up.iter()
            .map(|&h| cl.hosts[h].capacity[r])
            .fold(0.0, f64::max)
    };
    let single = |r: usize| {
        cl.pools
            .iter()
            .filter(|p| p.replicas > 0)
            .map(|p| p.usage[r])
            .fold(0.0, f64::max)
    };
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            a / b
        } else if a > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    let per = |r: usize| ratio(demand(r), supply(r)).max(ratio(single(r), largest(r)));
    match objective {
        Objective::MaxCpu => per(CPU),
        Objective::Balance => per(MEM).max(per(CPU)).max(per(NET)),
        Objective::Feasible => 0.0,
        Objective::FewestHosts => {
            // For each limited resource, the fewest of the largest hosts that hold the whole
            // demand; and each pool needs replicas ÷ max-per-host hosts. (CPU limits placement
            // only when a CPU limit is given; the callers scale for it.)
            let mut need = 0usize;
            for r in [MEM, NET] {
                let mut caps: Vec<f64> = up.iter().map(|&h| cl.hosts[h].capacity[r]).collect();
                caps.sort_by(|a, b| b.total_cmp(a));
                let total = demand(r);
                let mut acc = 0.0;
                let mut k = 0;
                while acc < total * (1.0 - 1e-12) && k < caps.len() {
                    acc += caps[k];
                    k += 1;
                }
                need = need.max(k);
            }
            for p in 0..cl.pools.len() {
                if cl.pools[p].replicas > 0 {
                    need = need.max(cl.pools[p].replicas.div_ceil(cl.max_per_host(p)));
                }
            }
            need as f64
        }
    }
}

/// The better of the fluid bound and the LP relaxation (when the model is small enough).
#[must_use]
pub fn bound(cl: &Cluster, options: &Options) -> f64 {
    let fluid = lower_bound(cl, options.objective);
    crate::mip::lp_bound(cl, options).map_or(fluid, |lp| lp.max(fluid))
}

/// Reasons no placement can exist, each naming the resource or rule and the shortfall.
#[must_use]
pub fn infeasibility(cl: &Cluster, cpu_limit: Option<f64>) -> Vec<String> {
    let mut out = Vec::new();
    let up: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    if up.is_empty() {
        out.push("no host is up".into());
        return out;
    }
    let show = |r: usize, v: f64| {
        if r == CPU {
            format!("{v:.2} cores")
        } else if r == MEM {
            show_bytes(v)
        } else {
            format!("{}/s", show_bytes(v))
        }
    };
    let scale = |r: usize| {
        if r == CPU {
            cpu_limit.unwrap_or(1.0)
        } else {
            1.0
        }
    };
    let resources: Vec<usize> = if cpu_limit.is_some() {
        vec![MEM, CPU, NET]
    } else {
        vec![MEM, NET]
    };
    for &r in &resources {
        let demand: f64 = cl
            .pools
            .iter()
            .map(|p| p.usage[r] * p.replicas as f64)
            .sum();
        let supply: f64 = up.iter().map(|&h| cl.hosts[h].capacity[r] * scale(r)).sum();
        if demand > supply * (1.0 + 1e-9) {
            out.push(format!(
                "{}: the pools need {}, the {} hosts that are up offer {}: short by {}",
                RESOURCE_NAMES[r],
                show(r, demand),
                up.len(),
                show(r, supply),
                show(r, demand - supply)
            ));
        }
        for p in cl.pools.iter().filter(|p| p.replicas > 0) {
            let (best, host) = up
                .iter()
                .map(|&h| (cl.hosts[h].capacity[r] * scale(r), h))
                .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
            if p.usage[r] > best * (1.0 + 1e-9) {
                out.push(format!(
                    "pool {}: one container needs {} of {}; the largest host ({}) offers {}",
                    p.name,
                    show(r, p.usage[r]),
                    RESOURCE_NAMES[r],
                    cl.hosts[host].name,
                    show(r, best)
                ));
            }
        }
    }
    // Spread rules: how many replicas the hosts that are up may hold at all.
    let zones = cl.zones();
    for (k, p) in cl.pools.iter().enumerate() {
        let per_host = cl.max_per_host(k);
        let zone_max = if p.spread_zones && !zones.is_empty() {
            p.replicas.div_ceil(zones.len())
        } else {
            usize::MAX
        };
        let mut room = up
            .iter()
            .filter(|&&h| cl.hosts[h].zone.is_none())
            .count()
            .saturating_mul(per_host);
        for z in &zones {
            let in_zone = up
                .iter()
                .filter(|&&h| cl.hosts[h].zone.as_ref() == Some(z))
                .count();
            room = room.saturating_add(in_zone.saturating_mul(per_host).min(zone_max));
        }
        if p.replicas > room {
            let zone_rule = if zone_max == usize::MAX {
                String::new()
            } else {
                format!(", {zone_max} per zone")
            };
            out.push(format!(
                "pool {}: its spread rules (at most {per_host} per host{zone_rule}) allow {room} of its {} replicas on the {} hosts that are up",
                p.name,
                p.replicas,
                up.len()
            ));
        }
    }
    out
}

/// The order containers are placed in: largest (by their largest normalised need) first.
fn by_size(cl: &Cluster, pool_of: &[usize], containers: &mut [usize]) {
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
fn construct(
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

/// Best-improvement moves and swaps off the most loaded host while they lower the objective
/// (max load, then the sum of squared loads). Returns the work spent.
fn improve_balance(
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

/// How deep an eviction chain goes: the container placed, then up to this many containers
/// each moved out of the way of the one before it.
const CHAIN_DEPTH: usize = 3;
/// Per level of a chain, the evictions tried on one host (the smallest that make room).
const CHAIN_WIDTH: usize = 4;

/// Places containers that nothing else could by chains of evictions: put the container on a
/// host its rules allow, move one container there out of the way to another host, which may
/// in turn move one, up to [`CHAIN_DEPTH`] levels (iterative deepening, so short chains and
/// few moves come first). Returns those still unplaced and the work (evictions tried).
fn eviction_chains(
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
fn rules_allow(state: &State<'_>, p: usize, h: usize) -> bool {
    !state.cl.hosts[h].down
        && state.count[h][p] < state.max_per_host[p]
        && state.zone_of[h].is_none_or(|z| state.zone_count[z][p] < state.zone_max[p])
}

/// One step of [`eviction_chains`]: places container c (unplaced) with at most `depth`
/// evictions below it, never on `avoid` (the host it was just evicted from).
#[allow(clippy::too_many_arguments)]
fn chain(
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
fn why_unplaced(state: &State<'_>, p: usize) -> String {
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
fn make_room(
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

/// Whether exchanging one p (on a) with one q (on b) keeps every rule.
fn swap_ok(
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
fn move_one(
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
fn improve_packing(
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

impl State<'_> {
    fn clone_counts(&self) -> (Vec<Resources>, Vec<Vec<u32>>, Vec<Vec<u32>>) {
        (
            self.loads.clone(),
            self.count.clone(),
            self.zone_count.clone(),
        )
    }

    fn restore_counts(&mut self, saved: (Vec<Resources>, Vec<Vec<u32>>, Vec<Vec<u32>>)) {
        self.loads = saved.0;
        self.count = saved.1;
        self.zone_count = saved.2;
    }
}

/// A bound as an answer shows it: never above the value of a complete placement (the LP's
/// tolerance may put it a hair above); an incomplete placement has no value to compare with.
fn at_most(bound: f64, value: f64, host_of: &[Option<usize>]) -> f64 {
    if host_of.iter().all(Option::is_some) {
        bound.min(value)
    } else {
        bound
    }
}

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
fn must_move(cl: &Cluster, cpu_limit: Option<f64>) -> usize {
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
fn assign_counts(cl: &Cluster, pool_of: &[usize], counts: &[Vec<usize>]) -> Vec<Option<usize>> {
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

/// Places the cluster with one constructive heuristic and, with `search`, local search.
#[must_use]
pub fn place(cl: &Cluster, options: &Options, how: Construct, search: bool) -> Outcome {
    let pool_of = cl.containers();
    let mut host_of: Vec<Option<usize>> = vec![None; pool_of.len()];
    let mut state = State::new(cl, options.cpu_limit);
    let mut moves_needed = 0;
    if let Some(current) = &cl.current {
        // Keep what may stay, in pool order, as long as the rules allow.
        let mut next = vec![0usize; cl.pools.len()];
        for (c, &p) in pool_of.iter().enumerate() {
            let replica = next[p];
            next[p] += 1;
            if let Some(&h) = current.get(p).and_then(|hs| hs.get(replica))
                && h < cl.hosts.len()
                && state.fits(p, h)
            {
                state.add(p, h);
                host_of[c] = Some(h);
            } else {
                moves_needed += 1;
            }
        }
    }
    let mut order: Vec<usize> = (0..pool_of.len()).collect();
    by_size(cl, &pool_of, &mut order);
    if cl.current.is_some() {
        // Re-placing: the containers the spread rules allow on the fewest hosts go first, so the
        // flexible ones do not take the only places the constrained ones have.
        let allowed = |p: usize| {
            (0..cl.hosts.len())
                .filter(|&h| {
                    !cl.hosts[h].down
                        && state.count[h][p] < state.max_per_host[p]
                        && state.zone_of[h]
                            .is_none_or(|z| state.zone_count[z][p] < state.zone_max[p])
                })
                .count()
        };
        let rank: Vec<usize> = (0..cl.pools.len()).map(allowed).collect();
        order.sort_by_key(|&c| rank[pool_of[c]]);
    }
    let mut unplaced = construct(
        &mut state,
        &pool_of,
        &mut host_of,
        &order,
        how,
        options.objective,
    );
    let mut work = 0.0;
    if !unplaced.is_empty() {
        let (left, spent) = make_room(
            &mut state,
            &pool_of,
            &mut host_of,
            &unplaced,
            options.objective,
        );
        unplaced = left;
        work += spent;
    }
    if !unplaced.is_empty() {
        let (left, spent) = eviction_chains(
            &mut state,
            &pool_of,
            &mut host_of,
            &unplaced,
            options.effort,
        );
        unplaced = left;
        work += spent;
    }
    let keep_moves = cl.current.is_some() && options.min_moves;
    if search && !keep_moves && unplaced.is_empty() {
        work = match options.objective {
            Objective::FewestHosts => {
                improve_packing(&mut state, &pool_of, &mut host_of, options.effort)
            }
            Objective::Feasible => 0.0,
            objective => improve_balance(
                &mut state,
                &pool_of,
                &mut host_of,
                objective,
                options.effort,
            ),
        };
    }
    let mut shortages = Vec::new();
    if !unplaced.is_empty() {
        shortages = infeasibility(cl, options.cpu_limit);
        let mut per_pool = std::collections::BTreeMap::new();
        for &c in &unplaced {
            *per_pool.entry(pool_of[c]).or_insert(0usize) += 1;
        }
        for (p, n) in per_pool {
            let u = cl.pools[p].usage;
            shortages.push(format!(
                "pool {}: {n} container(s) of {} memory, {:.2} cores, {}/s network fit on no host after searching ({} evictions and moves tried): {}",
                cl.pools[p].name,
                show_bytes(u[MEM]),
                u[CPU],
                show_bytes(u[NET]),
                work,
                why_unplaced(&state, p)
            ));
        }
    }
    let moves = moves_from_current(cl, &pool_of, &host_of);
    let name = match how {
        Construct::Greedy if options.objective == Objective::FewestHosts => "ffd-largest-host",
        Construct::Greedy => "lpt",
        Construct::FirstFit => "ffd",
        Construct::DotProduct => "dot-product",
        Construct::NormGreedy => "norm-greedy",
    };
    let achieved = value(&state, options.objective);
    Outcome {
        value: achieved,
        loads: state.loads.clone(),
        lower_bound: at_most(lower_bound(cl, options.objective), achieved, &host_of),
        pool_of,
        host_of,
        moves,
        min_moves: moves_needed,
        shortages,
        method: if search && !keep_moves {
            format!("{name}+local-search")
        } else {
            name.to_owned()
        },
        work,
    }
}

/// The best of the constructive heuristics, each followed by local search.
#[must_use]
pub fn solve(cl: &Cluster, options: &Options) -> Outcome {
    let kinds: &[Construct] = match options.objective {
        Objective::FewestHosts => &[
            Construct::Greedy,
            Construct::DotProduct,
            Construct::NormGreedy,
        ],
        _ if cl.current.is_some() && options.min_moves => &[Construct::Greedy],
        _ => &[Construct::Greedy, Construct::FirstFit],
    };
    let mut best: Option<Outcome> = None;
    for &how in kinds {
        let out = place(cl, options, how, true);
        let rank = |o: &Outcome| (o.host_of.iter().filter(|h| h.is_none()).count(), o.value);
        if best.as_ref().is_none_or(|b| {
            rank(&out).0 < rank(b).0 || (rank(&out).0 == rank(b).0 && out.value < b.value - 1e-12)
        }) {
            best = Some(out);
        }
    }
    let mut best = best.unwrap_or_else(|| place(cl, options, Construct::Greedy, false));
    // The LP bound once, for the answer kept.
    best.lower_bound = at_most(bound(cl, options), best.value, &best.host_of);
    best
}

/// The integer model solved to optimality, as an outcome whose bound is its own value. Only
/// small models are started (see [`crate::mip::PROVE_LIMIT`]): microlp's work is not bounded.
///
/// # Errors
/// Why the model is too large, up front; or the solver's message when the model is
/// infeasible or fails.
pub fn prove(cl: &Cluster, options: &Options) -> Result<Outcome, String> {
    let size = crate::mip::integer_variables(cl, options.objective);
    if size > crate::mip::PROVE_LIMIT {
        let up = cl.hosts.iter().filter(|h| !h.down).count();
        return Err(format!(
            "the integer model is too large to prove: {size} integer variables ({} pools × {up} hosts that are up{}); microlp's branch and bound has no work limit and is only started up to {} (20 pools × 4 hosts ran over 600 s). The heuristic answer without --prove carries its lower bound and gap.",
            cl.pools.len(),
            if options.objective == Objective::FewestHosts {
                " + one per host"
            } else {
                ""
            },
            crate::mip::PROVE_LIMIT
        ));
    }
    let (value, counts) = crate::mip::optimum(cl, options)
        .map_err(|e| format!("the integer model has no solution: {e}"))?;
    let pool_of = cl.containers();
    let host_of = assign_counts(cl, &pool_of, &counts);
    let mut state = State::new(cl, options.cpu_limit);
    for (c, h) in host_of.iter().enumerate() {
        if let Some(h) = *h {
            state.add(pool_of[c], h);
        }
    }
    let achieved = self::value(&state, options.objective);
    let moves = moves_from_current(cl, &pool_of, &host_of);
    Ok(Outcome {
        value: achieved,
        loads: state.loads.clone(),
        lower_bound: value.min(achieved),
        pool_of,
        host_of,
        moves,
        min_moves: must_move(cl, options.cpu_limit),
        shortages: Vec::new(),
        method: "mip".into(),
        work: 0.0,
    })
}

//! The search state: per-host loads and per-(host, pool) and per-(zone, pool) counts, with the
//! rules (capacity, CPU limit, max per host, zone spread) every change is checked against, and
//! the objective's value of a state.

use crate::model::{CPU, Cluster, MEM, NET, Objective, Resources};

/// A count as the search's `u32` counters hold it: a limit past `u32::MAX` is no limit there.
fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Per-host loads and per-(host, pool) counts, with the rules to check a change.
#[derive(Clone)]
pub(super) struct State<'a> {
    pub(super) cl: &'a Cluster,
    /// Capacity used for feasibility (CPU scaled by the limit, when there is one).
    pub(super) limit: Vec<Resources>,
    pub(super) loads: Vec<Resources>,
    pub(super) count: Vec<Vec<u32>>,
    pub(super) max_per_host: Vec<u32>,
    pub(super) zone_of: Vec<Option<usize>>,
    pub(super) zone_count: Vec<Vec<u32>>,
    pub(super) zone_max: Vec<u32>,
    pub(super) check_cpu: bool,
}

impl<'a> State<'a> {
    pub(super) fn new(cl: &'a Cluster, cpu_limit: Option<f64>) -> Self {
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

    pub(super) fn usage(&self, p: usize) -> &Resources {
        &self.cl.pools[p].usage
    }

    pub(super) fn fits_load(&self, h: usize, load: &Resources) -> bool {
        let eps = 1e-9;
        load[MEM] <= self.limit[h][MEM] * (1.0 + eps) + eps
            && load[NET] <= self.limit[h][NET] * (1.0 + eps) + eps
            && (!self.check_cpu || load[CPU] <= self.limit[h][CPU] * (1.0 + eps) + eps)
    }

    pub(super) fn fits(&self, p: usize, h: usize) -> bool {
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

    pub(super) fn add(&mut self, p: usize, h: usize) {
        let u = *self.usage(p);
        for r in 0..3 {
            self.loads[h][r] += u[r];
        }
        self.count[h][p] += 1;
        if let Some(z) = self.zone_of[h] {
            self.zone_count[z][p] += 1;
        }
    }

    pub(super) fn remove(&mut self, p: usize, h: usize) {
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
    pub(super) fn key_of(&self, h: usize, load: &Resources, objective: Objective) -> f64 {
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

    pub(super) fn key(&self, h: usize, objective: Objective) -> f64 {
        self.key_of(h, &self.loads[h], objective)
    }

    pub(super) fn used_hosts(&self) -> usize {
        self.count
            .iter()
            .filter(|c| c.iter().any(|&n| n > 0))
            .count()
    }
}

/// The objective's value of a state.
pub(super) fn value(state: &State<'_>, objective: Objective) -> f64 {
    match objective {
        Objective::FewestHosts => state.used_hosts() as f64,
        _ => (0..state.cl.hosts.len())
            .map(|h| state.key(h, objective))
            .fold(0.0, f64::max),
    }
}

impl State<'_> {
    pub(super) fn clone_counts(&self) -> (Vec<Resources>, Vec<Vec<u32>>, Vec<Vec<u32>>) {
        (
            self.loads.clone(),
            self.count.clone(),
            self.zone_count.clone(),
        )
    }

    pub(super) fn restore_counts(&mut self, saved: (Vec<Resources>, Vec<Vec<u32>>, Vec<Vec<u32>>)) {
        self.loads = saved.0;
        self.count = saved.1;
        self.zone_count = saved.2;
    }
}

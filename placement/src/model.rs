//! Pools, hosts, placements and what a placement is judged by.

use std::collections::BTreeMap;

/// Memory (bytes), CPU (cores), network (bytes/s).
pub type Resources = [f64; 3];
/// Index of memory in [`Resources`].
pub const MEM: usize = 0;
/// Index of CPU in [`Resources`].
pub const CPU: usize = 1;
/// Index of network in [`Resources`].
pub const NET: usize = 2;
/// Names of the resources, for messages.
pub const RESOURCE_NAMES: [&str; 3] = ["memory", "cpu", "network"];

/// Identical containers of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Its name.
    pub name: String,
    /// How many containers.
    pub replicas: usize,
    /// What one container uses (from history: mean + k·stddev).
    pub usage: Resources,
    /// At most this many of its containers on one host; `None`: one per host where the hosts
    /// suffice, else as few as spreading evenly allows.
    pub max_per_host: Option<usize>,
    /// Also spread evenly across zones.
    pub spread_zones: bool,
}

/// A machine containers run on.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// Its name.
    pub name: String,
    /// What it offers.
    pub capacity: Resources,
    /// Its zone, if the cluster has zones.
    pub zone: Option<String>,
    /// Node labels (shown in renderings).
    pub labels: BTreeMap<String, String>,
    /// A host that is down: nothing may run there.
    pub down: bool,
}

/// The whole input: pools, hosts and, optionally, where containers run now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cluster {
    /// Pools.
    pub pools: Vec<Pool>,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Current placement: per pool, the host of each replica (may be shorter or longer than
    /// `replicas`: extra entries are ignored, missing replicas are unplaced).
    pub current: Option<Vec<Vec<usize>>>,
}

/// What a placement optimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// The largest CPU load (used ÷ capacity) over hosts: the seed's objective.
    MaxCpu,
    /// The largest load over hosts and all three resources.
    Balance,
    /// The fewest hosts in use (capacity planning).
    FewestHosts,
    /// Any placement that satisfies the rules (with a CPU limit, the seed's constraint mode).
    Feasible,
}

/// Settings of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The objective.
    pub objective: Objective,
    /// CPU may use at most this fraction of each host's cores.
    pub cpu_limit: Option<f64>,
    /// Work budget of the local search, in move evaluations.
    pub effort: f64,
    /// From the current placement: move as few containers as the rules allow.
    pub min_moves: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            objective: Objective::MaxCpu,
            cpu_limit: None,
            effort: 2e7,
            min_moves: false,
        }
    }
}

impl Cluster {
    /// Pool of each container, pool-major.
    #[must_use]
    pub fn containers(&self) -> Vec<usize> {
        self.pools
            .iter()
            .enumerate()
            .flat_map(|(p, pool)| std::iter::repeat_n(p, pool.replicas))
            .collect()
    }

    /// The effective per-host limit of a pool: never more than its replicas (a larger limit
    /// says the same), never less than 1.
    #[must_use]
    pub fn max_per_host(&self, p: usize) -> usize {
        let up = self.hosts.iter().filter(|h| !h.down).count().max(1);
        let pool = &self.pools[p];
        pool.max_per_host
            .unwrap_or_else(|| pool.replicas.div_ceil(up))
            .min(pool.replicas)
            .max(1)
    }

    /// Zones of the hosts that are up, sorted.
    #[must_use]
    pub fn zones(&self) -> Vec<String> {
        let mut z: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| !h.down)
            .filter_map(|h| h.zone.clone())
            .collect();
        z.sort();
        z.dedup();
        z
    }
}

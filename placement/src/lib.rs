//! dockopt-placement: containers of pools onto hosts.
//!
//! Given pools of identical containers (what one uses: memory, CPU, network, from history as
//! mean + k·stddev) and hosts (what they offer), decide which host runs each container: every
//! container on one host, capacities respected, replicas spread; minimise the largest CPU load,
//! balance all resources, or use the fewest hosts; re-plan from a current placement with the
//! fewest moves, or after a host failure. Every answer carries a lower bound.
//!
//! Pure: takes values, returns values; the cluster file, `docker stats` lines and CSV samples
//! are parsed from text. It shares nothing with the build planner but the diagnostics type.

// Resources are indexed by `r` across several arrays at once; a range reads clearer there.
#![allow(clippy::needless_range_loop)]

pub mod cluster_file;
pub mod generate;
pub mod mip;
pub mod model;
pub mod render;
pub mod solve;
pub mod stats;
pub mod swarm;
pub mod units;

pub use model::{CPU, Cluster, Host, MEM, NET, Objective, Options, Pool, Resources};
pub use solve::{Construct, Move, Outcome, bound, infeasibility, lower_bound, place, prove, solve};

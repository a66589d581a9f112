//! dockopt-planner: the ground floor of dockopt.
//!
//! It owns one question: given targets that each hold a *set* of steps (plus a fixed tail), in which
//! order should every target run its steps so that the prefix tries they form, one per base, cost
//! the least? It knows no YAML, no Docker and no files: a [`Problem`] is step ids, costs and
//! precedence pairs, and a [`Plan`] is one order per target with its cost, a lower bound and
//! whether it is proven optimal.
//!
//! Invariants:
//! - Every order is a permutation of the target's set followed by its tail, and respects every
//!   precedence pair whose two steps the target holds.
//! - The same problem gives the same plan, byte for byte: no hashing into output, no clocks;
//!   solver limits are counted in work units (DP transitions), never in seconds.
//! - Methods never see each other: each takes a [`group::Group`] and returns orders.

mod agglomerative;
mod bound;
mod clique_mip;
mod crossing;
mod exact;
mod greedy;
mod group;
mod hierarchy;
mod locked;
mod partition;
mod plan;
mod post_order;
mod precedence;
mod problem;
mod reduce;
#[cfg(test)]
mod testing;
mod trie;
mod universe;

pub use locked::{Extended, solve_keeping};
pub use plan::{GroupReport, Method, Options, Plan, solve};
pub use post_order::post_order;
pub use problem::{Problem, ProblemError, StepId, Target};
pub use trie::{Trie, TrieNode};

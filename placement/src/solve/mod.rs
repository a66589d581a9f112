//! Constructive heuristics, local search, bounds and re-plans: the public answers (`place`,
//! `solve`, `prove`) and what they return. The parts live in one module per concept.

mod bounds;
mod construct;
mod failover;
mod replan;
mod search;
mod state;

pub use bounds::{bound, infeasibility, lower_bound};
pub use replan::moves_from_current;

use construct::{by_size, construct};
use failover::{eviction_chains, make_room, why_unplaced};
use replan::{assign_counts, must_move};
use search::{improve_balance, improve_packing};
use state::{State, value};

use crate::model::{CPU, Cluster, MEM, NET, Objective, Options, Resources};
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

/// A bound as an answer shows it: never above the value of a complete placement (the LP's
/// tolerance may put it a hair above); an incomplete placement has no value to compare with.
fn at_most(bound: f64, value: f64, host_of: &[Option<usize>]) -> f64 {
    if host_of.iter().all(Option::is_some) {
        bound.min(value)
    } else {
        bound
    }
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

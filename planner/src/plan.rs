//! Solving a whole problem: reductions, a method per group, and the plan's numbers.

use crate::exact::Limits;
use crate::group::{self, Group};
use crate::precedence::Precedence;
use crate::problem::{Problem, ProblemError, StepId, Target};
use crate::trie::cost_of;
use crate::universe::Universe;
use crate::{agglomerative, bound, clique_mip, crossing, exact, greedy, reduce};

/// How to plan each group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// The exact DP where it fits in the effort budget, else the best heuristic.
    Auto,
    /// The exact DP; an error for a group it cannot take within the effort budget.
    Exact,
    /// Agglomerative merging on the hierarchy view plus subtree prune-and-regraft local search
    /// (never worse than the greedy: the better of the two is kept).
    Heuristic,
    /// The most-time greedy.
    Greedy,
    /// The seed's maximal-clique set-partitioning model (MIP, microlp); not exact, kept to
    /// compare against.
    CliqueMip,
    /// Orders kept from a lock, with new targets placed on top (see [`crate::solve_keeping`]).
    Locked,
}

impl Method {
    /// The name users type and see.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Exact => "exact",
            Method::Heuristic => "heuristic",
            Method::Greedy => "greedy",
            Method::CliqueMip => "clique-mip",
            Method::Locked => "locked",
        }
    }
}

/// Planner settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Method for every group.
    pub method: Method,
    /// Work budget of the whole problem, in work units: a block looked up by the exact DP, a
    /// candidate word while enumerating its family F, and (scaled to about the same time each)
    /// the set partition's, the local search's and the bounds' operations. Auto and the
    /// heuristic share it among all the parts left to search (smallest first, each an even
    /// share of what is left); the exact method takes it per part, the greedy and the clique
    /// model per group (a quarter for the subset bound; the clique model one clique per 4,000
    /// units). A finite number ≥ 0 (0: no search at all); the default is at most about a
    /// second on one core of the project's machine.
    pub effort: f64,
    /// Memory budget of one exact DP run (the exact method, the subset bound), in bytes: its
    /// tables are sized before they are allocated and past this the DP gives up, as it does past
    /// the work budget.
    pub memory: usize,
    /// Whether auto computes the lower bounds that cannot change the plan: those of parts past
    /// the exact method's 63 items, whose orders are the heuristic's whatever the bounds say.
    /// The orders are the same either way (such a part is charged its whole share of the
    /// effort in both); without them, those parts' bound is the distinct-step bound. The
    /// frontend, which shows no bound, leaves them out.
    pub bounds: bool,
}

impl Default for Options {
    fn default() -> Self {
        // At most about 0.9 s of one core (a unit is 9–17 ns by phase, 13 on average, measured
        // on O'Neil's n = 20–50, the chunk shapes and the generated 100-target instances; BENCHMARKS
        // "issue 10, fourth part"); dense tables up to 23 items.
        Self {
            method: Method::Auto,
            effort: 7.0e7,
            memory: 128 << 20,
            bounds: true,
        }
    }
}

/// What happened to one group of targets.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupReport {
    /// The base the group builds on.
    pub base: String,
    /// Problem target indexes in the group, increasing.
    pub targets: Vec<usize>,
    /// The method that produced its orders (for a group that the reductions plan entirely, or
    /// that the heuristic plans at its lower bound: the heuristic).
    pub method: Method,
    /// Whether its orders are proven optimal.
    pub optimal: bool,
    /// The cost of its trie.
    pub cost: f64,
    /// A lower bound on any plan's cost for the group.
    pub lower_bound: f64,
    /// Work units (see [`Options::effort`]) the exact method and the bounds spent on the group
    /// (the heuristic's search is not counted here; 0 when no DP or bound ran).
    pub exact_work: f64,
}

impl GroupReport {
    /// How far the cost may be above the optimum: `cost / lower_bound − 1` (0 when both are 0).
    #[must_use]
    pub fn gap(&self) -> f64 {
        gap(self.cost, self.lower_bound)
    }
}

/// The chosen orders and what they cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Per target (problem order): reorderable steps in the chosen order, then the tail.
    pub orders: Vec<Vec<StepId>>,
    /// Cost of the trie of `orders`.
    pub cost: f64,
    /// Cost of the trie of the orders as listed in the problem.
    pub as_listed_cost: f64,
    /// Cost with no sharing at all.
    pub no_sharing_cost: f64,
    /// No plan costs less than this.
    pub lower_bound: f64,
    /// Whether `cost` is proven to be the least possible.
    pub optimal: bool,
    /// One report per independent group.
    pub groups: Vec<GroupReport>,
}

impl Plan {
    /// How far the cost may be above the optimum: `cost / lower_bound − 1` (0 when both are 0).
    #[must_use]
    pub fn gap(&self) -> f64 {
        gap(self.cost, self.lower_bound)
    }
}

/// `cost / bound − 1`, 0 when both are 0, infinite when only the bound is.
fn gap(cost: f64, bound: f64) -> f64 {
    if bound > 0.0 {
        (cost / bound - 1.0).max(0.0)
    } else if cost > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// Whether `cost` meets `bound` (relative tolerance 1e-9).
fn meets(cost: f64, bound: f64) -> bool {
    cost <= bound + 1e-9 * cost.abs().max(1.0)
}

/// Plans `problem`.
///
/// # Errors
/// When the problem is malformed (see [`Problem::validate`]), the effort is not a finite
/// number ≥ 0, or `Method::Exact` meets a group larger than the effort or memory budget
/// allows.
pub fn solve(problem: &Problem, options: &Options) -> Result<Plan, ProblemError> {
    problem.validate()?;
    if !(options.effort.is_finite() && options.effort >= 0.0) {
        return Err(ProblemError::Effort(options.effort));
    }
    let prec = Precedence::new(problem.costs.len(), &problem.after);
    let mut orders: Vec<Vec<StepId>> = vec![Vec::new(); problem.targets.len()];
    let mut groups = Vec::new();
    let split = group::split(problem);
    // The searching methods reduce every group first, so that one budget can be shared by all
    // the parts left to search (see [`searched_parts`]).
    let searching = matches!(
        options.method,
        Method::Heuristic | Method::Exact | Method::Auto | Method::Locked
    );
    let reductions: Vec<Option<reduce::Reduced>> = split
        .iter()
        .map(|group| searching.then(|| reduce::reduce(group, &prec, &problem.costs)))
        .collect();
    let mut parts = searched_parts(problem, &split, &reductions, &prec, options)?;
    for (g, (group, reduction)) in split.iter().zip(reductions).enumerate() {
        let solved = match (options.method, reduction) {
            (Method::Greedy, _) => whole(
                problem,
                group,
                &prec,
                options,
                Method::Greedy,
                greedy::solve(group, &prec, &problem.costs),
            ),
            (Method::CliqueMip, _) => {
                // Cliques allowed: one per 4,000 units of effort (20,000 by default).
                let max_cliques = (options.effort / 4e3).clamp(1.0, 1e7) as usize;
                let orders = clique_mip::solve(group, &prec, &problem.costs, max_cliques)
                    .map_err(ProblemError::Model)?;
                whole(problem, group, &prec, options, Method::CliqueMip, orders)
            }
            (_, Some(reduction)) => {
                let solved: Vec<Solved> = (0..reduction.parts.len())
                    .map(|p| parts.remove(&(g, p)).expect("every part was searched"))
                    .collect();
                assemble(problem, group, &prec, options, reduction, solved)
            }
            (_, None) => unreachable!("searching methods reduce every group"),
        };
        for (item, order) in group.items.iter().zip(&solved.orders) {
            for &t in &item.targets {
                orders[t] = order
                    .iter()
                    .chain(&problem.targets[t].tail)
                    .copied()
                    .collect();
            }
        }
        groups.push(report(problem, group, &solved, &orders));
    }
    let cost = cost_of(problem, &orders);
    let mut lower_bound: f64 = groups.iter().map(|g| g.lower_bound).fold(0.0, |a, c| a + c);
    let mut optimal = groups.iter().all(|g| g.optimal);
    // Tails of different groups can meet in one trie node; then the per-group proofs do not add up.
    if lower_bound > cost + 1e-9 * cost.abs().max(1.0) {
        lower_bound = problem.distinct_step_bound();
        optimal = false;
    }
    Ok(Plan {
        orders,
        cost,
        as_listed_cost: cost_of(problem, &problem.listed_orders()),
        no_sharing_cost: problem.no_sharing_cost(),
        lower_bound: lower_bound.max(problem.distinct_step_bound()).min(cost),
        optimal,
        groups,
    })
}

/// One group's orders, how they were found, and what is known about them.
struct Solved {
    method: Method,
    /// Per item, its reorderable steps in order.
    orders: Vec<Vec<StepId>>,
    /// Proven optimal in the planner's model.
    proven: bool,
    /// A lower bound in the planner's model (tails as their own tries).
    bound: f64,
    /// Work units the exact method and the bounds spent (reported).
    work: f64,
    /// Work units spent in all (the heuristic's search too): what the budget lost.
    spent: f64,
}

fn limits(options: &Options, share: f64) -> Limits {
    Limits {
        work: options.effort * share,
        memory: options.memory,
    }
}

/// A method's orders for the whole group, with the subset bound (the greedy and the MIP plan
/// the group as it is: they are baselines).
fn whole(
    problem: &Problem,
    group: &Group,
    prec: &Precedence,
    options: &Options,
    method: Method,
    orders: Vec<Vec<StepId>>,
) -> Solved {
    let mut work = 0.0;
    let subset = bound::subset_bound(
        group,
        prec,
        &problem.costs,
        limits(options, 0.25),
        &mut work,
    );
    Solved {
        method,
        orders,
        proven: false,
        bound: subset
            .unwrap_or(0.0)
            .max(model_distinct_bound(problem, group)),
        work,
        spent: work,
    }
}

/// Searches every part the reductions left, in every group, within one budget of
/// `options.effort` units for the whole problem (the exact method: within `options.effort`
/// per part, in order, or an error). Parts go smallest first, each with an even share of what
/// is left, so the work a small part does not use passes on to the larger ones. Keyed by
/// (group, part).
fn searched_parts(
    problem: &Problem,
    groups: &[Group],
    reductions: &[Option<reduce::Reduced>],
    prec: &Precedence,
    options: &Options,
) -> Result<std::collections::BTreeMap<(usize, usize), Solved>, ProblemError> {
    let costs = &problem.costs;
    let mut order: Vec<(usize, usize, usize)> = reductions
        .iter()
        .enumerate()
        .filter_map(|(g, r)| r.as_ref().map(|r| (g, r)))
        .flat_map(|(g, r)| {
            r.parts
                .iter()
                .enumerate()
                .map(move |(p, (part, _))| (part.items.len(), g, p))
        })
        .collect();
    // The exact method takes its whole effort per part: in order, so that its error names the
    // first group it cannot take.
    if options.method != Method::Exact {
        order.sort_unstable();
    }
    let mut left = options.effort;
    let mut solved = std::collections::BTreeMap::new();
    for (i, &(_, g, p)) in order.iter().enumerate() {
        let reduction = reductions[g].as_ref().expect("filtered above");
        let part = &reduction.parts[p].0;
        let effort = if options.method == Method::Exact {
            options.effort
        } else {
            left / (order.len() - i) as f64
        };
        let done = match options.method {
            Method::Exact => {
                let mut work = 0.0;
                let solution = exact::prepare(part, prec, costs, limits(options, 1.0), &mut work)
                    .and_then(|p| p.solve(part, prec, limits(options, 1.0), &mut work))
                    .ok_or(ProblemError::TooLarge {
                        targets: groups[g].targets().len(),
                        items: part.items.len(),
                    })?;
                Solved {
                    method: Method::Exact,
                    orders: solution.orders,
                    proven: true,
                    bound: solution.value,
                    work,
                    spent: work,
                }
            }
            Method::Heuristic => {
                let (method, orders, spent) =
                    heuristic_with(problem, part, prec, options, 12, effort / 2.0);
                let mut bound_work = 0.0;
                let limits = Limits {
                    work: effort / 4.0,
                    memory: options.memory,
                };
                let subset = bound::subset_bound(part, prec, costs, limits, &mut bound_work);
                let b = subset
                    .unwrap_or(0.0)
                    .max(model_distinct_bound(problem, part));
                Solved {
                    proven: false,
                    method,
                    orders,
                    bound: b,
                    work: bound_work,
                    spent: spent + bound_work,
                }
            }
            _ => auto(problem, part, prec, options, effort),
        };
        left = (left - done.spent).max(0.0);
        solved.insert((g, p), done);
    }
    Ok(solved)
}

/// A group's orders from its reductions and its searched parts.
fn assemble(
    problem: &Problem,
    group: &Group,
    prec: &Precedence,
    options: &Options,
    reduction: reduce::Reduced,
    parts: Vec<Solved>,
) -> Solved {
    let costs = &problem.costs;
    let mut orders = reduction.prefix;
    let mut bound = reduction.fixed_cost;
    let mut proven = true;
    let mut work = 0.0;
    let mut spent = 0.0;
    let mut any_exact = false;
    for ((_, members), done) in reduction.parts.iter().zip(parts) {
        any_exact |= done.method == Method::Exact;
        proven &= done.proven;
        bound += done.bound;
        work += done.work;
        spent += done.spent;
        for (&k, order) in members.iter().zip(done.orders) {
            orders[k].extend(order);
        }
    }
    let mut method = if any_exact {
        Method::Exact
    } else {
        Method::Heuristic
    };
    // The heuristic and auto are never worse than the greedy on the whole group.
    if options.method != Method::Exact {
        let greedy = greedy::solve(group, prec, costs);
        if group_cost(problem, group, &greedy) < group_cost(problem, group, &orders) {
            orders = greedy;
            method = Method::Greedy;
            proven = false;
        }
    }
    Solved {
        method,
        orders,
        proven,
        bound,
        work,
        spent,
    }
}

/// Auto on one part: the heuristic and the cheap bounds first; the exact DP only when they
/// leave a gap. Every phase draws on the part's `effort` work units (its share of the problem's,
/// see [`searched_parts`]) and the memory budget, each capped at a share of it, so auto's work on
/// a part never passes its effort whatever the part looks like.
fn auto(
    problem: &Problem,
    part: &Group,
    prec: &Precedence,
    options: &Options,
    effort: f64,
) -> Solved {
    let costs = &problem.costs;
    let exact_fits = part.items.len() <= exact::MAX_ITEMS;
    let mut work = 0.0;
    let left = |work: f64, cap: f64| cap.min(effort - work).max(0.0);
    let with = |work: f64| Limits {
        work,
        memory: options.memory,
    };
    // The heuristic: a fifth of the budget where the exact method can take the part, most of it
    // past 63 items (the exact method does not run there).
    let share = if exact_fits {
        HEURISTIC_SHARE
    } else {
        LARGE_HEURISTIC_SHARE
    };
    let (method, orders, spent) = heuristic_with(problem, part, prec, options, 12, effort * share);
    work += spent;
    // The heuristic's search counts against the budget but is not reported as exact work (a
    // plan that meets its bound is proven without the exact method).
    let mut heuristic_work = spent;
    let cost = group_cost(problem, part, &orders);
    let mut bound = model_distinct_bound(problem, part);
    // Past 63 items the orders are the heuristic's whatever follows: such a part is charged
    // its whole share, bounds or not, so that leaving the bounds out changes no later part.
    let charged = |work: f64| if exact_fits { work } else { effort };
    let done = |method, orders, bound, work: f64, heuristic_work: f64| Solved {
        method,
        orders,
        proven: true,
        bound,
        work: work - heuristic_work,
        spent: charged(work),
    };
    if meets(cost, bound) {
        return done(method, orders, bound, work, heuristic_work);
    }
    if !exact_fits && !options.bounds {
        return Solved {
            method,
            orders,
            proven: false,
            bound,
            work: 0.0,
            spent: effort,
        };
    }
    // Crossing steps: one of each crossing pair runs twice (cheap: a flow over step classes).
    // Its work is not reported as exact work (a plan proven by it is not the exact method's).
    let cap = left(work, effort * CROSSING_SHARE);
    let before = work;
    bound += crossing::crossing_extra(part, costs, cap, options.memory, &mut work);
    heuristic_work += work - before;
    if meets(cost, bound) {
        return done(method, orders, bound, work, heuristic_work);
    }
    // The subset bound is cheap next to the DP on the whole part (16 items: 0.8 MiB of tables).
    if part.items.len() > bound::SUBSET {
        let cap = left(work, effort * SUBSET_SHARE);
        let subset = bound::subset_bound(part, prec, costs, with(cap), &mut work);
        bound = bound.max(subset.unwrap_or(0.0));
        if meets(cost, bound) {
            return done(method, orders, bound, work, heuristic_work);
        }
    }
    // The exact method gets what is left but the share kept for the bound and the polish
    // after it; enumerating F is charged to it too.
    let mut lagrange = None;
    let solution = if exact_fits {
        let cap = left(work, effort * (1.0 - RESERVE_SHARE) - work);
        let mut used = 0.0;
        let solution = exact::prepare(part, prec, costs, with(cap), &mut used).and_then(|p| {
            // The heuristic's plan prunes the set partition's search from the start.
            p.with_incumbent(cost)
                .solve_bounded(part, prec, with(cap), &mut used, &mut lagrange)
        });
        work += used;
        solution
    } else {
        None
    };
    // The set partition's best when its search ran out of work: a plan, not a proof.
    let (solution, partial) = match solution {
        Some(s) if !s.proven => (None, Some(s)),
        other => (other, None),
    };
    let (method, orders, cost) = match partial {
        Some(s) => {
            let c = group_cost(problem, part, &s.orders);
            if c < cost {
                (Method::Exact, s.orders, c)
            } else {
                (method, orders, cost)
            }
        }
        None => (method, orders, cost),
    };
    match solution {
        // The exact orders unless the heuristic's real trie is cheaper (tails can share more
        // than the model counts).
        Some(s) if group_cost(problem, part, &s.orders) <= cost => {
            done(Method::Exact, s.orders, s.value, work, heuristic_work)
        }
        Some(s) => done(method, orders, s.value, work, heuristic_work),
        None => {
            // No proof: the set partition's bound when the DP got that far, and the sharing
            // bound (each item's cheapest share of the nodes on its path).
            bound = bound.max(lagrange.unwrap_or(0.0));
            if meets(cost, bound) {
                // The search found nothing cheaper than the heuristic's plan: it is optimal.
                return done(method, orders, bound, work, heuristic_work);
            }
            // What the exact method left, but the deeper polish's share (at least its own share).
            let cap =
                left(work, effort * SHARE_SHARE).max(left(work, effort) - effort * POLISH_SHARE);
            let share = bound::share_bound(part, prec, costs, usize::MAX, cap, &mut work);
            bound = bound.max(share);
            // A deeper polish (subtrees of up to 20 items solved exactly, 12 × 2²⁰
            // bytes each) where the part is larger than the first polish takes and small enough
            // that running the heuristic again is cheap (≤ 50 items), with what is left (at
            // most a quarter of the budget).
            let (method, orders) = if (13..=50).contains(&part.items.len()) && !meets(cost, bound) {
                let cap = left(work, effort * DEEPER_SHARE);
                let (m, deeper, spent) = heuristic_with(problem, part, prec, options, 20, cap);
                work += spent;
                heuristic_work += spent;
                if group_cost(problem, part, &deeper) < cost {
                    (m, deeper)
                } else {
                    (method, orders)
                }
            } else {
                (method, orders)
            };
            Solved {
                method,
                orders,
                proven: false,
                bound,
                work: work - heuristic_work,
                spent: charged(work),
            }
        }
    }
}

/// Auto's share of its budget for the heuristic on a part the exact method can take.
const HEURISTIC_SHARE: f64 = 0.2;
/// ... and on a part over [`exact::MAX_ITEMS`] items (the exact method does not run there).
const LARGE_HEURISTIC_SHARE: f64 = 0.6;
/// Auto's share for the crossing bound (at most).
const CROSSING_SHARE: f64 = 0.05;
/// Auto's share for the subset bound (16 items: up to 3¹⁶/2 ≈ 2e7 units, under a third of the
/// default budget).
const SUBSET_SHARE: f64 = 0.25;
/// The share the exact method leaves for the sharing bound and the deeper polish (0.2 cost
/// chunk-36-s2 its proof).
const RESERVE_SHARE: f64 = 0.1;
/// Auto's share for the sharing bound (at least).
const SHARE_SHARE: f64 = 0.1;
/// What the sharing bound leaves for the deeper polish.
const POLISH_SHARE: f64 = 0.05;
/// The deeper polish's share at most (it rarely helps past it).
const DEEPER_SHARE: f64 = 0.25;

/// The model's distinct-step bound of a group: every reorderable step once, every item's tails.
pub(crate) fn model_distinct_bound(problem: &Problem, group: &Group) -> f64 {
    let steps: std::collections::BTreeSet<StepId> = group
        .items
        .iter()
        .flat_map(|i| i.set.iter().copied())
        .collect();
    steps.iter().map(|&s| problem.costs[s]).sum::<f64>()
        + group.items.iter().map(|i| i.tail_cost).sum::<f64>()
}

/// The better of the agglomerative + local search tree and the greedy, by their real trie cost,
/// re-solving subtrees of up to `polish` items exactly, within `budget` work
/// units: each local search pass gets 40 % of it, the polish what is left after the first pass
/// (at most 20 %), the second pass the rest. Returns the orders and the work spent.
fn heuristic_with(
    problem: &Problem,
    group: &Group,
    prec: &Precedence,
    options: &Options,
    polish: usize,
    budget: f64,
) -> (Method, Vec<Vec<StepId>>, f64) {
    let greedy = greedy::solve(group, prec, &problem.costs);
    let uni = Universe::new(group, prec, &problem.costs);
    let mut tree = agglomerative::agglomerate(&uni);
    let mut spent = agglomerative::local_search(&mut tree, &uni, budget * 0.4);
    // Then every largest subtree of up to `polish` targets re-solved exactly, and search again.
    spent += agglomerative::polish(
        &mut tree,
        group,
        &uni,
        prec,
        &problem.costs,
        polish,
        Limits {
            work: (budget * 0.2).min(budget - spent).max(0.0),
            memory: options.memory,
        },
    );
    spent += agglomerative::local_search(&mut tree, &uni, (budget - spent).max(0.0));
    let hier = tree.orders(group, &uni, prec);
    if group_cost(problem, group, &hier) <= group_cost(problem, group, &greedy) {
        (Method::Heuristic, hier, spent)
    } else {
        (Method::Greedy, greedy, spent)
    }
}

/// Trie cost of a group's item orders (with each member's tail).
fn group_cost(problem: &Problem, group: &Group, item_orders: &[Vec<StepId>]) -> f64 {
    let mut targets = Vec::new();
    let mut orders = Vec::new();
    for (item, order) in group.items.iter().zip(item_orders) {
        for &t in &item.targets {
            targets.push(problem.targets[t].clone());
            orders.push(
                order
                    .iter()
                    .chain(&problem.targets[t].tail)
                    .copied()
                    .collect(),
            );
        }
    }
    let sub = Problem {
        costs: problem.costs.clone(),
        targets,
        after: Vec::new(),
    };
    cost_of(&sub, &orders)
}

fn report(
    problem: &Problem,
    group: &Group,
    solved: &Solved,
    orders: &[Vec<StepId>],
) -> GroupReport {
    let targets = group.targets();
    let sub = Problem {
        costs: problem.costs.clone(),
        targets: targets
            .iter()
            .map(|&t| problem.targets[t].clone())
            .collect::<Vec<Target>>(),
        after: Vec::new(),
    };
    let sub_orders: Vec<Vec<StepId>> = targets.iter().map(|&t| orders[t].clone()).collect();
    let cost = cost_of(&sub, &sub_orders);
    let distinct = sub.distinct_step_bound();
    let (lower_bound, optimal) = if meets(solved.bound, cost) {
        // A plan that meets its lower bound is optimal whatever found it.
        (
            solved.bound.max(distinct),
            solved.proven || meets(cost, solved.bound),
        )
    } else {
        // Tails met other steps in the real trie: the model's bound does not hold for it.
        (distinct, false)
    };
    GroupReport {
        base: group.base.clone(),
        targets,
        method: solved.method,
        optimal,
        cost,
        lower_bound,
        exact_work: solved.work,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(steps: Vec<usize>) -> Target {
        Target {
            base: "b".into(),
            steps,
            tail: Vec::new(),
        }
    }

    /// An image stack: a shared chain of 10 steps, 3 families with a chain of 3, each with 3
    /// sub-families with a chain of 2 and 3 nested targets: 27 targets, `after` along chains.
    fn stack() -> Problem {
        let mut costs = Vec::new();
        let mut after = Vec::new();
        let mut chain = |len: usize, costs: &mut Vec<f64>| {
            let first = costs.len();
            for i in 0..len {
                costs.push(1.0 + (first + i) as f64 % 7.0);
                if i > 0 {
                    after.push((first + i - 1, first + i));
                }
            }
            (first..first + len).collect::<Vec<usize>>()
        };
        let shared = chain(10, &mut costs);
        let mut targets = Vec::new();
        for _ in 0..3 {
            let family: Vec<usize> = shared.iter().copied().chain(chain(3, &mut costs)).collect();
            for _ in 0..3 {
                let mut steps: Vec<usize> =
                    family.iter().copied().chain(chain(2, &mut costs)).collect();
                targets.push(target(steps.clone()));
                for _ in 0..2 {
                    steps.extend(chain(1, &mut costs));
                    targets.push(target(steps.iter().rev().copied().collect()));
                }
            }
        }
        Problem {
            costs,
            targets,
            after,
        }
    }

    #[test]
    fn a_stack_is_proven_optimal_without_the_dp() {
        let problem = stack();
        assert_eq!(problem.targets.len(), 27);
        let plan = solve(&problem, &Options::default()).expect("plans");
        assert!(plan.optimal);
        assert_eq!(plan.cost, problem.distinct_step_bound());
        assert_eq!(plan.gap(), 0.0);
        assert_eq!(plan.groups.len(), 1);
        let g = &plan.groups[0];
        assert_eq!(
            (g.method, g.exact_work, g.gap()),
            (Method::Heuristic, 0.0, 0.0)
        );
        // The exact method gets the same cost, also without a search.
        let exact = solve(
            &problem,
            &Options {
                method: Method::Exact,
                ..Options::default()
            },
        )
        .expect("plans");
        assert_eq!(exact.cost, plan.cost);
        assert_eq!(exact.groups[0].exact_work, 0.0);
    }

    /// Deterministic pseudo-random targets with no common prefix to peel.
    fn scattered(targets: usize, steps: usize, seed: u64) -> Problem {
        let mut next = crate::testing::lcg_usize(seed);
        let costs = (0..steps).map(|_| 1.0 + (next() % 50) as f64).collect();
        let targets = (0..targets)
            .map(|_| target((0..steps).filter(|_| next().is_multiple_of(3)).collect()))
            .collect();
        Problem {
            costs,
            targets,
            after: vec![(0, 1), (2, 3)],
        }
    }

    /// The effort is for the whole problem: four groups that each could use all of it share
    /// it, and the same problem gives the same plan.
    #[test]
    fn the_effort_is_shared_by_every_group_of_a_problem() {
        let mut problem = scattered(30, 40, 11);
        let first = problem.targets.clone();
        for (k, seed) in [(1, 12), (2, 13), (3, 14)] {
            let more = scattered(30, 40, seed);
            problem
                .targets
                .extend(more.targets.into_iter().map(|t| Target {
                    base: format!("b{k}"),
                    ..t
                }));
        }
        assert_eq!(problem.targets.len(), 4 * first.len());
        let effort = 4e6;
        let options = Options {
            effort,
            ..Options::default()
        };
        let plan = solve(&problem, &options).expect("plans");
        assert_eq!(plan.groups.len(), 4);
        let work: f64 = plan.groups.iter().map(|g| g.exact_work).sum();
        assert!(work <= effort * 1.01, "{work} > {effort}");
        // Alone, one group uses more than a quarter: so the four did not each get the whole.
        let alone = Problem {
            targets: first,
            ..problem.clone()
        };
        let one = solve(&alone, &options).expect("plans");
        assert!(
            one.groups[0].exact_work > effort / 4.0,
            "{}",
            one.groups[0].exact_work
        );
        assert_eq!(plan, solve(&problem, &options).expect("plans"));
    }

    /// Leaving out the bounds that cannot change the plan changes no order, also in the parts
    /// searched after a part past 63 items, and only lowers the bound.
    #[test]
    fn the_bounds_left_out_change_no_order() {
        // Two groups on one base each: 70 targets (past 63 items) and a small one; the large
        // one is searched before another large one on a second base.
        let mut problem = scattered(70, 40, 21);
        for (k, (targets, seed)) in [(8, 22), (70, 23), (12, 24)].into_iter().enumerate() {
            let more = scattered(targets, 40, seed);
            problem
                .targets
                .extend(more.targets.into_iter().map(|t| Target {
                    base: format!("b{k}"),
                    ..t
                }));
        }
        let mut lower = 0;
        for effort in [1e5, 3e5, 1e6, 2e7] {
            let with = Options {
                effort,
                ..Options::default()
            };
            let without = Options {
                bounds: false,
                ..with.clone()
            };
            let a = solve(&problem, &with).expect("plans");
            let b = solve(&problem, &without).expect("plans");
            assert_eq!(a.orders, b.orders, "effort {effort}");
            assert_eq!(a.cost, b.cost);
            assert!(b.lower_bound <= a.lower_bound + 1e-9);
            assert!(
                a.groups.iter().any(|g| g.targets.len() >= 64),
                "a part past 63 items"
            );
            lower += usize::from(b.lower_bound < a.lower_bound - 1e-9);
        }
        // The bounds were left out (else this test would test nothing).
        assert!(lower > 0);
    }

    #[test]
    fn an_effort_that_is_not_a_finite_number_of_units_is_refused() {
        let problem = scattered(6, 10, 3);
        for effort in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
            let options = Options {
                effort,
                ..Options::default()
            };
            assert!(
                matches!(solve(&problem, &options), Err(ProblemError::Effort(_))),
                "{effort}"
            );
        }
    }

    #[test]
    fn a_tiny_memory_budget_makes_exact_give_up_and_auto_still_plan() {
        let problem = scattered(14, 24, 7);
        let tiny = Options {
            memory: 4 << 10,
            ..Options::default()
        };
        let auto = solve(&problem, &tiny).expect("plans");
        let greedy = solve(
            &problem,
            &Options {
                method: Method::Greedy,
                ..Options::default()
            },
        )
        .expect("plans");
        assert!(auto.cost <= greedy.cost);
        assert!(auto.lower_bound <= auto.cost);
        assert!(auto.groups.iter().all(|g| g.method != Method::Exact));
        let exact_tiny = solve(
            &problem,
            &Options {
                method: Method::Exact,
                ..tiny
            },
        );
        assert!(matches!(exact_tiny, Err(ProblemError::TooLarge { .. })));
        // With the default budget the same problem is solved exactly and auto is never worse.
        let exact = solve(
            &problem,
            &Options {
                method: Method::Exact,
                ..Options::default()
            },
        )
        .expect("plans");
        assert!(exact.optimal && exact.cost <= auto.cost);
        assert!(exact.groups.iter().any(|g| g.exact_work > 0.0));
    }

    #[test]
    fn the_fixed_prefix_keeps_after_pairs() {
        // All three hold 0, 1, 2 with 2 → 0 and 1 → 0; two of them share 3 after 0.
        let problem = Problem {
            costs: vec![3.0, 2.0, 1.0, 4.0, 5.0],
            targets: vec![
                target(vec![0, 1, 2]),
                target(vec![0, 1, 2, 3]),
                target(vec![3, 0, 1, 2, 4]),
            ],
            after: vec![(2, 0), (1, 0), (0, 3)],
        };
        let plan = solve(&problem, &Options::default()).expect("plans");
        for order in &plan.orders {
            let at = |s: usize| order.iter().position(|&x| x == s);
            assert!(at(2) < at(0) && at(1) < at(0));
            assert_eq!(order[..3], [1, 2, 0]);
            if let (Some(a), Some(b)) = (at(0), at(3)) {
                assert!(a < b);
            }
        }
        assert!(plan.optimal);
        assert_eq!(plan.cost, 15.0);
    }

    #[test]
    fn gap_is_relative_and_zero_for_nothing() {
        assert_eq!(gap(0.0, 0.0), 0.0);
        assert_eq!(gap(12.0, 10.0), 12.0 / 10.0 - 1.0);
        assert_eq!(gap(1.0, 0.0), f64::INFINITY);
    }
}

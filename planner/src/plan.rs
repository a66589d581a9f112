//! Solving a whole problem: reductions, a method per group, and the plan's numbers.

use crate::group::{self, Group};
use crate::precedence::Precedence;
use crate::problem::{Problem, ProblemError, StepId, Target};
use crate::trie::cost_of;
use crate::universe::Universe;
use crate::{agglomerative, bound, clique_mip, exact, greedy};

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
    /// Work budget per group, in DP split evaluations for the exact method (known before it
    /// runs) and, a tenth of it, in node evaluations for local search.
    pub effort: f64,
}

impl Default for Options {
    fn default() -> Self {
        // 20 items: ≈ 1.7e9 evaluations, a few seconds on one core.
        Self {
            method: Method::Auto,
            effort: 2.0e9,
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
    /// The method that produced its orders.
    pub method: Method,
    /// Whether its orders are proven optimal.
    pub optimal: bool,
    /// The cost of its trie.
    pub cost: f64,
    /// A lower bound on any plan's cost for the group.
    pub lower_bound: f64,
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

/// Plans `problem`.
///
/// # Errors
/// When the problem is malformed (see [`Problem::validate`]) or `Method::Exact` meets a group
/// larger than the effort budget allows.
pub fn solve(problem: &Problem, options: &Options) -> Result<Plan, ProblemError> {
    problem.validate()?;
    let prec = Precedence::new(problem.costs.len(), &problem.after);
    let mut orders: Vec<Vec<StepId>> = vec![Vec::new(); problem.targets.len()];
    let mut groups = Vec::new();
    for group in group::split(problem) {
        let (method, item_orders, proven) = match options.method {
            Method::Greedy => (
                Method::Greedy,
                greedy::solve(&group, &prec, &problem.costs),
                None,
            ),
            Method::CliqueMip => {
                // Cliques allowed: one per 100,000 units of effort (20,000 by default).
                let max_cliques = (options.effort / 1e5).clamp(1.0, 1e7) as usize;
                let orders = clique_mip::solve(&group, &prec, &problem.costs, max_cliques)
                    .map_err(ProblemError::Model)?;
                (Method::CliqueMip, orders, None)
            }
            Method::Heuristic => {
                let (method, orders) = heuristic(problem, &group, &prec, options.effort);
                (method, orders, None)
            }
            Method::Exact | Method::Auto | Method::Locked => {
                // The exact method stops once it has spent the effort budget (counted in work).
                let solved = exact::prepare(&group, &prec, &problem.costs)
                    .and_then(|p| p.solve(&group, &prec, options.effort));
                match solved {
                    Some(solution) => (Method::Exact, solution.orders, Some(solution.value)),
                    None if options.method == Method::Exact => {
                        return Err(ProblemError::TooLarge {
                            targets: group.targets().len(),
                            items: group.items.len(),
                        });
                    }
                    None => {
                        let (method, orders) = heuristic(problem, &group, &prec, options.effort);
                        (method, orders, None)
                    }
                }
            }
        };
        for (item, order) in group.items.iter().zip(&item_orders) {
            for &t in &item.targets {
                orders[t] = order
                    .iter()
                    .chain(&problem.targets[t].tail)
                    .copied()
                    .collect();
            }
        }
        // A group without a proof still gets the best bound the effort allows.
        let bound = match proven {
            Some(v) => Some(v),
            None => bound::subset_bound(&group, &prec, &problem.costs, options.effort / 4.0),
        };
        groups.push(report(
            problem,
            &group,
            method,
            proven.is_some(),
            bound,
            &orders,
        ));
    }
    let cost = cost_of(problem, &orders);
    let listed: Vec<Vec<StepId>> = problem
        .targets
        .iter()
        .map(|t| t.steps.iter().chain(&t.tail).copied().collect())
        .collect();
    let mut lower_bound: f64 = groups.iter().map(|g| g.lower_bound).sum();
    let mut optimal = groups.iter().all(|g| g.optimal);
    // Tails of different groups can meet in one trie node; then the per-group proofs do not add up.
    if lower_bound > cost + 1e-9 * cost.abs().max(1.0) {
        lower_bound = problem.distinct_step_bound();
        optimal = false;
    }
    Ok(Plan {
        orders,
        cost,
        as_listed_cost: cost_of(problem, &listed),
        no_sharing_cost: problem.no_sharing_cost(),
        lower_bound: lower_bound.max(problem.distinct_step_bound()).min(cost),
        optimal,
        groups,
    })
}

/// The better of the agglomerative + local search tree and the greedy, by their real trie cost.
fn heuristic(
    problem: &Problem,
    group: &Group,
    prec: &Precedence,
    effort: f64,
) -> (Method, Vec<Vec<StepId>>) {
    let greedy = greedy::solve(group, prec, &problem.costs);
    let uni = Universe::new(group, prec, &problem.costs);
    let mut tree = agglomerative::agglomerate(&uni);
    // Local search work is counted in node evaluations; each pass gets 1/200 of the budget
    // (10⁷ by default: many sweeps at 50 targets, part of one at 1,000).
    agglomerative::local_search(&mut tree, &uni, effort / 200.0);
    // Then every largest subtree of up to 12 targets re-solved exactly, and search again.
    agglomerative::polish(
        &mut tree,
        group,
        &uni,
        prec,
        &problem.costs,
        12,
        effort / 100.0,
    );
    agglomerative::local_search(&mut tree, &uni, effort / 200.0);
    let hier = tree.orders(group, &uni, prec);
    if group_cost(problem, group, &hier) <= group_cost(problem, group, &greedy) {
        (Method::Heuristic, hier)
    } else {
        (Method::Greedy, greedy)
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
    method: Method,
    proven: bool,
    bound: Option<f64>,
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
    let lower_bound = bound.map_or(distinct, |v| v.max(distinct));
    // A plan that meets its lower bound is optimal whatever found it.
    let optimal = proven || cost <= lower_bound + 1e-9 * cost.abs().max(1.0);
    GroupReport {
        base: group.base.clone(),
        targets,
        method,
        optimal,
        cost,
        lower_bound,
    }
}

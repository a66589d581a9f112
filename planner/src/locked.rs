//! Planning on top of kept orders: a lock pins some targets' orders; the others are placed on
//! the trie those orders form, whose nodes count as already paid.
//!
//! A kept order is used only when it is still a valid order of its target (a permutation of its
//! steps followed by its tail, every `after` pair kept); the others are planned like new
//! targets and reported, so a caller can name them. A free target first follows the heaviest
//! path of the kept trie that it can (every step on it is one of its steps, and every step that
//! must precede one on the path is already on it), then the free targets that stop at the same
//! node are planned together, by the usual methods, for the steps they have left.

use std::collections::BTreeMap;

use crate::plan::{GroupReport, Method, Options, Plan, solve};
use crate::precedence::Precedence;
use crate::problem::{Problem, ProblemError, StepId, Target};
use crate::trie::{Trie, cost_of};

/// A plan made on top of kept orders.
#[derive(Clone, Debug, PartialEq)]
pub struct Extended {
    /// The plan: kept orders unchanged, the others placed on them.
    pub plan: Plan,
    /// Targets whose kept order was used as it was.
    pub kept: Vec<usize>,
    /// Targets that had a kept order that is no longer valid (planned anew).
    pub repaired: Vec<usize>,
    /// Targets that had no kept order.
    pub new: Vec<usize>,
}

/// Whether `order` is a valid full order of `target`: its steps in some order that keeps every
/// pair of `prec`, then its tail as given.
fn valid(target: &Target, order: &[StepId], prec: &Precedence) -> bool {
    let n = target.steps.len();
    if order.len() != n + target.tail.len() || order[n..] != target.tail[..] {
        return false;
    }
    let mut want: Vec<StepId> = target.steps.clone();
    let mut have: Vec<StepId> = order[..n].to_vec();
    want.sort_unstable();
    have.sort_unstable();
    if want != have {
        return false;
    }
    // No step may come after one that must follow it.
    (0..n).all(|i| {
        order[i + 1..n]
            .iter()
            .all(|&later| !prec.after(later).contains(order[i]))
    })
}

/// Plans `problem` keeping `kept[t]` as target `t`'s order wherever it is still valid.
///
/// `kept` has one entry per target (`None`: no kept order). Deterministic: the same problem and
/// kept orders give the same plan.
///
/// # Errors
/// When the problem is malformed (see [`Problem::validate`]), or the method fails on the
/// free targets (see [`solve`]).
pub fn solve_keeping(
    problem: &Problem,
    kept: &[Option<Vec<StepId>>],
    options: &Options,
) -> Result<Extended, ProblemError> {
    problem.validate()?;
    let prec = Precedence::new(problem.costs.len(), &problem.after);
    let n = problem.targets.len();
    let (mut keep, mut repaired, mut new) = (Vec::new(), Vec::new(), Vec::new());
    for (t, target) in problem.targets.iter().enumerate() {
        match kept.get(t).and_then(Option::as_ref) {
            Some(order) if valid(target, order, &prec) => keep.push(t),
            Some(_) => repaired.push(t),
            None => new.push(t),
        }
    }
    let mut free: Vec<usize> = repaired.iter().chain(&new).copied().collect();
    free.sort_unstable();
    if keep.is_empty() {
        let plan = solve(problem, options)?;
        return Ok(Extended {
            plan,
            kept: keep,
            repaired,
            new,
        });
    }
    let mut orders: Vec<Vec<StepId>> = vec![Vec::new(); n];
    for &t in &keep {
        if let Some(Some(order)) = kept.get(t) {
            orders[t] = order.clone();
        }
    }
    // The trie of the kept orders.
    let kept_problem = Problem {
        costs: problem.costs.clone(),
        targets: keep.iter().map(|&t| problem.targets[t].clone()).collect(),
        after: Vec::new(),
    };
    let kept_orders: Vec<Vec<StepId>> = keep.iter().map(|&t| orders[t].clone()).collect();
    let trie = Trie::build(&kept_problem, &kept_orders);
    let roots: BTreeMap<&str, usize> = trie
        .roots()
        .map(|r| (trie.nodes[r].base.as_str(), r))
        .collect();

    // Each free target follows the heaviest path it can, then the rest is planned per stop node.
    let mut rest = Problem {
        costs: problem.costs.clone(),
        targets: Vec::with_capacity(free.len()),
        after: problem.after.clone(),
    };
    let mut prefixes = Vec::with_capacity(free.len());
    for &t in &free {
        let target = &problem.targets[t];
        let (prefix, stop) = match roots.get(target.base.as_str()) {
            Some(&root) => heaviest_path(&trie, root, target, &prec, &problem.costs),
            None => (Vec::new(), None),
        };
        let left: Vec<StepId> = target
            .steps
            .iter()
            .copied()
            .filter(|s| !prefix.contains(s))
            .collect();
        // Targets that stop at different kept nodes never share what they add.
        let base = match stop {
            Some(node) => format!("{}\u{0}{node}", target.base),
            None => target.base.clone(),
        };
        rest.targets.push(Target {
            base,
            steps: left,
            tail: target.tail.clone(),
        });
        prefixes.push(prefix);
    }
    let sub = solve(&rest, options)?;
    for ((&t, prefix), order) in free.iter().zip(&prefixes).zip(&sub.orders) {
        orders[t] = prefix.iter().chain(order).copied().collect();
    }
    let cost = cost_of(problem, &orders);
    let distinct = problem.distinct_step_bound();
    let optimal = cost <= distinct + 1e-9 * cost.abs().max(1.0);
    let groups = vec![GroupReport {
        base: String::new(),
        targets: (0..n).collect(),
        method: Method::Locked,
        optimal,
        cost,
        lower_bound: distinct.min(cost),
        exact_work: sub.groups.iter().map(|g| g.exact_work).sum(),
    }];
    Ok(Extended {
        plan: Plan {
            orders,
            cost,
            as_listed_cost: cost_of(problem, &problem.listed_orders()),
            no_sharing_cost: problem.no_sharing_cost(),
            lower_bound: distinct.min(cost),
            optimal,
            groups,
        },
        kept: keep,
        repaired,
        new,
    })
}

/// The heaviest path down from `root` that `target` can follow, and the node it stops at
/// (`None` when it cannot leave the root).
fn heaviest_path(
    trie: &Trie,
    root: usize,
    target: &Target,
    prec: &Precedence,
    costs: &[f64],
) -> (Vec<StepId>, Option<usize>) {
    let holds = |s: StepId| target.steps.contains(&s);
    // Depth-first over the nodes the target may enter; children in trie order, so ties go to the
    // first child and the walk is deterministic.
    let mut best: (f64, Vec<StepId>, Option<usize>) = (0.0, Vec::new(), None);
    let mut stack: Vec<(usize, Vec<StepId>, f64)> = vec![(root, Vec::new(), 0.0)];
    while let Some((node, path, weight)) = stack.pop() {
        if weight > best.0 {
            best = (weight, path.clone(), Some(node));
        }
        for &child in trie.nodes[node].children.iter().rev() {
            let Some(s) = trie.nodes[child].step else {
                continue;
            };
            let ready = holds(s)
                && !path.contains(&s)
                && prec
                    .before(s)
                    .ones()
                    .all(|p| !holds(p) || path.contains(&p));
            if ready {
                let mut next = path.clone();
                next.push(s);
                stack.push((child, next, weight + costs[s]));
            }
        }
    }
    let (_, path, stop) = best;
    let stop = if path.is_empty() { None } else { stop };
    (path, stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(steps: &[StepId]) -> Target {
        Target {
            base: "b".into(),
            steps: steps.to_vec(),
            tail: Vec::new(),
        }
    }

    fn problem(targets: &[&[StepId]], after: &[(StepId, StepId)]) -> Problem {
        Problem {
            costs: vec![10.0, 5.0, 3.0, 2.0, 1.0, 7.0],
            targets: targets.iter().map(|s| target(s)).collect(),
            after: after.to_vec(),
        }
    }

    #[test]
    fn kept_orders_stay_and_a_new_target_follows_them() {
        let p = problem(&[&[0, 1, 2], &[0, 1, 3], &[0, 1, 4]], &[]);
        let kept = vec![Some(vec![1, 0, 2]), Some(vec![1, 0, 3]), None];
        let e = solve_keeping(&p, &kept, &Options::default()).expect("plan");
        assert_eq!(e.kept, vec![0, 1]);
        assert_eq!(e.new, vec![2]);
        assert_eq!(e.plan.orders[0], vec![1, 0, 2]);
        assert_eq!(e.plan.orders[1], vec![1, 0, 3]);
        // The new target reuses the kept prefix 1 → 0, which costs nothing more.
        assert_eq!(e.plan.orders[2], vec![1, 0, 4]);
        assert!((e.plan.cost - 21.0).abs() < 1e-9);
    }

    #[test]
    fn an_invalid_kept_order_is_repaired() {
        let p = problem(&[&[0, 1, 2], &[0, 1, 3]], &[(1, 0)]);
        // Target 0's kept order breaks the pair (1, 0); target 1's lost a step.
        let kept = vec![Some(vec![0, 1, 2]), Some(vec![1, 0])];
        let e = solve_keeping(&p, &kept, &Options::default()).expect("plan");
        assert_eq!(e.repaired, vec![0, 1]);
        assert!(e.kept.is_empty());
        for (t, order) in e.plan.orders.iter().enumerate() {
            let pos = |s| order.iter().position(|&x| x == s);
            assert!(pos(1) < pos(0), "target {t}: {order:?}");
        }
    }

    #[test]
    fn a_free_target_waits_for_its_predecessors() {
        // Kept: 2 → 0 → 1. A new target holding 0, 1 and 3 with 3 before 0 cannot follow 0 first.
        let p = problem(&[&[0, 1, 2], &[0, 1, 3]], &[(3, 0)]);
        let kept = vec![Some(vec![2, 0, 1]), None];
        let e = solve_keeping(&p, &kept, &Options::default()).expect("plan");
        let order = &e.plan.orders[1];
        let pos = |s| order.iter().position(|&x| x == s);
        assert!(pos(3) < pos(0), "{order:?}");
    }

    #[test]
    fn adding_a_target_never_moves_kept_ones() {
        let p = problem(&[&[0, 1, 2, 3], &[0, 2, 4], &[1, 2, 5], &[0, 5]], &[(2, 4)]);
        let first = solve(&p, &Options::default()).expect("plan");
        let mut bigger = p.clone();
        bigger.targets.push(target(&[0, 1, 2, 4, 5]));
        let mut kept: Vec<Option<Vec<StepId>>> = first.orders.iter().cloned().map(Some).collect();
        kept.push(None);
        let e = solve_keeping(&bigger, &kept, &Options::default()).expect("plan");
        assert_eq!(&e.plan.orders[..4], &first.orders[..]);
        assert_eq!(e.new, vec![4]);
        let mut sorted = e.plan.orders[4].clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 4, 5]);
    }
}

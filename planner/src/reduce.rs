//! Reductions inside a group: a common prefix fixed first, then the independent parts.
//!
//! The steps every item of a group holds and that can go first (no step held by only some of
//! the items must precede them) run once, as a chain, at the top of some optimal trie: that is
//! H(all), which every hierarchy's root hoists. Taking them away changes no other set's H (they
//! are in every I and never in any U ∖ I), so what is left is the same problem without them. It
//! may fall apart into parts that share no step (their subtries below the chain are disjoint, so
//! their costs add up), and each part may again have a common prefix. Peeling repeatedly leaves
//! only parts of two or more items with nothing common to hoist: those need a search. A nested
//! (laminar) family — each target's steps ⊇ its parent's, as in image stacks — peels down to
//! single items when no `after` pair gets in the way: every step then runs once, which meets the
//! distinct-step bound, so such groups are planned and proven without any search.

use crate::group::{self, Group, Item};
use crate::precedence::Precedence;
use crate::problem::StepId;

/// A group after the reductions.
pub(crate) struct Reduced {
    /// Per item of the group, the steps fixed at the start of its order, in order (for an item
    /// that ends up alone: its whole order).
    pub(crate) prefix: Vec<Vec<StepId>>,
    /// Parts still to plan (each of two or more items with no common prefix), with the index
    /// in the group of each of their items; every part's item order follows its prefix.
    pub(crate) parts: Vec<(Group, Vec<usize>)>,
    /// Cost of the fixed part of the trie: each peeled chain once, and every item that ends up
    /// alone with its remaining steps and its tails.
    pub(crate) fixed_cost: f64,
}

/// Peels common prefixes and splits into parts, in a deterministic order.
pub(crate) fn reduce(group: &Group, prec: &Precedence, costs: &[f64]) -> Reduced {
    let n = group.items.len();
    let mut prefix: Vec<Vec<StepId>> = vec![Vec::new(); n];
    let mut parts = Vec::new();
    let mut fixed_cost = 0.0;
    // Work list of (item indexes in the group, their remaining sets).
    let mut work: Vec<(Vec<usize>, Vec<Vec<StepId>>)> = vec![(
        (0..n).collect(),
        group.items.iter().map(|i| i.set.clone()).collect(),
    )];
    while let Some((members, sets)) = work.pop() {
        if let [only] = members[..] {
            prefix[only].extend(prec.sort(&sets[0]));
            fixed_cost += weight(&sets[0], costs) + group.items[only].tail_cost;
            continue;
        }
        let common = hoistable(&sets, prec);
        if common.is_empty() {
            let items = members
                .iter()
                .zip(sets)
                .map(|(&k, set)| Item {
                    targets: group.items[k].targets.clone(),
                    set,
                    tail_cost: group.items[k].tail_cost,
                })
                .collect();
            parts.push((
                Group {
                    base: group.base.clone(),
                    items,
                },
                members,
            ));
            continue;
        }
        let chain = prec.sort(&common);
        fixed_cost += weight(&chain, costs);
        for &k in &members {
            prefix[k].extend_from_slice(&chain);
        }
        let rest: Vec<Item> = members
            .iter()
            .zip(&sets)
            .map(|(&k, set)| Item {
                targets: group.items[k].targets.clone(),
                set: set
                    .iter()
                    .copied()
                    .filter(|s| common.binary_search(s).is_err())
                    .collect(),
                tail_cost: group.items[k].tail_cost,
            })
            .collect();
        // Parts in reverse so the first is taken next: output order follows item order.
        for component in group::components(&rest).into_iter().rev() {
            work.push((
                component.iter().map(|&c| members[c]).collect(),
                component.iter().map(|&c| rest[c].set.clone()).collect(),
            ));
        }
    }
    Reduced {
        prefix,
        parts,
        fixed_cost,
    }
}

/// The steps every set holds that no step held by only some of them must precede, increasing.
fn hoistable(sets: &[Vec<StepId>], prec: &Precedence) -> Vec<StepId> {
    let Some((first, others)) = sets.split_first() else {
        return Vec::new();
    };
    let common: Vec<StepId> = first
        .iter()
        .copied()
        .filter(|s| others.iter().all(|o| o.binary_search(s).is_ok()))
        .collect();
    if common.is_empty() || prec.is_empty() {
        return common;
    }
    let mut partial: Vec<StepId> = sets
        .iter()
        .flatten()
        .copied()
        .filter(|s| common.binary_search(s).is_err())
        .collect();
    partial.sort_unstable();
    partial.dedup();
    common
        .into_iter()
        .filter(|&c| {
            let before = prec.before(c);
            !partial.iter().any(|&p| before.contains(p))
        })
        .collect()
}

fn weight(steps: &[StepId], costs: &[f64]) -> f64 {
    steps.iter().map(|&s| costs[s]).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{Problem, Target};

    fn target(steps: &[usize]) -> Target {
        Target {
            base: "b".into(),
            steps: steps.to_vec(),
            tail: Vec::new(),
        }
    }

    #[test]
    fn a_nested_family_peels_down_to_single_items() {
        // 0 1 shared by all; {2, 3} by a family of two; 4 alone.
        let p = Problem {
            costs: vec![5.0, 4.0, 3.0, 2.0, 1.0],
            targets: vec![
                target(&[1, 0]),
                target(&[0, 1, 2, 3]),
                target(&[3, 2, 1, 0, 4]),
            ],
            after: vec![(1, 0)],
        };
        let prec = Precedence::new(5, &p.after);
        let group = group::split(&p).remove(0);
        let r = reduce(&group, &prec, &p.costs);
        assert!(r.parts.is_empty());
        assert_eq!(r.prefix[0], vec![1, 0]);
        assert_eq!(r.prefix[1], vec![1, 0, 2, 3]);
        assert_eq!(r.prefix[2], vec![1, 0, 2, 3, 4]);
        assert_eq!(r.fixed_cost, 15.0);
    }

    #[test]
    fn a_step_only_some_hold_keeps_its_successors_out_of_the_prefix() {
        // All hold 0, 1, 2; 3 (held by one) must run before 1, so only 0 and 2 are fixed and
        // the rest stays a part to search, with its `after` pair kept.
        let p = Problem {
            costs: vec![1.0; 5],
            targets: vec![
                target(&[0, 1, 2]),
                target(&[0, 1, 2, 3]),
                target(&[0, 1, 2, 4]),
            ],
            after: vec![(3, 1), (1, 4)],
        };
        let prec = Precedence::new(5, &p.after);
        let group = group::split(&p).remove(0);
        let r = reduce(&group, &prec, &p.costs);
        assert_eq!(r.prefix, vec![vec![0, 2]; 3]);
        assert_eq!(r.parts.len(), 1);
        let (part, members) = &r.parts[0];
        assert_eq!(members, &vec![0, 1, 2]);
        let sets: Vec<Vec<usize>> = part.items.iter().map(|i| i.set.clone()).collect();
        assert_eq!(sets, vec![vec![1], vec![1, 3], vec![1, 4]]);
    }
}

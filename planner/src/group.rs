//! Safe reductions: split by base and by connected components, merge identical targets.
//!
//! A group is what one method solves on its own: targets of one base that are linked, directly
//! or through others, by sharing a reorderable step. Targets with identical step sets become one
//! item (some optimal plan gives them one order); their tails only add a fixed cost to the item.

use std::collections::{BTreeMap, BTreeSet};

use crate::problem::{Problem, StepId};

/// Targets with one identical reorderable step set.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    /// Indexes of the problem's targets, increasing.
    pub(crate) targets: Vec<usize>,
    /// The reorderable steps, increasing ids.
    pub(crate) set: Vec<StepId>,
    /// Cost of the trie the members' tails form below the shared set.
    pub(crate) tail_cost: f64,
}

/// Items of one base that may share steps.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Group {
    pub(crate) base: String,
    pub(crate) items: Vec<Item>,
}

impl Group {
    /// Problem target indexes of every member, increasing.
    pub(crate) fn targets(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self
            .items
            .iter()
            .flat_map(|i| i.targets.iter().copied())
            .collect();
        all.sort_unstable();
        all
    }
}

/// Splits a problem into independent groups, in a canonical order.
pub(crate) fn split(problem: &Problem) -> Vec<Group> {
    let mut by_base: BTreeMap<&str, BTreeMap<Vec<StepId>, Vec<usize>>> = BTreeMap::new();
    for (t, target) in problem.targets.iter().enumerate() {
        let mut set = target.steps.clone();
        set.sort_unstable();
        by_base
            .entry(&target.base)
            .or_default()
            .entry(set)
            .or_default()
            .push(t);
    }
    let mut groups = Vec::new();
    for (base, sets) in by_base {
        let items: Vec<Item> = sets
            .into_iter()
            .map(|(set, targets)| Item {
                tail_cost: tail_trie_cost(problem, &targets),
                targets,
                set,
            })
            .collect();
        for component in components(&items) {
            groups.push(Group {
                base: base.to_owned(),
                items: component.into_iter().map(|k| items[k].clone()).collect(),
            });
        }
    }
    groups
}

/// Cost of the distinct prefixes of the tails of `targets`.
fn tail_trie_cost(problem: &Problem, targets: &[usize]) -> f64 {
    let mut seen: BTreeSet<&[StepId]> = BTreeSet::new();
    let mut cost = 0.0;
    for &t in targets {
        let tail = &problem.targets[t].tail;
        for end in 1..=tail.len() {
            if seen.insert(&tail[..end]) {
                cost += problem.costs[tail[end - 1]];
            }
        }
    }
    cost
}

/// Connected components of "shares a step", each a list of item indexes, ordered by first item.
pub(crate) fn components(items: &[Item]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..items.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut owner: BTreeMap<StepId, usize> = BTreeMap::new();
    for (k, item) in items.iter().enumerate() {
        for &s in &item.set {
            if let Some(&other) = owner.get(&s) {
                let (a, b) = (find(&mut parent, k), find(&mut parent, other));
                parent[a.max(b)] = a.min(b);
            } else {
                owner.insert(s, k);
            }
        }
    }
    let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for k in 0..items.len() {
        let root = find(&mut parent, k);
        by_root.entry(root).or_default().push(k);
    }
    by_root.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Target;

    #[test]
    fn splits_by_base_component_and_merges_identical_sets() {
        let t = |base: &str, steps: &[usize], tail: &[usize]| Target {
            base: base.into(),
            steps: steps.to_vec(),
            tail: tail.to_vec(),
        };
        let p = Problem {
            costs: vec![1.0, 2.0, 3.0, 4.0, 5.0],
            targets: vec![
                t("a", &[1, 0], &[4]),
                t("a", &[0, 1], &[4, 3]),
                t("a", &[2], &[]),
                t("a", &[2, 3], &[]),
                t("b", &[0], &[]),
            ],
            after: vec![],
        };
        let groups = split(&p);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].items.len(), 1);
        assert_eq!(groups[0].items[0].targets, vec![0, 1]);
        assert_eq!(groups[0].items[0].tail_cost, 5.0 + 4.0);
        assert_eq!(groups[1].targets(), vec![2, 3]);
        assert_eq!(groups[2].base, "b");
    }
}

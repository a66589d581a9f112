//! The prefix tree that step orders form, one root per base: its nodes are the steps that run.

use std::collections::BTreeMap;

use crate::problem::{Problem, StepId};

/// One node: a step run on top of its parent's result.
#[derive(Clone, Debug, PartialEq)]
pub struct TrieNode {
    /// The step this node runs; `None` for a base root.
    pub step: Option<StepId>,
    /// The parent node, `None` for a base root.
    pub parent: Option<usize>,
    /// Children in the order they were first reached (targets in problem order).
    pub children: Vec<usize>,
    /// Indexes of the targets whose order passes through this node, increasing.
    pub targets: Vec<usize>,
    /// Indexes of the targets whose order ends here, increasing.
    pub ends: Vec<usize>,
    /// The base of the tree this node belongs to.
    pub base: String,
}

/// All trie nodes of a plan; roots (one per base) come first in order of first use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trie {
    /// Nodes; a node's parent always has a smaller index.
    pub nodes: Vec<TrieNode>,
    /// Per target, the node its order ends at.
    pub leaf_of: Vec<usize>,
}

impl Trie {
    /// Builds the trie of `orders` (one full sequence per target of `problem`).
    #[must_use]
    pub fn build(problem: &Problem, orders: &[Vec<StepId>]) -> Self {
        let mut nodes: Vec<TrieNode> = Vec::new();
        let mut roots: BTreeMap<&str, usize> = BTreeMap::new();
        let mut edges: BTreeMap<(usize, StepId), usize> = BTreeMap::new();
        let mut leaf_of = Vec::with_capacity(orders.len());
        for (t, (target, order)) in problem.targets.iter().zip(orders).enumerate() {
            let root = *roots.entry(target.base.as_str()).or_insert_with(|| {
                nodes.push(TrieNode {
                    step: None,
                    parent: None,
                    children: Vec::new(),
                    targets: Vec::new(),
                    ends: Vec::new(),
                    base: target.base.clone(),
                });
                nodes.len() - 1
            });
            let mut at = root;
            nodes[at].targets.push(t);
            for &s in order {
                at = *edges.entry((at, s)).or_insert_with(|| {
                    nodes.push(TrieNode {
                        step: Some(s),
                        parent: Some(at),
                        children: Vec::new(),
                        targets: Vec::new(),
                        ends: Vec::new(),
                        base: target.base.clone(),
                    });
                    let child = nodes.len() - 1;
                    nodes[at].children.push(child);
                    child
                });
                nodes[at].targets.push(t);
            }
            nodes[at].ends.push(t);
            leaf_of.push(at);
        }
        Self { nodes, leaf_of }
    }

    /// Sum of the step costs over all nodes: the time to build every target once.
    #[must_use]
    pub fn cost(&self, costs: &[f64]) -> f64 {
        self.nodes
            .iter()
            .filter_map(|n| n.step)
            .map(|s| costs[s])
            // From +0: `sum` starts at −0, which a plan of no steps printed as "-0 s".
            .fold(0.0, |a, c| a + c)
    }

    /// Number of step nodes (roots excluded): the number of steps that really run.
    #[must_use]
    pub fn step_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.step.is_some()).count()
    }

    /// The roots, one per base.
    pub fn roots(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.parent.is_none())
            .map(|(i, _)| i)
    }
}

/// Cost of the trie the orders form.
#[must_use]
pub(crate) fn cost_of(problem: &Problem, orders: &[Vec<StepId>]) -> f64 {
    Trie::build(problem, orders).cost(&problem.costs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Target;

    #[test]
    fn shared_prefixes_are_paid_once_per_base() {
        let t = |base: &str, steps: &[usize]| Target {
            base: base.into(),
            steps: steps.to_vec(),
            tail: vec![],
        };
        let p = Problem {
            costs: vec![10.0, 1.0, 2.0],
            targets: vec![t("a", &[0, 1]), t("a", &[0, 2]), t("b", &[0, 1])],
            after: vec![],
        };
        let orders: Vec<Vec<usize>> = p.targets.iter().map(|t| t.steps.clone()).collect();
        let trie = Trie::build(&p, &orders);
        assert_eq!(trie.cost(&p.costs), 10.0 + 1.0 + 2.0 + 10.0 + 1.0);
        assert_eq!(trie.step_count(), 5);
        assert_eq!(trie.roots().count(), 2);
        let first = trie.nodes[0].children[0];
        assert_eq!(trie.nodes[first].targets, vec![0, 1]);
    }
}

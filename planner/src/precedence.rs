//! The `after` relation: transitive closure, cycle search and topological order.

use crate::problem::StepId;
use fixedbitset::FixedBitSet;

/// The transitive closure of the precedence pairs over all steps of a problem.
#[derive(Clone, Debug)]
pub(crate) struct Precedence {
    /// `before[b]`: every step that must run before `b` wherever both appear (`None`: none).
    before: Vec<Option<FixedBitSet>>,
    /// `after[a]`: every step that must run after `a` wherever both appear (`None`: none).
    after: Vec<Option<FixedBitSet>>,
    /// The empty set the unconstrained steps share: memory grows with the constrained steps
    /// only, not with the square of all steps.
    empty: FixedBitSet,
    any: bool,
}

impl Precedence {
    /// Closes `pairs` transitively. The pairs must be acyclic (see [`find_cycle`]).
    pub(crate) fn new(steps: usize, pairs: &[(StepId, StepId)]) -> Self {
        let mut succ: Vec<Vec<StepId>> = vec![Vec::new(); steps];
        for &(a, b) in pairs {
            succ[a].push(b);
        }
        let order = topological(steps, &succ).unwrap_or_else(|| (0..steps).collect());
        // Walk in reverse topological order: after[a] = ∪ ({b} ∪ after[b]) over direct successors.
        let mut after: Vec<Option<FixedBitSet>> = vec![None; steps];
        for &a in order.iter().rev() {
            if succ[a].is_empty() {
                continue;
            }
            let mut acc = FixedBitSet::with_capacity(steps);
            for &b in &succ[a] {
                acc.insert(b);
                if let Some(later) = &after[b] {
                    acc.union_with(later);
                }
            }
            after[a] = Some(acc);
        }
        let mut before: Vec<Option<FixedBitSet>> = vec![None; steps];
        for (a, set) in after.iter().enumerate() {
            for b in set.iter().flat_map(FixedBitSet::ones) {
                before[b]
                    .get_or_insert_with(|| FixedBitSet::with_capacity(steps))
                    .insert(a);
            }
        }
        Self {
            before,
            after,
            empty: FixedBitSet::with_capacity(steps),
            any: !pairs.is_empty(),
        }
    }

    /// Whether any pair constrains anything.
    pub(crate) fn is_empty(&self) -> bool {
        !self.any
    }

    /// Steps that must run before `b`.
    pub(crate) fn before(&self, b: StepId) -> &FixedBitSet {
        self.before[b].as_ref().unwrap_or(&self.empty)
    }

    /// Steps that must run after `a`.
    pub(crate) fn after(&self, a: StepId) -> &FixedBitSet {
        self.after[a].as_ref().unwrap_or(&self.empty)
    }

    /// Orders `steps` so that every pair among them holds; ties go to the smaller id.
    pub(crate) fn sort(&self, steps: &[StepId]) -> Vec<StepId> {
        let mut sorted: Vec<StepId> = steps.to_vec();
        sorted.sort_unstable();
        if self.is_empty() {
            return sorted;
        }
        let mut members = FixedBitSet::with_capacity(self.empty.len());
        for &s in &sorted {
            members.insert(s);
        }
        let count = |b: StepId| self.before(b).intersection_count(&members);
        let mut waiting: std::collections::BTreeMap<StepId, usize> =
            sorted.iter().map(|&b| (b, count(b))).collect();
        let mut ready: std::collections::BTreeSet<StepId> = waiting
            .iter()
            .filter(|&(_, &n)| n == 0)
            .map(|(&b, _)| b)
            .collect();
        let mut out = Vec::with_capacity(sorted.len());
        while let Some(a) = ready.pop_first() {
            out.push(a);
            for c in self.after(a).ones().filter(|&c| members.contains(c)) {
                if let Some(n) = waiting.get_mut(&c) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(c);
                    }
                }
            }
        }
        out
    }
}

impl Precedence {
    /// `order` changed as little as possible to keep every pair: repeatedly the first step none
    /// of whose predecessors is still waiting.
    pub(crate) fn repair(&self, order: &[StepId]) -> Vec<StepId> {
        if self.is_empty() {
            return order.to_vec();
        }
        let mut rest = order.to_vec();
        let mut out = Vec::with_capacity(rest.len());
        while !rest.is_empty() {
            let pick = rest
                .iter()
                .position(|&b| !rest.iter().any(|&a| self.before(b).contains(a)))
                .unwrap_or(0);
            out.push(rest.remove(pick));
        }
        out
    }
}

/// Kahn's algorithm; `None` when the graph has a cycle.
fn topological(steps: usize, succ: &[Vec<StepId>]) -> Option<Vec<StepId>> {
    let mut indeg = vec![0usize; steps];
    for list in succ {
        for &b in list {
            indeg[b] += 1;
        }
    }
    let mut ready: std::collections::BTreeSet<StepId> =
        (0..steps).filter(|&s| indeg[s] == 0).collect();
    let mut order = Vec::with_capacity(steps);
    while let Some(a) = ready.pop_first() {
        order.push(a);
        for &b in &succ[a] {
            indeg[b] -= 1;
            if indeg[b] == 0 {
                ready.insert(b);
            }
        }
    }
    (order.len() == steps).then_some(order)
}

/// A cycle of the pairs, each step before the next, if there is one; the same cycle every run.
pub(crate) fn find_cycle(steps: usize, pairs: &[(StepId, StepId)]) -> Option<Vec<StepId>> {
    let mut succ: Vec<Vec<StepId>> = vec![Vec::new(); steps];
    for &(a, b) in pairs {
        succ[a].push(b);
    }
    for list in &mut succ {
        list.sort_unstable();
        list.dedup();
    }
    // Iterative DFS with colours: 0 new, 1 on the stack, 2 done.
    let mut colour = vec![0u8; steps];
    for root in 0..steps {
        if colour[root] != 0 {
            continue;
        }
        let mut stack: Vec<(StepId, usize)> = vec![(root, 0)];
        colour[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = succ[node].get(*next) {
                *next += 1;
                match colour[child] {
                    0 => {
                        colour[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let start = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                        return Some(stack[start..].iter().map(|&(n, _)| n).collect());
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconstrained_steps_cost_no_memory() {
        // 10⁵ steps without pairs: a closure of steps² bits would take 1.25 GB.
        let p = Precedence::new(100_000, &[]);
        assert!(p.before(99_999).is_clear() && p.after(0).is_clear());
        let q = Precedence::new(100_000, &[(7, 99_999)]);
        assert!(q.before(99_999).contains(7) && q.after(7).contains(99_999));
        assert!(q.before(7).is_clear());
    }

    #[test]
    fn closure_is_transitive() {
        let p = Precedence::new(4, &[(0, 1), (1, 2)]);
        assert!(p.before(2).contains(0));
        assert!(p.after(0).contains(2));
        assert!(!p.before(3).contains(0));
        assert_eq!(p.sort(&[2, 3, 1, 0]), vec![0, 1, 2, 3]);
        assert_eq!(p.sort(&[2, 0]), vec![0, 2]);
    }

    #[test]
    fn cycles_are_found() {
        assert_eq!(
            find_cycle(3, &[(0, 1), (1, 2), (2, 0)]),
            Some(vec![0, 1, 2])
        );
        assert_eq!(find_cycle(3, &[(0, 1), (1, 2)]), None);
        assert_eq!(find_cycle(2, &[(1, 1)]), Some(vec![1]));
    }
}

//! The part of a group's steps that matters for sharing, as dense bitsets.
//!
//! Only steps held by two or more items can be shared; a step held by one item matters only
//! when it must precede a shared step (it then keeps that step from being hoisted). Every
//! method works on these local bitsets: `I` (steps common to a set of items), `U` (steps held by
//! any), and `H(I, U)`, the part of `I` that can run first for all of them.

use crate::group::Group;
use crate::precedence::Precedence;
use crate::problem::StepId;

/// Local view of the group's steps that can ever be shared or block sharing.
pub(crate) struct Universe {
    /// Local index → step id.
    pub(crate) steps: Vec<StepId>,
    /// Words per bitset.
    pub(crate) words: usize,
    /// Per item, its local set.
    pub(crate) sets: Vec<Vec<u64>>,
    /// Per local step, the local steps that must follow it (empty when there is no precedence).
    succ: Vec<Vec<u64>>,
    /// Per local step, the local steps that must precede it (the transpose of `succ`).
    pred: Vec<Vec<u64>>,
    costs: Vec<f64>,
    has_precedence: bool,
}

impl Universe {
    pub(crate) fn new(group: &Group, prec: &Precedence, costs: &[f64]) -> Self {
        let mut count: std::collections::BTreeMap<StepId, usize> =
            std::collections::BTreeMap::new();
        for item in &group.items {
            for &s in &item.set {
                *count.entry(s).or_default() += 1;
            }
        }
        let shared: Vec<StepId> = count
            .iter()
            .filter(|&(_, &c)| c >= 2)
            .map(|(&s, _)| s)
            .collect();
        let mut steps = shared.clone();
        if !prec.is_empty() {
            // A step held by one item still blocks its successors from being shared.
            steps.extend(
                count
                    .iter()
                    .filter(|&(s, &c)| c == 1 && shared.iter().any(|&b| prec.after(*s).contains(b)))
                    .map(|(&s, _)| s),
            );
            steps.sort_unstable();
        }
        let words = steps.len().div_ceil(64).max(1);
        let local = |s: StepId| steps.binary_search(&s).ok();
        let to_bits = |members: &mut dyn Iterator<Item = StepId>| {
            let mut bits = vec![0u64; words];
            for s in members {
                if let Some(i) = local(s) {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            bits
        };
        let sets = group
            .items
            .iter()
            .map(|item| to_bits(&mut item.set.iter().copied()))
            .collect();
        let has_precedence = !prec.is_empty();
        let succ = if has_precedence {
            steps
                .iter()
                .map(|&a| to_bits(&mut prec.after(a).ones()))
                .collect()
        } else {
            Vec::new()
        };
        let mut pred = vec![vec![0u64; words]; if has_precedence { steps.len() } else { 0 }];
        for (a, bits) in succ.iter().enumerate() {
            for (w, &word) in bits.iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    let b = w * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    pred[b][a / 64] |= 1 << (a % 64);
                }
            }
        }
        let step_costs = steps.iter().map(|&s| costs[s]).collect();
        Self {
            steps,
            words,
            sets,
            succ,
            pred,
            costs: step_costs,
            has_precedence,
        }
    }

    /// H(S) from I(S) and U(S), written into `out`.
    pub(crate) fn hoisted(&self, inter: &[u64], union: &[u64], out: &mut [u64]) -> usize {
        out.copy_from_slice(inter);
        if !self.has_precedence {
            return inter.len();
        }
        // From whichever side is smaller: clear the successors of each step of U ∖ I, or drop
        // each step of I that has a predecessor in U ∖ I (the same set). Returns the word
        // operations done.
        let (mut common, mut outside) = (0u32, 0u32);
        for (&i, &u) in inter.iter().zip(union) {
            common += i.count_ones();
            outside += (u & !i).count_ones();
        }
        let words = inter.len();
        if outside <= common {
            for (w, (&i, &u)) in inter.iter().zip(union).enumerate() {
                let mut bad = u & !i;
                while bad != 0 {
                    let a = w * 64 + bad.trailing_zeros() as usize;
                    bad &= bad - 1;
                    for (o, s) in out.iter_mut().zip(&self.succ[a]) {
                        *o &= !s;
                    }
                }
            }
            words * (1 + outside as usize)
        } else {
            for (w, &i) in inter.iter().enumerate() {
                let mut word = i;
                while word != 0 {
                    let a = w * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    let blocked = self.pred[a]
                        .iter()
                        .zip(inter.iter().zip(union))
                        .any(|(p, (&i, &u))| p & u & !i != 0);
                    if blocked {
                        out[w] &= !(1 << (a % 64));
                    }
                }
            }
            words * (1 + common as usize)
        }
    }

    pub(crate) fn weight(&self, bits: &[u64]) -> f64 {
        let mut total = 0.0;
        for (w, &word) in bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                total += self.costs[w * 64 + word.trailing_zeros() as usize];
                word &= word - 1;
            }
        }
        total
    }

    pub(crate) fn members(&self, bits: &[u64]) -> Vec<StepId> {
        let mut out = Vec::new();
        for (w, &word) in bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                out.push(self.steps[w * 64 + word.trailing_zeros() as usize]);
                word &= word - 1;
            }
        }
        out
    }

    /// I and U of a set of items.
    pub(crate) fn inter_union_of(&self, items: &[usize]) -> (Vec<u64>, Vec<u64>) {
        let mut inter = vec![!0u64; self.words];
        let mut union = vec![0u64; self.words];
        for &k in items {
            for w in 0..self.words {
                inter[w] &= self.sets[k][w];
                union[w] |= self.sets[k][w];
            }
        }
        (inter, union)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::split;
    use crate::problem::{Problem, Target};

    /// H from either side (U ∖ I's successors cleared, or I's steps with a predecessor in
    /// U ∖ I dropped) is the definition: I minus the successors of U ∖ I.
    #[test]
    fn hoisting_from_either_side_is_the_definition() {
        let mut next = crate::testing::lcg_usize(99);
        for round in 0..50 {
            let steps = 70 + next() % 60;
            // Sparse targets (U ∖ I larger than I) and dense ones (I larger): both sides.
            let keep = if round % 2 == 0 { 2 } else { 8 };
            let targets: Vec<Target> = (0..6)
                .map(|_| Target {
                    base: "b".into(),
                    steps: (0..steps).filter(|_| next() % 10 < keep).collect(),
                    tail: Vec::new(),
                })
                .collect();
            let after: Vec<(usize, usize)> = (0..steps / 3)
                .map(|_| (next() % steps, next() % steps))
                .filter(|(a, b)| a < b)
                .collect();
            let problem = Problem {
                costs: vec![1.0; steps],
                targets,
                after,
            };
            let prec = Precedence::new(steps, &problem.after);
            for group in split(&problem) {
                let uni = Universe::new(&group, &prec, &problem.costs);
                let k = group.items.len();
                for a in 0..k {
                    for b in a + 1..k {
                        let inter: Vec<u64> = uni.sets[a]
                            .iter()
                            .zip(&uni.sets[b])
                            .map(|(x, y)| x & y)
                            .collect();
                        let union: Vec<u64> = uni.sets[a]
                            .iter()
                            .zip(&uni.sets[b])
                            .map(|(x, y)| x | y)
                            .collect();
                        let mut want = inter.clone();
                        for l in 0..uni.steps.len() {
                            let outside = union[l / 64] & !inter[l / 64] & (1 << (l % 64)) != 0;
                            if outside && uni.has_precedence {
                                for (w, s) in want.iter_mut().zip(&uni.succ[l]) {
                                    *w &= !s;
                                }
                            }
                        }
                        let mut got = vec![0u64; uni.words];
                        let ops = uni.hoisted(&inter, &union, &mut got);
                        assert_eq!(got, want);
                        assert!(ops >= uni.words);
                    }
                }
            }
        }
    }
}

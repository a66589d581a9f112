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
                .map(|&a| to_bits(&mut prec.after(a).iter()))
                .collect()
        } else {
            Vec::new()
        };
        let step_costs = steps.iter().map(|&s| costs[s]).collect();
        Self {
            steps,
            words,
            sets,
            succ,
            costs: step_costs,
            has_precedence,
        }
    }

    /// H(S) from I(S) and U(S), written into `out`.
    pub(crate) fn hoisted(&self, inter: &[u64], union: &[u64], out: &mut [u64]) {
        out.copy_from_slice(inter);
        if !self.has_precedence {
            return;
        }
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

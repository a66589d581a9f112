//! The exact subset DP (hierarchy view of the trie), with precedence through H(S).
//!
//! `f({i}) = w(C_i) + tail_i` and `f(S) = min over splits S = A ∪ B of f(A) + f(B) − w(H(S))`,
//! where H(S) is the largest part of the steps common to S that is closed under the ordering
//! constraints of every target in S: running H(S) first, once, for all of S is never worse.
//! With a transitively closed precedence, `b ∈ H(S)` exactly when no step that must precede `b`
//! is held by some but not all of S, so H(S) = I(S) minus the successors of U(S) ∖ I(S).
//! Time O(3ⁿ) (half, by keeping the lowest item in A), memory two `f64` per subset.

use crate::group::Group;
use crate::precedence::Precedence;
use crate::problem::StepId;

/// Largest group the DP takes: 2 × 8 × 2ⁿ bytes of tables.
pub(crate) const MAX_ITEMS: usize = 26;

/// Number of split evaluations the DP makes for `n` items, the work it is charged for.
pub(crate) fn work(n: usize) -> f64 {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    // Σ over subsets S with |S| ≥ 2 of (2^{|S|-1} − 1) = (3ⁿ + 1)/2 − 2ⁿ.
    (3f64.powi(n) + 1.0) / 2.0 - 2f64.powi(n)
}

/// The optimum of a group: item orders (reorderable steps only) and the optimal value.
pub(crate) struct Solution {
    pub(crate) orders: Vec<Vec<StepId>>,
    pub(crate) value: f64,
}

/// Local view of the group's steps that can ever be shared or block sharing.
struct Universe {
    /// Local index → step id.
    steps: Vec<StepId>,
    /// Words per bitset.
    words: usize,
    /// Per item, its local set.
    sets: Vec<Vec<u64>>,
    /// Per local step, the local steps that must follow it (empty when there is no precedence).
    succ: Vec<Vec<u64>>,
    costs: Vec<f64>,
    has_precedence: bool,
}

impl Universe {
    fn new(group: &Group, prec: &Precedence, costs: &[f64]) -> Self {
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
    fn hoisted(&self, inter: &[u64], union: &[u64], out: &mut [u64]) {
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

    fn weight(&self, bits: &[u64]) -> f64 {
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

    fn members(&self, bits: &[u64]) -> Vec<StepId> {
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

    /// I(S), U(S) of a mask, computed directly.
    fn inter_union(&self, mask: u32) -> (Vec<u64>, Vec<u64>) {
        let mut inter = vec![!0u64; self.words];
        let mut union = vec![0u64; self.words];
        for (k, set) in self.sets.iter().enumerate() {
            if mask & (1 << k) != 0 {
                for w in 0..self.words {
                    inter[w] &= set[w];
                    union[w] |= set[w];
                }
            }
        }
        (inter, union)
    }
}

/// Solves a group of at most [`MAX_ITEMS`] items exactly.
pub(crate) fn solve(group: &Group, prec: &Precedence, costs: &[f64]) -> Solution {
    let n = group.items.len();
    assert!(n <= MAX_ITEMS, "exact DP called on {n} items");
    if n == 0 {
        return Solution {
            orders: Vec::new(),
            value: 0.0,
        };
    }
    let uni = Universe::new(group, prec, costs);
    let full: u32 = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
    let size = 1usize << n;

    // h[S] = w(H(S)) for |S| ≥ 2, by a depth-first walk that carries I and U; an empty I ends a branch.
    let mut h = vec![0.0f64; size];
    let w = uni.words;
    let mut inter_stack = vec![0u64; w * (n + 1)];
    let mut union_stack = vec![0u64; w * (n + 1)];
    let mut scratch = vec![0u64; w];
    // Stack of (next item to add, mask, depth).
    let mut stack: Vec<(usize, u32, usize)> = (0..n).rev().map(|k| (k, 0u32, 0usize)).collect();
    while let Some((k, mask, depth)) = stack.pop() {
        let new_mask = mask | (1 << k);
        let (lower, upper) = inter_stack.split_at_mut(w * (depth + 1));
        let (ulower, uupper) = union_stack.split_at_mut(w * (depth + 1));
        let parent_i = &lower[w * depth..];
        let parent_u = &ulower[w * depth..];
        let (child_i, child_u) = (&mut upper[..w], &mut uupper[..w]);
        let set = &uni.sets[k];
        for j in 0..w {
            child_i[j] = if depth == 0 {
                set[j]
            } else {
                parent_i[j] & set[j]
            };
            child_u[j] = if depth == 0 {
                set[j]
            } else {
                parent_u[j] | set[j]
            };
        }
        if child_i.iter().all(|&x| x == 0) {
            continue; // every superset shares nothing: h stays 0
        }
        if depth >= 1 {
            uni.hoisted(child_i, child_u, &mut scratch);
            h[new_mask as usize] = uni.weight(&scratch);
        }
        for next in (k + 1..n).rev() {
            stack.push((next, new_mask, depth + 1));
        }
    }

    let mut f = vec![0.0f64; size];
    for (k, item) in group.items.iter().enumerate() {
        f[1 << k] = item.set.iter().map(|&s| costs[s]).sum::<f64>() + item.tail_cost;
    }
    for s in 1..=full {
        if s.count_ones() < 2 {
            continue;
        }
        let low = s & s.wrapping_neg();
        let rest = s ^ low;
        let mut best = f64::INFINITY;
        let mut b = rest;
        while b != 0 {
            let v = f[(s ^ b) as usize] + f[b as usize];
            if v < best {
                best = v;
            }
            b = (b - 1) & rest;
        }
        f[s as usize] = best - h[s as usize];
    }

    let mut orders = vec![Vec::new(); n];
    place(group, &uni, prec, &f, &h, full, &[], &mut orders);
    Solution {
        orders,
        value: f[full as usize],
    }
}

/// Appends to every item of `mask` the steps of its trie node below `placed`, then recurses.
#[allow(clippy::too_many_arguments)]
fn place(
    group: &Group,
    uni: &Universe,
    prec: &Precedence,
    f: &[f64],
    h: &[f64],
    mask: u32,
    placed: &[StepId],
    orders: &mut [Vec<StepId>],
) {
    if mask.count_ones() == 1 {
        let k = mask.trailing_zeros() as usize;
        let own: Vec<StepId> = group.items[k]
            .set
            .iter()
            .copied()
            .filter(|s| !placed.contains(s))
            .collect();
        orders[k].extend(prec.sort(&own));
        return;
    }
    let (inter, union) = uni.inter_union(mask);
    let mut hoisted = vec![0u64; uni.words];
    uni.hoisted(&inter, &union, &mut hoisted);
    let here = uni.members(&hoisted);
    let block: Vec<StepId> = here
        .iter()
        .copied()
        .filter(|s| !placed.contains(s))
        .collect();
    let block = prec.sort(&block);
    for (k, order) in orders.iter_mut().enumerate() {
        if mask & (1 << k) != 0 {
            order.extend_from_slice(&block);
        }
    }
    // The first split (in DP order) that reaches the stored optimum.
    let low = mask & mask.wrapping_neg();
    let rest = mask ^ low;
    let mut b = rest;
    let mut split = rest;
    while b != 0 {
        if f[(mask ^ b) as usize] + f[b as usize] - h[mask as usize] == f[mask as usize] {
            split = b;
            break;
        }
        b = (b - 1) & rest;
    }
    place(group, uni, prec, f, h, mask ^ split, &here, orders);
    place(group, uni, prec, f, h, split, &here, orders);
}

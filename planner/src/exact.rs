//! The exact subset DP (hierarchy view of the trie), with precedence through H(S).
//!
//! `f({i}) = w(C_i) + tail_i` and `f(S) = min over splits S = A ∪ B of f(A) + f(B) − w(H(S))`,
//! where H(S) is the largest part of the steps common to S that is closed under the ordering
//! constraints of every target in S: running H(S) first, once, for all of S is never worse.
//! With a transitively closed precedence, `b ∈ H(S)` exactly when no step that must precede `b`
//! is held by some but not all of S, so H(S) = I(S) minus the successors of U(S) ∖ I(S).
//! Time O(3ⁿ) (half, by keeping the lowest item in A), memory two `f64` per subset.

use crate::group::Group;
use crate::hierarchy::Hierarchy;
use crate::precedence::Precedence;
use crate::problem::StepId;
use crate::universe::Universe;

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

    // Rebuild the optimal tree: at each set, the first split (in DP order) reaching its value.
    let mut tree = Hierarchy::leaves(n);
    let mut stack: Vec<(u32, bool)> = vec![(full, false)];
    let mut node_of: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    while let Some((mask, expanded)) = stack.pop() {
        if mask.count_ones() == 1 {
            node_of.insert(mask, mask.trailing_zeros() as usize);
            continue;
        }
        let split = best_split(&f, &h, mask);
        if expanded {
            let a = node_of[&(mask ^ split)];
            let b = node_of[&split];
            let node = tree.join(a, b);
            node_of.insert(mask, node);
        } else {
            stack.push((mask, true));
            stack.push((split, false));
            stack.push((mask ^ split, false));
        }
    }
    tree.root = node_of[&full];
    let orders = tree.orders(group, &uni, prec);
    Solution {
        orders,
        value: f[full as usize],
    }
}

/// The first split (in DP order) of `mask` that reaches its stored optimum.
fn best_split(f: &[f64], h: &[f64], mask: u32) -> u32 {
    let low = mask & mask.wrapping_neg();
    let rest = mask ^ low;
    let mut b = rest;
    while b != 0 {
        if f[(mask ^ b) as usize] + f[b as usize] - h[mask as usize] == f[mask as usize] {
            return b;
        }
        b = (b - 1) & rest;
    }
    rest
}

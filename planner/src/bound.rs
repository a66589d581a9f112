//! Lower bounds for groups the exact method could not take.
//!
//! Taking targets away never makes the best plan dearer (the rest of an optimal trie is a plan
//! for them), and a step that only the removed targets hold still runs at least once. So for
//! any subset S of a group's items: `optimum ≥ f(S) + w(steps outside U(S))`. We take S as the
//! heaviest items, as many as the exact method solves within its share of the effort.

use crate::exact::{self, Limits};
use crate::group::{Group, Item};
use crate::precedence::Precedence;
use crate::universe::Universe;

/// Items the subset bound solves exactly at most (a group of at most that many is solved
/// outright: the exact method's answer, not a bound).
pub(crate) const SUBSET: usize = 16;

/// `f(S) + w(U(all) ∖ U(S))` for S the heaviest items of `group`, or `None` when the exact method
/// does not finish within `limits` (work and memory). The DP's work is added to `spent`.
pub(crate) fn subset_bound(
    group: &Group,
    prec: &Precedence,
    costs: &[f64],
    limits: Limits,
    spent: &mut f64,
) -> Option<f64> {
    let weight = |item: &Item| item.set.iter().map(|&s| costs[s]).sum::<f64>();
    let mut by_weight: Vec<usize> = (0..group.items.len()).collect();
    by_weight.sort_by(|&a, &b| {
        weight(&group.items[b])
            .total_cmp(&weight(&group.items[a]))
            .then(a.cmp(&b))
    });
    let mut chosen: Vec<usize> = by_weight.into_iter().take(SUBSET).collect();
    chosen.sort_unstable();
    let sub = Group {
        base: group.base.clone(),
        items: chosen.iter().map(|&k| group.items[k].clone()).collect(),
    };
    let value = exact::prepare(&sub, prec, costs, limits, spent)?
        .solve(&sub, prec, limits, spent)?
        .value;
    let inside: std::collections::BTreeSet<usize> = sub
        .items
        .iter()
        .flat_map(|i| i.set.iter().copied())
        .collect();
    let outside: std::collections::BTreeSet<usize> = group
        .items
        .iter()
        .flat_map(|i| i.set.iter().copied())
        .filter(|s| !inside.contains(s))
        .collect();
    Some(value + outside.iter().map(|&s| costs[s]).sum::<f64>())
}

/// The sharing bound: every item pays for the trie nodes on its path a share of each node's
/// cost, `t / (items through the node)`, and the items through a node at depth j of item i's
/// path all hold the first j steps of its order, P_j. So the trie costs at least
/// `Σ_i min over i's orders of Σ_j t(π_j) / N(P_j)` (N: items holding all of a set), each
/// item's minimum found on its own over the prefix sets it shares with at least one other item
/// (respecting `after`: a step joins a prefix only after its predecessors), plus its tails.
/// Within `work` units (prefix sets visited × steps tried) it always gives a bound: an item
/// whose search runs out counts the most it could save from the root (every step it holds
/// shared with every other item holding it), which is weaker but still below the optimum.
pub(crate) fn share_bound(
    group: &Group,
    prec: &Precedence,
    costs: &[f64],
    depth: usize,
    work: f64,
    spent: &mut f64,
) -> f64 {
    let uni = Universe::new(group, prec, costs);
    let words = uni.words;
    let n = group.items.len();
    let item_words = n.div_ceil(64).max(1);
    let local_costs: Vec<f64> = uni.steps.iter().map(|&s| costs[s]).collect();
    // Per local step, its local predecessors and the items holding it (bitsets).
    let preds: Vec<Vec<u64>> = uni
        .steps
        .iter()
        .map(|&s| {
            let mut bits = vec![0u64; words];
            let before = prec.before(s);
            for (l, &t) in uni.steps.iter().enumerate() {
                if before.contains(t) {
                    bits[l / 64] |= 1 << (l % 64);
                }
            }
            bits
        })
        .collect();
    let mut holders = vec![vec![0u64; item_words]; uni.steps.len()];
    for (j, set) in uni.sets.iter().enumerate() {
        for (w, &word) in set.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let c = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                holders[c][j / 64] |= 1 << (j % 64);
            }
        }
    }
    let mut state = Share {
        uni: &uni,
        costs: &local_costs,
        preds: &preds,
        holders: &holders,
        memo: PrefixMemo::new(words),
        scratch: Vec::new(),
        work: 0.0,
        budget: 0.0,
        depth,
    };
    let mut all = vec![u64::MAX; item_words];
    for (w, word) in all.iter_mut().enumerate() {
        let end = (n - w * 64).min(64);
        if end < 64 {
            *word = (1u64 << end) - 1;
        }
    }
    let empty = vec![0u64; words];
    let others_of = |k: usize| {
        let mut others = all.clone();
        others[k / 64] &= !(1 << (k % 64));
        others
    };
    // Items whose search looks smallest first (fewest steps shared with another item, a
    // search's size grows with them), each with all the work left: as many items as possible
    // finish. An item out of work or memory takes its relaxed saving at the root instead, a
    // weaker but still valid bound (and so do the items after it, the work being gone).
    let shared = |k: usize| -> u32 {
        let mut count = 0;
        for w in 0..words {
            let mut cand = uni.sets[k][w];
            while cand != 0 {
                let c = w * 64 + cand.trailing_zeros() as usize;
                cand &= cand - 1;
                let holding: u32 = holders[c].iter().map(|h| h.count_ones()).sum();
                count += u32::from(holding > 1);
            }
        }
        count
    };
    let mut order: Vec<(u32, usize)> = (0..n).map(|k| (shared(k), k)).collect();
    order.sort_unstable();
    let mut left = work * SHARE_OPS_PER_UNIT;
    let mut saving: Vec<Option<f64>> = vec![None; n];
    for &(_, k) in &order {
        if left <= 0.0 {
            break;
        }
        state.memo.clear();
        state.work = 0.0;
        state.budget = left;
        saving[k] = state.best(k, &empty, &others_of(k), 0);
        left = (left - state.work).max(0.0);
    }
    // The relaxed savings need no memo: its memory goes now.
    state.memo = PrefixMemo::new(words);
    let mut total = 0.0;
    for (k, item) in group.items.iter().enumerate() {
        let saved = match saving[k] {
            Some(s) => s,
            None => {
                state.work = 0.0;
                let s = state.relaxed(k, &empty, &others_of(k));
                left -= state.work;
                s
            }
        };
        total += item.set.iter().map(|&s| costs[s]).sum::<f64>() + item.tail_cost - saved;
    }
    *spent += (work * SHARE_OPS_PER_UNIT - left) / SHARE_OPS_PER_UNIT;
    total
}

/// The sharing bound's operations (a word of a candidate's predecessors or holders) per work
/// unit of the caller (a DP split evaluation): measured ~3× apart.
const SHARE_OPS_PER_UNIT: f64 = 3.0;

/// Prefix sets one item's search of [`share_bound`] keeps at most (about 64 MiB).
const MAX_PREFIXES: usize = 1 << 20;

/// Prefix sets (bitsets of `words` words each) and the saving found from each, the keys side by
/// side in one arena: no allocation per entry, and a probe compares a key's words in place (a
/// `HashMap<Vec<u64>, _>` spent a third of the bound's time in `malloc` and `memcmp`). Open
/// addressing, linear probing, at most half full. Keys are never iterated, so its order never
/// shows in a bound.
struct PrefixMemo {
    words: usize,
    keys: Vec<u64>,
    values: Vec<f64>,
    /// Entry index per slot (`u32::MAX`: empty); a power of two long.
    slots: Vec<u32>,
}

impl PrefixMemo {
    fn new(words: usize) -> Self {
        Self {
            words,
            keys: Vec::new(),
            values: Vec::new(),
            slots: vec![u32::MAX; 1024],
        }
    }

    /// A multiply per word, its high bits folded back (the low bits pick the slot).
    fn hash(key: &[u64]) -> u64 {
        let mut h = 0u64;
        for &x in key {
            h = (h.rotate_left(5) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        h ^ (h >> 29)
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.values.clear();
        self.slots.iter_mut().for_each(|s| *s = u32::MAX);
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn slot(&self, key: &[u64]) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (Self::hash(key) as usize) & mask;
        loop {
            let e = self.slots[i];
            if e == u32::MAX {
                return i;
            }
            let at = e as usize * self.words;
            if self.keys[at..at + self.words] == *key {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    fn get(&self, key: &[u64]) -> Option<f64> {
        let e = self.slots[self.slot(key)];
        (e != u32::MAX).then(|| self.values[e as usize])
    }

    /// Adds `key` (not yet in the memo).
    fn insert(&mut self, key: &[u64], value: f64) {
        if (self.len() + 1) * 2 > self.slots.len() {
            let mut slots = vec![u32::MAX; self.slots.len() * 2];
            let mask = slots.len() - 1;
            for e in 0..self.len() {
                let key = &self.keys[e * self.words..(e + 1) * self.words];
                let mut i = (Self::hash(key) as usize) & mask;
                while slots[i] != u32::MAX {
                    i = (i + 1) & mask;
                }
                slots[i] = u32::try_from(e).expect("at most MAX_PREFIXES entries");
            }
            self.slots = slots;
        }
        let i = self.slot(key);
        self.slots[i] = u32::try_from(self.len()).expect("at most MAX_PREFIXES entries");
        self.keys.extend_from_slice(key);
        self.values.push(value);
    }
}

/// One item's search of [`share_bound`].
struct Share<'a> {
    uni: &'a Universe,
    costs: &'a [f64],
    preds: &'a [Vec<u64>],
    /// Per local step, the items holding it.
    holders: &'a [Vec<u64>],
    /// Best saving from a prefix set on.
    memo: PrefixMemo,
    /// Per depth of the search, its scratch prefix set and holders (allocated once).
    scratch: Vec<(Vec<u64>, Vec<u64>)>,
    work: f64,
    budget: f64,
    /// Prefix length past which the rest is relaxed (see [`Share::relaxed`]).
    depth: usize,
}

/// Items in both bitsets.
fn common(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x & y).count_ones()).sum()
}

impl Share<'_> {
    /// An upper bound on what item `k` can save after `prefix`: every step it still holds,
    /// shared with every other item that holds it and the prefix (later prefixes contain
    /// both, so no node on its path is shared by more).
    fn relaxed(&mut self, k: usize, prefix: &[u64], others: &[u64]) -> f64 {
        let sets = &self.uni.sets;
        let mut total = 0.0;
        let mut tried = 0usize;
        for w in 0..self.uni.words {
            let mut cand = sets[k][w] & !prefix[w];
            while cand != 0 {
                let c = w * 64 + cand.trailing_zeros() as usize;
                cand &= cand - 1;
                tried += 1;
                let holding = common(others, &self.holders[c]);
                if holding > 0 {
                    total += self.costs[c] * (1.0 - 1.0 / f64::from(holding + 1));
                }
            }
        }
        self.work += (tried * (others.len() + 1)) as f64;
        total
    }

    /// Most item `k` can save after prefix set `prefix`, which the items `others` also hold.
    fn best(&mut self, k: usize, prefix: &[u64], others: &[u64], depth: usize) -> Option<f64> {
        if let Some(known) = self.memo.get(prefix) {
            return Some(known);
        }
        if depth >= self.depth {
            return Some(self.relaxed(k, prefix, others));
        }
        let sets = &self.uni.sets;
        let words = self.uni.words;
        // A prefix set costs its memo entry and, per candidate step, its predecessors and
        // holders (a pass over their words); past `MAX_PREFIXES` an item gives up (memory).
        let candidates: u32 = sets[k].iter().map(|w| w.count_ones()).sum();
        self.work += 64.0 + f64::from(candidates) * (words + others.len()) as f64;
        if self.work > self.budget || self.memo.len() >= MAX_PREFIXES {
            return None;
        }
        let mut best: f64 = 0.0;
        if self.scratch.len() <= depth {
            self.scratch.resize_with(depth + 1, Default::default);
        }
        let (mut next, mut holding) = std::mem::take(&mut self.scratch[depth]);
        next.clear();
        next.extend_from_slice(prefix);
        holding.clear();
        holding.resize(others.len(), 0);
        for w in 0..words {
            let mut cand = sets[k][w] & !prefix[w];
            while cand != 0 {
                let c = w * 64 + cand.trailing_zeros() as usize;
                cand &= cand - 1;
                let pred = &self.preds[c];
                if (0..words).any(|x| pred[x] & sets[k][x] & !prefix[x] != 0) {
                    continue;
                }
                let mut count = 0u32;
                for ((h, o), s) in holding.iter_mut().zip(others).zip(&self.holders[c]) {
                    *h = o & s;
                    count += h.count_ones();
                }
                if count == 0 {
                    continue;
                }
                next[w] |= 1 << (c % 64);
                let here = self.costs[c] * (1.0 - 1.0 / f64::from(count + 1));
                let later = self.best(k, &next, &holding, depth + 1)?;
                next[w] &= !(1 << (c % 64));
                best = best.max(here + later);
            }
        }
        self.scratch[depth] = (next, holding);
        self.memo.insert(prefix, best);
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::split;
    use crate::problem::{Problem, Target};
    use proptest::prelude::*;

    /// Up to 9 targets over 10 steps on one base, a few `after` pairs (a < b: acyclic).
    fn small() -> impl Strategy<Value = Problem> {
        let costs = proptest::collection::vec(1u32..30, 10);
        let targets = proptest::collection::vec(
            proptest::sample::subsequence((0..10).collect::<Vec<_>>(), 1..=7),
            2..=9,
        );
        let after = proptest::collection::vec((0usize..10, 0usize..10), 0..5);
        (costs, targets, after).prop_map(|(costs, targets, after)| Problem {
            costs: costs.into_iter().map(f64::from).collect(),
            targets: targets
                .into_iter()
                .map(|steps| Target {
                    base: "b".into(),
                    steps,
                    tail: Vec::new(),
                })
                .collect(),
            after: after.into_iter().filter(|(a, b)| a < b).collect(),
        })
    }

    /// The arena memo finds every key it was given, with its value, across growth and after a
    /// clear, and nothing else.
    #[test]
    fn the_prefix_memo_keeps_every_key() {
        let mut next = crate::testing::lcg(99);
        let mut memo = PrefixMemo::new(3);
        for round in 0..2 {
            let keys: Vec<[u64; 3]> = (0..5000).map(|_| [next(), next() & 0xff, next()]).collect();
            for (i, k) in keys.iter().enumerate() {
                if memo.get(k).is_none() {
                    memo.insert(k, i as f64);
                }
            }
            for k in &keys {
                let first = keys.iter().position(|x| x == k).expect("there");
                assert_eq!(memo.get(k), Some(first as f64), "round {round}");
            }
            assert_eq!(memo.get(&[1, 2, 3]), None);
            assert!(memo.slots.len() >= 2 * memo.len());
            memo.clear();
            assert_eq!(memo.len(), 0);
            assert_eq!(memo.get(&keys[0]), None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The sharing, crossing and set partition's bounds never pass the exact optimum, and
        /// the branch and bound over set partitions finds the dense DP's optimum.
        #[test]
        fn bounds_stay_below_and_branch_and_bound_is_exact(problem in small()) {
            let prec = Precedence::new(problem.costs.len(), &problem.after);
            let limits = Limits { work: 1e9, memory: 1 << 26 };
            for group in split(&problem) {
                let exact = exact::prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
                    .and_then(|p| p.solve_with(&group, &prec, limits, true, &mut 0.0))
                    .expect("dense DP");
                let tol = 1e-9 * exact.value.max(1.0);
                let share = share_bound(&group, &prec, &problem.costs, usize::MAX, 1e9, &mut 0.0);
                let shallow = share_bound(&group, &prec, &problem.costs, 1, 1e9, &mut 0.0);
                prop_assert!(shallow <= share + tol, "depth 1 {} > {}", shallow, share);
                // Out of work, every item falls back to its relaxed saving: still a bound.
                let starved = share_bound(&group, &prec, &problem.costs, usize::MAX, 0.0, &mut 0.0);
                prop_assert!(starved <= share + tol, "starved {} > {}", starved, share);
                prop_assert!(share <= exact.value + tol, "share {} > {}", share, exact.value);
                // Every step once, and one of each crossing pair again.
                let distinct = crate::plan::model_distinct_bound(&problem, &group);
                let crossing = distinct + crate::crossing::crossing_extra(&group, &problem.costs, 1e9, 1 << 26, &mut 0.0);
                prop_assert!(crossing <= exact.value + tol, "crossing {} > {}", crossing, exact.value);
                let mut bound = None;
                let bnb = exact::prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
                    .and_then(|p| p.solve_partition(&group, &prec, limits, &mut 0.0, &mut bound))
                    .expect("branch and bound");
                prop_assert!((bnb.value - exact.value).abs() <= tol);
                if let Some(b) = bound {
                    prop_assert!(b <= exact.value + tol, "lagrange {} > {}", b, exact.value);
                }
                // With no work at all the set partition still bounds the optimum from below.
                let mut weak = None;
                let none = exact::prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
                    .and_then(|p| {
                        p.solve_partition(&group, &prec, Limits { work: 0.0, ..limits }, &mut 0.0, &mut weak)
                    });
                if let (None, Some(b)) = (none, weak) {
                    prop_assert!(b <= exact.value + tol);
                }
            }
        }
    }
}

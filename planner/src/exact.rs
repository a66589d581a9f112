//! The exact subset DP on the hierarchy view, restricted to the sets that can share.
//!
//! `f({i}) = w(C_i) + tail_i`, and for |S| ≥ 2
//! `f(S) = min over A ∋ low(S), A ⊊ S, A a single item or h(A) > h(S), of f(A) + f(S∖A) − h(S)`,
//! where `h(S) = w(H(S))` and H(S) is the largest part of the steps common to S that is closed
//! under the ordering constraints of every target in S (running it first, once, for all of S is
//! never worse). With a transitively closed precedence, H(S) = I(S) minus the successors of
//! U(S) ∖ I(S).
//!
//! Why A may be restricted: in an optimal tree for S, flatten every child whose H equals H(S)
//! into S's node; S then splits into blocks that are single items or share strictly more. Taking
//! the block holding the lowest item as A and the rest as B costs no more, because B's own optimum
//! is at most the rest of the blocks joined over H(S) ⊆ H(B).
//!
//! So only the family F = {A : h(A) > h(all)} matters besides single items; F is closed under
//! subsets and is usually tiny next to 2ⁿ (4,048 sets for O'Neil's 20 × 100 instance). The DP
//! walks, for each S, the F-sets inside S that hold low(S), from a pre-order list with skip
//! links: at most Σ_{A∈F} 2^{n−|A|−min A} + 2ⁿ evaluations instead of 3ⁿ/2, and only over the
//! sets the whole group can reach (solved top-down). Memory: one `f64` per subset. Work is
//! counted in split evaluations against the effort budget; past it the DP gives up and the
//! caller falls back to the heuristics.

use crate::group::Group;
use crate::hierarchy::Hierarchy;
use crate::precedence::Precedence;
use crate::problem::StepId;
use crate::universe::Universe;

/// Largest group the DP takes (item sets are `u32` masks).
pub(crate) const MAX_ITEMS: usize = 31;

/// Largest group whose tables are dense arrays of 2ⁿ entries (12 × 2ⁿ bytes: 768 MiB at 26);
/// larger groups keep only the sets they reach, in hash maps.
const DENSE_ITEMS: usize = 26;

/// Most sets a sparse table holds before the DP gives up (about 40 bytes each).
const MAX_SPARSE: usize = 1 << 24;

/// A value per subset, `None` until set: a dense array of 2ⁿ entries (with a sentinel: the
/// value table uses infinity, values being finite), or a map of the subsets actually reached.
/// Generic, not an enum, so the DP's inner loop has no dispatch.
trait Store<T> {
    fn get(&self, s: u32) -> Option<T>;
    /// Stores a value; `None` when a sparse table is full.
    fn set(&mut self, s: u32, value: T) -> Option<()>;
}

struct Dense<T> {
    values: Vec<T>,
    none: T,
}

impl<T: Copy + PartialEq> Dense<T> {
    fn new(n: usize, none: T) -> Self {
        Self {
            values: vec![none; 1usize << n],
            none,
        }
    }
}

impl<T: Copy + PartialEq> Store<T> for Dense<T> {
    #[inline]
    fn get(&self, s: u32) -> Option<T> {
        let v = self.values[s as usize];
        (v != self.none).then_some(v)
    }

    #[inline]
    fn set(&mut self, s: u32, value: T) -> Option<()> {
        self.values[s as usize] = value;
        Some(())
    }
}

struct Sparse<T>(std::collections::HashMap<u32, T>);

impl<T: Copy> Store<T> for Sparse<T> {
    fn get(&self, s: u32) -> Option<T> {
        self.0.get(&s).copied()
    }

    fn set(&mut self, s: u32, value: T) -> Option<()> {
        if self.0.len() >= MAX_SPARSE {
            return None;
        }
        self.0.insert(s, value);
        Some(())
    }
}

/// Largest family F kept in memory (about 24 bytes a set).
const MAX_FAMILY: usize = 1 << 24;

/// The optimum of a group: item orders (reorderable steps only) and the optimal value.
pub(crate) struct Solution {
    pub(crate) orders: Vec<Vec<StepId>>,
    pub(crate) value: f64,
    /// The optimal tree over the group's items.
    pub(crate) tree: Hierarchy,
}

/// A set of F in a pre-order list of the sets sharing one lowest item.
struct Entry {
    mask: u32,
    h: f64,
    /// The bit of the item this set added to its parent in the list.
    last: u32,
    /// Index just past this set's subtree (its supersets in the list).
    skip: u32,
}

/// A group ready for the DP: its family F and the work the DP will take.
pub(crate) struct Prepared {
    uni: Universe,
    n: usize,
    base: f64,
    lists: Vec<Vec<Entry>>,
    leaf: Vec<f64>,
}

/// Builds F for `group`; `None` when the group is over [`MAX_ITEMS`] or F over its cap.
pub(crate) fn prepare(group: &Group, prec: &Precedence, costs: &[f64]) -> Option<Prepared> {
    let n = group.items.len();
    if n > MAX_ITEMS {
        return None;
    }
    let uni = Universe::new(group, prec, costs);
    let all: Vec<usize> = (0..n).collect();
    let base = if n >= 2 {
        hoisted_weight(&uni, &all)
    } else {
        0.0
    };
    let mut lists = Vec::with_capacity(n);
    let mut total = 0usize;
    for low in 0..n {
        let mut list = Vec::new();
        let mut walk = Walk {
            uni: &uni,
            n,
            base,
            list: &mut list,
        };
        walk.extend(1 << low, &uni.sets[low], &uni.sets[low]);
        total += list.len();
        if total > MAX_FAMILY {
            return None;
        }
        lists.push(list);
    }
    let leaf = group
        .items
        .iter()
        .map(|item| item.set.iter().map(|&s| costs[s]).sum::<f64>() + item.tail_cost)
        .collect();
    Some(Prepared {
        uni,
        n,
        base,
        lists,
        leaf,
    })
}

fn hoisted_weight(uni: &Universe, items: &[usize]) -> f64 {
    let (inter, union) = uni.inter_union_of(items);
    let mut out = vec![0u64; uni.words];
    uni.hoisted(&inter, &union, &mut out);
    uni.weight(&out)
}

/// Depth-first generation of the F-sets whose lowest item is `low`, in pre-order.
struct Walk<'a> {
    uni: &'a Universe,
    n: usize,
    base: f64,
    list: &'a mut Vec<Entry>,
}

impl Walk<'_> {
    fn extend(&mut self, mask: u32, inter: &[u64], union: &[u64]) {
        let last_item = 31 - mask.leading_zeros() as usize;
        let mut i2 = vec![0u64; inter.len()];
        let mut u2 = vec![0u64; inter.len()];
        let mut h = vec![0u64; inter.len()];
        for k in last_item + 1..self.n {
            let set = &self.uni.sets[k];
            let mut any = false;
            for j in 0..inter.len() {
                i2[j] = inter[j] & set[j];
                u2[j] = union[j] | set[j];
                any |= i2[j] != 0;
            }
            if !any {
                continue;
            }
            self.uni.hoisted(&i2, &u2, &mut h);
            let weight = self.uni.weight(&h);
            // Supersets share no more than this set: nothing below it is in F either.
            if weight <= self.base {
                continue;
            }
            let child = mask | (1 << k);
            let at = self.list.len();
            self.list.push(Entry {
                mask: child,
                h: weight,
                last: 1 << k,
                skip: 0,
            });
            let (ci, cu) = (i2.clone(), u2.clone());
            self.extend(child, &ci, &cu);
            self.list[at].skip = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        }
    }
}

impl Prepared {
    /// Runs the DP within `budget` split evaluations (`None` past it) and reads the optimal
    /// orders off its tree.
    ///
    /// Sets in F (and single items) get their value bottom-up over their own subsets, which are
    /// all in F. The sets outside F that the optimum can need are exactly those left when blocks
    /// holding the lowest remaining item are taken away from the whole group; they are solved
    /// top-down, so a group whose items fall into few blocks never touches most of its 2ⁿ subsets.
    ///
    /// A group over [`DENSE_ITEMS`] is tried with 1/200 of the budget: it is worth a proof only
    /// when few of its sets are reachable, and then that is plenty.
    pub(crate) fn solve(self, group: &Group, prec: &Precedence, budget: f64) -> Option<Solution> {
        let dense = self.n <= DENSE_ITEMS;
        let budget = if dense { budget } else { budget / 200.0 };
        self.solve_with(group, prec, budget, dense)
    }

    /// [`Prepared::solve`] with the table kind chosen by the caller (tests compare both).
    pub(crate) fn solve_with(
        self,
        group: &Group,
        prec: &Precedence,
        budget: f64,
        dense: bool,
    ) -> Option<Solution> {
        let n = self.n;
        if n == 0 {
            return Some(Solution {
                orders: Vec::new(),
                value: 0.0,
                tree: Hierarchy::leaves(0),
            });
        }
        if dense {
            self.run(
                group,
                prec,
                budget,
                Dense::new(n, f64::INFINITY),
                Dense::new(n, u32::MAX),
            )
        } else {
            self.run(
                group,
                prec,
                budget,
                Sparse(std::collections::HashMap::new()),
                Sparse(std::collections::HashMap::new()),
            )
        }
    }

    fn run<V: Store<f64>, H: Store<u32>>(
        &self,
        group: &Group,
        prec: &Precedence,
        budget: f64,
        value: V,
        mut h_index: H,
    ) -> Option<Solution> {
        let n = self.n;
        let full: u32 = (1u32 << n) - 1;
        // h of each F-set, found through an index (none: not in F).
        let mut fam: Vec<(u32, f64)> = self.lists.iter().flatten().map(|e| (e.mask, e.h)).collect();
        fam.sort_unstable_by_key(|e| e.0);
        for (i, &(mask, _)) in fam.iter().enumerate() {
            h_index.set(mask, u32::try_from(i).ok()?)?;
        }
        let h_vals: Vec<f64> = fam.iter().map(|e| e.1).collect();
        let family: Vec<u32> = fam.into_iter().map(|e| e.0).collect();
        let mut dp = Dp {
            p: self,
            h_index,
            h_vals,
            value,
            work: 0.0,
            budget,
        };
        for (k, &leaf) in self.leaf.iter().enumerate() {
            dp.value.set(1 << k, leaf)?;
        }
        for &s in &family {
            let (best, _) = dp.split_in_family(s)?;
            dp.value.set(s, best)?;
        }
        let value = dp.outside(full)?;
        // Rebuild the optimal tree: at each set, the first block reaching its value.
        let mut tree = Hierarchy::leaves(n);
        let mut node_of: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
        let mut stack: Vec<(u32, bool)> = vec![(full, false)];
        while let Some((mask, expanded)) = stack.pop() {
            if mask.count_ones() == 1 {
                node_of.insert(mask, mask.trailing_zeros() as usize);
                continue;
            }
            let a = if dp.h(mask).is_some() {
                dp.split_in_family(mask)?.1
            } else {
                dp.split_outside(mask)?.1
            };
            if expanded {
                let node = tree.join(node_of[&a], node_of[&(mask ^ a)]);
                node_of.insert(mask, node);
            } else {
                stack.push((mask, true));
                stack.push((mask ^ a, false));
                stack.push((a, false));
            }
        }
        tree.root = node_of[&full];
        let orders = tree.orders(group, &self.uni, prec);
        Some(Solution {
            orders,
            value,
            tree,
        })
    }
}

/// The DP's state: a value per subset (NaN until solved) and the work spent.
struct Dp<'a, V, H> {
    p: &'a Prepared,
    /// Per subset, the index of its h in `h_vals` when it is in F (`u32::MAX` otherwise; every
    /// other set of two or more items has h = the group's base).
    h_index: H,
    h_vals: Vec<f64>,
    value: V,
    work: f64,
    budget: f64,
}

impl<V: Store<f64>, H: Store<u32>> Dp<'_, V, H> {
    fn h(&self, s: u32) -> Option<f64> {
        self.h_index.get(s).map(|i| self.h_vals[i as usize])
    }

    fn charge(&mut self, units: f64) -> Option<()> {
        self.work += units;
        (self.work <= self.budget).then_some(())
    }

    /// Best value of an F-set `s` and the block holding its lowest item: blocks are its subsets
    /// that hold that item and are a single item or share more than `s`. All are solved already.
    fn split_in_family(&mut self, s: u32) -> Option<(f64, u32)> {
        let hs = self.h(s)?;
        let low = s & s.wrapping_neg();
        let rest = s ^ low;
        // Charged before the walk over its 2^|rest| blocks, so the budget is never overrun.
        self.charge(f64::from(1u32 << rest.count_ones()))?;
        let mut best = (f64::INFINITY, low);
        // Blocks in increasing order of what they add to `low`, so ties go the same way each run.
        let mut add: u32 = 0;
        loop {
            let a = low | add;
            if a != s && (add == 0 || self.h(a).is_some_and(|ha| ha > hs)) {
                let v = self.value.get(a)? + self.value.get(s ^ a)?;
                if v < best.0 {
                    best = (v, a);
                }
            }
            if add == rest {
                break;
            }
            add = add.wrapping_sub(rest) & rest; // the next submask of `rest`, increasing
        }
        Some((best.0 - hs, best.1))
    }

    /// Value of a set outside F, top-down: the best block holding its lowest item (that item
    /// alone, or an F-set inside `s`), plus the value of what remains.
    fn outside(&mut self, s: u32) -> Option<f64> {
        if let Some(known) = self.value.get(s) {
            return Some(known);
        }
        let (value, _) = self.split_outside(s)?;
        self.value.set(s, value)?;
        Some(value)
    }

    fn split_outside(&mut self, s: u32) -> Option<(f64, u32)> {
        let p = self.p;
        let low = s & s.wrapping_neg();
        let mut best = (self.value.get(low)? + self.outside(s ^ low)?, low);
        let list = &p.lists[low.trailing_zeros() as usize];
        let mut idx = 0usize;
        let mut evaluated = 1.0;
        while idx < list.len() {
            let e = &list[idx];
            if e.last & s == 0 {
                idx = e.skip as usize;
                continue;
            }
            if e.mask != s {
                let v = self.value.get(e.mask)? + self.outside(s ^ e.mask)?;
                evaluated += 1.0;
                if v < best.0 {
                    best = (v, e.mask);
                }
            }
            idx += 1;
        }
        self.charge(evaluated)?;
        Some((best.0 - p.base, best.1))
    }
}

#[cfg(test)]
mod tests {
    use super::prepare;
    use crate::group::split;
    use crate::precedence::Precedence;
    use crate::problem::{Problem, Target};

    /// Items in `blocks` clusters of `size`: each cluster shares a step, one step joins them all.
    fn clustered(blocks: usize, size: usize) -> Problem {
        let mut targets = Vec::new();
        let mut costs = vec![1.0];
        for b in 0..blocks {
            let cluster = costs.len();
            costs.push(10.0 + b as f64);
            for i in 0..size {
                let own = costs.len();
                costs.push(1.0 + i as f64);
                targets.push(Target {
                    base: "b".into(),
                    steps: vec![0, cluster, own],
                    tail: Vec::new(),
                });
            }
        }
        Problem {
            costs,
            targets,
            after: Vec::new(),
        }
    }

    #[test]
    fn sparse_tables_give_the_dense_answer() {
        let problem = clustered(4, 4);
        let prec = Precedence::new(problem.costs.len(), &problem.after);
        let group = split(&problem).remove(0);
        assert_eq!(group.items.len(), 16);
        let dense = prepare(&group, &prec, &problem.costs)
            .and_then(|p| p.solve_with(&group, &prec, 1e9, true))
            .expect("dense");
        let sparse = prepare(&group, &prec, &problem.costs)
            .and_then(|p| p.solve_with(&group, &prec, 1e9, false))
            .expect("sparse");
        assert_eq!(dense.value, sparse.value);
        assert_eq!(dense.orders, sparse.orders);
    }

    #[test]
    fn groups_over_the_dense_limit_are_proven_when_sparse() {
        // 30 targets in 6 clusters: over the dense limit, few reachable sets.
        let problem = clustered(6, 5);
        let prec = Precedence::new(problem.costs.len(), &problem.after);
        let group = split(&problem).remove(0);
        assert_eq!(group.items.len(), 30);
        let solved = prepare(&group, &prec, &problem.costs)
            .and_then(|p| p.solve(&group, &prec, 2e9))
            .expect("proven");
        // Each cluster runs its shared step once, the joining step runs once: every step once.
        let distinct: f64 = problem.costs.iter().sum();
        assert_eq!(solved.value, distinct);
    }
}

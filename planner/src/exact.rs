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
//! sets the whole group can reach (solved top-down). Work is counted in block lookups (and
//! F's enumeration, one unit per candidate word) against the effort budget, memory in bytes
//! against the memory budget: the tables' size is estimated before they are allocated (dense:
//! 12 bytes per subset; sparse maps: counted as entries go in), and past either budget the DP
//! gives up, deterministically, and the caller falls back to the heuristics.

use crate::group::Group;
use crate::hierarchy::Hierarchy;
use crate::partition;
use crate::precedence::Precedence;
use crate::problem::StepId;
use crate::universe::Universe;

/// Largest group the DP takes (item sets are `u64` masks).
pub(crate) const MAX_ITEMS: usize = 63;

/// A set of a group's items, one bit each.
pub(crate) type Mask = u64;

/// Largest group whose tables may be dense arrays of 2ⁿ entries (12 × 2ⁿ bytes: 768 MiB at 26,
/// when the memory budget allows); larger groups keep only the sets they reach, in hash maps.
const DENSE_ITEMS: usize = 26;

/// Bytes per subset of the dense tables: an `f64` value and a `u32` index.
const DENSE_BYTES: usize = 12;

/// Estimated bytes per entry of a sparse value map (`u32` → `f64`, 17 bytes a bucket at a load
/// of 7/16 to 7/8, and the old table alive while it grows).
const SPARSE_VALUE_BYTES: usize = 60;

/// Estimated bytes per entry of a sparse index map (`u32` → `u32`).
const SPARSE_INDEX_BYTES: usize = 32;

/// Bytes per column of the set partition over F (a `u32` mask and an `f64` cost, its index by
/// lowest item, and its place in the search's lists).
const COLUMN_BYTES: usize = 32;

/// Estimated bytes per set of F: its list entry (24, doubled while the list grows) and its
/// copies in the DP's sorted index (16 + 8 + 4).
const FAMILY_BYTES: usize = 80;

/// What one DP run may spend: split evaluations and bytes of tables.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limits {
    /// Split evaluations.
    pub(crate) work: f64,
    /// Bytes of tables (the family F and the value tables), estimated before allocating.
    pub(crate) memory: usize,
}

/// Bytes of the dense tables for `n` items, `None` past `usize`.
fn dense_bytes(n: usize) -> Option<usize> {
    DENSE_BYTES.checked_mul(1usize.checked_shl(u32::try_from(n).ok()?)?)
}

/// A value per subset, `None` until set: a dense array of 2ⁿ entries (with a sentinel: the
/// value table uses infinity, values being finite), or a map of the subsets actually reached.
/// Generic, not an enum, so the DP's inner loop has no dispatch.
trait Store<T> {
    fn get(&self, s: Mask) -> Option<T>;
    /// Stores a value; `None` when a sparse table is full.
    fn set(&mut self, s: Mask, value: T) -> Option<()>;
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
    fn get(&self, s: Mask) -> Option<T> {
        let v = self.values[s as usize];
        (v != self.none).then_some(v)
    }

    #[inline]
    fn set(&mut self, s: Mask, value: T) -> Option<()> {
        self.values[s as usize] = value;
        Some(())
    }
}

/// A hasher for masks: one multiply (Fibonacci hashing) instead of SipHash, which made the
/// sparse tables' lookups most of the DP's time. Keys are never iterated, so the order of the
/// map never shows in a plan.
#[derive(Default)]
pub(crate) struct MaskHasher(u64);

impl std::hash::Hasher for MaskHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

/// A map keyed by masks.
pub(crate) type MaskMap<T> =
    std::collections::HashMap<Mask, T, std::hash::BuildHasherDefault<MaskHasher>>;

/// The subsets reached, at most `cap` of them (the memory budget's share, in entries).
struct Sparse<T> {
    map: MaskMap<T>,
    cap: usize,
}

impl<T> Sparse<T> {
    fn new(cap: usize) -> Self {
        Self {
            map: MaskMap::default(),
            cap,
        }
    }
}

impl<T: Copy> Store<T> for Sparse<T> {
    fn get(&self, s: Mask) -> Option<T> {
        self.map.get(&s).copied()
    }

    fn set(&mut self, s: Mask, value: T) -> Option<()> {
        if self.map.len() >= self.cap && !self.map.contains_key(&s) {
            return None;
        }
        self.map.insert(s, value);
        Some(())
    }
}

/// Work units per word of a candidate set tried while enumerating F (about a DP split
/// evaluation's time each).
const ENUM_UNITS: f64 = 1.0;

/// Largest family F the set partition searches; past it, only its Lagrangian bound is found.
const MAX_COLUMNS: usize = 1 << 18;

/// Largest family F kept in memory, whatever the memory budget.
const MAX_FAMILY: usize = 1 << 24;

/// The optimum of a group: item orders (reorderable steps only) and the optimal value.
pub(crate) struct Solution {
    pub(crate) orders: Vec<Vec<StepId>>,
    pub(crate) value: f64,
    /// The optimal tree over the group's items.
    pub(crate) tree: Hierarchy,
    /// Whether `value` is the optimum. Only [`Prepared::solve_bounded`] returns unproven
    /// solutions: the set partition's best found when its search ran out of work (`value` is
    /// then that tree's cost in the model, an upper bound).
    pub(crate) proven: bool,
}

/// A set of F in a pre-order list of the sets sharing one lowest item.
struct Entry {
    mask: Mask,
    h: f64,
    /// The bit of the item this set added to its parent in the list.
    last: Mask,
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
    /// Work units the enumeration of F took (charged to the same budget as the DP: the DP
    /// gets `limits.work` minus this).
    used: f64,
    /// The cost of a plan already known (infinite when none): the set partition's search
    /// looks only for cheaper ones (see [`Prepared::with_incumbent`]).
    incumbent: f64,
}

/// Builds F for `group`; `None` when the group is over [`MAX_ITEMS`] or F over its cap or, at
/// [`FAMILY_BYTES`] a set, over `limits.memory` bytes, or when enumerating it takes more than
/// `limits.work` units ([`ENUM_UNITS`] per word of a candidate set tried). The enumeration's
/// work is added to `spent` (finished or not) and the DP later gets only what is left.
pub(crate) fn prepare(
    group: &Group,
    prec: &Precedence,
    costs: &[f64],
    limits: Limits,
    spent: &mut f64,
) -> Option<Prepared> {
    let n = group.items.len();
    if n > MAX_ITEMS {
        return None;
    }
    let memory = limits.memory;
    let max_family = MAX_FAMILY.min(memory / FAMILY_BYTES);
    let uni = Universe::new(group, prec, costs);
    let all: Vec<usize> = (0..n).collect();
    let base = if n >= 2 {
        hoisted_weight(&uni, &all)
    } else {
        0.0
    };
    let mut lists = Vec::with_capacity(n);
    let mut total = 0usize;
    let mut used = 0.0;
    for low in 0..n {
        let mut list = Vec::new();
        let mut walk = Walk {
            uni: &uni,
            n,
            base,
            list: &mut list,
            cap: max_family - total,
            work: 0.0,
            budget: limits.work - used,
        };
        let done = walk.extend(1 << low, &uni.sets[low], &uni.sets[low]);
        used += walk.work;
        if done.is_none() {
            *spent += used;
            return None;
        }
        total += list.len();
        lists.push(list);
    }
    *spent += used;
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
        used,
        incumbent: f64::INFINITY,
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
    /// Most sets the list may hold (`None` from [`Walk::extend`] past it).
    cap: usize,
    /// Work units spent and allowed (`None` from [`Walk::extend`] past it).
    work: f64,
    budget: f64,
}

impl Walk<'_> {
    fn extend(&mut self, mask: Mask, inter: &[u64], union: &[u64]) -> Option<()> {
        let last_item = 63 - mask.leading_zeros() as usize;
        let mut i2 = vec![0u64; inter.len()];
        let mut u2 = vec![0u64; inter.len()];
        let mut h = vec![0u64; inter.len()];
        // Each candidate costs a pass over its words (intersection, union, hoisting, weight).
        let per_try = ENUM_UNITS * inter.len() as f64;
        for k in last_item + 1..self.n {
            self.work += per_try;
            if self.work > self.budget {
                return None;
            }
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
            if at >= self.cap {
                return None;
            }
            self.list.push(Entry {
                mask: child,
                h: weight,
                last: 1 << k,
                skip: 0,
            });
            let (ci, cu) = (i2.clone(), u2.clone());
            self.extend(child, &ci, &cu)?;
            self.list[at].skip = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        }
        Some(())
    }
}

impl Prepared {
    /// Tells the set partition's search that a plan of cost `cost` (in the model) is known: it
    /// prunes with it from the start, and when it finds nothing cheaper the bound it returns
    /// is `cost` (the known plan is optimal) though it returns no partition.
    pub(crate) fn with_incumbent(mut self, cost: f64) -> Self {
        self.incumbent = cost;
        self
    }

    /// Runs the DP within `budget` split evaluations (`None` past it) and reads the optimal
    /// orders off its tree.
    ///
    /// Sets in F (and single items) get their value bottom-up over their own subsets, which are
    /// all in F. The sets outside F that the optimum can need are exactly those left when blocks
    /// holding the lowest remaining item are taken away from the whole group; they are solved
    /// top-down, so a group whose items fall into few blocks never touches most of its 2ⁿ subsets.
    ///
    /// The tables are dense arrays when the group has at most [`DENSE_ITEMS`] items and their
    /// 12 × 2ⁿ bytes (with F) fit in `limits.memory`; otherwise no table over the sets outside
    /// F at all: [`Prepared::solve_partition`] chooses the root's blocks by branch and bound.
    /// The work spent, finished or not, is added to `spent`.
    pub(crate) fn solve(
        self,
        group: &Group,
        prec: &Precedence,
        limits: Limits,
        spent: &mut f64,
    ) -> Option<Solution> {
        self.solve_bounded(group, prec, limits, spent, &mut None)
            .filter(|s| s.proven)
    }

    /// [`Prepared::solve`]; when it gives up after the F values were found, `bound` gets a
    /// lower bound on the optimum (the set partition's Lagrangian bound), and the best
    /// partition found so far comes back unproven (`proven: false`).
    pub(crate) fn solve_bounded(
        self,
        group: &Group,
        prec: &Precedence,
        limits: Limits,
        spent: &mut f64,
        bound: &mut Option<f64>,
    ) -> Option<Solution> {
        let limits = Limits {
            work: limits.work - self.used,
            ..limits
        };
        let dense = self.n <= DENSE_ITEMS
            && dense_bytes(self.n)
                .and_then(|d| d.checked_add(self.family_bytes()))
                .is_some_and(|b| b <= limits.memory);
        if dense {
            self.solve_with(group, prec, limits, true, spent)
        } else {
            self.solve_partition(group, prec, limits, spent, bound)
        }
    }

    /// The DP without a table over the sets outside F: F-sets get their values bottom-up (in
    /// hash maps of exactly F's size), then the blocks under the root are chosen by
    /// branch and bound over set partitions (`partition.rs`), the memo taking the memory left.
    /// `None` past either budget; `bound` then gets the Lagrangian lower bound on the optimum
    /// when the F values were all found.
    pub(crate) fn solve_partition(
        self,
        group: &Group,
        prec: &Precedence,
        limits: Limits,
        spent: &mut f64,
        bound: &mut Option<f64>,
    ) -> Option<Solution> {
        let n = self.n;
        if n == 0 {
            return self.solve_with(group, prec, limits, true, spent);
        }
        let count = self.lists.iter().map(Vec::len).sum::<usize>();
        let tables =
            (count + n).saturating_mul(SPARSE_VALUE_BYTES + SPARSE_INDEX_BYTES + COLUMN_BYTES);
        let left = limits
            .memory
            .checked_sub(self.family_bytes())?
            .checked_sub(tables)?;
        let mut fam: Vec<(Mask, f64)> =
            self.lists.iter().flatten().map(|e| (e.mask, e.h)).collect();
        fam.sort_unstable_by_key(|e| e.0);
        let mut h_index = Sparse::new(count);
        for (i, &(mask, _)) in fam.iter().enumerate() {
            h_index.set(mask, u32::try_from(i).ok()?)?;
        }
        let mut dp = Dp {
            p: &self,
            h_index,
            hv: fam.iter().map(|e| (e.1, f64::NAN)).collect(),
            value: Sparse::new(n),
            bits: Vec::new(),
            stack: Vec::new(),
            lookup_units: if count > MAX_COLUMNS { 2.0 } else { 1.0 },
            work: 0.0,
            budget: limits.work,
        };
        let solved = (|| {
            for (k, &leaf) in self.leaf.iter().enumerate() {
                dp.value.set(1 << k, leaf)?;
            }
            for (i, &(s, _)) in fam.iter().enumerate() {
                let (best, _) = dp.split_in_family(s)?;
                dp.hv[i].1 = best;
            }
            Some(())
        })();
        *spent += dp.work;
        solved?;
        let mut columns: Vec<(Mask, f64)> = Vec::with_capacity(count + n);
        for (k, &leaf) in self.leaf.iter().enumerate() {
            columns.push((1 << k, leaf - self.base));
        }
        for (&(s, _), &(_, v)) in fam.iter().zip(&dp.hv) {
            columns.push((s, v - self.base));
        }
        // Past `MAX_COLUMNS` sets only the bound: the search's steps each scan the columns.
        let search = count <= MAX_COLUMNS;
        let outcome = partition::solve(
            n,
            &columns,
            dp.budget - dp.work,
            left,
            search,
            self.incumbent - self.base,
            spent,
        );
        *bound = Some(self.base + outcome.bound);
        // Out of work (or only the bound): the best partition found so far, unproven.
        let (value, blocks) = outcome.best?;
        // Reading the tree off re-walks splits already paid for.
        dp.budget = f64::INFINITY;
        // The tree: each block's optimal subtree, the blocks joined in the order found.
        let mut tree = Hierarchy::leaves(n);
        let mut roots = Vec::with_capacity(blocks.len());
        for k in blocks {
            roots.push(Self::subtree(&mut dp, &mut tree, columns[k].0)?);
        }
        tree.finish(&roots);
        let orders = tree.orders(group, &self.uni, prec);
        Some(Solution {
            orders,
            value: self.base + value,
            tree,
            proven: outcome.proven,
        })
    }

    /// Adds the optimal tree of `mask` (a single item or an F-set with its value known) to
    /// `tree`; returns its root.
    fn subtree<V: Store<f64>, H: Store<u32>>(
        dp: &mut Dp<'_, V, H>,
        tree: &mut Hierarchy,
        mask: Mask,
    ) -> Option<usize> {
        let mut node_of: std::collections::BTreeMap<Mask, usize> =
            std::collections::BTreeMap::new();
        let mut stack: Vec<(Mask, bool)> = vec![(mask, false)];
        while let Some((m, expanded)) = stack.pop() {
            if m.count_ones() == 1 {
                node_of.insert(m, m.trailing_zeros() as usize);
                continue;
            }
            let a = dp.split_in_family(m)?.1;
            if expanded {
                let node = tree.join(node_of[&a], node_of[&(m ^ a)]);
                node_of.insert(m, node);
            } else {
                stack.push((m, true));
                stack.push((m ^ a, false));
                stack.push((a, false));
            }
        }
        node_of.get(&mask).copied()
    }

    /// Estimated bytes of the family F while the DP runs.
    fn family_bytes(&self) -> usize {
        self.lists
            .iter()
            .map(Vec::len)
            .sum::<usize>()
            .saturating_mul(FAMILY_BYTES)
    }

    /// [`Prepared::solve`] with the table kind chosen by the caller (tests compare both). Dense
    /// tables larger than `limits.memory` are never allocated: the DP gives up instead.
    pub(crate) fn solve_with(
        self,
        group: &Group,
        prec: &Precedence,
        limits: Limits,
        dense: bool,
        spent: &mut f64,
    ) -> Option<Solution> {
        let n = self.n;
        if n == 0 {
            return Some(Solution {
                orders: Vec::new(),
                value: 0.0,
                tree: Hierarchy::leaves(0),
                proven: true,
            });
        }
        let family = self.family_bytes();
        let left = limits.memory.checked_sub(family)?;
        if dense {
            if dense_bytes(n)? > left {
                return None;
            }
            self.run(
                group,
                prec,
                limits.work,
                Dense::new(n, f64::INFINITY),
                Dense::new(n, u32::MAX),
                spent,
            )
        } else {
            // The index holds exactly F; the values get what is left.
            let index_cap = self.lists.iter().map(Vec::len).sum::<usize>();
            let left = left.checked_sub(index_cap.saturating_mul(SPARSE_INDEX_BYTES))?;
            self.run(
                group,
                prec,
                limits.work,
                Sparse::new(left / SPARSE_VALUE_BYTES),
                Sparse::new(index_cap),
                spent,
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
        spent: &mut f64,
    ) -> Option<Solution> {
        let n = self.n;
        let full: Mask = if n >= 64 { Mask::MAX } else { (1 << n) - 1 };
        // h of each F-set, found through an index (none: not in F).
        let mut fam: Vec<(Mask, f64)> =
            self.lists.iter().flatten().map(|e| (e.mask, e.h)).collect();
        fam.sort_unstable_by_key(|e| e.0);
        for (i, &(mask, _)) in fam.iter().enumerate() {
            h_index.set(mask, u32::try_from(i).ok()?)?;
        }
        let hv: Vec<(f64, f64)> = fam.iter().map(|e| (e.1, f64::NAN)).collect();
        let family: Vec<Mask> = fam.into_iter().map(|e| e.0).collect();
        let mut dp = Dp {
            p: self,
            h_index,
            hv,
            value,
            bits: Vec::new(),
            stack: Vec::new(),
            lookup_units: 1.0,
            work: 0.0,
            budget,
        };
        let solution = Self::search(&mut dp, n, full, family, group, prec);
        *spent += dp.work;
        solution
    }

    fn search<V: Store<f64>, H: Store<u32>>(
        dp: &mut Dp<'_, V, H>,
        n: usize,
        full: Mask,
        family: Vec<Mask>,
        group: &Group,
        prec: &Precedence,
    ) -> Option<Solution> {
        let p = dp.p;
        for (k, &leaf) in p.leaf.iter().enumerate() {
            dp.value.set(1 << k, leaf)?;
        }
        for (i, &s) in family.iter().enumerate() {
            let (best, _) = dp.split_in_family(s)?;
            dp.hv[i].1 = best;
        }
        let value = dp.outside(full)?;
        // Rebuild the optimal tree: at each set, the first block reaching its value.
        let mut tree = Hierarchy::leaves(n);
        let mut node_of: std::collections::BTreeMap<Mask, usize> =
            std::collections::BTreeMap::new();
        let mut stack: Vec<(Mask, bool)> = vec![(full, false)];
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
        let orders = tree.orders(group, &p.uni, prec);
        Some(Solution {
            orders,
            value,
            tree,
            proven: true,
        })
    }
}

/// The DP's state: a value per subset (NaN until solved) and the work spent.
struct Dp<'a, V, H> {
    p: &'a Prepared,
    /// Per subset, the index of its h in `hv` when it is in F (`u32::MAX` otherwise; every
    /// other set of two or more items has h = the group's base).
    h_index: H,
    /// Per F-set, its h and its value (NaN until solved), side by side: one map lookup and
    /// one read find both.
    hv: Vec<(f64, f64)>,
    /// Values of single items and of the sets outside F.
    value: V,
    /// Scratch for [`Dp::split_in_family`]: the items of a set, and the blocks to grow.
    bits: Vec<Mask>,
    stack: Vec<(Mask, usize)>,
    /// Work units per lookup: 1, or 2 past [`MAX_COLUMNS`] F-sets (the map no longer fits the
    /// caches; measured about twice the time per lookup on O'Neil 045-050).
    lookup_units: f64,
    work: f64,
    budget: f64,
}

impl<V: Store<f64>, H: Store<u32>> Dp<'_, V, H> {
    fn h(&self, s: Mask) -> Option<f64> {
        self.h_index.get(s).map(|i| self.hv[i as usize].0)
    }

    fn charge(&mut self, units: f64) -> Option<()> {
        self.work += units;
        (self.work <= self.budget).then_some(())
    }

    /// `(h, value)` of a single item (h infinite) or a solved F-set; `None` otherwise.
    #[inline]
    fn family(&self, a: Mask) -> Option<(f64, f64)> {
        if a & a.wrapping_sub(1) == 0 {
            return Some((f64::INFINITY, self.p.leaf[a.trailing_zeros() as usize]));
        }
        let i = self.h_index.get(a)? as usize;
        let (h, v) = self.hv[i];
        (!v.is_nan()).then_some((h, v))
    }

    /// Best value of an F-set `s` and the block holding its lowest item: blocks are its subsets
    /// that hold that item and are a single item or share more than `s`. All are solved already
    /// (F is closed under subsets), and one map lookup gives a block's h and value.
    ///
    /// h only falls as items are added, so once a block shares no more than `s`, none of its
    /// supersets inside `s` does either: the blocks are grown item by item (depth first, items
    /// in increasing order, so ties go the same way each run) and such a block ends its branch.
    /// One work unit per block looked up (at most the 2^(|s|−1) subsets holding the item).
    fn split_in_family(&mut self, s: Mask) -> Option<(f64, Mask)> {
        let hs = self.h(s)?;
        let low = s & s.wrapping_neg();
        let rest = s ^ low;
        let mut best = (self.family(low)?.1 + self.family(rest)?.1, low);
        let mut bits = std::mem::take(&mut self.bits);
        let mut stack = std::mem::take(&mut self.stack);
        bits.clear();
        let mut r = rest;
        while r != 0 {
            bits.push(r & r.wrapping_neg());
            r &= r - 1;
        }
        stack.clear();
        stack.push((low, 0usize));
        let mut looked = 1.0;
        let mut found = Some(());
        while let Some((a, from)) = stack.pop() {
            for (j, &bit) in bits.iter().enumerate().skip(from) {
                let b = a | bit;
                if b == s {
                    continue;
                }
                looked += 1.0;
                if let Some((hb, vb)) = self.family(b)
                    && hb > hs
                {
                    let Some((_, rest_value)) = self.family(s ^ b) else {
                        found = None;
                        break;
                    };
                    let v = vb + rest_value;
                    if v < best.0 {
                        best = (v, b);
                    }
                    stack.push((b, j + 1));
                }
            }
        }
        self.bits = bits;
        self.stack = stack;
        found?;
        self.charge(looked * self.lookup_units)?;
        Some((best.0 - hs, best.1))
    }

    /// Value of a set outside F, top-down: the best block holding its lowest item (that item
    /// alone, or an F-set inside `s`), plus the value of what remains.
    fn outside(&mut self, s: Mask) -> Option<f64> {
        if let Some(known) = self.value.get(s) {
            return Some(known);
        }
        if let Some((_, known)) = self.family(s) {
            return Some(known);
        }
        let (value, _) = self.split_outside(s)?;
        self.value.set(s, value)?;
        Some(value)
    }

    fn split_outside(&mut self, s: Mask) -> Option<(f64, Mask)> {
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
                let v = self.family(e.mask)?.1 + self.outside(s ^ e.mask)?;
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
    use super::{Limits, dense_bytes, prepare};
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
        let limits = Limits {
            work: 1e9,
            memory: 1 << 30,
        };
        let mut spent = 0.0;
        let dense = prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
            .and_then(|p| p.solve_with(&group, &prec, limits, true, &mut spent))
            .expect("dense");
        let sparse = prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
            .and_then(|p| p.solve_with(&group, &prec, limits, false, &mut spent))
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
        let limits = Limits {
            work: 2e9,
            memory: 128 << 20,
        };
        let solved = prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
            .and_then(|p| p.solve(&group, &prec, limits, &mut 0.0))
            .expect("proven");
        // Each cluster runs its shared step once, the joining step runs once: every step once.
        let distinct: f64 = problem.costs.iter().sum();
        assert_eq!(solved.value, distinct);
    }

    #[test]
    fn the_memory_budget_is_checked_before_allocating() {
        let problem = clustered(4, 4);
        let prec = Precedence::new(problem.costs.len(), &problem.after);
        let group = split(&problem).remove(0);
        let run = |memory: usize, dense: bool| {
            let limits = Limits { work: 1e9, memory };
            let mut spent = 0.0;
            let solved = prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
                .and_then(|p| p.solve_with(&group, &prec, limits, dense, &mut spent));
            (solved.map(|s| s.value), spent)
        };
        // 16 items: 12 × 2¹⁶ bytes of dense tables.
        let need = dense_bytes(16).expect("fits");
        assert_eq!(need, 12 << 16);
        let (fits, spent) = run(2 * need, true);
        assert!(fits.is_some() && spent > 0.0);
        // A few KiB: the dense tables are not even allocated, so no work is done either.
        assert_eq!(run(need - 1, true), (None, 0.0));
        assert_eq!(run(4 << 10, true), (None, 0.0));
        // Sparse maps stop as entries go past the budget; with room they agree with dense.
        assert_eq!(run(4 << 10, false).0, None);
        assert_eq!(run(1 << 30, false).0, fits);
        // The same budget gives the same answer every time.
        assert_eq!(run(64 << 10, false), run(64 << 10, false));
    }

    /// Enumerating F is charged: with no work at all it gives up (having spent some), and the
    /// DP afterwards gets only what the enumeration left.
    #[test]
    fn enumerating_the_family_is_charged() {
        let problem = clustered(4, 4);
        let prec = Precedence::new(problem.costs.len(), &problem.after);
        let group = split(&problem).remove(0);
        let limits = |work: f64| Limits {
            work,
            memory: 1 << 30,
        };
        let mut spent = 0.0;
        assert!(prepare(&group, &prec, &problem.costs, limits(0.5), &mut spent).is_none());
        assert!(spent > 0.0 && spent <= 0.5 + 64.0);
        let mut enumeration = 0.0;
        let p =
            prepare(&group, &prec, &problem.costs, limits(1e9), &mut enumeration).expect("F fits");
        assert!(enumeration > 0.0 && p.used == enumeration);
        // The DP alone (the dense tables) needs `dp` units; with the enumeration's cost
        // taken off first, a budget of exactly `dp` is no longer enough.
        let mut dp = 0.0;
        let solved = prepare(&group, &prec, &problem.costs, limits(1e9), &mut 0.0)
            .and_then(|p| p.solve_with(&group, &prec, limits(1e9), true, &mut dp))
            .expect("solved");
        assert!(dp > 0.0);
        let tight = prepare(&group, &prec, &problem.costs, limits(1e9), &mut 0.0)
            .and_then(|p| p.solve(&group, &prec, limits(dp), &mut 0.0));
        assert!(tight.is_none());
        let enough = prepare(&group, &prec, &problem.costs, limits(1e9), &mut 0.0)
            .and_then(|p| p.solve(&group, &prec, limits(dp + enumeration), &mut 0.0))
            .expect("solved");
        assert_eq!(enough.value, solved.value);
    }

    /// Out of work on the partition path, `solve_bounded` returns the best partition's tree,
    /// unproven (a real plan, never below the optimum), and `solve` returns nothing.
    #[test]
    fn the_partition_search_out_of_work_keeps_its_best() {
        // Scattered targets (no clusters): the search has real work to do.
        let mut next = crate::testing::lcg_usize(3);
        let problem = Problem {
            costs: (0..26).map(|_| 1.0 + (next() % 50) as f64).collect(),
            targets: (0..18)
                .map(|_| Target {
                    base: "b".into(),
                    steps: (0..26).filter(|_| next().is_multiple_of(3)).collect(),
                    tail: Vec::new(),
                })
                .collect(),
            after: Vec::new(),
        };
        let prec = Precedence::new(problem.costs.len(), &problem.after);
        let group = split(&problem).remove(0);
        let memory = 128 << 20;
        let full = Limits { work: 1e9, memory };
        let optimum = prepare(&group, &prec, &problem.costs, full, &mut 0.0)
            .and_then(|p| p.solve(&group, &prec, full, &mut 0.0))
            .expect("proven")
            .value;
        // Enough for F and its values, not for the search: find that budget by halving.
        let mut kept = None;
        let mut work = 1e9;
        while work > 1.0 {
            let limits = Limits { work, memory };
            let mut bound = None;
            let got = prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
                .and_then(|p| p.solve_partition(&group, &prec, limits, &mut 0.0, &mut bound));
            if let Some(s) = got.filter(|s| !s.proven) {
                assert!(s.value >= optimum - 1e-9);
                assert!(bound.is_some_and(|b| b <= optimum + 1e-9));
                assert_eq!(s.orders.len(), group.items.len());
                let none = prepare(&group, &prec, &problem.costs, limits, &mut 0.0)
                    .and_then(|p| p.solve(&group, &prec, limits, &mut 0.0));
                assert!(none.is_none());
                kept = Some(s.value);
                break;
            }
            work /= 2.0;
        }
        assert!(kept.is_some(), "no budget left the search unfinished");
    }
}

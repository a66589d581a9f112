//! The top of the exact method's tree as a set-partitioning problem, solved by branch and bound.
//!
//! Below the root of an optimal tree, a group splits into blocks that are single items or sets
//! of F (they share more than the whole group; see `exact.rs`), and the root's value is
//! `h(all) + Σ (f(B) − h(all))` over the blocks. With every F-set's value known, choosing the
//! blocks is a weighted set partition of the items: a column per single item and per F-set, of
//! cost `c(B) = f(B) − h(all)`.
//!
//! The lower bound is Lagrangian: for any multipliers `y` (one per item),
//! `Σ y_i + Σ_B min(0, c(B) − y(B))` is at most the optimum (relax "each item in exactly one
//! block"; each block is then taken exactly when its reduced cost is negative). The multipliers
//! come from a fixed number of subgradient steps (its best value is the LP bound in the limit).
//! The same bound restricted to the items left, `Σ_{i∈R} y_i + Σ_{B⊆R} min(0, rc(B))`, prunes a
//! depth-first search that covers the lowest uncovered item first, cheapest completion first,
//! with a memo of the best cost seen at each remaining set (bounded by the memory budget).
//! Everything is counted in work units, in a fixed order: the same input gives the same answer.

use crate::exact::MaskMap;

/// Bytes per memo entry (a `u64` key and an `f64`, with the hash map's slack).
const MEMO_BYTES: usize = 40;

/// Subgradient steps at most (400 proved nothing more on O'Neil's n = 35–40 and chunk shapes
/// and took twice the work; 100 left the search a bound too weak on O'Neil 035-100).
const STEPS: usize = 200;

/// How many steps of the last step's largest move a pricing epoch leaves room for (see
/// [`Search::lagrange`]).
const EPOCH_MOVES: f64 = 8.0;

/// How far steps shrink before a pricing epoch restarts with a narrower margin.
const SHRINK: f64 = 4.0;

/// The search's own operations (a column read, a multiplier added) per work unit of the caller
/// (a DP block lookup, which reads hash maps): measured ~20× apart.
const OPS_PER_UNIT: f64 = 20.0;

/// What the search found within its budgets.
pub(crate) struct Outcome {
    /// The best partition found (column indexes) and its cost, if any.
    pub(crate) best: Option<(f64, Vec<usize>)>,
    /// A lower bound on every partition's cost.
    pub(crate) bound: f64,
    /// Whether `best` is proven optimal (within a relative 1e-9).
    pub(crate) proven: bool,
}

/// Set partitioning of items `0..n` by `columns` (`(mask, cost)`; every single item must be a
/// column). `work` units at most (`spent` gets what was used; [`OPS_PER_UNIT`] operations
/// each), `memory` bytes of memo at most;
/// without `search`, only the bound (and the greedy partition). `incumbent`: the cost of a
/// solution known outside (infinite when none); the search prunes with it from the start, and
/// when it proves nothing is cheaper, `bound` is the incumbent and `best` may be `None`.
pub(crate) fn solve(
    n: usize,
    columns: &[(u64, f64)],
    work: f64,
    memory: usize,
    search: bool,
    incumbent: f64,
    spent: &mut f64,
) -> Outcome {
    solve_pricing(
        n,
        columns,
        work,
        memory,
        search,
        incumbent,
        spent,
        EPOCH_MOVES,
    )
}

/// [`solve`] with pricing epochs `epoch_moves` steps long (0: every column every step).
#[allow(clippy::too_many_arguments)]
fn solve_pricing(
    n: usize,
    columns: &[(u64, f64)],
    work: f64,
    memory: usize,
    search: bool,
    incumbent: f64,
    spent: &mut f64,
    epoch_moves: f64,
) -> Outcome {
    let full: u64 = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    let search_too = search;
    let mut search = Search {
        n,
        columns,
        by_low: vec![Vec::new(); n],
        y: vec![0.0; n],
        y_bytes: vec![[0.0; 256]; n.div_ceil(8)],
        neg: Vec::new(),
        memo: MaskMap::default(),
        memo_cap: memory / MEMO_BYTES,
        work: 0.0,
        budget: work * OPS_PER_UNIT,
        best: None,
        upper: f64::INFINITY,
        stack: Vec::new(),
        epoch_moves,
    };
    for (k, &(mask, _)) in columns.iter().enumerate() {
        if mask != 0 {
            search.by_low[mask.trailing_zeros() as usize].push(k);
        }
    }
    search.greedy(full);
    let bound = search.lagrange();
    // The incumbent prunes the search; the multipliers' steps above are sized from the greedy
    // partition's cost, as without one (so an incumbent never changes the bound found).
    if incumbent < search.upper {
        search.upper = incumbent;
        search.best = None;
    }
    let tol = 1e-9 * search.upper.abs().max(1.0);
    let mut proven = search.upper <= bound + tol;
    if !proven && search_too && search.charge(0.0) {
        let y_all: f64 = search.y.iter().sum();
        let finished = search.dfs(full, y_all, 0.0);
        proven = finished;
    }
    *spent += search.work / OPS_PER_UNIT;
    let bound = if proven { search.upper } else { bound };
    Outcome {
        best: search.best.map(|b| (search.upper, b)),
        // With an incumbent and no better partition, `upper` is the incumbent's cost.
        bound,
        proven,
    }
}

struct Search<'a> {
    n: usize,
    columns: &'a [(u64, f64)],
    /// Column indexes by lowest item.
    by_low: Vec<Vec<usize>>,
    y: Vec<f64>,
    /// Per byte of an item mask, Σ y over each of its values.
    y_bytes: Vec<[f64; 256]>,
    /// Columns of negative reduced cost: (mask, reduced cost).
    neg: Vec<(u64, f64)>,
    /// Best cost of the blocks taken so far, per remaining set.
    memo: MaskMap<f64>,
    memo_cap: usize,
    work: f64,
    budget: f64,
    best: Option<Vec<usize>>,
    upper: f64,
    /// Columns taken on the current path.
    stack: Vec<usize>,
    /// See [`EPOCH_MOVES`].
    epoch_moves: f64,
}

impl Search<'_> {
    /// Spends `units`; false once past the budget.
    fn charge(&mut self, units: f64) -> bool {
        self.work += units;
        self.work <= self.budget
    }

    /// A first partition: repeatedly, for the lowest uncovered item, the fitting column of least
    /// cost per item.
    fn greedy(&mut self, full: u64) {
        let mut left = full;
        let mut taken = Vec::new();
        let mut cost = 0.0;
        while left != 0 {
            let low = left.trailing_zeros() as usize;
            let mut pick: Option<(f64, usize)> = None;
            for &k in &self.by_low[low] {
                let (mask, c) = self.columns[k];
                if mask & !left == 0 {
                    let ratio = c / f64::from(mask.count_ones());
                    if pick.is_none_or(|(r, _)| ratio < r) {
                        pick = Some((ratio, k));
                    }
                }
            }
            self.work += self.by_low[low].len() as f64;
            let Some((_, k)) = pick else {
                return;
            };
            taken.push(k);
            cost += self.columns[k].1;
            left &= !self.columns[k].0;
        }
        self.upper = cost;
        self.best = Some(taken);
    }

    /// Σ y over `mask`: one table read per byte of the mask (see [`Search::tabulate`]).
    #[inline]
    fn y_of(&self, mask: u64) -> f64 {
        let mut total = 0.0;
        for (b, table) in self.y_bytes.iter().enumerate() {
            total += table[((mask >> (8 * b)) & 0xff) as usize];
        }
        total
    }

    /// Fills `y_bytes` from `y`: per byte of a mask, the sum of y over each of its 256 values.
    fn tabulate(&mut self) {
        for (b, table) in self.y_bytes.iter_mut().enumerate() {
            table[0] = 0.0;
            for v in 1..256usize {
                let i = 8 * b + v.trailing_zeros() as usize;
                table[v] = table[v & (v - 1)] + self.y.get(i).copied().unwrap_or(0.0);
            }
        }
    }

    /// Subgradient ascent on the Lagrangian bound; leaves the best multipliers in `y` and their
    /// negative reduced-cost columns in `neg`. Returns the bound.
    fn lagrange(&mut self) -> f64 {
        let n = self.n;
        // Start: each item's least cost per item over its columns (a feasible dual).
        let mut y = vec![f64::INFINITY; n];
        for &(mask, c) in self.columns {
            let share = c / f64::from(mask.count_ones().max(1));
            let mut m = mask;
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                y[i] = y[i].min(share);
                m &= m - 1;
            }
        }
        for v in &mut y {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        // A step prices only the columns that can have a negative reduced cost: after a full
        // scan at multipliers y0, a column with c(B) − y0(B) ≥ |B|·margin stays non-negative
        // while no multiplier moves more than `margin` from y0, so it is left out until one
        // does (then the next step scans everything again). Same values and subgradients as
        // scanning every column each step, at a fraction of the work.
        let col_ops = 1.0 + n.div_ceil(8) as f64;
        let mut cand: Vec<usize> = Vec::new();
        let mut y0 = y.clone();
        let mut margin = f64::NAN;
        let mut last_move = 0.0f64;
        let mut best = (f64::NEG_INFINITY, y.clone());
        let mut theta = 1.0;
        let mut stale = 0;
        let mut g = vec![0.0f64; n];
        for _ in 0..STEPS {
            self.y.clone_from(&y);
            self.tabulate();
            g.iter_mut().for_each(|v| *v = 1.0);
            let mut value: f64 = y.iter().sum();
            let drift = y
                .iter()
                .zip(&y0)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            // A new epoch when a multiplier moved past the margin, or when steps have shrunk
            // so far that a narrower margin would leave most columns out.
            if margin.is_nan() || drift > margin || self.epoch_moves * last_move < margin / SHRINK {
                if !self.charge(self.columns.len() as f64 * col_ops) {
                    break;
                }
                // A new epoch once a step's size is known: room for `EPOCH_MOVES` such steps.
                margin = if last_move > 0.0 {
                    self.epoch_moves * last_move
                } else {
                    f64::NAN
                };
                y0.clone_from(&y);
                cand.clear();
                for (k, &(mask, c)) in self.columns.iter().enumerate() {
                    let rc = c - self.y_of(mask);
                    if rc < 0.0 {
                        value += rc;
                        let mut m = mask;
                        while m != 0 {
                            g[m.trailing_zeros() as usize] -= 1.0;
                            m &= m - 1;
                        }
                    }
                    // Kept with a little slack for rounding in the sums.
                    let reach = f64::from(mask.count_ones()) * margin * (1.0 + 1e-9);
                    if margin.is_nan() || rc < reach + 1e-9 * c.abs() {
                        cand.push(k);
                    }
                }
            } else {
                if !self.charge(cand.len() as f64 * col_ops) {
                    break;
                }
                for &k in &cand {
                    let (mask, c) = self.columns[k];
                    let rc = c - self.y_of(mask);
                    if rc < 0.0 {
                        value += rc;
                        let mut m = mask;
                        while m != 0 {
                            g[m.trailing_zeros() as usize] -= 1.0;
                            m &= m - 1;
                        }
                    }
                }
            }
            if value > best.0 {
                best = (value, y.clone());
                stale = 0;
            } else {
                stale += 1;
                if stale >= 20 {
                    theta /= 2.0;
                    stale = 0;
                }
            }
            let norm: f64 = g.iter().map(|v| v * v).sum();
            let room = self.upper - value;
            if norm == 0.0 || room <= 1e-9 * self.upper.abs().max(1.0) || theta < 1e-6 {
                break;
            }
            let step = theta * room / norm;
            last_move = 0.0;
            for (v, d) in y.iter_mut().zip(&g) {
                *v += step * d;
                last_move = last_move.max((step * d).abs());
            }
        }
        self.y = best.1;
        self.tabulate();
        self.neg = self
            .columns
            .iter()
            .filter_map(|&(mask, c)| {
                let rc = c - self.y_of(mask);
                (rc < 0.0).then_some((mask, rc))
            })
            .collect();
        // Recomputed with the kept multipliers, so the bound is exactly what they prove.
        self.y.iter().sum::<f64>() + self.neg.iter().map(|e| e.1).sum::<f64>()
    }

    /// Σ of the negative reduced costs of columns inside `left`.
    fn neg_inside(&self, left: u64) -> f64 {
        self.neg
            .iter()
            .filter(|e| e.0 & !left == 0)
            .map(|e| e.1)
            .sum()
    }

    /// Searches below remaining set `left`, having spent `y_left` = Σ y over `left` and `taken`
    /// = cost of the blocks on the path. Returns false when the budget ran out.
    fn dfs(&mut self, left: u64, y_left: f64, taken: f64) -> bool {
        if left == 0 {
            if taken < self.upper {
                self.upper = taken;
                self.best = Some(self.stack.clone());
            }
            return true;
        }
        let tol = 1e-9 * self.upper.abs().max(1.0);
        match self.memo.get(&left) {
            Some(&seen) if taken >= seen - tol => return true,
            Some(_) => {
                self.memo.insert(left, taken);
            }
            None if self.memo.len() < self.memo_cap => {
                self.memo.insert(left, taken);
            }
            None => {}
        }
        let low = left.trailing_zeros() as usize;
        let list = &self.by_low[low];
        let mut candidates: Vec<(f64, usize, f64)> = Vec::new();
        let units = list.len() as f64;
        for &k in list {
            let (mask, c) = self.columns[k];
            if mask & !left != 0 {
                continue;
            }
            let rest = left & !mask;
            let y_rest = y_left - self.y_of(mask);
            let lower = taken + c + y_rest + self.neg_inside(rest);
            if lower < self.upper - tol {
                candidates.push((lower, k, y_rest));
            }
        }
        if !self.charge(units + candidates.len() as f64 * (1.0 + self.neg.len() as f64)) {
            return false;
        }
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (lower, k, y_rest) in candidates {
            if lower >= self.upper - tol {
                break;
            }
            let (mask, c) = self.columns[k];
            self.stack.push(k);
            let done = self.dfs(left & !mask, y_rest, taken + c);
            self.stack.pop();
            if !done {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{EPOCH_MOVES, solve, solve_pricing};

    /// Every partition of `0..n` by the columns, brute force.
    fn brute(n: usize, columns: &[(u64, f64)]) -> f64 {
        fn rec(left: u64, columns: &[(u64, f64)]) -> f64 {
            if left == 0 {
                return 0.0;
            }
            let low = left & left.wrapping_neg();
            columns
                .iter()
                .filter(|c| c.0 & low != 0 && c.0 & !left == 0)
                .map(|c| c.1 + rec(left & !c.0, columns))
                .fold(f64::INFINITY, f64::min)
        }
        rec((1u64 << n) - 1, columns)
    }

    /// Every single item (cost 20–39), then `tries` random sets of `n` items kept when they
    /// hold two or more (8–22 per item); `sparse` draws each set as two draws ANDed.
    fn random_columns(
        next: &mut impl FnMut() -> u64,
        n: usize,
        tries: usize,
        sparse: bool,
    ) -> Vec<(u64, f64)> {
        let full = (1u64 << n) - 1;
        let mut columns: Vec<(u64, f64)> = (0..n)
            .map(|i| (1u64 << i, 20.0 + (next() % 20) as f64))
            .collect();
        for _ in 0..tries {
            let mask = if sparse { next() & next() } else { next() } & full;
            if mask.count_ones() >= 2 {
                let c = f64::from(mask.count_ones()) * (8.0 + (next() % 15) as f64);
                columns.push((mask, c));
            }
        }
        columns
    }

    #[test]
    fn branch_and_bound_equals_brute_force_and_bounds_below() {
        let mut next = crate::testing::lcg(12345);
        for case in 0..200 {
            let n = 2 + case % 9;
            let mut columns: Vec<(u64, f64)> = (0..n)
                .map(|i| (1u64 << i, 5.0 + (next() % 20) as f64))
                .collect();
            for _ in 0..(next() % 40) {
                let mask = next() & ((1u64 << n) - 1);
                if mask.count_ones() >= 2 {
                    let c = f64::from(mask.count_ones()) * (2.0 + (next() % 15) as f64);
                    columns.push((mask, c));
                }
            }
            let want = brute(n, &columns);
            let mut spent = 0.0;
            let got = solve(n, &columns, 1e9, 1 << 20, true, f64::INFINITY, &mut spent);
            assert!(got.proven, "case {case}");
            let (cost, picked) = got.best.expect("a partition");
            assert!((cost - want).abs() < 1e-9, "case {case}: {cost} vs {want}");
            let union = picked.iter().fold(0u64, |acc, &k| {
                assert_eq!(acc & columns[k].0, 0);
                acc | columns[k].0
            });
            assert_eq!(union, (1u64 << n) - 1);
            // A known solution as the incumbent: nothing cheaper exists, so the bound reaches
            // it; a dearer incumbent still leads to the optimum.
            let known = solve(n, &columns, 1e9, 1 << 20, true, want, &mut 0.0);
            assert!(
                known.proven && (known.bound - want).abs() < 1e-9,
                "case {case}"
            );
            assert!(known.best.is_none_or(|(c, _)| (c - want).abs() < 1e-9));
            let dearer = solve(n, &columns, 1e9, 1 << 20, true, want + 1.0, &mut 0.0);
            let (c, _) = dearer.best.expect("the optimum");
            assert!(dearer.proven && (c - want).abs() < 1e-9, "case {case}");
            // With no search at all the Lagrangian bound still holds.
            let bound = solve(n, &columns, 0.0, 0, true, f64::INFINITY, &mut 0.0).bound;
            assert!(bound <= want + 1e-9, "case {case}: bound {bound} > {want}");
        }
    }

    /// Out of work, the search still returns the best partition it found (a valid partition,
    /// never below the optimum) and a bound that holds; with the whole budget, the optimum.
    #[test]
    fn out_of_work_returns_the_best_partition_found() {
        let mut next = crate::testing::lcg(777);
        let n = 14;
        let full = (1u64 << n) - 1;
        let mut unproven = 0;
        for case in 0..40 {
            let columns = random_columns(&mut next, n, 300, false);
            let want = brute(n, &columns);
            let mut previous = f64::INFINITY;
            for work in [1.0, 50.0, 500.0, 1e9] {
                let mut spent = 0.0;
                let got = solve(n, &columns, work, 1 << 20, true, f64::INFINITY, &mut spent);
                let (cost, picked) = got.best.expect("the best partition found");
                let union = picked.iter().fold(0u64, |acc, &k| {
                    assert_eq!(acc & columns[k].0, 0, "case {case}: overlapping blocks");
                    acc | columns[k].0
                });
                assert_eq!(union, full, "case {case}: not a partition");
                let sum: f64 = picked.iter().map(|&k| columns[k].1).sum();
                assert!((sum - cost).abs() < 1e-9);
                assert!(
                    cost >= want - 1e-9 && got.bound <= want + 1e-9,
                    "case {case}"
                );
                previous = cost;
                if !got.proven {
                    unproven += 1;
                    assert!(spent > 0.0);
                }
            }
            assert!(
                (previous - want).abs() < 1e-9,
                "case {case}: the whole budget is exact"
            );
        }
        // The small budgets did run out (else this test would test nothing).
        assert!(unproven > 0);
    }

    /// Pricing only the columns that can go negative changes nothing: the bound, the
    /// multipliers' path and the search's answer are those of pricing every column every step.
    #[test]
    fn lazy_pricing_gives_the_full_scans_answer() {
        let mut next = crate::testing::lcg(4242);
        let n = 20;
        let mut cheaper = 0;
        for case in 0..30 {
            let columns = random_columns(&mut next, n, 2000, true);
            for search in [false, true] {
                let (mut lazy_work, mut full_work) = (0.0, 0.0);
                let lazy = solve_pricing(
                    n,
                    &columns,
                    1e9,
                    1 << 20,
                    search,
                    f64::INFINITY,
                    &mut lazy_work,
                    EPOCH_MOVES,
                );
                let every = solve_pricing(
                    n,
                    &columns,
                    1e9,
                    1 << 20,
                    search,
                    f64::INFINITY,
                    &mut full_work,
                    0.0,
                );
                assert!(
                    (lazy.bound - every.bound).abs() <= 1e-9 * every.bound.abs().max(1.0),
                    "case {case}: {} vs {}",
                    lazy.bound,
                    every.bound
                );
                assert_eq!(lazy.proven, every.proven);
                assert_eq!(
                    lazy.best.map(|b| b.1),
                    every.best.map(|b| b.1),
                    "case {case}"
                );
                cheaper += usize::from(lazy_work < full_work);
            }
        }
        // And it is cheaper (else there would be no point).
        assert!(cheaper > 30, "{cheaper}");
    }
}

//! Agglomerative merging on the hierarchy view, then subtree prune-and-regraft local search.
//!
//! Start with every item alone; repeatedly merge the two clusters whose common hoistable steps
//! H weigh the most, until no pair shares anything. Then move subtrees (prune one, regraft it
//! above another node) while a move increases the total saving, first improvement, in a fixed
//! order, within a work budget (node evaluations), so the result never depends on the clock.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::exact;
use crate::group::Group;
use crate::hierarchy::Hierarchy;
use crate::precedence::Precedence;
use crate::universe::Universe;

/// A candidate merge: heavier first, then lower node ids.
#[derive(PartialEq)]
struct Pair {
    weight: f64,
    a: usize,
    b: usize,
}

impl Eq for Pair {}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.weight
            .total_cmp(&other.weight)
            .then(other.a.cmp(&self.a))
            .then(other.b.cmp(&self.b))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The agglomerative tree of the universe's items.
pub(crate) fn agglomerate(uni: &Universe) -> Hierarchy {
    let n = uni.sets.len();
    let w = uni.words;
    let mut tree = Hierarchy::leaves(n);
    if n == 0 {
        return tree;
    }
    // Per node (leaves, then merged clusters): I, U, alive.
    let mut inter: Vec<Vec<u64>> = uni.sets.clone();
    let mut union: Vec<Vec<u64>> = uni.sets.clone();
    let mut alive: Vec<bool> = vec![true; n];
    let mut scratch = vec![0u64; w];
    let mut heap = BinaryHeap::new();
    let pair_weight = |i: &[u64], u: &[u64], j: &[u64], v: &[u64], scratch: &mut Vec<u64>| {
        let ii: Vec<u64> = i.iter().zip(j).map(|(x, y)| x & y).collect();
        if ii.iter().all(|&x| x == 0) {
            return 0.0;
        }
        let uu: Vec<u64> = u.iter().zip(v).map(|(x, y)| x | y).collect();
        uni.hoisted(&ii, &uu, scratch);
        uni.weight(scratch)
    };
    for a in 0..n {
        for b in a + 1..n {
            let weight = pair_weight(&inter[a], &union[a], &inter[b], &union[b], &mut scratch);
            if weight > 0.0 {
                heap.push(Pair { weight, a, b });
            }
        }
    }
    while let Some(Pair { a, b, .. }) = heap.pop() {
        if !alive[a] || !alive[b] {
            continue;
        }
        let node = tree.join(a, b);
        alive[a] = false;
        alive[b] = false;
        let i: Vec<u64> = inter[a].iter().zip(&inter[b]).map(|(x, y)| x & y).collect();
        let u: Vec<u64> = union[a].iter().zip(&union[b]).map(|(x, y)| x | y).collect();
        for other in 0..node {
            if alive[other] {
                let weight = pair_weight(&i, &u, &inter[other], &union[other], &mut scratch);
                if weight > 0.0 {
                    heap.push(Pair {
                        weight,
                        a: other,
                        b: node,
                    });
                }
            }
        }
        inter.push(i);
        union.push(u);
        alive.push(true);
    }
    let roots: Vec<usize> = (0..alive.len()).filter(|&k| alive[k]).collect();
    tree.finish(&roots);
    tree
}

/// Improves `tree` by subtree prune-and-regraft moves until none helps or `budget` work units
/// are spent. Returns the work used.
///
/// A move changes H only on the paths from the two places it touches up to the root, so each
/// move (and each undo) recomputes just those nodes. Work is counted in word operations: per
/// node recomputed, its words once plus what [`Universe::hoisted`] reports, and per move tried
/// an eighth of the nodes (once the copy kept to undo it; charged still, so that a budget gives
/// the plans it gave); [`OPS_PER_UNIT`] operations a unit.
pub(crate) fn local_search(tree: &mut Hierarchy, uni: &Universe, budget: f64) -> f64 {
    let budget = budget * OPS_PER_UNIT;
    let mut ev = Incremental::new(tree, uni);
    let mut spent = ev.ops;
    let nodes = tree.parent.len();
    let per_move = (nodes / 8) as f64;
    let eps = 1e-9 * ev.total.abs().max(1.0);
    loop {
        let mut improved = false;
        for s in 0..nodes {
            for t in 0..nodes {
                if spent > budget {
                    return spent / OPS_PER_UNIT;
                }
                let mut walked = 0.0;
                let moved = regraft(tree, s, t, &mut walked);
                spent += walked;
                let Some((undo, touched)) = moved else {
                    continue;
                };
                let best = ev.total;
                ev.ops = 0.0;
                ev.refresh(tree, uni, &touched);
                if ev.total > best + eps {
                    improved = true;
                } else {
                    // Back to the old tree: the old places of the moved nodes need recomputing.
                    let back = [undo.parent_of(s), undo.parent_of(t)];
                    undo.apply(tree);
                    ev.refresh(tree, uni, &back);
                    ev.total = best;
                }
                spent += ev.ops + per_move;
            }
        }
        if !improved {
            return spent / OPS_PER_UNIT;
        }
    }
}

/// Local search operations per work unit (a DP split evaluation): measured ~2× apart.
const OPS_PER_UNIT: f64 = 2.0;

/// Per node I, U and w(H), kept up to date along the paths a move changes.
struct Incremental {
    inter: Vec<u64>,
    union: Vec<u64>,
    hw: Vec<f64>,
    scratch: Vec<u64>,
    /// Σ w(H) over internal nodes.
    total: f64,
    /// Word operations since last reset.
    ops: f64,
    chain: Vec<(usize, usize)>,
}

impl Incremental {
    fn new(tree: &Hierarchy, uni: &Universe) -> Self {
        let w = uni.words;
        let n = tree.parent.len();
        let mut ev = Self {
            inter: vec![0; n * w],
            union: vec![0; n * w],
            hw: vec![0.0; n],
            scratch: vec![0; w],
            total: 0.0,
            ops: 0.0,
            chain: Vec::new(),
        };
        let mut order = Vec::new();
        tree.postorder(&mut order);
        for &node in &order {
            ev.compute(tree, uni, node);
        }
        ev.total = order.iter().map(|&v| ev.hw[v]).sum();
        ev
    }

    /// Recomputes `node` from its children (or its item's set).
    fn compute(&mut self, tree: &Hierarchy, uni: &Universe, node: usize) {
        let w = uni.words;
        let at = node * w;
        match tree.children[node] {
            None => {
                if node < uni.sets.len() {
                    self.inter[at..at + w].copy_from_slice(&uni.sets[node]);
                    self.union[at..at + w].copy_from_slice(&uni.sets[node]);
                }
                self.hw[node] = 0.0;
                self.ops += w as f64;
            }
            Some((a, b)) => {
                for j in 0..w {
                    self.inter[at + j] = self.inter[a * w + j] & self.inter[b * w + j];
                    self.union[at + j] = self.union[a * w + j] | self.union[b * w + j];
                }
                let ops = uni.hoisted(
                    &self.inter[at..at + w],
                    &self.union[at..at + w],
                    &mut self.scratch,
                );
                self.hw[node] = uni.weight(&self.scratch);
                self.ops += (w + ops) as f64;
            }
        }
    }

    /// Recomputes every node on the paths from `starts` to the root, deepest first, and
    /// updates the total.
    fn refresh(&mut self, tree: &Hierarchy, uni: &Universe, starts: &[Option<usize>]) {
        self.chain.clear();
        for &start in starts {
            // Each path straight into `chain` (no vector per path: its allocations were an
            // eighth of the local search), its depths filled in once its length is known.
            let from = self.chain.len();
            let mut up = start;
            while let Some(v) = up {
                self.chain.push((0, v));
                up = tree.parent[v];
            }
            let len = self.chain.len() - from;
            // Walking up and sorting: a few operations per node on the path.
            self.ops += 4.0 * len as f64;
            for (i, e) in self.chain[from..].iter_mut().enumerate() {
                e.0 = len - i;
            }
        }
        // Deepest first (children before parents), each node once.
        self.chain.sort_unstable_by(|a, b| b.cmp(a));
        self.chain.dedup_by_key(|e| e.1);
        let chain = std::mem::take(&mut self.chain);
        for &(_, v) in &chain {
            let old = self.hw[v];
            self.compute(tree, uni, v);
            self.total += self.hw[v] - old;
        }
        self.chain = chain;
    }
}

/// A node and the children it had (`None`: a leaf).
type ChildrenWere = (usize, Option<(usize, usize)>);

/// What a [`regraft`] changed, to put it back in O(1) (a copy of the tree per tried move was an
/// eighth of the local search's time).
struct Undo {
    root: usize,
    /// (node, its parent before the move) for the sibling, the reused parent, `t` and `s`.
    parents: [(usize, Option<usize>); 4],
    /// (node, its children before the change), in the order they were changed.
    children: [Option<ChildrenWere>; 3],
}

impl Undo {
    /// The parent `node` had before the move (`s` or `t`).
    fn parent_of(&self, node: usize) -> Option<usize> {
        self.parents
            .iter()
            .find(|(n, _)| *n == node)
            .and_then(|&(_, p)| p)
    }

    /// Puts `tree` back as it was before the move.
    fn apply(&self, tree: &mut Hierarchy) {
        for &(node, children) in self.children.iter().rev().flatten() {
            tree.children[node] = children;
        }
        for &(node, parent) in &self.parents {
            tree.parent[node] = parent;
        }
        tree.root = self.root;
    }
}

/// Moves subtree `s` to hang beside `t` (under a new parent, reusing `s`'s old parent node).
/// Returns how to undo it and the nodes whose subtrees changed (their ancestors changed too),
/// or `None` when the move is impossible or changes nothing.
fn regraft(
    tree: &mut Hierarchy,
    s: usize,
    t: usize,
    walked: &mut f64,
) -> Option<(Undo, [Option<usize>; 2])> {
    let p = tree.parent[s]?;
    let (x, y) = tree.children[p]?;
    let sibling = if x == s { y } else { x };
    if t == s || t == p || t == sibling {
        return None;
    }
    // t must not lie inside the subtree of s (a walk up from t, counted with the move).
    let mut up = Some(t);
    while let Some(node) = up {
        *walked += 1.0;
        if node == s {
            return None;
        }
        up = tree.parent[node];
    }
    let root = tree.root;
    let parents = [
        (sibling, tree.parent[sibling]),
        (p, tree.parent[p]),
        (t, tree.parent[t]),
        (s, tree.parent[s]),
    ];
    // Prune: p's place goes to the sibling.
    let g = tree.parent[p];
    let first = g.map(|g| (g, tree.children[g]));
    replace_child(tree, g, p, sibling);
    // Regraft: p becomes the parent of t and s, in t's place.
    let tp = tree.parent[t];
    let second = tp.map(|x| (x, tree.children[x]));
    replace_child(tree, tp, t, p);
    let third = Some((p, tree.children[p]));
    tree.children[p] = Some((t, s));
    tree.parent[t] = Some(p);
    tree.parent[s] = Some(p);
    let undo = Undo {
        root,
        parents,
        children: [first, second, third],
    };
    Some((undo, [g, Some(p)]))
}

/// In `parent` (or at the root when `None`), put `new` where `old` was.
fn replace_child(tree: &mut Hierarchy, parent: Option<usize>, old: usize, new: usize) {
    tree.parent[new] = parent;
    match parent {
        Some(g) => {
            if let Some((a, b)) = tree.children[g] {
                tree.children[g] = Some(if a == old { (new, b) } else { (a, new) });
            }
        }
        None => tree.root = new,
    }
}

/// Re-solves exactly every largest subtree of at most `limit` items: its items keep their place
/// above it, so only its inside changes, and the exact tree is never worse. Returns the work.
pub(crate) fn polish(
    tree: &mut Hierarchy,
    group: &Group,
    uni: &Universe,
    prec: &Precedence,
    costs: &[f64],
    limit: usize,
    limits: exact::Limits,
) -> f64 {
    let budget = limits.work;
    let mut work = 0.0;
    let mut ev = tree.eval(uni);
    let mut best = tree.saving(uni, &mut ev);
    let mut order = Vec::new();
    tree.postorder(&mut order);
    let size: Vec<usize> = {
        let mut s = vec![0usize; tree.parent.len()];
        for &v in &order {
            s[v] = match tree.children[v] {
                None => 1,
                Some((a, b)) => s[a] + s[b],
            };
        }
        s
    };
    for &v in &order {
        let fits = size[v] >= 3 && size[v] <= limit;
        let parent_fits = tree.parent[v].is_some_and(|p| size[p] <= limit);
        if !fits || parent_fits || work >= budget {
            continue;
        }
        let items = tree.items_below(v);
        let sub = Group {
            base: group.base.clone(),
            items: items.iter().map(|&k| group.items[k].clone()).collect(),
        };
        // The DP's own work counts, finished or not (it used to count 2ⁿ per subtree only, so
        // every subtree could spend the whole budget again).
        let mut used = 0.0;
        let left = exact::Limits {
            work: budget - work,
            ..limits
        };
        let solved = exact::prepare(&sub, prec, costs, left, &mut used)
            .and_then(|p| p.solve(&sub, prec, left, &mut used));
        work += used.max((1u64 << items.len()) as f64);
        let Some(solution) = solved else {
            continue;
        };
        // Graft the exact tree in place of v's: its leaves are v's items, its internal nodes
        // reuse v's internal node ids (v itself for the root, so v's parent is unchanged).
        let before = tree.clone();
        let mut internal: Vec<usize> = Vec::new();
        let mut stack = vec![v];
        while let Some(x) = stack.pop() {
            if let Some((a, b)) = tree.children[x] {
                internal.push(x);
                stack.push(a);
                stack.push(b);
            }
        }
        let local = &solution.tree;
        let k = items.len();
        let mut map = vec![0usize; local.parent.len()];
        for (i, &item) in items.iter().enumerate() {
            map[i] = item;
        }
        // Local internal nodes, root first, get v's internal ids with v first.
        let mut local_internal: Vec<usize> = (k..local.parent.len()).collect();
        local_internal.sort_by_key(|&x| usize::from(x != local.root));
        internal.sort_by_key(|&x| usize::from(x != v));
        for (&l, &g) in local_internal.iter().zip(&internal) {
            map[l] = g;
        }
        for &l in &local_internal {
            if let Some((a, b)) = local.children[l] {
                let (g, ga, gb) = (map[l], map[a], map[b]);
                tree.children[g] = Some((ga, gb));
                tree.parent[ga] = Some(g);
                tree.parent[gb] = Some(g);
            }
        }
        let saving = tree.saving(uni, &mut ev);
        if saving > best + 1e-9 * best.abs().max(1.0) {
            best = saving;
        } else {
            *tree = before;
        }
    }
    work
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::split;
    use crate::problem::{Problem, Target};

    /// Deterministic pseudo-random targets with `after` pairs (a < b: acyclic).
    fn problem(seed: u64, targets: usize, steps: usize) -> Problem {
        let mut next = crate::testing::lcg_usize(seed);
        let costs = (0..steps).map(|_| 1.0 + (next() % 40) as f64).collect();
        let mut targets: Vec<Target> = (0..targets)
            .map(|_| Target {
                base: "b".into(),
                steps: (0..steps).filter(|_| next().is_multiple_of(3)).collect(),
                tail: Vec::new(),
            })
            .collect();
        for t in &mut targets {
            t.steps.push(0);
            t.steps.sort_unstable();
            t.steps.dedup();
        }
        let after = (0..steps / 2)
            .map(|_| {
                let a = next() % steps;
                let b = next() % steps;
                (a.min(b), a.max(b))
            })
            .filter(|(a, b)| a != b)
            .collect();
        Problem {
            costs,
            targets,
            after,
        }
    }

    /// The incremental evaluation (only the paths a move touches) always equals a full one,
    /// after moves and after undoing them.
    #[test]
    fn incremental_saving_equals_a_full_evaluation() {
        for seed in 0..20 {
            let problem = problem(seed, 14, 40);
            let prec = Precedence::new(problem.costs.len(), &problem.after);
            for group in split(&problem) {
                let uni = Universe::new(&group, &prec, &problem.costs);
                let mut tree = agglomerate(&uni);
                let mut ev = Incremental::new(&tree, &uni);
                let mut full = tree.eval(&uni);
                let nodes = tree.parent.len();
                let mut moves = 0;
                for s in 0..nodes {
                    for t in (0..nodes).step_by(3) {
                        let original = tree.clone();
                        let Some((undo, touched)) = regraft(&mut tree, s, t, &mut 0.0) else {
                            continue;
                        };
                        moves += 1;
                        ev.refresh(&tree, &uni, &touched);
                        let want = tree.saving(&uni, &mut full);
                        assert!(
                            (ev.total - want).abs() <= 1e-6 * want.max(1.0),
                            "seed {seed}"
                        );
                        if (s + t) % 2 == 0 {
                            let back = [undo.parent_of(s), undo.parent_of(t)];
                            undo.apply(&mut tree);
                            assert_eq!(tree, original, "seed {seed}: undone exactly");
                            ev.refresh(&tree, &uni, &back);
                            let want = tree.saving(&uni, &mut full);
                            assert!((ev.total - want).abs() <= 1e-6 * want.max(1.0));
                        }
                    }
                }
                assert!(nodes < 3 || moves > 0);
            }
        }
    }

    /// Local search never makes the tree worse, spends within its budget (plus one move), and
    /// the same budget gives the same tree.
    #[test]
    fn local_search_is_budgeted_and_deterministic() {
        let problem = problem(7, 30, 60);
        let prec = Precedence::new(problem.costs.len(), &problem.after);
        let group = split(&problem).remove(0);
        let uni = Universe::new(&group, &prec, &problem.costs);
        let start = agglomerate(&uni);
        let saving = |tree: &Hierarchy| tree.saving(&uni, &mut tree.eval(&uni));
        let run = |budget: f64| {
            let mut tree = start.clone();
            let spent = local_search(&mut tree, &uni, budget);
            (tree, spent)
        };
        let (small, spent_small) = run(2_000.0);
        let (big, spent_big) = run(1e9);
        assert!(saving(&small) >= saving(&start) - 1e-9);
        assert!(saving(&big) >= saving(&small) - 1e-9);
        assert!(spent_small > 0.0 && spent_small < 2_000.0 + 1_000.0);
        assert!(spent_big > spent_small);
        assert_eq!(run(2_000.0), (small, spent_small));
    }
}

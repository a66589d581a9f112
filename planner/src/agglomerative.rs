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

/// Improves `tree` by subtree prune-and-regraft moves until none helps or `budget` node
/// evaluations are spent. Returns the work used.
pub(crate) fn local_search(tree: &mut Hierarchy, uni: &Universe, budget: f64) -> f64 {
    let mut ev = tree.eval(uni);
    let mut best = tree.saving(uni, &mut ev);
    let nodes = tree.parent.len();
    let per_eval = nodes as f64;
    let mut spent = per_eval;
    let eps = 1e-9 * best.abs().max(1.0);
    loop {
        let mut improved = false;
        for s in 0..nodes {
            for t in 0..nodes {
                if spent + per_eval > budget {
                    return spent;
                }
                let Some(undo) = regraft(tree, s, t) else {
                    continue;
                };
                spent += per_eval;
                let saving = tree.saving(uni, &mut ev);
                if saving > best + eps {
                    best = saving;
                    improved = true;
                } else {
                    *tree = undo;
                }
            }
        }
        if !improved {
            return spent;
        }
    }
}

/// Moves subtree `s` to hang beside `t` (under a new parent, reusing `s`'s old parent node).
/// Returns the tree as it was, or `None` when the move is impossible or changes nothing.
fn regraft(tree: &mut Hierarchy, s: usize, t: usize) -> Option<Hierarchy> {
    let p = tree.parent[s]?;
    let (x, y) = tree.children[p]?;
    let sibling = if x == s { y } else { x };
    if t == s || t == p || t == sibling {
        return None;
    }
    // t must not lie inside the subtree of s.
    let mut up = Some(t);
    while let Some(node) = up {
        if node == s {
            return None;
        }
        up = tree.parent[node];
    }
    let before = tree.clone();
    // Prune: p's place goes to the sibling.
    let g = tree.parent[p];
    replace_child(tree, g, p, sibling);
    // Regraft: p becomes the parent of t and s, in t's place.
    let tp = tree.parent[t];
    replace_child(tree, tp, t, p);
    tree.children[p] = Some((t, s));
    tree.parent[t] = Some(p);
    tree.parent[s] = Some(p);
    Some(before)
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
        let solved = exact::prepare(&sub, prec, costs, limits.memory).and_then(|p| {
            let left = exact::Limits {
                work: budget - work,
                ..limits
            };
            p.solve(&sub, prec, left, &mut used)
        });
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

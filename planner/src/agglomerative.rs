//! Agglomerative merging on the hierarchy view, then subtree prune-and-regraft local search.
//!
//! Start with every item alone; repeatedly merge the two clusters whose common hoistable steps
//! H weigh the most, until no pair shares anything. Then move subtrees (prune one, regraft it
//! above another node) while a move increases the total saving, first improvement, in a fixed
//! order, within a work budget (node evaluations), so the result never depends on the clock.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::hierarchy::Hierarchy;
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

//! The hierarchy view of a trie: a binary tree over a group's items.
//!
//! Each internal node stands for the items below it; they run H(node) (their shared steps that
//! can go first) once, together. The trie's cost is the items' own costs minus, for every
//! internal node, the weight of H(node). Orders are read off root to leaf: each item runs, at
//! every node on its path, the steps of H(node) not yet run, then its remaining steps.

use crate::group::Group;
use crate::precedence::Precedence;
use crate::problem::StepId;
use crate::universe::Universe;

/// A binary tree whose leaves `0..n` are the group's items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    pub(crate) parent: Vec<Option<usize>>,
    pub(crate) children: Vec<Option<(usize, usize)>>,
    pub(crate) root: usize,
}

/// Bitsets per node, reused between evaluations.
pub(crate) struct Eval {
    inter: Vec<u64>,
    union: Vec<u64>,
    scratch: Vec<u64>,
    order: Vec<usize>,
}

impl Hierarchy {
    /// `n` separate leaves (no root yet; join them, then [`Hierarchy::finish`]).
    pub(crate) fn leaves(n: usize) -> Self {
        Self {
            parent: vec![None; n],
            children: vec![None; n],
            root: 0,
        }
    }

    /// A new internal node over `a` and `b`.
    pub(crate) fn join(&mut self, a: usize, b: usize) -> usize {
        let node = self.parent.len();
        self.parent.push(None);
        self.children.push(Some((a, b)));
        self.parent[a] = Some(node);
        self.parent[b] = Some(node);
        self.root = node;
        node
    }

    /// Joins the remaining roots of a forest, in the order given, into one tree.
    pub(crate) fn finish(&mut self, roots: &[usize]) {
        let mut acc = roots.first().copied().unwrap_or(0);
        for &r in roots.iter().skip(1) {
            acc = self.join(acc, r);
        }
        self.root = acc;
    }

    /// Nodes in post-order (children before parents).
    pub(crate) fn postorder(&self, out: &mut Vec<usize>) {
        out.clear();
        let mut stack = vec![(self.root, false)];
        while let Some((node, expanded)) = stack.pop() {
            match self.children[node] {
                Some((a, b)) if !expanded => {
                    stack.push((node, true));
                    stack.push((b, false));
                    stack.push((a, false));
                }
                _ => out.push(node),
            }
        }
    }

    /// Scratch space for [`Hierarchy::saving`].
    pub(crate) fn eval(&self, uni: &Universe) -> Eval {
        let size = self.parent.len() * uni.words;
        Eval {
            inter: vec![0; size],
            union: vec![0; size],
            scratch: vec![0; uni.words],
            order: Vec::new(),
        }
    }

    /// Σ over internal nodes of w(H(node)): what sharing saves against running every item alone.
    pub(crate) fn saving(&self, uni: &Universe, ev: &mut Eval) -> f64 {
        let w = uni.words;
        let mut order = std::mem::take(&mut ev.order);
        self.postorder(&mut order);
        let mut total = 0.0;
        for &node in &order {
            let at = node * w;
            match self.children[node] {
                None => {
                    ev.inter[at..at + w].copy_from_slice(&uni.sets[node]);
                    ev.union[at..at + w].copy_from_slice(&uni.sets[node]);
                }
                Some((a, b)) => {
                    for j in 0..w {
                        ev.inter[at + j] = ev.inter[a * w + j] & ev.inter[b * w + j];
                        ev.union[at + j] = ev.union[a * w + j] | ev.union[b * w + j];
                    }
                    uni.hoisted(
                        &ev.inter[at..at + w],
                        &ev.union[at..at + w],
                        &mut ev.scratch,
                    );
                    total += uni.weight(&ev.scratch);
                }
            }
        }
        ev.order = order;
        total
    }

    /// Items (leaves) below `node`, increasing.
    pub(crate) fn items_below(&self, node: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![node];
        while let Some(x) = stack.pop() {
            match self.children[x] {
                Some((a, b)) => {
                    stack.push(a);
                    stack.push(b);
                }
                None => out.push(x),
            }
        }
        out.sort_unstable();
        out
    }

    /// Each item's order of its reorderable steps, read off the tree.
    pub(crate) fn orders(
        &self,
        group: &Group,
        uni: &Universe,
        prec: &Precedence,
    ) -> Vec<Vec<StepId>> {
        let mut orders = vec![Vec::new(); group.items.len()];
        let mut stack: Vec<(usize, Vec<StepId>)> = vec![(self.root, Vec::new())];
        while let Some((node, placed)) = stack.pop() {
            match self.children[node] {
                None => {
                    let own: Vec<StepId> = group.items[node]
                        .set
                        .iter()
                        .copied()
                        .filter(|s| !placed.contains(s))
                        .collect();
                    orders[node].extend(prec.sort(&own));
                }
                Some((a, b)) => {
                    let items = self.items_below(node);
                    let (inter, union) = uni.inter_union_of(&items);
                    let mut hoisted = vec![0u64; uni.words];
                    uni.hoisted(&inter, &union, &mut hoisted);
                    let here = uni.members(&hoisted);
                    let block: Vec<StepId> = here
                        .iter()
                        .copied()
                        .filter(|s| !placed.contains(s))
                        .collect();
                    let block = prec.sort(&block);
                    for &k in &items {
                        orders[k].extend_from_slice(&block);
                    }
                    stack.push((b, here.clone()));
                    stack.push((a, here));
                }
            }
        }
        orders
    }
}

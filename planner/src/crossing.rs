//! The crossing bound: steps whose holders cross cannot both run once.
//!
//! Let T(s) be the items holding step s. If s runs in one trie node, every item holding it
//! passes through that node. Take two steps whose holder sets *cross* (they meet, and neither
//! holds the other). An item holding both passes through both nodes, so one is above the
//! other, say s above t; then every item through t also passes s, and T(t) ⊆ T(s), which
//! crossing rules out. So of two crossing steps at least one runs twice or more: the steps
//! that run more than once cover every crossing pair, and what they cost beyond their first
//! run is at least a minimum-weight vertex cover of the crossing graph (weight: the step's
//! cost). Its LP relaxation is half the maximum flow through the graph's bipartite double cover
//! (source → s on the left, capacity c(s); s on the left → t on the right for each crossing
//! pair; t on the right → sink, capacity c(t)), and any flow found so far is a bound already
//! (weak duality), so the search can stop at any point. Steps with the same holders never
//! cross each other and cross the same steps: they are one vertex of their summed cost.
//!
//! This bound does not look at `after` or at costs of shared prefixes, which is why it helps
//! where the others are weakest: many targets combining chunks freely (every chunk crosses
//! almost every other) and groups past the exact method's 63 items.

use crate::group::Group;
use std::collections::BTreeMap;

/// Flow operations (an edge looked at) per work unit of the caller.
const OPS_PER_UNIT: f64 = 4.0;

/// Bytes of the flow network per crossing pair, at most (see [`crossing_extra`]).
const NETWORK_PAIR_BYTES: usize = 96;

/// What every crossing pair costs beyond one run of each step, at least (see the module
/// comment), within `work` units (`spent` gets what was used) and `memory` bytes of flow
/// network (past it, the clique cover alone); `costs` by step id. The better
/// of the LP bound and a clique cover's: in a set of pairwise crossing steps all but one run
/// twice, so cliques of the crossing graph, disjoint, each cost all but their heaviest step
/// (the LP gives only half of a clique).
pub(crate) fn crossing_extra(
    group: &Group,
    costs: &[f64],
    work: f64,
    memory: usize,
    spent: &mut f64,
) -> f64 {
    let n = group.items.len();
    let words = n.div_ceil(64).max(1);
    // Holder sets of the steps, and their summed cost per distinct set.
    let mut holders: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (k, item) in group.items.iter().enumerate() {
        for &s in &item.set {
            holders.entry(s).or_insert_with(|| vec![0; words])[k / 64] |= 1 << (k % 64);
        }
    }
    let mut classes: BTreeMap<Vec<u64>, f64> = BTreeMap::new();
    for (s, set) in holders {
        let count: u32 = set.iter().map(|w| w.count_ones()).sum();
        // One holder, or all of them: such a set crosses nothing.
        if count > 1 && (count as usize) < n {
            *classes.entry(set).or_insert(0.0) += costs[s];
        }
    }
    let classes: Vec<(Vec<u64>, f64)> = classes.into_iter().collect();
    let k = classes.len();
    // The clique pass and the network each test up to k² pairs.
    let mut ops = (2 * k * k * words) as f64;
    let budget = work * OPS_PER_UNIT;
    if ops > budget {
        return 0.0;
    }
    let crosses = |a: &[u64], b: &[u64]| {
        let mut meet = false;
        let mut a_out = false;
        let mut b_out = false;
        for (x, y) in a.iter().zip(b) {
            meet |= x & y != 0;
            a_out |= x & !y != 0;
            b_out |= y & !x != 0;
        }
        meet && a_out && b_out
    };
    // Steps that pairwise cross: all but one of them run twice. Cliques taken greedily,
    // heaviest step first, each step into the first clique it crosses entirely.
    let mut by_weight: Vec<usize> = (0..k).collect();
    by_weight.sort_by(|&a, &b| classes[b].1.total_cmp(&classes[a].1).then(a.cmp(&b)));
    let mut cliques: Vec<Vec<usize>> = Vec::new();
    for &v in &by_weight {
        ops += (cliques.len() * words) as f64;
        let home = cliques
            .iter_mut()
            .find(|q| q.iter().all(|&u| crosses(&classes[u].0, &classes[v].0)));
        match home {
            Some(q) => q.push(v),
            None => cliques.push(vec![v]),
        }
    }
    // The heaviest of each clique (its first) may run once.
    let clique_bound: f64 = cliques
        .iter()
        .map(|q| q[1..].iter().map(|&v| classes[v].1).sum::<f64>())
        .sum();
    // The network holds every crossing pair (two edges of 16 bytes and their two places in
    // the adjacency lists, twice that while the lists grow): past the memory budget, the cliques
    // alone.
    if k.saturating_mul(k).saturating_mul(NETWORK_PAIR_BYTES) > memory {
        *spent += ops / OPS_PER_UNIT;
        return clique_bound;
    }
    let mut net = Network::new(2 * k + 2);
    let (source, sink) = (2 * k, 2 * k + 1);
    for (i, (set, cost)) in classes.iter().enumerate() {
        net.add(source, i, *cost);
        net.add(k + i, sink, *cost);
        for (j, (other, _)) in classes.iter().enumerate() {
            if i != j && crosses(set, other) {
                net.add(i, k + j, f64::INFINITY);
            }
        }
    }
    let flow = net.max_flow(source, sink, budget - ops, &mut ops);
    *spent += ops / OPS_PER_UNIT;
    (flow / 2.0).max(clique_bound)
}

/// A flow network for Dinic's algorithm (BFS levels, then blocking flows by DFS).
struct Network {
    /// Per node, its edges' indexes.
    adj: Vec<Vec<usize>>,
    /// (head, residual capacity); edge `e ^ 1` is `e`'s reverse.
    edges: Vec<(usize, f64)>,
}

impl Network {
    fn new(nodes: usize) -> Self {
        Self {
            adj: vec![Vec::new(); nodes],
            edges: Vec::new(),
        }
    }

    fn add(&mut self, from: usize, to: usize, cap: f64) {
        self.adj[from].push(self.edges.len());
        self.edges.push((to, cap));
        self.adj[to].push(self.edges.len());
        self.edges.push((from, 0.0));
    }

    /// The largest flow from `source` to `sink` found within `budget` operations (each edge
    /// looked at is one, added to `ops`); a feasible flow whenever it stops.
    fn max_flow(&mut self, source: usize, sink: usize, budget: f64, ops: &mut f64) -> f64 {
        const EPS: f64 = 1e-9;
        let nodes = self.adj.len();
        let mut total = 0.0;
        let mut used = 0.0;
        loop {
            // Levels by BFS over edges with room.
            let mut level = vec![usize::MAX; nodes];
            level[source] = 0;
            let mut queue = std::collections::VecDeque::from([source]);
            while let Some(v) = queue.pop_front() {
                for &e in &self.adj[v] {
                    let (to, cap) = self.edges[e];
                    if cap > EPS && level[to] == usize::MAX {
                        level[to] = level[v] + 1;
                        queue.push_back(to);
                    }
                }
                used += self.adj[v].len() as f64;
            }
            if level[sink] == usize::MAX || used > budget {
                break;
            }
            // Blocking flow: depth-first augmenting paths along rising levels, each node's
            // edges tried from where the last path left off.
            let mut next = vec![0usize; nodes];
            loop {
                if used > budget {
                    break;
                }
                let pushed = self.augment(source, sink, &level, &mut next, &mut used);
                if pushed <= EPS {
                    break;
                }
                total += pushed;
            }
            if used > budget {
                break;
            }
        }
        *ops += used;
        total
    }

    /// One augmenting path's flow from `source` to `sink` along rising levels (0: none left),
    /// found iteratively.
    fn augment(
        &mut self,
        source: usize,
        sink: usize,
        level: &[usize],
        next: &mut [usize],
        used: &mut f64,
    ) -> f64 {
        const EPS: f64 = 1e-9;
        // The path as edges taken; a dead end pops its last edge and moves that node on.
        let mut path: Vec<usize> = Vec::new();
        let mut v = source;
        loop {
            if v == sink {
                let pushed = path
                    .iter()
                    .map(|&e| self.edges[e].1)
                    .fold(f64::INFINITY, f64::min);
                for &e in &path {
                    self.edges[e].1 -= pushed;
                    self.edges[e ^ 1].1 += pushed;
                }
                return pushed;
            }
            let mut advanced = false;
            while next[v] < self.adj[v].len() {
                *used += 1.0;
                let e = self.adj[v][next[v]];
                let (to, cap) = self.edges[e];
                if cap > EPS && level[to] == level[v] + 1 {
                    path.push(e);
                    v = to;
                    advanced = true;
                    break;
                }
                next[v] += 1;
            }
            if !advanced {
                // Dead end: no path through v at these levels.
                let Some(e) = path.pop() else {
                    return 0.0;
                };
                v = self.edges[e ^ 1].0;
                next[v] += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::Item;

    fn group(sets: &[&[usize]]) -> Group {
        Group {
            base: "b".into(),
            items: sets
                .iter()
                .enumerate()
                .map(|(k, set)| Item {
                    targets: vec![k],
                    set: set.to_vec(),
                    tail_cost: 0.0,
                })
                .collect(),
        }
    }

    #[test]
    fn two_crossing_steps_cost_the_cheaper_one_again() {
        // Items {0, 1} hold step 0 and items {1, 2} step 1: the sets cross, so one of the two
        // steps runs twice, and the cheaper one is the least that can cost.
        let g = group(&[&[0], &[0, 1], &[1]]);
        let extra = crossing_extra(&g, &[5.0, 3.0], 1e6, 1 << 20, &mut 0.0);
        assert!((extra - 3.0).abs() < 1e-9, "{extra}");
    }

    #[test]
    fn nested_or_disjoint_holders_force_nothing() {
        let g = group(&[&[0, 1], &[0, 1], &[0, 2], &[3]]);
        // Step 1 ⊂ step 0's holders, step 2 ⊂ step 0's, steps 1 and 2 disjoint: laminar.
        assert_eq!(
            crossing_extra(&g, &[5.0, 3.0, 4.0, 1.0], 1e6, 1 << 20, &mut 0.0),
            0.0
        );
    }

    #[test]
    fn pairwise_crossing_steps_all_but_one_run_again() {
        // Items {0, 1}, {1, 2}, {0, 2} hold steps 1, 2 and 0 twice each: every two cross, so
        // two of the three run twice (the LP alone would say 1.5).
        let g = group(&[&[0, 1], &[1, 2], &[0, 2]]);
        let full = crossing_extra(&g, &[1.0, 1.0, 1.0], 1e6, 1 << 20, &mut 0.0);
        assert!((full - 2.0).abs() < 1e-9, "{full}");
        // Out of work: no bound beyond the distinct steps, never more.
        assert_eq!(
            crossing_extra(&g, &[1.0, 1.0, 1.0], 0.0, 1 << 20, &mut 0.0),
            0.0
        );
    }

    #[test]
    fn a_cycle_of_crossings_takes_the_lp() {
        // Step i is held by items i and i + 1 (mod 5): each step crosses its two neighbours
        // only, a 5-cycle. Cliques are edges (a cover of three gives 2), the LP gives 2.5.
        let sets: Vec<Vec<usize>> = (0..5).map(|k| vec![(k + 4) % 5, k]).collect();
        let sets: Vec<&[usize]> = sets.iter().map(Vec::as_slice).collect();
        let g = group(&sets);
        let mut spent = 0.0;
        let extra = crossing_extra(&g, &[1.0; 5], 1e6, 1 << 20, &mut spent);
        assert!((extra - 2.5).abs() < 1e-9, "{extra}");
        assert!(spent > 0.0);
        // Without the memory for the network, the cliques alone.
        let cliques = crossing_extra(&g, &[1.0; 5], 1e6, 0, &mut 0.0);
        assert!((cliques - 2.0).abs() < 1e-9, "{cliques}");
    }
}

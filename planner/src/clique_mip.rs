//! The seed's model (O'Neil, PyData NYC 2015), kept to be beaten side by side.
//!
//! 1. Cliques: the graph has a node per item and per step; items are pairwise joined, steps are
//!    pairwise joined, and an item is joined to each of its steps. A maximal clique with two or
//!    more items and at least one step is a candidate shared block (items × steps). petgraph's
//!    Bron–Kerbosch enumerates them.
//! 2. Recursion: for each clique, the same on its items' remaining steps; sub-cliques become its
//!    children.
//! 3. Set partitioning, solved by good_lp with the pure-Rust microlp backend (the frontend links
//!    statically; HiGHS would need cmake, libclang and a patched build for `+crt-static`):
//!    `min Σ t_c x_ic + Σ t(K_q) y_q` subject to every (item, step) covered exactly once,
//!    `y_child ≤ y_parent`, and at most one chosen clique per item among siblings.
//! 4. Orders: the chosen cliques root-down (each clique's steps in one canonical order), then the
//!    item's uncovered steps. The model knows no ordering constraints; its orders are repaired
//!    afterwards to respect them (which can cost sharing).
//!
//! It is not exact: only maximal cliques are candidates (13.9 % above the optimum on the seed
//! talk's own showcase).

use std::collections::BTreeMap;

use good_lp::{
    Expression, Solution, SolverModel, Variable, constraint, microlp, variable, variables,
};
use petgraph::graph::{NodeIndex, UnGraph};

use crate::group::Group;
use crate::precedence::Precedence;
use crate::problem::StepId;

/// Items (group index, remaining steps) under a parent clique, waiting to be enumerated.
type Level = (Option<usize>, Vec<(usize, Vec<StepId>)>);

/// One candidate block: items (group indexes) that run `steps` together.
struct Clique {
    items: Vec<usize>,
    steps: Vec<StepId>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// Maximal (items × steps) cliques with ≥ 2 items and ≥ 1 step, in a canonical order.
fn maximal_bicliques(items: &[(usize, Vec<StepId>)]) -> Vec<(Vec<usize>, Vec<StepId>)> {
    let mut graph: UnGraph<(), ()> = UnGraph::new_undirected();
    let item_nodes: Vec<NodeIndex> = items.iter().map(|_| graph.add_node(())).collect();
    let mut step_nodes: BTreeMap<StepId, NodeIndex> = BTreeMap::new();
    for (_, steps) in items {
        for &s in steps {
            step_nodes.entry(s).or_insert_with(|| graph.add_node(()));
        }
    }
    for (i, &a) in item_nodes.iter().enumerate() {
        for &b in &item_nodes[i + 1..] {
            graph.add_edge(a, b, ());
        }
        for &s in &items[i].1 {
            graph.add_edge(a, step_nodes[&s], ());
        }
    }
    let steps: Vec<(StepId, NodeIndex)> = step_nodes.into_iter().collect();
    for (i, &(_, a)) in steps.iter().enumerate() {
        for &(_, b) in &steps[i + 1..] {
            graph.add_edge(a, b, ());
        }
    }
    let mut out: Vec<(Vec<usize>, Vec<StepId>)> = petgraph::algo::maximal_cliques(&graph)
        .into_iter()
        .filter_map(|clique| {
            let mut its: Vec<usize> = item_nodes
                .iter()
                .enumerate()
                .filter(|&(_, n)| clique.contains(n))
                .map(|(k, _)| items[k].0)
                .collect();
            let mut sts: Vec<StepId> = steps
                .iter()
                .filter(|(_, n)| clique.contains(n))
                .map(|&(s, _)| s)
                .collect();
            its.sort_unstable();
            sts.sort_unstable();
            (its.len() > 1 && !sts.is_empty()).then_some((its, sts))
        })
        .collect();
    out.sort();
    out
}

/// Orders for the group's items from the seed's model, or why there are none.
pub(crate) fn solve(
    group: &Group,
    prec: &Precedence,
    costs: &[f64],
    max_cliques: usize,
) -> Result<Vec<Vec<StepId>>, String> {
    let n = group.items.len();
    // Enumerate the clique tree level by level (a work list instead of recursion).
    let mut cliques: Vec<Clique> = Vec::new();
    let mut roots: Vec<usize> = Vec::new();
    let root_items: Vec<(usize, Vec<StepId>)> = group
        .items
        .iter()
        .enumerate()
        .map(|(k, it)| (k, it.set.clone()))
        .collect();
    let mut work: Vec<Level> = vec![(None, root_items)];
    while let Some((parent, items)) = work.pop() {
        for (its, sts) in maximal_bicliques(&items) {
            if cliques.len() >= max_cliques {
                return Err(format!(
                    "more than {max_cliques} cliques: too large for the clique model within this effort"
                ));
            }
            let id = cliques.len();
            let rest: Vec<(usize, Vec<StepId>)> = items
                .iter()
                .filter(|(k, _)| its.contains(k))
                .map(|(k, set)| {
                    (
                        *k,
                        set.iter()
                            .copied()
                            .filter(|s| !sts.contains(s))
                            .collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, set)| !set.is_empty())
                .collect();
            cliques.push(Clique {
                items: its,
                steps: sts,
                parent,
                children: Vec::new(),
            });
            match parent {
                Some(p) => cliques[p].children.push(id),
                None => roots.push(id),
            }
            if rest.len() > 1 {
                work.push((Some(id), rest));
            }
        }
    }

    let mut vars = variables!();
    let mut x: BTreeMap<(usize, StepId), Variable> = BTreeMap::new();
    let mut objective = Expression::from(0.0);
    for (k, item) in group.items.iter().enumerate() {
        for &s in &item.set {
            let v = vars.add(variable().binary());
            objective += costs[s] * v;
            x.insert((k, s), v);
        }
    }
    let y: Vec<Variable> = cliques
        .iter()
        .map(|_| vars.add(variable().binary()))
        .collect();
    for (q, clique) in cliques.iter().enumerate() {
        objective += clique.steps.iter().map(|&s| costs[s]).sum::<f64>() * y[q];
    }
    let mut model = vars.minimise(objective).using(microlp);
    let mut cover: BTreeMap<(usize, StepId), Expression> = x
        .iter()
        .map(|(&key, &v)| (key, Expression::from(v)))
        .collect();
    for (q, clique) in cliques.iter().enumerate() {
        for &k in &clique.items {
            for &s in &clique.steps {
                if let Some(e) = cover.get_mut(&(k, s)) {
                    *e += y[q];
                }
            }
        }
        if let Some(p) = clique.parent {
            model.add_constraint(constraint!(y[q] <= y[p]));
        }
    }
    for (_, e) in cover {
        model.add_constraint(constraint!(e == 1.0));
    }
    // Among siblings, an item is in at most one chosen clique.
    let levels: Vec<&[usize]> = std::iter::once(roots.as_slice())
        .chain(cliques.iter().map(|c| c.children.as_slice()))
        .collect();
    for level in levels {
        let mut by_item: BTreeMap<usize, Expression> = BTreeMap::new();
        let mut count: BTreeMap<usize, usize> = BTreeMap::new();
        for &q in level {
            for &k in &cliques[q].items {
                *by_item.entry(k).or_insert_with(|| Expression::from(0.0)) += y[q];
                *count.entry(k).or_default() += 1;
            }
        }
        for (k, e) in by_item {
            if count[&k] > 1 {
                model.add_constraint(constraint!(e <= 1.0));
            }
        }
    }
    let solution = model
        .solve()
        .map_err(|e| format!("the MIP solver failed: {e}"))?;

    let order_of = |steps: &[StepId]| {
        let mut s = steps.to_vec();
        s.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
        s
    };
    let mut orders: Vec<Vec<StepId>> = vec![Vec::new(); n];
    let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
    while let Some(q) = stack.pop() {
        if solution.value(y[q]) > 0.5 {
            let block = order_of(&cliques[q].steps);
            for &k in &cliques[q].items {
                orders[k].extend_from_slice(&block);
            }
            stack.extend(cliques[q].children.iter().rev());
        }
    }
    for (k, order) in orders.iter_mut().enumerate() {
        let singles: Vec<StepId> = group.items[k]
            .set
            .iter()
            .copied()
            .filter(|&s| solution.value(x[&(k, s)]) > 0.5)
            .collect();
        order.extend(order_of(&singles));
        *order = prec.repair(order);
    }
    Ok(orders)
}

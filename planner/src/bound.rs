//! Lower bounds for groups the exact method could not take.
//!
//! Taking targets away never makes the best plan dearer (the rest of an optimal trie is a plan
//! for them), and a step that only the removed targets hold still runs at least once. So for
//! any subset S of a group's items: `optimum ≥ f(S) + w(steps outside U(S))`. We take S as the
//! heaviest items, as many as the exact method solves within its share of the effort.

use crate::exact::{self, Limits};
use crate::group::{Group, Item};
use crate::precedence::Precedence;

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
    let value = exact::prepare(&sub, prec, costs, limits.memory)?
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

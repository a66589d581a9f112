//! The most-time greedy (O'Neil's `most-time`), generalised to ordering constraints.
//!
//! At a trie node holding a group of items, pick the step that saves the most if shared,
//! `t_c · (k − 1)` with k the number of items for which the step may run next; those items move
//! under a child node for it, the others stay and the choice repeats for them. When nothing is
//! shared any more, each item finishes its own steps in constraint order.

use std::collections::BTreeMap;

use crate::bitset::BitSet;
use crate::group::Group;
use crate::precedence::Precedence;
use crate::problem::StepId;

/// Item orders (reorderable steps only) for every item of the group.
pub(crate) fn solve(group: &Group, prec: &Precedence, costs: &[f64]) -> Vec<Vec<StepId>> {
    let m = costs.len();
    let n = group.items.len();
    let mut orders: Vec<Vec<StepId>> = vec![Vec::new(); n];
    let remaining: Vec<BitSet> = group
        .items
        .iter()
        .map(|item| {
            let mut set = BitSet::new(m);
            for &s in &item.set {
                set.insert(s);
            }
            set
        })
        .collect();
    let mut remaining = remaining;
    let mut stack: Vec<Vec<usize>> = vec![(0..n).collect()];
    while let Some(members) = stack.pop() {
        let members: Vec<usize> = members
            .into_iter()
            .filter(|&k| !remaining[k].is_empty())
            .collect();
        if members.is_empty() {
            continue;
        }
        // Which members may run each step next.
        let mut ready: BTreeMap<StepId, Vec<usize>> = BTreeMap::new();
        for &k in &members {
            for s in remaining[k].iter() {
                if prec.is_empty() || !prec.before(s).intersects(&remaining[k]) {
                    ready.entry(s).or_default().push(k);
                }
            }
        }
        let best = ready
            .iter()
            .max_by(|(sa, ka), (sb, kb)| {
                let score = |s: StepId, k: usize| costs[s] * (k as f64 - 1.0);
                score(**sa, ka.len())
                    .total_cmp(&score(**sb, kb.len()))
                    .then(ka.len().cmp(&kb.len()))
                    .then(costs[**sa].total_cmp(&costs[**sb]))
                    .then(sb.cmp(sa)) // equal on all counts: the smaller id wins
            })
            .map(|(&s, k)| (s, k.clone()));
        match best {
            Some((step, takers)) if takers.len() >= 2 => {
                for &k in &takers {
                    orders[k].push(step);
                    remaining[k].remove(step);
                }
                let rest: Vec<usize> = members
                    .into_iter()
                    .filter(|k| !takers.contains(k))
                    .collect();
                stack.push(rest);
                stack.push(takers);
            }
            _ => {
                for k in members {
                    let own: Vec<StepId> = remaining[k].iter().collect();
                    orders[k].extend(prec.sort(&own));
                    remaining[k] = BitSet::new(m);
                }
            }
        }
    }
    orders
}

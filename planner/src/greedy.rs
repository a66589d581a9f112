//! The most-time greedy (O'Neil's `most-time`), generalised to ordering constraints.
//!
//! At a trie node holding a group of items, pick the step that saves the most if shared,
//! `t_c · (k − 1)` with k the number of items for which the step may run next; those items move
//! under a child node for it, the others stay and the choice repeats for them. When nothing is
//! shared any more, each item finishes its own steps in constraint order.

use crate::group::Group;
use crate::precedence::Precedence;
use crate::problem::StepId;
use fixedbitset::FixedBitSet;

/// Item orders (reorderable steps only) for every item of the group.
pub(crate) fn solve(group: &Group, prec: &Precedence, costs: &[f64]) -> Vec<Vec<StepId>> {
    let m = costs.len();
    let n = group.items.len();
    let mut orders: Vec<Vec<StepId>> = vec![Vec::new(); n];
    let remaining: Vec<FixedBitSet> = group
        .items
        .iter()
        .map(|item| {
            let mut set = FixedBitSet::with_capacity(m);
            for &s in &item.set {
                set.insert(s);
            }
            set
        })
        .collect();
    let mut remaining = remaining;
    let mut stack: Vec<Vec<usize>> = vec![(0..n).collect()];
    let mut count = vec![0u32; m];
    let mut touched: Vec<StepId> = Vec::new();
    while let Some(members) = stack.pop() {
        let members: Vec<usize> = members
            .into_iter()
            .filter(|&k| !remaining[k].is_clear())
            .collect();
        if members.is_empty() {
            continue;
        }
        // How many members may run each step next (a dense counter over step ids).
        let ready = |k: usize, s: StepId, remaining: &[FixedBitSet]| {
            prec.is_empty() || prec.before(s).is_disjoint(&remaining[k])
        };
        for &k in &members {
            for s in remaining[k].ones() {
                if ready(k, s, &remaining) {
                    if count[s] == 0 {
                        touched.push(s);
                    }
                    count[s] += 1;
                }
            }
        }
        let score = |s: StepId, k: u32| costs[s] * (f64::from(k) - 1.0);
        let mut best: Option<StepId> = None;
        for &s in &touched {
            let better = match best {
                None => true,
                Some(b) => score(s, count[s])
                    .total_cmp(&score(b, count[b]))
                    .then(count[s].cmp(&count[b]))
                    .then(costs[s].total_cmp(&costs[b]))
                    .then(b.cmp(&s)) // equal on all counts: the smaller id wins
                    .is_gt(),
            };
            if better {
                best = Some(s);
            }
        }
        let best = best.map(|s| (s, count[s]));
        for &s in &touched {
            count[s] = 0;
        }
        touched.clear();
        let best = best.map(|(s, n)| {
            let takers: Vec<usize> = if n >= 2 {
                members
                    .iter()
                    .copied()
                    .filter(|&k| remaining[k].contains(s) && ready(k, s, &remaining))
                    .collect()
            } else {
                Vec::new()
            };
            (s, takers)
        });
        match best {
            Some((step, takers)) if takers.len() >= 2 => {
                for &k in &takers {
                    orders[k].push(step);
                    remaining[k].set(step, false);
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
                    let own: Vec<StepId> = remaining[k].ones().collect();
                    orders[k].extend(prec.sort(&own));
                    remaining[k] = FixedBitSet::with_capacity(m);
                }
            }
        }
    }
    orders
}

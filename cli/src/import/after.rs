//! The `after` pairs import writes: inferred per Dockerfile from `order::must_follow` on each
//! pair of its steps, reduced to the pairs no steps between them imply, unioned over the
//! Dockerfiles, then checked against every Dockerfile's own order, so each stays feasible and
//! the plan is never dearer than it.

use std::collections::BTreeMap;

use fixedbitset::FixedBitSet;

use super::{Key, Variant, key, order};

/// The `after` pairs (earlier step id, later step id) with the reason and the lines of the first
/// Dockerfile that needed each. Step ids index `step_names`; `ids` maps a step's identity to its
/// id.
///
/// On bit sets, so that many or long Dockerfiles (a chain of stages, each repeating its
/// parent's steps) stay fast: what a step must precede is closed transitively one row at a
/// time, and the final check reads each step's reach in the union once per Dockerfile step.
///
/// # Errors
/// A Dockerfile that runs a step before one the union orders after it, one
/// `file:line: message` per pair (the fix: make the Dockerfiles agree, or `--keep-order`).
#[allow(clippy::needless_range_loop)]
pub(super) fn infer(
    variants: &[Variant],
    ids: &BTreeMap<Key, usize>,
    step_names: &[String],
) -> Result<BTreeMap<(usize, usize), String>, Vec<String>> {
    let mut after: BTreeMap<(usize, usize), String> = BTreeMap::new();
    // Each step's id, once per Dockerfile (a key is a clone of the step's action and context).
    let vids: Vec<Vec<usize>> = variants
        .iter()
        .map(|v| v.steps.iter().map(|s| ids[&key(s)]).collect())
        .collect();
    for (v, vid) in variants.iter().zip(&vids) {
        let n = v.steps.len();
        // succ[i]: the later steps that must follow step i directly; `needed`, the same pairs
        // with their reasons, in the order they are written (by the later step, then the
        // earlier).
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut needed: Vec<(usize, usize, String)> = Vec::new();
        for j in 0..n {
            for i in 0..j {
                if let Some(reason) = order::must_follow(&v.steps[i].facts, &v.steps[j].facts) {
                    succ[i].push(j);
                    needed.push((i, j, reason));
                }
            }
        }
        // below[i]: every step that must follow i, directly or through steps between them;
        // implied[i]: those that some other step following i directly already brings along.
        let mut below: Vec<FixedBitSet> = vec![FixedBitSet::with_capacity(n); n];
        let mut implied: Vec<FixedBitSet> = vec![FixedBitSet::with_capacity(n); n];
        for i in (0..n).rev() {
            let (done, rest) = below.split_at_mut(i + 1);
            let (row, implied_row) = (&mut done[i], &mut implied[i]);
            for &k in &succ[i] {
                let reach_k = &rest[k - i - 1];
                row.insert(k);
                row.union_with(reach_k);
                implied_row.union_with(reach_k);
            }
        }
        for (i, j, reason) in needed {
            // Implied through some step between them: not written.
            if implied[i].contains(j) {
                continue;
            }
            after.entry((vid[i], vid[j])).or_insert_with(|| {
                format!(
                    "{reason} ({}:{} after line {})",
                    v.file, v.steps[j].line, v.steps[i].line
                )
            });
        }
    }
    // Every Dockerfile's own order must still be possible: no step reaches, in the union of
    // the pairs, a step its Dockerfile runs before it (a step reaches itself).
    let n = step_names.len();
    let mut succ = vec![Vec::new(); n];
    for &(a, b) in after.keys() {
        succ[a].push(b);
    }
    let mut reach: Vec<Option<FixedBitSet>> = vec![None; n];
    let mut errors = Vec::new();
    for (v, vid) in variants.iter().zip(&vids) {
        let mut earlier = FixedBitSet::with_capacity(n);
        for j in 0..vid.len() {
            let b = vid[j];
            let from_b = reach[b].get_or_insert_with(|| reachable(&succ, b));
            if !from_b.is_disjoint(&earlier) {
                for i in 0..j {
                    let a = vid[i];
                    if from_b.contains(a) {
                        errors.push(format!(
                            "{}:{}: `{}` runs before `{}` (line {}) here, but another Dockerfile needs it after; make the Dockerfiles agree, or import with --keep-order",
                            v.file, v.steps[i].line, step_names[a], step_names[b], v.steps[j].line
                        ));
                    }
                }
            }
            earlier.insert(b);
        }
    }
    if errors.is_empty() {
        Ok(after)
    } else {
        Err(errors)
    }
}

/// The steps `from` reaches through `succ`, itself included.
fn reachable(succ: &[Vec<usize>], from: usize) -> FixedBitSet {
    let mut seen = FixedBitSet::with_capacity(succ.len());
    seen.insert(from);
    let mut stack = vec![from];
    while let Some(x) = stack.pop() {
        for &y in &succ[x] {
            if !seen.put(y) {
                stack.push(y);
            }
        }
    }
    seen
}

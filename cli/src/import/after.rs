//! The `after` pairs import writes: inferred per Dockerfile from `order::must_follow` on each
//! pair of its steps, reduced to the pairs no steps between them imply, unioned over the
//! Dockerfiles, then checked against every Dockerfile's own order, so each stays feasible and
//! the plan is never dearer than it.

use std::collections::BTreeMap;

use super::{Key, Variant, key, order};

/// The `after` pairs (earlier step id, later step id) with the reason and the lines of the first
/// Dockerfile that needed each. Step ids index `step_names`; `ids` maps a step's identity to its
/// id.
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
    let mut errors = Vec::new();
    for v in variants {
        let n = v.steps.len();
        let mut need = vec![vec![None::<String>; n]; n];
        for j in 0..n {
            for i in 0..j {
                need[i][j] = order::must_follow(&v.steps[i].facts, &v.steps[j].facts);
            }
        }
        // reach[i][j]: j must follow i, directly or through steps between them.
        let mut reach = vec![vec![false; n]; n];
        for j in 0..n {
            for i in (0..j).rev() {
                reach[i][j] =
                    need[i][j].is_some() || (i + 1..j).any(|k| reach[i][k] && reach[k][j]);
            }
        }
        for j in 0..n {
            for i in 0..j {
                let Some(why) = &need[i][j] else { continue };
                // Implied through some k between them: not written.
                if (i + 1..j).any(|k| reach[i][k] && reach[k][j]) {
                    continue;
                }
                let (a, b) = (ids[&key(&v.steps[i])], ids[&key(&v.steps[j])]);
                after.entry((a, b)).or_insert_with(|| {
                    format!(
                        "{why} ({}:{} after line {})",
                        v.file, v.steps[j].line, v.steps[i].line
                    )
                });
            }
        }
    }
    // Every Dockerfile's own order must still be possible.
    let n = step_names.len();
    let mut succ = vec![Vec::new(); n];
    for &(a, b) in after.keys() {
        succ[a].push(b);
    }
    let reaches = |from: usize, to: usize| {
        let mut seen = vec![false; n];
        let mut stack = vec![from];
        while let Some(x) = stack.pop() {
            if x == to {
                return true;
            }
            for &y in &succ[x] {
                if !std::mem::replace(&mut seen[y], true) {
                    stack.push(y);
                }
            }
        }
        false
    };
    for v in variants {
        for j in 0..v.steps.len() {
            for i in 0..j {
                let (a, b) = (ids[&key(&v.steps[i])], ids[&key(&v.steps[j])]);
                if reaches(b, a) {
                    errors.push(format!(
                        "{}:{}: `{}` runs before `{}` (line {}) here, but another Dockerfile needs it after; make the Dockerfiles agree, or import with --keep-order",
                        v.file, v.steps[i].line, step_names[a], step_names[b], v.steps[j].line
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(after)
    } else {
        Err(errors)
    }
}

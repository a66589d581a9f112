//! Generated instances of the two shapes real manifests have (issue 10), seeded and
//! deterministic, and a harness that measures auto, heuristic and exact on them.
//!
//! - `stack`: one base; a long chain every target holds; then a tree of nested families (each
//!   target holds its parent's steps and a chain of its own), with `after` pairs along every
//!   chain and from each chain's first step to its parent's last: image stacks.
//! - `chunk`: one base; 40 chunks, each a chain of 2–6 steps linked by `after`; each target
//!   combines 5–15 of them: tool sets combined freely.

use dockopt_planner::{Problem, Target};

use crate::rng::Rng;

impl Rng {
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    /// A step cost in seconds: mostly short, some long (1–120).
    fn cost(&mut self) -> f64 {
        if self.next().is_multiple_of(5) {
            self.range(30, 120) as f64
        } else {
            self.range(1, 20) as f64
        }
    }
}

/// A chain of `len` new steps, each after the one before.
fn chain(len: usize, rng: &mut Rng, p: &mut Problem) -> Vec<usize> {
    let first = p.costs.len();
    for i in 0..len {
        p.costs.push(rng.cost());
        if i > 0 {
            p.after.push((first + i - 1, first + i));
        }
    }
    (first..first + len).collect()
}

/// An image stack of `targets` targets: a shared chain of 15–25 steps, then each target under a
/// random earlier one (the first under the shared chain), with its own chain of 1–6 steps.
pub(crate) fn stack(targets: usize, seed: u64) -> (Problem, Vec<String>) {
    let mut rng = Rng(seed);
    let mut p = Problem::default();
    let len = rng.range(15, 25);
    let shared = chain(len, &mut rng, &mut p);
    let mut sets: Vec<Vec<usize>> = Vec::new();
    for t in 0..targets {
        // Families branch near the top and nest: the parent is one of the last few targets or
        // an early one.
        let parent = match t {
            0 => None,
            _ if rng.next().is_multiple_of(3) => Some(rng.range(0, t.min(4) - 1)),
            _ => Some(rng.range(t.saturating_sub(3), t - 1)),
        };
        let own_len = rng.range(1, 6);
        let own = chain(own_len, &mut rng, &mut p);
        let above: Vec<usize> = parent.map_or_else(|| shared.clone(), |q| sets[q].clone());
        if let (Some(&last), Some(&first)) = (above.last(), own.first()) {
            p.after.push((last, first));
        }
        let set: Vec<usize> = above.into_iter().chain(own).collect();
        sets.push(set);
    }
    for set in &sets {
        // Listed in a scrambled order: the planner must find the order itself.
        let mut steps = set.clone();
        let k = steps.len();
        for i in 0..k {
            steps.swap(i, rng.range(i, k - 1));
        }
        p.targets.push(Target {
            base: "docker.io/library/ubuntu:24.04".into(),
            steps,
            tail: vec![],
        });
    }
    let names = (0..targets).map(|t| format!("stack-{t:03}")).collect();
    (p, names)
}

/// `targets` targets over 40 chunks of 2–6 chained steps, each target combining 5–15 chunks.
pub(crate) fn chunk(targets: usize, seed: u64) -> (Problem, Vec<String>) {
    let mut rng = Rng(seed);
    let mut p = Problem::default();
    let chunks: Vec<Vec<usize>> = (0..40)
        .map(|_| {
            let len = rng.range(2, 6);
            chain(len, &mut rng, &mut p)
        })
        .collect();
    for _ in 0..targets {
        let k = rng.range(5, 15);
        let mut pick: Vec<usize> = (0..chunks.len()).collect();
        let last = pick.len() - 1;
        for i in 0..k {
            pick.swap(i, rng.range(i, last));
        }
        let mut steps: Vec<usize> = pick[..k]
            .iter()
            .flat_map(|&c| chunks[c].iter().copied())
            .collect();
        steps.sort_unstable();
        p.targets.push(Target {
            base: "docker.io/library/debian:bookworm".into(),
            steps,
            tail: vec![],
        });
    }
    let names = (0..targets).map(|t| format!("chunk-{t:03}")).collect();
    (p, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_valid() {
        for (p, _) in [stack(27, 1), chunk(36, 1)] {
            p.validate().expect("valid");
        }
        assert_eq!(stack(27, 3).0, stack(27, 3).0);
        assert_eq!(chunk(36, 3).0, chunk(36, 3).0);
        assert_ne!(chunk(36, 3).0, chunk(36, 4).0);
        let (s, _) = stack(27, 1);
        assert_eq!(s.targets.len(), 27);
    }
}

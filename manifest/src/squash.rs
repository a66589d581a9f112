//! `squash: true`: which trie nodes of a target become one layer.
//!
//! Only what one op can hold is merged: consecutive steps of the target's path that no other
//! target shares, all shell-form `run` steps with the same context (env, workdir, user,
//! mounts), become one exec whose command runs each in turn. Shared steps stay their own layer
//! (merging them would stop the sharing), and so do copies and exec-form runs.

use dockopt_planner::Trie;

use crate::model::{Action, Manifest, RunCommand};

impl Manifest {
    /// The layers of target `t` on `trie` (its plan's trie): the trie nodes of each, root
    /// (base) excluded, in order. Without `squash: true` every step is its own layer.
    #[must_use]
    pub fn layers(&self, trie: &Trie, t: usize) -> Vec<Vec<usize>> {
        let mut path = Vec::new();
        let mut at = trie.leaf_of.get(t).copied();
        while let Some(n) = at {
            if trie.nodes[n].step.is_some() {
                path.push(n);
            }
            at = trie.nodes[n].parent;
        }
        path.reverse();
        let squash = self.targets.get(t).is_some_and(|x| x.squash);
        let mut layers: Vec<Vec<usize>> = Vec::new();
        for n in path {
            if squash
                && let Some(last) = layers.last_mut()
                && let Some(&prev) = last.last()
                && self.mergeable(trie, t, prev, n)
            {
                last.push(n);
            } else {
                layers.push(vec![n]);
            }
        }
        layers
    }

    /// Whether node `b` (the child of `a` on `t`'s path) can run in the same op as `a`.
    fn mergeable(&self, trie: &Trie, t: usize, a: usize, b: usize) -> bool {
        let own = |n: usize| trie.nodes[n].targets == [t];
        let (Some(sa), Some(sb)) = (trie.nodes[a].step, trie.nodes[b].step) else {
            return false;
        };
        let (x, y) = (&self.steps[sa], &self.steps[sb]);
        own(a)
            && own(b)
            && matches!(x.action, Action::Run(RunCommand::Shell(_)))
            && matches!(y.action, Action::Run(RunCommand::Shell(_)))
            && x.context == y.context
    }
}

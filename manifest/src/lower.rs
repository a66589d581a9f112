//! Manifest → planner problem.

use dockopt_planner::{Problem, Target as PlanTarget};

use crate::model::Manifest;

impl Manifest {
    /// The planning problem: one planner target per manifest target (same order), step ids
    /// equal to indexes into [`Manifest::steps`], bases fully qualified.
    #[must_use]
    pub fn problem(&self) -> Problem {
        Problem {
            costs: self.steps.iter().map(|s| s.time).collect(),
            targets: self
                .targets
                .iter()
                .map(|t| PlanTarget {
                    base: t.base.clone(),
                    steps: t.steps.clone(),
                    tail: t.finally.clone(),
                })
                .collect(),
            after: self.after.clone(),
        }
    }
}

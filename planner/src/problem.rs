//! The input of the planner: targets over step ids, step costs, precedence pairs.

use thiserror::Error;

/// Index of a step in [`Problem::costs`]. Two targets hold the same step exactly when they hold
/// the same id; the caller decides what "same" means (dockopt: same kind, text and context).
pub type StepId = usize;

/// One build target: a base, a set of steps whose order the planner chooses, and a fixed tail.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Opaque key of the base image; steps on different bases never share a trie node.
    pub base: String,
    /// The reorderable steps, as the user listed them (the as-listed order is only used to
    /// report what the user's own order would cost).
    pub steps: Vec<StepId>,
    /// Steps that run after all of `steps`, in this order.
    pub tail: Vec<StepId>,
}

/// A planning problem: the planner's whole view of the world.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Problem {
    /// Cost (estimated seconds) of each step, indexed by [`StepId`].
    pub costs: Vec<f64>,
    /// The targets, in a canonical order chosen by the caller.
    pub targets: Vec<Target>,
    /// `(a, b)`: wherever a target holds both `a` and `b` among its reorderable steps, `a` runs first.
    pub after: Vec<(StepId, StepId)>,
}

/// A problem the planner cannot take. Callers that lower user input validate first and give
/// better messages; these are the planner's own guards.
#[derive(Debug, Error, PartialEq)]
pub enum ProblemError {
    /// A step id is not below `costs.len()`.
    #[error("target {target}: step id {step} has no cost")]
    UnknownStep {
        /// Index of the target.
        target: usize,
        /// The unknown id.
        step: StepId,
    },
    /// A cost is negative, infinite or NaN.
    #[error("step {step}: cost {cost} is not a finite number ≥ 0")]
    BadCost {
        /// The step.
        step: StepId,
        /// Its cost.
        cost: f64,
    },
    /// A target holds a step twice.
    #[error("target {target}: step {step} appears twice")]
    DuplicateStep {
        /// Index of the target.
        target: usize,
        /// The repeated step.
        step: StepId,
    },
    /// The precedence pairs form a cycle.
    #[error("the ordering constraints form a cycle through steps {cycle:?}")]
    Cycle {
        /// The steps of the cycle, each before the next, the last before the first.
        cycle: Vec<StepId>,
    },
    /// The effort is not a finite number of work units ≥ 0.
    #[error("the effort must be a finite number of work units, at least 0, found {0}")]
    Effort(f64),
    /// The exact method was asked for a group larger than the effort budget allows.
    #[error(
        "a group of {targets} targets ({items} distinct step sets) is too large for the exact method within this effort"
    )]
    TooLarge {
        /// Targets in the group.
        targets: usize,
        /// Distinct step sets in the group.
        items: usize,
    },
    /// A method's model could not be built or solved (the clique MIP).
    #[error("{0}")]
    Model(String),
    /// A precedence pair names an unknown step.
    #[error("ordering constraint ({0}, {1}) names a step with no cost")]
    UnknownAfter(StepId, StepId),
}

impl Problem {
    /// Checks ids, costs, duplicates and cycles.
    pub fn validate(&self) -> Result<(), ProblemError> {
        let m = self.costs.len();
        for (step, &cost) in self.costs.iter().enumerate() {
            if !cost.is_finite() || cost < 0.0 {
                return Err(ProblemError::BadCost { step, cost });
            }
        }
        for (t, target) in self.targets.iter().enumerate() {
            let mut seen = vec![false; m];
            for &s in target.steps.iter().chain(&target.tail) {
                if s >= m {
                    return Err(ProblemError::UnknownStep { target: t, step: s });
                }
                if std::mem::replace(&mut seen[s], true) {
                    return Err(ProblemError::DuplicateStep { target: t, step: s });
                }
            }
        }
        for &(a, b) in &self.after {
            if a >= m || b >= m {
                return Err(ProblemError::UnknownAfter(a, b));
            }
        }
        if let Some(cycle) = crate::precedence::find_cycle(m, &self.after) {
            return Err(ProblemError::Cycle { cycle });
        }
        Ok(())
    }

    /// Every target's steps in the order the caller listed them, then its tail.
    #[must_use]
    pub fn listed_orders(&self) -> Vec<Vec<StepId>> {
        self.targets
            .iter()
            .map(|t| t.steps.iter().chain(&t.tail).copied().collect())
            .collect()
    }

    /// Cost of running every target's steps with no sharing at all.
    #[must_use]
    pub fn no_sharing_cost(&self) -> f64 {
        self.targets
            .iter()
            .flat_map(|t| t.steps.iter().chain(&t.tail))
            .map(|&s| self.costs[s])
            .fold(0.0, |a, c| a + c)
    }

    /// Every distinct step of a base runs at least once on that base.
    #[must_use]
    pub fn distinct_step_bound(&self) -> f64 {
        let mut seen = std::collections::BTreeSet::new();
        let mut total = 0.0;
        for t in &self.targets {
            for &s in t.steps.iter().chain(&t.tail) {
                if seen.insert((t.base.as_str(), s)) {
                    total += self.costs[s];
                }
            }
        }
        total
    }
}

//! dockopt-project: the one edge between text and a plan.
//!
//! [`plan`] takes a manifest's text with its lock and times store (when present) and returns
//! the validated manifest, the plan and its trie. The CLI, the frontend and the tests all plan
//! through it, so every command shows the orders the build uses.
//!
//! Pure: text in, values out. It never reads files (the CLI reads them from disk, the frontend
//! through BuildKit), prints or looks at a clock.

mod key;
mod lock;
mod times;

use std::collections::BTreeMap;

use dockopt_manifest::Manifest;
use dockopt_planner::{Options, Plan, Problem, ProblemError, StepId, Trie};

pub use key::{step_key, step_keys, time_key};
pub use lock::{Lock, LockedTarget};
pub use times::{Entry, Times};

/// The file names beside a manifest.
#[must_use]
pub fn lock_name(manifest: &str) -> String {
    format!("{manifest}.lock")
}

/// The times store's name beside a manifest.
#[must_use]
pub fn times_name(manifest: &str) -> String {
    format!("{manifest}.times.json")
}

/// What to plan.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    /// The manifest's file name, for messages.
    pub file: &'a str,
    /// The manifest's text.
    pub text: &'a str,
    /// `--build-arg` values.
    pub build_args: &'a BTreeMap<String, String>,
    /// The lock's text, when there is one and it should be kept.
    pub lock: Option<&'a str>,
    /// The times store's text, when there is one.
    pub times: Option<&'a str>,
    /// Planner settings (for the targets the lock does not pin).
    pub options: Options,
}

/// How the lock was used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockUse {
    /// Targets planned exactly as locked.
    pub kept: Vec<String>,
    /// Targets whose locked order no longer fits the manifest (a step edited, added or
    /// removed, the base changed, an `after` broken): planned anew on top of the kept ones.
    pub repaired: Vec<String>,
    /// Targets the lock does not name.
    pub new: Vec<String>,
}

/// A planned manifest.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The planning problem, with measured times where the store has them.
    pub problem: Problem,
    /// The plan.
    pub plan: Plan,
    /// The prefix tree of the plan's orders.
    pub trie: Trie,
    /// Per step (manifest index), its key.
    pub keys: Vec<String>,
    /// Per step, whether its time was measured (else it is the manifest's estimate).
    pub measured: Vec<bool>,
    /// How the lock was used (`None` without a lock).
    pub lock: Option<LockUse>,
    /// Things the user should know (a named step no target lists, a corrupt times store).
    pub warnings: Vec<Warning>,
}

/// Something the user should know that does not stop the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file it is about (the manifest, the times store).
    pub file: String,
    /// Where in the manifest, when it is about a line of it.
    pub at: Option<dockopt_manifest::Span>,
    /// What, without the place.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(at) => write!(
                f,
                "{}:{}:{}: {}",
                self.file, at.line, at.column, self.message
            ),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Why planning failed.
#[derive(Debug, PartialEq)]
pub enum Error {
    /// The manifest is wrong: the rendered diagnostics (file, line, column, field, snippet) and
    /// the diagnostics themselves.
    Manifest(String, dockopt_manifest::Diagnostics),
    /// The lock is not a lock: file, line and column where known.
    Lock(String),
    /// The planner refused (a method's limits, or an internal inconsistency).
    Planner(ProblemError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Manifest(m, _) | Error::Lock(m) => f.write_str(m.trim_end()),
            Error::Planner(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses, applies measured times and the lock, and plans.
///
/// # Errors
/// A manifest or lock that is wrong, or a planner limit (see [`Error`]).
pub fn plan(input: &Input<'_>) -> Result<Planned, Error> {
    let manifest = dockopt_manifest::parse(input.file, input.text, input.build_args)
        .map_err(|d| Error::Manifest(d.render(input.text), d))?;
    let mut warnings: Vec<Warning> = manifest
        .unused_steps
        .iter()
        .map(|(name, at)| Warning {
            file: input.file.to_owned(),
            at: Some(*at),
            message: format!("step `{name}` is listed by no target; it is not built"),
        })
        .collect();
    let keys: Vec<String> = step_keys(&manifest);
    let mut problem = manifest.problem();
    let mut measured = vec![false; manifest.steps.len()];
    if let Some(text) = input.times {
        let (times, warning) = Times::parse(&times_name(input.file), text);
        warnings.extend(warning);
        apply_times(&mut problem, &keys, &times, &mut measured);
    }
    let (plan, lock) = match input.lock {
        Some(text) => {
            let lock = Lock::parse(&lock_name(input.file), text).map_err(Error::Lock)?;
            let kept = kept_orders(&manifest, &keys, &lock);
            let e = dockopt_planner::solve_keeping(&problem, &kept, &input.options)
                .map_err(Error::Planner)?;
            let names = |ts: &[usize]| -> Vec<String> {
                ts.iter()
                    .map(|&t| manifest.targets[t].name.clone())
                    .collect()
            };
            let used = LockUse {
                kept: names(&e.kept),
                repaired: names(&e.repaired),
                new: names(&e.new),
            };
            (e.plan, Some(used))
        }
        None => (
            dockopt_planner::solve(&problem, &input.options).map_err(Error::Planner)?,
            None,
        ),
    };
    let trie = Trie::build(&problem, &plan.orders);
    check_squashed_layers(&manifest, &trie, input)?;
    Ok(Planned {
        manifest,
        problem,
        plan,
        trie,
        keys,
        measured,
        lock,
        warnings,
    })
}

/// A `squash: true` target's layers depend on its plan (what it shares stays a layer of its
/// own): over the manifest's `layers:` budget is an error at the target, as for other targets.
fn check_squashed_layers(manifest: &Manifest, trie: &Trie, input: &Input<'_>) -> Result<(), Error> {
    let limit = manifest.layer_limit;
    if limit == 0 {
        return Ok(());
    }
    let errors: Vec<dockopt_manifest::Diagnostic> = manifest
        .targets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.squash)
        .filter_map(|(i, t)| {
            let count = manifest.layers(trie, i).len();
            (count > limit).then(|| dockopt_manifest::Diagnostic {
                span: t.span,
                field: format!("targets.{}", t.name),
                message: format!(
                    "target `{}` adds {count} layers after squashing (each step it shares, and each run of its own steps one op can hold), over the limit of {limit}",
                    t.name
                ),
                help: Some(
                    "merge its own steps into fewer `run`s with one context, or raise `layers:`"
                        .into(),
                ),
            })
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let d = dockopt_manifest::Diagnostics {
        file: input.file.to_owned(),
        errors,
    };
    Err(Error::Manifest(d.render(input.text), d))
}

/// Replaces estimates by measurements: a step's cost is the mean of what was measured on the
/// bases of the targets that hold it.
fn apply_times(problem: &mut Problem, keys: &[String], times: &Times, measured: &mut [bool]) {
    let mut bases: Vec<Vec<&str>> = vec![Vec::new(); keys.len()];
    for t in &problem.targets {
        for &s in t.steps.iter().chain(&t.tail) {
            if !bases[s].contains(&t.base.as_str()) {
                bases[s].push(t.base.as_str());
            }
        }
    }
    let mut costs = problem.costs.clone();
    for (s, key) in keys.iter().enumerate() {
        let seen: Vec<f64> = bases[s]
            .iter()
            .filter_map(|b| times.seconds(&time_key(key, b)))
            .collect();
        if !seen.is_empty() {
            costs[s] = seen.iter().sum::<f64>() / seen.len() as f64;
            measured[s] = true;
        }
    }
    problem.costs = costs;
}

/// Per target, its locked order in step ids (`None` when the lock does not name it). A locked
/// step that no longer exists, or a changed base, makes an order the planner rejects (and so
/// repairs) by leaving it short.
fn kept_orders(manifest: &Manifest, keys: &[String], lock: &Lock) -> Vec<Option<Vec<StepId>>> {
    let by_key: BTreeMap<&str, StepId> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    manifest
        .targets
        .iter()
        .map(|t| {
            let locked = lock.targets.get(&t.name)?;
            if locked.base != t.base {
                return Some(Vec::new());
            }
            Some(
                locked
                    .steps
                    .iter()
                    .filter_map(|(k, _)| by_key.get(k.as_str()).copied())
                    .collect(),
            )
        })
        .collect()
}

impl Planned {
    /// The lock that pins this plan.
    #[must_use]
    pub fn lock(&self) -> Lock {
        let targets = self
            .manifest
            .targets
            .iter()
            .zip(&self.plan.orders)
            .map(|(t, order)| {
                let steps = order
                    .iter()
                    .map(|&s| (self.keys[s].clone(), self.manifest.steps[s].label()))
                    .collect();
                (
                    t.name.clone(),
                    LockedTarget {
                        base: t.base.clone(),
                        steps,
                    },
                )
            })
            .collect();
        Lock { targets }
    }

    /// The target named `name`, by index, or a message with the closest names.
    ///
    /// # Errors
    /// No target has that name.
    pub fn target(&self, name: &str) -> Result<usize, String> {
        self.manifest.target_index(name)
    }
}

#[cfg(test)]
mod tests;

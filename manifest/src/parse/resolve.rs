//! Resolution: steps interned by content, names resolved, then the checks that need the whole manifest (layers, stages, orders).

use std::collections::{BTreeMap, BTreeSet};

use dockopt_diagnostics::{Span, did_you_mean};
use marked_yaml::types::MarkedMappingNode;

use crate::model::{Step, Target};

use super::*;

impl Parser {
    /// Interns declarations into distinct steps; returns the steps, the `after` pairs and the
    /// id of each declaration.
    #[allow(clippy::type_complexity)]
    pub(super) fn intern(
        &mut self,
        decls: &[Decl],
    ) -> Option<(Vec<Step>, Vec<(usize, usize)>, Vec<usize>)> {
        let mut by_key: BTreeMap<&StepKey, Vec<usize>> = BTreeMap::new();
        for (i, d) in decls.iter().enumerate() {
            by_key.entry(&d.key).or_default().push(i);
        }
        let mut ids = vec![0usize; decls.len()];
        let mut steps = Vec::with_capacity(by_key.len());
        for (id, (key, members)) in by_key.iter().enumerate() {
            for &i in members {
                ids[i] = id;
            }
            let name = members.iter().filter_map(|&i| decls[i].name.clone()).min();
            let time = members
                .iter()
                .filter_map(|&i| decls[i].time)
                .fold(None, |acc: Option<f64>, t| {
                    Some(acc.map_or(t, |a| a.max(t)))
                });
            let span = members
                .iter()
                .map(|&i| decls[i].span)
                .min()
                .unwrap_or_default();
            steps.push(Step {
                name,
                action: key.0.clone(),
                context: key.1.clone(),
                time: time.unwrap_or(1.0),
                span,
            });
        }
        // Names → step ids; a name must not name two different steps.
        let mut names: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (i, d) in decls.iter().enumerate() {
            let Some(name) = &d.name else { continue };
            match names.get(name.as_str()) {
                Some(&(id, first)) if id != ids[i] => {
                    let other = &decls[first];
                    self.error(
                        d.span,
                        &d.field,
                        format!(
                            "step name `{name}` already names a different step (at line {}, `{}`)",
                            other.span.line, other.field
                        ),
                        Some("give one of them another name".into()),
                    );
                }
                Some(_) => {}
                None => {
                    names.insert(name, (ids[i], i));
                }
            }
        }
        let mut after = BTreeSet::new();
        for (i, d) in decls.iter().enumerate() {
            for (name, span, field) in &d.after {
                match names.get(name.as_str()) {
                    Some(&(pred, _)) => {
                        after.insert((pred, ids[i]));
                    }
                    None if self.broken_steps.contains(name) => {}
                    None => {
                        let help = did_you_mean(name, names.keys().copied());
                        self.error(*span, field, format!("no step is named `{name}`"), help);
                    }
                }
            }
        }
        self.name_lookup = names
            .iter()
            .map(|(&n, &(id, _))| (n.to_owned(), id))
            .collect();
        Some((steps, after.into_iter().collect(), ids))
    }

    pub(super) fn resolve_entry(
        &mut self,
        entry: &Entry,
        _decls: &[Decl],
        ids: &[usize],
        target: &str,
        what: &str,
    ) -> Option<usize> {
        match entry {
            Entry::Inline(i) => Some(ids[*i]),
            Entry::Ref { name, span, field } => {
                if let Some(&id) = self.name_lookup.get(name) {
                    return Some(id);
                }
                if self.broken_steps.contains(name) {
                    // Its declaration was reported; its uses are not new errors.
                    return None;
                }
                let help =
                    did_you_mean(name, self.name_lookup.keys().map(String::as_str)).or_else(|| {
                        Some(
                            "declare it under `steps:`, or write the step inline as a mapping"
                                .into(),
                        )
                    });
                self.error(
                    *span,
                    field,
                    format!("target `{target}` {what}: no step is named `{name}`"),
                    help,
                );
                None
            }
        }
    }

    /// Every step is a layer: a target with more than `layers:` (default
    /// [`DEFAULT_LAYER_LIMIT`]; 0: no budget) steps and `finally` steps is an error at its name.
    pub(super) fn check_layers(&mut self, top: &MarkedMappingNode, targets: &[Target]) {
        let mut limit = DEFAULT_LAYER_LIMIT;
        if let Some(n) = top.get_node("layers")
            && let Some(s) = self.scalar(n, "layers", "a number of layers")
        {
            match s.as_str().parse::<usize>() {
                // 0: no budget (planning experiments; Docker refuses such images).
                Ok(0) => {
                    self.layer_limit = 0;
                    return;
                }
                Ok(l) if l <= DOCKER_LAYER_LIMIT => limit = l,
                _ => {
                    self.error(
                        Span::of(s.span()),
                        "layers",
                        format!(
                            "expected a number of layers from 1 to {DOCKER_LAYER_LIMIT} (Docker's limit), or 0 for no budget, found `{}`",
                            s.as_str()
                        ),
                        None,
                    );
                    return;
                }
            }
        }
        self.layer_limit = limit;
        // A squashed target's layers depend on its plan: `dockopt_project` checks them.
        for t in targets.iter().filter(|t| !t.squash) {
            let count = t.steps.len() + t.finally.len();
            if count > limit {
                self.error(
                    t.span,
                    &format!("targets.{}", t.name),
                    format!(
                        "target `{}` adds {count} layers (one per step), over the limit of {limit}",
                        t.name
                    ),
                    Some(format!(
                        "merge steps that always run together into one `run`, or raise `layers:` (Docker allows {DOCKER_LAYER_LIMIT}, the base image's layers included)"
                    )),
                );
            }
        }
    }

    /// Every stage a step reads names a target; no target reads itself, directly or through
    /// other stages.
    pub(super) fn check_stages(
        &mut self,
        steps: &[Step],
        targets: &[Target],
        decls: &[Decl],
        ids: &[usize],
    ) {
        let index: BTreeMap<&str, usize> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        let mut unknown = false;
        for d in decls {
            for (name, span, field) in &d.stages {
                if !index.contains_key(name.as_str()) {
                    unknown = true;
                    let stages = targets.iter().filter(|t| t.stage).map(|t| t.name.as_str());
                    let help = did_you_mean(name, stages)
                        .or_else(|| did_you_mean(name, index.keys().copied()))
                        .or_else(|| {
                            Some(format!(
                                "declare a target `{name}` with `stage: true`, or give an image with its tag (`{name}:latest`)"
                            ))
                        });
                    self.error(*span, field, format!("no stage is named `{name}`"), help);
                }
            }
        }
        if unknown {
            return;
        }
        // Edges target → the targets its steps read; a depth-first search finds a cycle.
        let reads = |t: usize| -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            for &s in targets[t].steps.iter().chain(&targets[t].finally) {
                for name in steps[s].stages() {
                    if let Some(&i) = index.get(name) {
                        out.push((i, s));
                    }
                }
            }
            out
        };
        // 0: unvisited, 1: on the path, 2: done.
        let mut state = vec![0u8; targets.len()];
        for start in 0..targets.len() {
            if state[start] != 0 {
                continue;
            }
            // (target, its edges (target read, via step), next edge to follow)
            let mut path: Vec<Frame> = vec![(start, reads(start), 0)];
            state[start] = 1;
            while let Some(top) = path.last_mut() {
                let Some(&(next, via)) = top.1.get(top.2) else {
                    state[top.0] = 2;
                    path.pop();
                    continue;
                };
                top.2 += 1;
                let from = top.0;
                match state[next] {
                    0 => {
                        state[next] = 1;
                        path.push((next, reads(next), 0));
                    }
                    1 => {
                        let at = path.iter().position(|p| p.0 == next).unwrap_or(0);
                        let mut chain: Vec<&str> = path[at..]
                            .iter()
                            .map(|p| targets[p.0].name.as_str())
                            .collect();
                        chain.push(&targets[next].name);
                        let (span, field) = decls
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| ids.get(*i) == Some(&via))
                            .flat_map(|(_, d)| &d.stages)
                            .find(|(n, _, _)| *n == targets[next].name)
                            .map_or_else(
                                || {
                                    (
                                        targets[from].span,
                                        format!("targets.{}", targets[from].name),
                                    )
                                },
                                |(_, sp, f)| (*sp, f.clone()),
                            );
                        let message = if from == next {
                            format!("target `{}` copies from itself", targets[from].name)
                        } else {
                            format!(
                                "stages read each other in a cycle: {} (each needs the next built first)",
                                chain
                                    .iter()
                                    .map(|n| format!("`{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(" → ")
                            )
                        };
                        self.error(span, &field, message, None);
                        return;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Cycles in `after`, and `after` pairs a target's fixed `finally` order contradicts.
    pub(super) fn check_order(
        &mut self,
        steps: &[Step],
        after: &[(usize, usize)],
        targets: &[Target],
        decls: &[Decl],
    ) {
        let problem = dockopt_planner::Problem {
            costs: vec![0.0; steps.len()],
            targets: Vec::new(),
            after: after.to_vec(),
        };
        if let Err(dockopt_planner::ProblemError::Cycle { cycle }) = problem.validate() {
            let names: Vec<String> = cycle
                .iter()
                .map(|&s| format!("`{}`", steps[s].label()))
                .collect();
            let first = &steps[cycle[0]];
            let span = decls
                .iter()
                .find(|d| d.name.as_deref() == first.name.as_deref() && !d.after.is_empty())
                .map_or(first.span, |d| d.after[0].1);
            let mut chain = names.join(" → ");
            chain.push_str(&format!(" → {}", names[0]));
            self.error(
                span,
                "after",
                format!(
                    "the `after` constraints form a cycle: {chain} (each must run before the next)"
                ),
                None,
            );
            return;
        }
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
        for &(a, b) in after {
            succ[a].push(b);
        }
        let reaches = |from: usize, to: usize| {
            let mut seen = vec![false; steps.len()];
            let mut stack = vec![from];
            while let Some(x) = stack.pop() {
                for &y in &succ[x] {
                    if y == to {
                        return true;
                    }
                    if !std::mem::replace(&mut seen[y], true) {
                        stack.push(y);
                    }
                }
            }
            false
        };
        for t in targets {
            for (i, &f) in t.finally.iter().enumerate() {
                let later_steps = t.steps.iter().chain(&t.finally[..i]);
                if let Some(&b) = later_steps.clone().find(|&&b| reaches(f, b)) {
                    self.error(
                        t.span,
                        &format!("targets.{}.finally", t.name),
                        format!(
                            "`{}` must run before `{}` (by `after`), but target `{}` runs it later, in `finally`",
                            steps[f].label(),
                            steps[b].label(),
                            t.name
                        ),
                        None,
                    );
                }
            }
        }
    }
}

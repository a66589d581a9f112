//! The peers' instance JSON (`{"targets": {name: {base, commands}}, "times": {...}, "after": [...]}`)
//! to and from a planner problem.

use std::collections::BTreeMap;

use dockopt_planner::{Problem, Target};
use serde_json::{Value, json};

/// An instance's planning problem.
pub(crate) struct Instance {
    pub(crate) problem: Problem,
}

/// Reads the peers' format; targets sorted by name, steps by command name.
pub(crate) fn from_json(name: &str, text: &str) -> Result<Instance, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let times = v["times"].as_object().ok_or(format!("{name}: no times"))?;
    let ids: Vec<&String> = times.keys().collect();
    let id_of = |c: &str| {
        ids.binary_search_by(|k| k.as_str().cmp(c))
            .map_err(|_| format!("{name}: command {c} has no time"))
    };
    let costs = ids
        .iter()
        .map(|k| times[k.as_str()].as_f64().unwrap_or(0.0))
        .collect();
    let targets_json = v["targets"]
        .as_object()
        .ok_or(format!("{name}: no targets"))?;
    let mut targets = Vec::new();
    for t in targets_json.values() {
        let mut steps = Vec::new();
        for c in t["commands"].as_array().into_iter().flatten() {
            steps.push(id_of(c.as_str().unwrap_or_default())?);
        }
        targets.push(Target {
            base: t["base"].as_str().unwrap_or_default().to_owned(),
            steps,
            tail: Vec::new(),
        });
    }
    let mut after = Vec::new();
    for pair in v["after"].as_array().into_iter().flatten() {
        let a = id_of(pair[0].as_str().unwrap_or_default())?;
        let b = id_of(pair[1].as_str().unwrap_or_default())?;
        after.push((a, b));
    }
    Ok(Instance {
        problem: Problem {
            costs,
            targets,
            after,
        },
    })
}

/// Writes a problem in the peers' format (step `k` is command `s{k}`); tails become the last
/// commands (the peers know no fixed tails).
pub(crate) fn to_json(problem: &Problem, names: &[String]) -> String {
    let cmd = |s: usize| format!("s{s:04}");
    let targets: BTreeMap<&str, Value> = names
        .iter()
        .zip(&problem.targets)
        .map(|(n, t)| {
            let commands: Vec<String> = t.steps.iter().chain(&t.tail).map(|&s| cmd(s)).collect();
            (n.as_str(), json!({"base": t.base, "commands": commands}))
        })
        .collect();
    let times: BTreeMap<String, f64> = (0..problem.costs.len())
        .map(|s| (cmd(s), problem.costs[s]))
        .collect();
    let after: Vec<[String; 2]> = problem
        .after
        .iter()
        .map(|&(a, b)| [cmd(a), cmd(b)])
        .collect();
    json!({"targets": targets, "times": times, "after": after}).to_string()
}

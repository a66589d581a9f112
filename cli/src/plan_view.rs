//! Renderings of a plan: a tree for people, JSON for machines.

use std::collections::BTreeMap;
use std::fmt::Write;

use dockopt_project::Planned;
use serde::Serialize;

#[derive(Serialize)]
struct JsonPlan<'a> {
    cost: f64,
    as_listed_cost: f64,
    no_sharing_cost: f64,
    lower_bound: f64,
    /// How far the plan can be above the optimum: cost / lower bound − 1.
    gap: f64,
    optimal: bool,
    /// Steps whose time was measured by earlier builds; the others are the manifest's estimates.
    steps_measured: usize,
    steps_estimated: usize,
    /// How the lock was used (absent without a lock).
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<JsonLock<'a>>,
    /// Steps that really run (trie nodes).
    steps_run: usize,
    /// Steps the targets list in all (no sharing).
    steps_listed: usize,
    targets: BTreeMap<&'a str, JsonTarget<'a>>,
    groups: Vec<JsonGroup<'a>>,
}

#[derive(Serialize)]
struct JsonLock<'a> {
    kept: &'a [String],
    repaired: &'a [String],
    new: &'a [String],
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    base: &'a str,
    steps: Vec<String>,
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    base: &'a str,
    targets: Vec<&'a str>,
    method: &'static str,
    optimal: bool,
    cost: f64,
    lower_bound: f64,
}

/// The plan as JSON (one document, a trailing newline).
pub(crate) fn json(planned: &Planned, only: Option<&str>) -> String {
    let (manifest, plan, trie) = (&planned.manifest, &planned.plan, &planned.trie);
    let targets = manifest
        .targets
        .iter()
        .zip(&plan.orders)
        .filter(|(t, _)| only.is_none_or(|o| o == t.name))
        .map(|(t, order)| {
            let steps = order.iter().map(|&s| manifest.steps[s].label()).collect();
            (
                t.name.as_str(),
                JsonTarget {
                    base: &t.base,
                    steps,
                },
            )
        })
        .collect();
    let groups = plan
        .groups
        .iter()
        .map(|g| JsonGroup {
            base: &g.base,
            targets: g
                .targets
                .iter()
                .map(|&t| manifest.targets[t].name.as_str())
                .collect(),
            method: g.method.name(),
            optimal: g.optimal,
            cost: g.cost,
            lower_bound: g.lower_bound,
        })
        .collect();
    let doc = JsonPlan {
        cost: plan.cost,
        as_listed_cost: plan.as_listed_cost,
        no_sharing_cost: plan.no_sharing_cost,
        lower_bound: plan.lower_bound,
        gap: (plan.gap() * 1e6).round() / 1e6,
        optimal: plan.optimal,
        steps_measured: planned.measured.iter().filter(|&&m| m).count(),
        steps_estimated: planned.measured.iter().filter(|&&m| !m).count(),
        lock: planned.lock.as_ref().map(|l| JsonLock {
            kept: &l.kept,
            repaired: &l.repaired,
            new: &l.new,
        }),
        steps_run: trie.step_count(),
        steps_listed: plan.orders.iter().map(Vec::len).sum(),
        targets,
        groups,
    };
    let mut out =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// Seconds for people: `20 s`, `1.5 s`, `2 min 05 s`, `2 h 05 min` (the one duration format
/// of every view: plans, builds, explanations).
pub(crate) fn seconds(t: f64) -> String {
    if t >= 7200.0 {
        let whole = t.round() as u64;
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    } else if t >= 120.0 {
        let whole = t.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else if (t - t.round()).abs() < 1e-9 {
        format!("{t:.0} s")
    } else {
        format!("{t:.1} s")
    }
}

fn percent(saved: f64, of: f64) -> String {
    if of > 0.0 {
        format!("{:.1} %", 100.0 * saved / of)
    } else {
        "0 %".into()
    }
}

fn shorten(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// The plan as a tree per base, then the numbers.
/// `1 target`, `2 targets`: a count and its noun, plural when it is not one.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub(crate) fn text(planned: &Planned, only: Option<&str>) -> String {
    let (manifest, plan, trie) = (&planned.manifest, &planned.plan, &planned.trie);
    let only_index = only.and_then(|o| manifest.targets.iter().position(|t| t.name == o));
    let mut out = String::new();
    for root in trie.roots() {
        let node = &trie.nodes[root];
        if only_index.is_some_and(|t| !node.targets.contains(&t)) {
            continue;
        }
        let _ = writeln!(
            out,
            "{}  ({})",
            node.base,
            count(node.targets.len(), "target")
        );
        draw(planned, root, only_index, &mut out);
        out.push('\n');
    }
    let cost = plan.cost;
    let _ = writeln!(
        out,
        "predicted build time  {}  ({} run for {} listed)",
        seconds(cost),
        count(trie.step_count(), "step"),
        plan.orders.iter().map(Vec::len).sum::<usize>()
    );
    for (label, against) in [
        ("as listed ", plan.as_listed_cost),
        ("no sharing", plan.no_sharing_cost),
    ] {
        let _ = writeln!(
            out,
            "{label}            {}  saves {} ({})",
            seconds(against),
            seconds(against - cost),
            percent(against - cost, against)
        );
    }
    let proof = if plan.optimal && plan.groups.iter().any(|g| g.exact_work > 0.0) {
        "optimal (proven by the exact method)".to_owned()
    } else if plan.optimal {
        "optimal (it meets the lower bound)".to_owned()
    } else {
        format!(
            "at most {} above the optimum",
            percent(cost - plan.lower_bound, plan.lower_bound)
        )
    };
    let _ = writeln!(
        out,
        "lower bound           {}  plan is {proof}",
        seconds(plan.lower_bound)
    );
    let measured = planned.measured.iter().filter(|&&m| m).count();
    let _ = writeln!(
        out,
        "step times            {measured} measured, {} estimated (~) from the manifest's `time:`",
        planned.measured.len() - measured
    );
    if let Some(lock) = &planned.lock {
        let _ = writeln!(
            out,
            "lock                  {} kept, {} new{}",
            lock.kept.len(),
            lock.new.len(),
            if lock.repaired.is_empty() {
                String::new()
            } else {
                format!(", repaired: {}", lock.repaired.join(", "))
            }
        );
    }
    out
}

/// `plan --update` against the lock: what re-planning costs once and saves every build.
pub(crate) fn update_note(locked: &Planned, fresh: &Planned) -> String {
    // A fresh node must run again unless the locked trie has the same path (same base, same
    // steps in the same order) from its root.
    let paths = |p: &Planned| -> Vec<(String, Vec<usize>)> {
        p.trie
            .nodes
            .iter()
            .map(|n| {
                let mut steps = Vec::new();
                let mut at = Some(n);
                while let Some(x) = at {
                    steps.extend(x.step);
                    at = x.parent.map(|q| &p.trie.nodes[q]);
                }
                steps.reverse();
                (n.base.clone(), steps)
            })
            .collect()
    };
    let old: std::collections::BTreeSet<(String, Vec<usize>)> = paths(locked).into_iter().collect();
    let rebuild: f64 = paths(fresh)
        .into_iter()
        .zip(&fresh.trie.nodes)
        .filter(|(path, _)| !old.contains(path))
        .filter_map(|(_, n)| n.step)
        .map(|s| fresh.problem.costs[s])
        .sum();
    let changed = locked
        .plan
        .orders
        .iter()
        .zip(&fresh.plan.orders)
        .filter(|(a, b)| a != b)
        .count();
    format!(
        "update: {changed} of {} change order; one-off rebuild {} of steps not in the cache; every full build after: {} instead of {} (saves {})\n",
        count(fresh.plan.orders.len(), "target"),
        seconds(rebuild),
        seconds(fresh.plan.cost),
        seconds(locked.plan.cost),
        seconds(locked.plan.cost - fresh.plan.cost)
    )
}

/// Levels of the tree drawn with their own indentation; deeper levels are drawn at this depth
/// with a `…` mark, so a very deep plan stays readable and its text stays linear in size.
const MAX_INDENT: usize = 32;

/// Draws the tree below `root` without recursion. A straight chain (one child, the same
/// variants, no image ending inside) is folded into one line: `a → b → c (3 steps, 31 s)`.
fn draw(planned: &Planned, root: usize, only: Option<usize>, out: &mut String) {
    let (manifest, trie) = (&planned.manifest, &planned.trie);
    let visible = |n: usize| -> Vec<usize> {
        trie.nodes[n]
            .children
            .iter()
            .copied()
            .filter(|&c| only.is_none_or(|t| trie.nodes[c].targets.contains(&t)))
            .collect()
    };
    // (node, its prefix, whether it is the last of its siblings, depth)
    let mut stack: Vec<(usize, String, bool, usize)> = Vec::new();
    let push_children =
        |stack: &mut Vec<(usize, String, bool, usize)>, n: usize, prefix: &str, depth: usize| {
            let children = visible(n);
            let count = children.len();
            for (i, c) in children.into_iter().enumerate().rev() {
                stack.push((c, prefix.to_owned(), i + 1 == count, depth));
            }
        };
    push_children(&mut stack, root, "", 0);
    while let Some((start, prefix, last, depth)) = stack.pop() {
        // Fold the chain that starts here.
        let mut chain = vec![start];
        loop {
            let tail = chain[chain.len() - 1];
            let next = visible(tail);
            if trie.nodes[tail].ends.is_empty()
                && next.len() == 1
                && trie.nodes[next[0]].targets == trie.nodes[start].targets
            {
                chain.push(next[0]);
            } else {
                break;
            }
        }
        let steps: Vec<usize> = chain.iter().filter_map(|&n| trie.nodes[n].step).collect();
        let end = chain[chain.len() - 1];
        let node = &trie.nodes[end];
        let timed = |s: usize| {
            format!(
                "{}{}",
                if planned.measured[s] { "" } else { "~" },
                seconds(planned.problem.costs[s])
            )
        };
        let mut line = format!("{prefix}{}", if last { "└─ " } else { "├─ " });
        if let [only_step] = steps.as_slice() {
            let _ = write!(
                line,
                "{}  {}",
                shorten(&manifest.steps[*only_step].label(), 60),
                timed(*only_step)
            );
        } else {
            let labels: Vec<String> = steps
                .iter()
                .map(|&s| shorten(&manifest.steps[s].label(), 24))
                .collect();
            let shown = if labels.len() > 6 {
                format!(
                    "{} → … → {}",
                    labels[..3].join(" → "),
                    labels[labels.len() - 2..].join(" → ")
                )
            } else {
                labels.join(" → ")
            };
            let total: f64 = steps.iter().map(|&s| planned.problem.costs[s]).sum();
            let guessed = steps.iter().any(|&s| !planned.measured[s]);
            let _ = write!(
                line,
                "{shown}  ({}, {}{})",
                count(steps.len(), "step"),
                if guessed { "~" } else { "" },
                seconds(total)
            );
        }
        if node.targets.len() > 1 {
            let _ = write!(line, "  shared by {}", node.targets.len());
        }
        if !node.ends.is_empty() {
            let names: Vec<String> = node
                .ends
                .iter()
                .map(|&t| {
                    let t = &manifest.targets[t];
                    if t.stage {
                        format!("{} (stage)", t.name)
                    } else {
                        t.name.clone()
                    }
                })
                .collect();
            let _ = write!(line, "  ⇒ {}", names.join(", "));
        }
        out.push_str(&line);
        out.push('\n');
        let deeper = if depth + 1 >= MAX_INDENT {
            // Past the indentation limit, levels share one column, marked.
            let mut p = prefix.clone();
            if !p.ends_with('…') {
                p.push('…');
            }
            p
        } else {
            format!("{prefix}{}", if last { "   " } else { "│  " })
        };
        push_children(&mut stack, end, &deeper, depth + 1);
    }
}

/// The plan's trie as Graphviz DOT: one node per step that runs, labelled with the step, its
/// time and the targets that share it; targets as boxes at the nodes their images end at.
pub(crate) fn dot(planned: &Planned) -> String {
    let (manifest, trie) = (&planned.manifest, &planned.trie);
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let plan = &planned.plan;
    let mut out =
        String::from("digraph plan {\n  rankdir=LR;\n  node [shape=ellipse, fontsize=10];\n");
    let _ = writeln!(
        out,
        "  labelloc=t;\n  label=\"predicted {} (as listed {}, no sharing {}); shared steps filled\";",
        seconds(plan.cost),
        seconds(plan.as_listed_cost),
        seconds(plan.no_sharing_cost)
    );
    for (i, node) in trie.nodes.iter().enumerate() {
        let label = match node.step {
            None => format!("FROM {}", node.base),
            Some(s) => {
                let step = &manifest.steps[s];
                format!(
                    "{}\\n{}  ×{}",
                    quote(&shorten(&step.label(), 48)),
                    seconds(planned.problem.costs[s]),
                    node.targets.len()
                )
            }
        };
        let shape = if node.step.is_none() {
            ", shape=box, style=filled, fillcolor=lightgrey"
        } else if node.targets.len() > 1 {
            ", style=filled, fillcolor=lightblue"
        } else {
            ""
        };
        let _ = writeln!(out, "  n{i} [label=\"{label}\"{shape}];");
        if let Some(p) = node.parent {
            let _ = writeln!(out, "  n{p} -> n{i};");
        }
        for &t in &node.ends {
            let _ = writeln!(
                out,
                "  t{t} [label=\"{}\", shape=box, style=rounded];\n  n{i} -> t{t} [style=dashed];",
                quote(&manifest.targets[t].name)
            );
        }
    }
    out.push_str("}\n");
    out
}

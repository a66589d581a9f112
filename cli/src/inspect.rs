//! Views that explain what dockopt will do: the LLB decoded (`llb --format json|dot`), a
//! `docker-bake.json` for buildx users (`bake`), and why a step sits where it does (`explain`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use dockopt_project::Planned;
use dockopt_proto::pb;
use prost::Message;
use serde_json::{Value, json};

use crate::plan_view::seconds as secs;

/// One decoded op of a Definition.
struct DecodedOp {
    digest: String,
    op: pb::Op,
    name: Option<String>,
}

fn decode(def: &pb::Definition) -> Vec<DecodedOp> {
    def.def
        .iter()
        .filter_map(|bytes| {
            let op = pb::Op::decode(bytes.as_slice()).ok()?;
            let digest = dockopt_llb::digest_of(bytes);
            let name = def
                .metadata
                .get(&digest)
                .and_then(|m| m.description.get("llb.customname").cloned());
            Some(DecodedOp { digest, op, name })
        })
        .collect()
}

fn kind(op: &pb::Op) -> &'static str {
    match &op.op {
        Some(pb::op::Op::Exec(_)) => "exec",
        Some(pb::op::Op::Source(_)) => "source",
        Some(pb::op::Op::File(_)) => "file",
        Some(pb::op::Op::Merge(_)) => "merge",
        None => "terminal",
    }
}

/// The Definition as JSON: every op with its digest, inputs, what it does and the variants
/// whose images contain it.
pub(crate) fn llb_json(def: &pb::Definition, variants: &BTreeMap<String, Vec<String>>) -> String {
    let ops: Vec<Value> = decode(def)
        .into_iter()
        .map(|d| {
            let mut v = json!({
                "digest": d.digest,
                "kind": kind(&d.op),
                "inputs": d.op.inputs.iter().map(|i| json!({"digest": i.digest, "index": i.index})).collect::<Vec<_>>(),
            });
            if let Some(n) = &d.name {
                v["name"] = json!(n);
            }
            if let Some(vs) = variants.get(&d.digest) {
                v["variants"] = json!(vs);
            }
            match &d.op.op {
                Some(pb::op::Op::Exec(e)) => {
                    let meta = e.meta.clone().unwrap_or_default();
                    v["args"] = json!(meta.args);
                    v["env"] = json!(meta.env);
                    v["cwd"] = json!(meta.cwd);
                    v["user"] = json!(meta.user);
                    v["network"] = json!(match pb::NetMode::try_from(e.network) {
                        Ok(pb::NetMode::Host) => "host",
                        Ok(pb::NetMode::None) => "none",
                        _ => "default",
                    });
                    v["mounts"] = json!(
                        e.mounts
                            .iter()
                            .map(|m| json!({"input": m.input, "dest": m.dest, "output": m.output}))
                            .collect::<Vec<_>>()
                    );
                }
                Some(pb::op::Op::Source(s)) => {
                    v["identifier"] = json!(s.identifier);
                    if !s.attrs.is_empty() {
                        v["attrs"] = json!(s.attrs);
                    }
                }
                Some(pb::op::Op::File(f)) => {
                    v["copies"] = json!(
                        f.actions
                            .iter()
                            .filter_map(|a| match &a.action {
                                Some(pb::file_action::Action::Copy(c)) =>
                                    Some(json!({"src": c.src, "dest": c.dest})),
                                _ => None,
                            })
                            .collect::<Vec<_>>()
                    );
                }
                Some(pb::op::Op::Merge(_)) | None => {}
            }
            v
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({"ops": ops})).unwrap_or_default();
    out.push('\n');
    out
}

/// The Definition as Graphviz DOT: one node per op, edges from inputs.
pub(crate) fn llb_dot(def: &pb::Definition) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("digraph llb {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
    for d in decode(def) {
        let short = d.digest.get(7..19).unwrap_or(&d.digest);
        let label = d.name.clone().unwrap_or_else(|| kind(&d.op).to_owned());
        let label: String = label.chars().take(80).collect();
        let _ = writeln!(
            out,
            "  \"{short}\" [label=\"{}\\n{short}\"];",
            quote(&label)
        );
        for i in &d.op.inputs {
            let from = i.digest.get(7..19).unwrap_or(&i.digest);
            let _ = writeln!(out, "  \"{from}\" -> \"{short}\";");
        }
    }
    out.push_str("}\n");
    out
}

/// A `docker-bake.json`: one target per variant, a `default` group of all.
pub(crate) fn bake(
    planned: &Planned,
    context: &str,
    dockerfile: &str,
    prefix: &str,
    args: &BTreeMap<String, String>,
) -> String {
    let mut targets = serde_json::Map::new();
    let mut names = Vec::new();
    for (t, target) in planned.manifest.targets.iter().enumerate() {
        // A stage is built by the targets that read it; bake gets no target of its own.
        if target.stage {
            continue;
        }
        let tags = crate::build_cmd::tags_of(planned, t, prefix);
        let mut v = json!({
            "context": context,
            "dockerfile": dockerfile,
            "target": target.name,
            "tags": tags,
        });
        if !args.is_empty() {
            v["args"] = json!(args);
        }
        targets.insert(target.name.clone(), v);
        names.push(target.name.clone());
    }
    let doc = json!({
        "group": {"default": {"targets": names}},
        "target": targets,
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

/// `dockopt explain`: a variant's order step by step, or where a step runs and why there.
pub(crate) fn explain(planned: &Planned, what: &str) -> Result<String, String> {
    let m = &planned.manifest;
    // A name can be a variant and a step at once (`git`): then both are explained.
    let mut parts = Vec::new();
    if let Some(t) = m.targets.iter().position(|t| t.name == what) {
        parts.push(explain_variant(planned, t));
    }
    if let Some(s) = m
        .steps
        .iter()
        .position(|s| s.name.as_deref() == Some(what) || s.command_text() == what)
    {
        parts.push(explain_step(planned, s));
    }
    if !parts.is_empty() {
        return Ok(parts.join("\n"));
    }
    let names: Vec<&str> = m
        .targets
        .iter()
        .map(|t| t.name.as_str())
        .chain(m.steps.iter().filter_map(|s| s.name.as_deref()))
        .collect();
    let hint = dockopt_manifest::did_you_mean(what, names.iter().copied())
        .unwrap_or_else(|| "name a variant or a named step".to_owned());
    Err(format!("{}: no variant or step `{what}`; {hint}", m.file))
}

fn names(planned: &Planned, targets: &[usize]) -> String {
    targets
        .iter()
        .map(|&t| planned.manifest.targets[t].name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn explain_variant(planned: &Planned, t: usize) -> String {
    let m = &planned.manifest;
    let trie = &planned.trie;
    let mut path = Vec::new();
    let mut at = Some(trie.leaf_of[t]);
    while let Some(n) = at {
        path.push(n);
        at = trie.nodes[n].parent;
    }
    path.reverse();
    let mut out = format!(
        "{} {} on {}: {}\n",
        if m.targets[t].stage {
            "stage (built for the targets that read it, never tagged)"
        } else {
            "variant"
        },
        m.targets[t].name,
        m.targets[t].base,
        crate::plan_view::count(path.len() - 1, "step")
    );
    let (mut own, mut shared) = (0.0, 0.0);
    for (i, &n) in path.iter().skip(1).enumerate() {
        let node = &trie.nodes[n];
        let Some(s) = node.step else { continue };
        let cost = planned.problem.costs[s];
        let others: Vec<usize> = node.targets.iter().copied().filter(|&x| x != t).collect();
        let sharing = if others.is_empty() {
            own += cost;
            "its own".to_owned()
        } else {
            shared += cost;
            format!("shared with {}", names(planned, &others))
        };
        let _ = writeln!(
            out,
            "{:>3}. {}  {}{}  {sharing}",
            i + 1,
            m.steps[s].label(),
            if planned.measured[s] { "" } else { "~" },
            secs(cost)
        );
    }
    let _ = writeln!(
        out,
        "{} of its {} run once for every variant that shares them; {} are its own",
        secs(shared),
        secs(shared + own),
        secs(own)
    );
    out
}

fn explain_step(planned: &Planned, s: usize) -> String {
    let m = &planned.manifest;
    let trie = &planned.trie;
    let step = &m.steps[s];
    let cost = planned.problem.costs[s];
    let holders: Vec<usize> = m
        .targets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.steps.contains(&s) || t.finally.contains(&s))
        .map(|(i, _)| i)
        .collect();
    let nodes: Vec<usize> = (0..trie.nodes.len())
        .filter(|&n| trie.nodes[n].step == Some(s))
        .collect();
    let mut out = format!(
        "step {} ({}{}, {}): held by {}: {}\n",
        step.label(),
        if planned.measured[s] { "" } else { "~" },
        secs(cost),
        if planned.measured[s] {
            "measured"
        } else {
            "estimated"
        },
        crate::plan_view::count(holders.len(), "variant"),
        names(planned, &holders)
    );
    let _ = writeln!(
        out,
        "runs {} for {}: saves {} against running it in each",
        match nodes.len() {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        },
        crate::plan_view::count(holders.len(), "variant"),
        secs(cost * (holders.len() as f64 - nodes.len() as f64).max(0.0))
    );
    // Steps that must come before it, from `after` pairs (direct).
    let before: BTreeSet<usize> = m
        .after
        .iter()
        .filter(|&&(_, b)| b == s)
        .map(|&(a, _)| a)
        .collect();
    for &n in &nodes {
        let node = &trie.nodes[n];
        let mut prefix = Vec::new();
        let mut at = node.parent;
        while let Some(p) = at {
            prefix.extend(trie.nodes[p].step);
            at = trie.nodes[p].parent;
        }
        prefix.reverse();
        let _ = writeln!(
            out,
            "\nat position {} for {}:",
            prefix.len() + 1,
            names(planned, &node.targets)
        );
        if prefix.is_empty() {
            let _ = writeln!(
                out,
                "  first on {}: nothing needs to run before it",
                node.base
            );
            continue;
        }
        let labels: Vec<String> = prefix.iter().map(|&p| m.steps[p].label()).collect();
        let _ = writeln!(out, "  after {}", labels.join(" → "));
        let required: Vec<String> = prefix
            .iter()
            .filter(|p| before.contains(p))
            .map(|&p| m.steps[p].label())
            .collect();
        if !required.is_empty() {
            let _ = writeln!(out, "  must follow {} (`after`)", required.join(", "));
        }
        // Moving it up past the parent step would split the parent's sharing with variants
        // that do not hold this step.
        if let Some(parent) = node.parent
            && let Some(ps) = trie.nodes[parent].step
        {
            let without: Vec<usize> = trie.nodes[parent]
                .targets
                .iter()
                .copied()
                .filter(|x| !holders.contains(x))
                .collect();
            if !without.is_empty() {
                let _ = writeln!(
                    out,
                    "  not earlier: {} ({}) is shared with {}, which do not hold this step",
                    m.steps[ps].label(),
                    secs(planned.problem.costs[ps]),
                    names(planned, &without)
                );
            }
        }
        // Running it later would stop it being shared by the variants that pass here.
        if node.targets.len() > 1 {
            let _ = writeln!(
                out,
                "  not later: here {} variants share it; below, their paths part",
                node.targets.len()
            );
        }
    }
    out
}

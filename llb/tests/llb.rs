//! Manifest + plan → LLB: one op per trie node, shared prefixes are the same bytes, and the
//! same manifest always gives the same Definition.

use std::collections::BTreeMap;

use dockopt_llb::{BaseConfig, BuildOptions, all_of, build, digest_of, final_config};
use dockopt_manifest::Manifest;
use dockopt_planner::{Options, Plan, Trie};
use dockopt_proto::pb;
use prost::Message;

const TEXT: &str = "\
version: 1
defaults: {from: busybox}
steps:
  prep: {run: mkdir -p /tools}
  a: {run: echo a > /tools/a, after: [prep], time: 5, env: {A: '1'}}
  b: {run: echo b > /tools/b, after: [prep], time: 3, workdir: sub}
targets:
  ta: {steps: [prep, a], env: {X: '1'}, cmd: [cat, /tools/a], labels: {t: a}, expose: ['80']}
  tb: {steps: [b, prep, a], finally: [{copy: {src: [f1, f2], dest: d/}}]}
  tc: {from: 'alpine:3', steps: [prep]}
";

fn setup() -> (Manifest, Plan, BTreeMap<String, BaseConfig>) {
    let m = dockopt_manifest::parse("m.yaml", TEXT, &BTreeMap::new()).expect("valid");
    let plan = dockopt_planner::solve(&m.problem(), &Options::default()).expect("plan");
    let mut bases = BTreeMap::new();
    bases.insert(
        "docker.io/library/busybox:latest".to_owned(),
        BaseConfig {
            reference: "docker.io/library/busybox:latest".into(),
            config: serde_json::json!({"os": "linux", "architecture": "amd64",
                "config": {"Env": ["PATH=/bin", "HOME=/root"], "WorkingDir": "/w", "User": "0", "Cmd": ["sh"]}}),
        },
    );
    bases.insert(
        "docker.io/library/alpine:3".to_owned(),
        BaseConfig::unresolved("docker.io/library/alpine:3"),
    );
    (m, plan, bases)
}

fn ops(def: &pb::Definition) -> Vec<pb::Op> {
    def.def
        .iter()
        .map(|b| pb::Op::decode(b.as_slice()).expect("op decodes"))
        .collect()
}

#[test]
fn every_trie_node_is_one_op_and_prefixes_are_shared() {
    let (m, plan, bases) = setup();
    let built = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let trie = Trie::build(&m.problem(), &plan.orders);
    // One op per trie node (roots are the base sources), plus the context source for the copy.
    assert_eq!(built.graph.len(), trie.nodes.len() + 1);
    let defs: Vec<pb::Definition> = built
        .leaves
        .iter()
        .map(|l| built.graph.definition(l.as_ref().expect("leaf")))
        .collect();
    // `prep` then `a` is the shared prefix of ta and tb: the same op bytes in both graphs.
    let (ta, tb) = (&defs[0], &defs[1]);
    let shared: Vec<&Vec<u8>> = ta.def.iter().filter(|op| tb.def.contains(op)).collect();
    assert_eq!(shared.len(), 3, "base, prep, a");
    // Every input names an op of the same Definition; the terminal is last with one input.
    for def in &defs {
        let digests: Vec<String> = def.def.iter().map(|b| digest_of(b)).collect();
        let decoded = ops(def);
        for (i, op) in decoded.iter().enumerate() {
            for input in &op.inputs {
                let at = digests
                    .iter()
                    .position(|d| *d == input.digest)
                    .expect("input present");
                assert!(at < i, "inputs come first");
            }
        }
        let terminal = decoded.last().expect("terminal");
        assert!(terminal.op.is_none() && terminal.inputs.len() == 1);
        for key in def.metadata.keys() {
            assert!(
                digests.contains(key),
                "metadata keyed by a digest of the definition"
            );
        }
    }
}

#[test]
fn exec_ops_carry_the_base_config_and_the_step_context() {
    let (m, plan, bases) = setup();
    let built = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let def = built
        .graph
        .definition(built.leaves[1].as_ref().expect("tb"));
    let execs: Vec<pb::Meta> = ops(&def)
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Exec(e)) => e.meta,
            _ => None,
        })
        .collect();
    let a = execs
        .iter()
        .find(|e| e.args[2].contains("echo a"))
        .expect("step a");
    assert_eq!(a.args[..2], ["/bin/sh".to_owned(), "-c".to_owned()]);
    assert_eq!(a.env, ["PATH=/bin", "HOME=/root", "A=1"]);
    assert_eq!((a.cwd.as_str(), a.user.as_str()), ("/w", "0"));
    let b = execs
        .iter()
        .find(|e| e.args[2].contains("echo b"))
        .expect("step b");
    assert_eq!(b.cwd, "/w/sub", "a relative workdir is under the base's");
    // The copy of two sources chains two actions, into the workdir-relative destination.
    let file = ops(&def).into_iter().find_map(|op| match op.op {
        Some(pb::op::Op::File(f)) => Some((op.inputs.len(), f)),
        _ => None,
    });
    let (inputs, file) = file.expect("copy op");
    assert_eq!(inputs, 2);
    let copies: Vec<(i64, i64, i64, String, String)> = file
        .actions
        .iter()
        .map(|a| match &a.action {
            Some(pb::file_action::Action::Copy(c)) => (
                a.input,
                a.secondary_input,
                a.output,
                c.src.clone(),
                c.dest.clone(),
            ),
            _ => panic!("copy"),
        })
        .collect();
    assert_eq!(
        copies,
        vec![
            (0, 1, -1, "/f1".into(), "/w/d/".into()),
            (2, 1, 0, "/f2".into(), "/w/d/".into())
        ]
    );
}

#[test]
fn the_same_manifest_gives_the_same_bytes() {
    let (m, plan, bases) = setup();
    let options = BuildOptions {
        session: Some("s".into()),
        ..Default::default()
    };
    let encode = || {
        let built = build(&m, &plan, &bases, &options).expect("builds");
        built
            .leaves
            .iter()
            .map(|l| {
                built
                    .graph
                    .definition(l.as_ref().expect("leaf"))
                    .encode_to_vec()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(encode(), encode());
    // A fresh parse and plan of the same text gives the same bytes too.
    let (m2, plan2, _) = setup();
    let again = build(&m2, &plan2, &bases, &options).expect("builds");
    let first = build(&m, &plan, &bases, &options).expect("builds");
    assert_eq!(
        first
            .graph
            .definition(first.leaves[0].as_ref().expect("leaf"))
            .encode_to_vec(),
        again
            .graph
            .definition(again.leaves[0].as_ref().expect("leaf"))
            .encode_to_vec()
    );
    // The wire form of an op is part of every user's cache key: it must not drift.
    let base = first.nodes[0].as_ref().expect("root");
    assert_eq!(
        base.digest,
        digest_of(
            &pb::Op {
                op: Some(pb::op::Op::Source(pb::SourceOp {
                    identifier: "docker-image://docker.io/library/busybox:latest".into(),
                    attrs: BTreeMap::new()
                })),
                ..Default::default()
            }
            .encode_to_vec()
        )
    );
    // Hand-encoded (field 3 {field 1: identifier}) and hashed outside Rust.
    assert_eq!(
        base.digest,
        "sha256:74ecb5d790c33a213ba00f8f43d62947df1d4dea72f5ec13353a9b943f469f0f"
    );
}

#[test]
fn emitting_some_targets_keeps_their_bytes() {
    let (m, plan, bases) = setup();
    let all = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let only = build(
        &m,
        &plan,
        &bases,
        &BuildOptions {
            targets: Some(vec![1]),
            ..Default::default()
        },
    )
    .expect("builds");
    assert!(
        only.leaves[2].is_none(),
        "the alpine target shares nothing with tb"
    );
    assert_eq!(only.leaves[1], all.leaves[1]);
    let alpine_only = BTreeMap::from([(
        "docker.io/library/alpine:3".to_owned(),
        BaseConfig::unresolved("docker.io/library/alpine:3"),
    )]);
    assert!(
        build(
            &m,
            &plan,
            &alpine_only,
            &BuildOptions {
                targets: Some(vec![2]),
                ..Default::default()
            }
        )
        .is_ok()
    );
    assert!(
        build(&m, &plan, &alpine_only, &BuildOptions::default()).is_err(),
        "an unresolved base is an error"
    );
}

#[test]
fn all_of_depends_on_every_leaf() {
    let (m, plan, bases) = setup();
    let built = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let leaves: Vec<_> = built.leaves.iter().flatten().cloned().collect();
    let op = all_of(&leaves, "/marker", b"x");
    assert_eq!(op.inputs.len(), 3);
    let Some(pb::op::Op::File(f)) = op.op else {
        panic!("file op")
    };
    assert_eq!(f.actions.len(), 4);
    assert_eq!(
        f.actions.iter().filter(|a| a.output == 0).count(),
        1,
        "one output, the last action"
    );
    assert_eq!(f.actions.last().map(|a| a.output), Some(0));
}

#[test]
fn final_config_merges_over_the_base() {
    let (m, _, bases) = setup();
    let base = &bases["docker.io/library/busybox:latest"];
    let ta = m.target("ta").expect("ta");
    let labels = BTreeMap::from([("cli".to_owned(), "yes".to_owned())]);
    let cfg: serde_json::Value =
        serde_json::from_slice(&final_config(base, ta, &[], &labels, ("linux", "amd64")))
            .expect("json");
    assert_eq!(
        cfg["config"]["Env"],
        serde_json::json!(["PATH=/bin", "HOME=/root", "X=1"])
    );
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["cat", "/tools/a"]));
    assert_eq!(
        cfg["config"]["Labels"],
        serde_json::json!({"t": "a", "cli": "yes"})
    );
    assert_eq!(
        cfg["config"]["ExposedPorts"],
        serde_json::json!({"80/tcp": {}})
    );
    assert_eq!(cfg["config"]["WorkingDir"], "/w");
    assert_eq!(
        (cfg["os"].as_str(), cfg["architecture"].as_str()),
        (Some("linux"), Some("amd64"))
    );
    assert!(cfg.get("rootfs").is_none());
}

#[test]
fn history_has_one_entry_per_layer_then_the_config_settings() {
    let (m, plan, _) = setup();
    let t = m.target_index("ta").expect("ta");
    let steps: Vec<&dockopt_manifest::Step> = plan.orders[t].iter().map(|&s| &m.steps[s]).collect();
    assert!(!steps.is_empty());
    let layers: Vec<Vec<&dockopt_manifest::Step>> = steps.iter().map(|&s| vec![s]).collect();
    // A base with two layers and one history entry: padded so its layers pair with its own.
    let base = BaseConfig {
        reference: "busybox@sha256:1".into(),
        config: serde_json::json!({
            "rootfs": {"type": "layers", "diff_ids": ["sha256:a", "sha256:b"]},
            "history": [{"created_by": "ADD rootfs"}, {"created_by": "CMD", "empty_layer": true}],
            "config": {}
        }),
    };
    let cfg: serde_json::Value = serde_json::from_slice(&final_config(
        &base,
        &m.targets[t],
        &layers,
        &BTreeMap::new(),
        ("linux", "amd64"),
    ))
    .expect("json");
    let history = cfg["history"].as_array().expect("history");
    let layered: Vec<&str> = history
        .iter()
        .filter(|h| h["empty_layer"] != serde_json::json!(true))
        .map(|h| h["created_by"].as_str().expect("created_by"))
        .collect();
    // Two base layers, then one per step, in the build's order, each naming its step.
    assert_eq!(layered.len(), 2 + steps.len());
    assert_eq!(layered[0], "ADD rootfs");
    assert!(layered[1].contains("busybox@sha256:1"), "{}", layered[1]);
    for (entry, step) in layered[2..].iter().zip(&steps) {
        let text = step.command_text();
        assert!(entry.contains(&text), "{entry} names {text}");
        if let Some(name) = &step.name {
            assert!(
                entry.ends_with(&format!("# dockopt step {name}")),
                "{entry}"
            );
        }
    }
    // The target's config settings come last, as empty layers, and no entry carries a time.
    let last = history.last().expect("an entry");
    assert_eq!(last["empty_layer"], serde_json::json!(true));
    assert!(
        last["created_by"]
            .as_str()
            .expect("text")
            .starts_with("CMD "),
        "{last}"
    );
    assert!(history.iter().all(|h| h.get("created").is_none()));
}

const STAGED: &str = "\
version: 1
defaults: {from: busybox}
targets:
  zbuild:
    stage: true
    steps: [{run: 'mkdir /out && echo hi > /out/hi'}]
  a:
    steps:
      - {copy: {from: zbuild, src: [/out/hi], dest: /hi}}
      - run: make
        mounts:
          - {type: tmpfs, target: /t, size: 1k}
          - {type: cache, target: cache, sharing: private}
          - {type: secret, id: token}
          - {type: bind, from: zbuild, source: out, target: /in}
          - {type: bind, target: /ctx, rw: true}
  b:
    steps: [{copy: {from: zbuild, src: [/out/hi], dest: /hi}}]
";

fn staged() -> (Manifest, Plan, BTreeMap<String, BaseConfig>) {
    let m = dockopt_manifest::parse("m.yaml", STAGED, &BTreeMap::new()).expect("valid");
    let plan = dockopt_planner::solve(&m.problem(), &Options::default()).expect("plan");
    let (_, _, bases) = setup();
    (m, plan, bases)
}

#[test]
fn a_stage_copy_reads_the_stage_leaf_even_when_only_a_reader_is_emitted() {
    let (m, plan, bases) = staged();
    let stage = m.target_index("zbuild").expect("stage");
    let a = m.target_index("a").expect("a");
    let b = m.target_index("b").expect("b");
    let all = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let leaf = all.leaves[stage].clone().expect("stage leaf");
    // Only `b` asked for: the stage's path is emitted as the copy's second input.
    let only_b = build(
        &m,
        &plan,
        &bases,
        &BuildOptions {
            targets: Some(vec![b]),
            ..BuildOptions::default()
        },
    )
    .expect("builds");
    assert_eq!(only_b.leaves[b], all.leaves[b], "same bytes either way");
    assert_eq!(only_b.leaves[stage], Some(leaf.clone()));
    assert_eq!(only_b.leaves[a], None);
    let def = only_b
        .graph
        .definition(only_b.leaves[b].as_ref().expect("b"));
    let decoded = ops(&def);
    let copy = &decoded[decoded.len() - 2];
    let Some(pb::op::Op::File(f)) = &copy.op else {
        panic!("a FileOp: {copy:?}")
    };
    assert_eq!(copy.inputs[1].digest, leaf.digest);
    assert_eq!(f.actions[0].secondary_input, 1);
    // The copy is one op shared by a and b (same parent, same stage).
    let def_a = all.graph.definition(all.leaves[a].as_ref().expect("a"));
    assert!(def_a.def.contains(&def.def[def.def.len() - 2]));
}

#[test]
fn run_mounts_are_exec_mounts_with_no_output_and_the_secret_by_id() {
    let (m, plan, bases) = staged();
    let a = m.target_index("a").expect("a");
    let stage = m.target_index("zbuild").expect("stage");
    let built = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let def = built.graph.definition(built.leaves[a].as_ref().expect("a"));
    let decoded = ops(&def);
    let exec = decoded
        .iter()
        .find_map(|op| match &op.op {
            Some(pb::op::Op::Exec(e)) if e.meta.as_ref().is_some_and(|m| m.args[2] == "make") => {
                Some((op, e))
            }
            _ => None,
        })
        .expect("the make exec");
    let (op, e) = exec;
    let dests: Vec<&str> = e.mounts.iter().map(|m| m.dest.as_str()).collect();
    // Root first, then by destination; a relative target is under the working directory.
    assert_eq!(
        dests,
        ["/", "/ctx", "/in", "/run/secrets/token", "/t", "/w/cache"]
    );
    assert_eq!(e.mounts[0].output, 0);
    assert!(e.mounts[1..].iter().all(|m| m.output == -1));
    let by = |d: &str| e.mounts.iter().find(|m| m.dest == d).expect("mount");
    let cache = by("/w/cache");
    assert_eq!(cache.mount_type, pb::MountType::Cache as i32);
    assert_eq!(
        cache.cache_opt,
        Some(pb::CacheOpt {
            id: "/w/cache".into(),
            sharing: pb::CacheSharingOpt::Private as i32
        })
    );
    let secret = by("/run/secrets/token");
    assert_eq!(secret.input, -1);
    assert_eq!(
        secret.secret_opt,
        Some(pb::SecretOpt {
            id: "token".into(),
            uid: 0,
            gid: 0,
            mode: 0o400,
            optional: true
        })
    );
    assert_eq!(by("/t").tmpfs_opt, Some(pb::TmpfsOpt { size: 1024 }));
    // Bind mounts: the stage leaf and the context are inputs; `rw` only lifts read-only.
    let bind = by("/in");
    assert_eq!(
        op.inputs[bind.input as usize].digest,
        built.leaves[stage].as_ref().expect("leaf").digest
    );
    assert_eq!(bind.selector, "/out");
    assert!(bind.readonly);
    let ctx = by("/ctx");
    assert!(!ctx.readonly);
    assert_eq!(ctx.mount_type, pb::MountType::Bind as i32);
    assert_eq!(op.inputs.len(), 3, "parent, stage, context");
    // Deterministic: the same manifest gives the same bytes.
    let again = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let def2 = again.graph.definition(again.leaves[a].as_ref().expect("a"));
    assert_eq!(def.encode_to_vec(), def2.encode_to_vec());
}

const SQUASHED: &str = "\
version: 1
defaults: {from: busybox}
steps:
  p: {run: mkdir /t, time: 10}
  a1: {run: echo a1 > /t/a1, after: [p]}
  a2: {run: echo a2 > /t/a2, after: [a1]}
  a3: {run: echo a3 > /t/a3, after: [a2], env: {X: '1'}}
targets:
  a: {steps: [p, a1, a2, a3], squash: true}
  b: {steps: [p]}
";

#[test]
fn squash_merges_own_runs_of_one_context_and_leaves_shared_ops_alone() {
    let m = dockopt_manifest::parse("m.yaml", SQUASHED, &BTreeMap::new()).expect("valid");
    let plan = dockopt_planner::solve(&m.problem(), &Options::default()).expect("plan");
    let trie = Trie::build(&m.problem(), &plan.orders);
    let a = m.target_index("a").expect("a");
    let b = m.target_index("b").expect("b");
    // The shared `p`, then a1 and a2 as one layer, then a3 (another env) on its own.
    let layers = m.layers(&trie, a);
    let sizes: Vec<usize> = layers.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1, 2, 1]);
    assert_eq!(m.layers(&trie, b).len(), 1);
    let (_, _, bases) = setup();
    let built = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let def = built.graph.definition(built.leaves[a].as_ref().expect("a"));
    let decoded = ops(&def);
    let commands: Vec<String> = decoded
        .iter()
        .filter_map(|op| match &op.op {
            Some(pb::op::Op::Exec(e)) => e.meta.as_ref().map(|m| m.args[2].clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        commands,
        [
            "mkdir /t",
            "(\necho a1 > /t/a1\n) && (\necho a2 > /t/a2\n)",
            "echo a3 > /t/a3"
        ]
    );
    // Without squash: one op per step, and the shared op and `b` are the same bytes.
    let plain_text = SQUASHED.replace(", squash: true", "");
    let plain = dockopt_manifest::parse("m.yaml", &plain_text, &BTreeMap::new()).expect("valid");
    let plain_plan = dockopt_planner::solve(&plain.problem(), &Options::default()).expect("plan");
    let unsquashed = build(&plain, &plain_plan, &bases, &BuildOptions::default()).expect("builds");
    assert_eq!(unsquashed.leaves[b], built.leaves[b]);
    let plain_def = unsquashed
        .graph
        .definition(unsquashed.leaves[a].as_ref().expect("a"));
    assert_eq!(plain_def.def.len(), def.def.len() + 1);
    assert_eq!(plain_def.def[..2], def.def[..2], "base and p unchanged");
}

/// A chain of stages, each reading the one before through a bind mount (the far end listed
/// first, so emitting the reader walks down the whole chain), and one long target order: both
/// are emitted without deep recursion (a 2,000-link chain once overflowed a test thread's
/// stack), every link once.
#[test]
fn a_long_stage_chain_and_a_long_order_are_emitted_without_deep_recursion() {
    let n = 2000;
    let link = |i: usize| format!("l{:04}", n - 1 - i);
    let mut text = String::from("version: 1\nlayers: 0\ndefaults: {from: busybox}\ntargets:\n");
    let mount = |i: usize| format!("mounts: [{{type: bind, from: {}, target: /in}}]", link(i));
    // Link i reads link i - 1; link 0 reads nothing; t reads the last.
    let step = |i: usize| match i {
        0 => "run: echo 0 > /o".to_owned(),
        _ => format!("run: cat /in/o > /o; echo {i} >> /o, {}", mount(i - 1)),
    };
    let links: String = (0..n)
        .rev()
        .map(|i| format!("  {}: {{stage: true, steps: [{{{}}}]}}\n", link(i), step(i)))
        .collect();
    text.push_str(&format!(
        "  t: {{steps: [{{run: cp /in/o /o, {}}}]}}\n{links}",
        mount(n - 1)
    ));
    text.push_str("  long: {steps: [");
    text.push_str(
        &(0..3000)
            .map(|i| format!("{{run: echo long {i}}}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push_str("]}\n");
    let m = dockopt_manifest::parse("m.yaml", &text, &BTreeMap::new()).expect("valid");
    let plan = dockopt_planner::solve(&m.problem(), &Options::default()).expect("plan");
    let mut bases = BTreeMap::new();
    bases.insert(
        "docker.io/library/busybox:latest".to_owned(),
        BaseConfig::unresolved("docker.io/library/busybox:latest"),
    );
    let t = m.target_index("t").expect("t");
    let only_t = BuildOptions {
        targets: Some(vec![t]),
        ..BuildOptions::default()
    };
    let built = build(&m, &plan, &bases, &only_t).expect("builds");
    // t's graph: the base, the n steps of the chain, t's step, the terminal.
    let def = built
        .graph
        .definition(built.leaves[t].as_ref().expect("t emitted"));
    assert_eq!(def.def.len(), 1 + n + 1 + 1);
    let all = build(&m, &plan, &bases, &BuildOptions::default()).expect("builds");
    let trie = Trie::build(&m.problem(), &plan.orders);
    assert_eq!(all.graph.len(), trie.nodes.len());
}

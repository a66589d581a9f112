use std::collections::BTreeMap;

use super::*;

const BASE: &str = "version: 1\ndefaults: {from: debian}\nsteps:\n  update: {run: apt-get update, time: 20}\n  git: {run: apt-get install -y git, after: [update], time: 12}\n  jq: {run: apt-get install -y jq, after: [update], time: 3}\n  curl: {run: apt-get install -y curl, after: [update], time: 5}\n  vim: {run: apt-get install -y vim, after: [update], time: 8}\ntargets:\n  a: {steps: [update, git, jq]}\n  b: {steps: [update, git, curl]}\n  c: {steps: [update, jq, curl]}\n";

fn planned(text: &str, lock: Option<&str>, times: Option<&str>) -> Result<Planned, Error> {
    let args = BTreeMap::new();
    plan(&Input {
        file: "v.yaml",
        text,
        build_args: &args,
        lock,
        times,
        options: Options::default(),
    })
}

fn orders_by_name(p: &Planned) -> BTreeMap<String, Vec<String>> {
    p.manifest
        .targets
        .iter()
        .zip(&p.plan.orders)
        .map(|(t, o)| {
            (
                t.name.clone(),
                o.iter().map(|&s| p.keys[s].clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn a_lock_keeps_every_order_when_a_target_is_added() {
    let first = planned(BASE, None, None).expect("plan");
    let lock = first.lock().render();
    let grown = format!(
        "{BASE}  d: {{steps: [update, git, jq, vim]}}\n  e: {{steps: [vim, curl, update]}}\n"
    );
    let second = planned(&grown, Some(&lock), None).expect("plan");
    let used = second.lock.clone().expect("lock used");
    assert_eq!(used.kept, vec!["a", "b", "c"]);
    assert_eq!(used.new, vec!["d", "e"]);
    assert!(used.repaired.is_empty());
    let before = orders_by_name(&first);
    let after = orders_by_name(&second);
    for (name, order) in &before {
        assert_eq!(&after[name], order, "target {name} moved");
    }
    // The new target d follows a's locked path (update, git, jq) before adding vim.
    assert_eq!(after["d"][..3], before["a"][..]);
}

#[test]
fn an_edited_step_repairs_only_the_targets_that_hold_it() {
    let first = planned(BASE, None, None).expect("plan");
    let lock = first.lock().render();
    let edited = BASE.replace("apt-get install -y curl", "apt-get install -y curl wget");
    let second = planned(&edited, Some(&lock), None).expect("plan");
    let used = second.lock.expect("lock used");
    assert_eq!(used.kept, vec!["a"]);
    assert_eq!(used.repaired, vec!["b", "c"]);
}

#[test]
fn a_broken_lock_is_an_error_with_its_place() {
    let e = planned(BASE, Some("{\n  \"dockopt-lock\": 1,\n  nope"), None).expect_err("an error");
    assert!(
        matches!(&e, Error::Lock(m) if m.starts_with("v.yaml.lock:3:")),
        "{e}"
    );
}

#[test]
fn measured_times_replace_estimates_and_are_marked() {
    let first = planned(BASE, None, None).expect("plan");
    let update = first
        .manifest
        .steps
        .iter()
        .position(|s| s.name.as_deref() == Some("update"))
        .expect("update");
    let base = &first.manifest.targets[0].base;
    let mut times = Times::default();
    times.record(&time_key(&first.keys[update], base), "update", base, 42.5);
    let second = planned(BASE, None, Some(&times.render())).expect("plan");
    assert_eq!(second.problem.costs[update], 42.5);
    assert!(second.measured[update]);
    assert_eq!(second.measured.iter().filter(|&&m| m).count(), 1);
    // `vim` is declared and listed by no target: a warning of its own, with its line.
    let shown: Vec<String> = first.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["v.yaml:8:3: step `vim` is listed by no target; it is not built"]
    );
    let third = planned(BASE, None, Some("garbage")).expect("plan");
    assert_eq!(third.warnings.len(), 2);
    assert!(
        third.warnings[1]
            .to_string()
            .starts_with("v.yaml.times.json: not a dockopt times store")
    );
}

#[test]
fn unknown_targets_get_a_suggestion() {
    let p = planned(BASE, None, None).expect("plan");
    assert_eq!(p.target("b"), Ok(1));
    let e = p.target("bb").expect_err("an error");
    assert_eq!(e, "v.yaml: no target `bb`; did you mean `b`?");
    let e = p.target("zzzzz").expect_err("an error");
    assert!(e.ends_with("the targets are: a, b, c"), "{e}");
}

#[test]
fn the_lock_is_deterministic_and_round_trips() {
    let p = planned(BASE, None, None).expect("plan");
    let text = p.lock().render();
    assert_eq!(
        text,
        planned(BASE, None, None).expect("plan").lock().render()
    );
    let again = planned(BASE, Some(&text), None).expect("plan");
    assert_eq!(again.plan.orders, p.plan.orders);
    assert_eq!(again.lock().render(), text);
}

#[test]
fn a_squashed_target_is_held_to_the_layer_budget_by_its_plan() {
    // Five own steps of one context and one shared: two layers once squashed, six without.
    let text = "version: 1\nlayers: 2\ndefaults: {from: debian}\nsteps:\n  u: {run: apt-get update, time: 20}\n  s1: {run: echo 1, after: [u]}\n  s2: {run: echo 2, after: [s1]}\n  s3: {run: echo 3, after: [s2]}\n  s4: {run: echo 4, after: [s3]}\n  s5: {run: echo 5, after: [s4]}\ntargets:\n  a: {steps: [u, s1, s2, s3, s4, s5], squash: true}\n  b: {steps: [u]}\n";
    let p = planned(text, None, None).expect("two layers fit");
    let a = p.manifest.target_index("a").expect("a");
    assert_eq!(p.manifest.layers(&p.trie, a).len(), 2);
    // Without squash the manifest itself is over the budget.
    let Err(Error::Manifest(_, d)) = planned(&text.replace(", squash: true", ""), None, None)
    else {
        panic!("over the budget")
    };
    assert!(d.errors[0].message.contains("adds 6 layers"), "{d}");
    // Squashed, but a step of another env splits it: three layers, over a budget of two.
    let split = text.replace(
        "s3: {run: echo 3, after: [s2]}",
        "s3: {run: echo 3, after: [s2], env: {X: '1'}}",
    );
    let Err(Error::Manifest(rendered, d)) = planned(&split, None, None) else {
        panic!("over the budget")
    };
    assert_eq!(
        d.to_string(),
        "v.yaml:12:3: targets.a: target `a` adds 4 layers after squashing (each step it shares, and each run of its own steps one op can hold), over the limit of 2 (merge its own steps into fewer `run`s with one context, or raise `layers:`)"
    );
    assert!(rendered.contains("  --> v.yaml:12:3"), "{rendered}");
}

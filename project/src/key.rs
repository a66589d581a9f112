//! Stable identities: a step's key is a hash of what it does and the context it runs in, so it
//! survives renames, reordering and edits to other steps, and changes when the step changes.

use dockopt_manifest::{Action, Manifest, Mount, RunCommand, Step};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Hex digits kept of the hash (64 bits: collisions among a manifest's steps are not a concern).
const KEY_LEN: usize = 16;

/// Appends `field` with its length, so that no two field lists encode alike.
fn field(h: &mut Sha256, field: &str) {
    h.update(field.len().to_string().as_bytes());
    h.update(b":");
    h.update(field.as_bytes());
}

fn finish(h: Sha256) -> String {
    let digest = h.finalize();
    let mut out = String::with_capacity(KEY_LEN);
    for b in digest.iter().take(KEY_LEN / 2) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The key of every step of `manifest` (manifest order). A step that reads a stage (a copy
/// `from:` it, a bind mount of it) keys the stage by its content: its base, the keys of its
/// steps (a set: the plan orders them) and of its `finally` steps (in order). So a renamed
/// stage keeps its readers' keys, and two stages with different content never give one key.
///
/// Stages are keyed in dependency order ([`Manifest::targets_in_read_order`]), without
/// recursion, so a chain of stages of any length keys every link by content.
#[must_use]
pub fn step_keys(manifest: &Manifest) -> Vec<String> {
    let m = manifest;
    let index: HashMap<&str, usize> = m
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut stages: Vec<Option<String>> = vec![None; m.targets.len()];
    let mut keys: Vec<Option<String>> = vec![None; m.steps.len()];
    // Every target keyed as a stage (a step no target lists may still read one), each after
    // the stages it reads.
    for t in m.targets_in_read_order() {
        let target = &m.targets[t];
        let mut key = |s: usize| -> String {
            keys[s]
                .get_or_insert_with(|| key_of(m, s, &index, &stages))
                .clone()
        };
        let mut set: Vec<String> = target.steps.iter().map(|&x| key(x)).collect();
        set.sort();
        let finally: Vec<String> = target.finally.iter().map(|&x| key(x)).collect();
        let mut h = Sha256::new();
        field(&mut h, "stage");
        field(&mut h, &target.base);
        field(&mut h, &set.len().to_string());
        for k in &set {
            field(&mut h, k);
        }
        field(&mut h, &finally.len().to_string());
        for k in &finally {
            field(&mut h, k);
        }
        stages[t] = Some(finish(h));
    }
    keys.into_iter()
        .enumerate()
        .map(|(s, k)| k.unwrap_or_else(|| key_of(m, s, &index, &stages)))
        .collect()
}

/// Step `s`'s key, the stages it reads keyed as far as `stages` knows them.
fn key_of(
    m: &Manifest,
    s: usize,
    index: &HashMap<&str, usize>,
    stages: &[Option<String>],
) -> String {
    step_key_with(&m.steps[s], &mut |n| stage_name(n, index, stages))
}

/// A stage's identity in a reader's key: its content key once known; a name no target has, or
/// a stage on a cycle (both rejected by the manifest's checks), by name.
fn stage_name(name: &str, index: &HashMap<&str, usize>, stages: &[Option<String>]) -> String {
    match index.get(name) {
        None => format!("missing:{name}"),
        Some(&t) => stages[t].clone().unwrap_or_else(|| format!("cycle:{name}")),
    }
}

/// The key of a step that reads no stage: the same for two steps exactly when the manifest
/// treats them as one. (A step that reads a stage is keyed by [`step_keys`].)
#[must_use]
pub fn step_key(step: &Step) -> String {
    step_key_with(step, &mut |name| format!("name:{name}"))
}

/// The key, with `stage` giving the identity of a stage by name.
fn step_key_with(step: &Step, stage: &mut dyn FnMut(&str) -> String) -> String {
    let mut h = Sha256::new();
    match &step.action {
        Action::Run(RunCommand::Shell(s)) => {
            field(&mut h, "run-shell");
            field(&mut h, s);
        }
        Action::Run(RunCommand::Exec(argv)) => {
            field(&mut h, "run-exec");
            field(&mut h, &argv.len().to_string());
            for a in argv {
                field(&mut h, a);
            }
        }
        Action::Copy(c) => {
            field(&mut h, "copy");
            match &c.stage {
                // Content, not name: the same files copied from the same stage content.
                Some(name) => field(&mut h, &format!("stage:{}", stage(name))),
                None => field(&mut h, c.from.as_deref().unwrap_or("")),
            }
            field(&mut h, &c.src.len().to_string());
            for s in &c.src {
                field(&mut h, s);
            }
            field(&mut h, &c.dest);
        }
    }
    let ctx = &step.context;
    field(&mut h, &ctx.env.len().to_string());
    for (k, v) in &ctx.env {
        field(&mut h, k);
        field(&mut h, v);
    }
    field(&mut h, ctx.workdir.as_deref().unwrap_or("\u{0}"));
    field(&mut h, ctx.user.as_deref().unwrap_or("\u{0}"));
    // Only when there are mounts, so the keys of steps without them (and every lock written
    // before mounts existed) stay as they were. A secret is keyed by its id only.
    if !ctx.mounts.is_empty() {
        field(&mut h, "mounts");
        field(&mut h, &ctx.mounts.len().to_string());
        for m in &ctx.mounts {
            match m {
                Mount::Bind {
                    target,
                    source,
                    stage: Some(name),
                    rw,
                } => {
                    // The stage by content, as for a copy: its name is not part of the key.
                    let unnamed = Mount::Bind {
                        target: target.clone(),
                        source: source.clone(),
                        stage: None,
                        rw: *rw,
                    };
                    field(&mut h, &unnamed.flag());
                    field(&mut h, &format!("stage:{}", stage(name)));
                }
                _ => field(&mut h, &m.flag()),
            }
        }
    }
    finish(h)
}

/// The key under which a step's measured time is kept: the step on one base.
#[must_use]
pub fn time_key(step_key: &str, base: &str) -> String {
    let mut h = Sha256::new();
    field(&mut h, step_key);
    field(&mut h, base);
    finish(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn manifest(text: &str) -> dockopt_manifest::Manifest {
        dockopt_manifest::parse("m.yaml", text, &BTreeMap::new()).expect("valid")
    }

    #[test]
    fn keys_follow_content_not_names_or_order() {
        let a = manifest(
            "version: 1\ndefaults: {from: debian}\nsteps:\n  u: {run: apt-get update}\n  g: {run: echo git, env: {A: b}}\ntargets:\n  t: {steps: [u, g]}\n",
        );
        let b = manifest(
            "version: 1\ndefaults: {from: debian}\nsteps:\n  zz: {run: echo git, env: {A: b}}\n  upd: {run: apt-get update, time: 9}\ntargets:\n  x: {steps: [zz, upd]}\n",
        );
        let mut ka: Vec<String> = a.steps.iter().map(step_key).collect();
        let mut kb: Vec<String> = b.steps.iter().map(step_key).collect();
        ka.sort();
        kb.sort();
        assert_eq!(ka, kb);
        assert_eq!(ka[0].len(), KEY_LEN);
        let c = manifest(
            "version: 1\ndefaults: {from: debian}\nsteps:\n  g: {run: echo git, env: {A: c}}\ntargets:\n  t: {steps: [g]}\n",
        );
        assert!(!ka.contains(&step_key(&c.steps[0])));
        assert_ne!(time_key(&ka[0], "x"), time_key(&ka[0], "y"));
    }

    fn copy_key(text: &str) -> String {
        let m = manifest(text);
        let keys = step_keys(&m);
        let s = m
            .steps
            .iter()
            .position(|s| matches!(&s.action, Action::Copy(c) if c.stage.is_some()))
            .expect("a stage copy");
        keys[s].clone()
    }

    #[test]
    fn a_stage_copy_is_keyed_by_the_stage_content_not_its_name() {
        let text = "version: 1\ndefaults: {from: busybox}\ntargets:\n  b: {stage: true, steps: [{run: make}, {run: test}]}\n  t: {steps: [{copy: {from: b, src: [/o], dest: /o}}]}\n";
        let k = copy_key(text);
        // Renamed stage, its steps listed in another order: the same key.
        let renamed = text
            .replace("b: {stage", "builder: {stage")
            .replace("from: b,", "from: builder,")
            .replace("{run: make}, {run: test}", "{run: test}, {run: make}");
        assert_eq!(copy_key(&renamed), k);
        // A bind mount of the stage too.
        let bind = |text: &str, stage: &str| {
            let text = text.replace(
                "{copy: {from: b, src: [/o], dest: /o}}",
                &format!("{{run: ls /o, mounts: [{{type: bind, from: {stage}, target: /o}}]}}"),
            );
            let m = manifest(&text);
            let keys = step_keys(&m);
            let s = m
                .steps
                .iter()
                .position(|s| s.command_text() == "ls /o")
                .expect("ls");
            keys[s].clone()
        };
        assert_eq!(
            bind(text, "b"),
            bind(&text.replace("b: {stage", "z: {stage"), "z")
        );
        assert_ne!(
            bind(text, "b"),
            bind(&text.replace("{run: test}", "{run: check}"), "b")
        );
        // Another stage content, or another base: another key.
        assert_ne!(copy_key(&text.replace("{run: test}", "{run: check}")), k);
        assert_ne!(
            copy_key(&text.replace("b: {stage: true,", "b: {stage: true, from: alpine,")),
            k
        );
        // Unlike an image copy of the same name.
        let image = text.replace("from: b,", "from: 'b:latest',");
        let m = manifest(&image);
        assert!(!step_keys(&m).contains(&k));
    }

    /// A chain of `n` stages, each copying from the one before, read by a target `t`. Link `i`
    /// (0 is the one with `first_run`) is named `l{n-1-i}`, so the far end sorts first and a
    /// walk from the first step that reads a stage goes down the whole chain.
    fn chain(n: usize, first_run: &str) -> String {
        let name = |i: usize| format!("l{:04}", n - 1 - i);
        let mut text = String::from("version: 1\ndefaults: {from: busybox}\ntargets:\n");
        text.push_str(&format!(
            "  t: {{steps: [{{copy: {{from: {}, src: [/o], dest: /o}}}}]}}\n",
            name(n - 1)
        ));
        for i in 1..n {
            text.push_str(&format!(
                "  {}: {{stage: true, steps: [{{copy: {{from: {}, src: [/o], dest: /o}}}}, {{run: echo {i}}}]}}\n",
                name(i),
                name(i - 1)
            ));
        }
        text.push_str(&format!(
            "  {}: {{stage: true, steps: [{{run: {first_run}}}]}}\n",
            name(0)
        ));
        text
    }

    #[test]
    fn a_long_stage_chain_is_keyed_by_content_at_every_link() {
        // 600 links: past any depth a recursive walk would stop at (the old one stopped at 256
        // and keyed the rest by name, so a change at the far end did not reach `t`).
        let a = manifest(&chain(600, "make"));
        let b = manifest(&chain(600, "make all"));
        let (ka, kb) = (step_keys(&a), step_keys(&b));
        assert_eq!(ka.len(), kb.len());
        // Only the first stage's run differs, yet every copy's key changes: `t`'s first.
        let t = a.target("t").expect("t").steps[0];
        assert_ne!(ka[t], kb[t]);
        let differ = ka.iter().zip(&kb).filter(|(x, y)| x != y).count();
        assert_eq!(differ, 600 + 1, "599 copies, t's copy and s0's run");
        // Every copy reads different content: no two keys alike.
        let mut sorted = ka.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ka.len());
    }

    #[test]
    fn a_step_no_target_lists_keys_its_stage_by_content_too() {
        let text = "version: 1\ndefaults: {from: busybox}\nsteps:\n  spare: {copy: {from: b, src: [/o], dest: /o}}\ntargets:\n  b: {stage: true, steps: [{run: make}]}\n  t: {steps: [{run: true}]}\n";
        let spare = |text: &str| {
            let m = manifest(text);
            let s = m
                .steps
                .iter()
                .position(|s| s.name.as_deref() == Some("spare"))
                .expect("spare");
            step_keys(&m)[s].clone()
        };
        let k = spare(text);
        assert_eq!(
            k,
            spare(
                &text
                    .replace("  b: {stage", "  c: {stage")
                    .replace("from: b,", "from: c,")
            )
        );
        assert_ne!(k, spare(&text.replace("run: make", "run: make all")));
    }

    #[test]
    fn mounts_are_part_of_the_key_and_steps_without_them_keep_theirs() {
        let plain = manifest(
            "version: 1\ndefaults: {from: busybox}\ntargets:\n  t: {steps: [{run: make}]}\n",
        );
        let cached = manifest(
            "version: 1\ndefaults: {from: busybox}\ntargets:\n  t: {steps: [{run: make, mounts: [{type: cache, target: /c}]}]}\n",
        );
        let secret = manifest(
            "version: 1\ndefaults: {from: busybox}\ntargets:\n  t: {steps: [{run: make, mounts: [{type: secret, id: tok}]}]}\n",
        );
        let (p, c, s) = (
            step_key(&plain.steps[0]),
            step_key(&cached.steps[0]),
            step_key(&secret.steps[0]),
        );
        assert_ne!(p, c);
        assert_ne!(p, s);
        assert_ne!(c, s);
        // The key of a step without mounts is what it was before mounts existed.
        assert_eq!(p, step_keys(&plain)[0]);
        // (sha256 of `9:run-shell4:make1:01:\01:\0`, as before mounts existed)
        assert_eq!(p, "c79b43bdd2574788");
    }
}

//! A Dockerfile's stages: which ones are imported (the final stage, and every stage something
//! it needs reads with `COPY --from`/`--mount from=`), the `FROM stage` chain each is built on,
//! the global ARGs the FROM lines see, and the merging of identical stages across Dockerfiles.

use std::collections::{BTreeMap, BTreeSet};

use dockopt_manifest::{Action, Copy, Mount};
use parse_dockerfile::Instruction;

use super::instruction::{instruction, instruction_start};
use super::lex::{self, Lookup};
use super::names::sanitize;
use super::state::{DEFAULT_PATH, State};
use super::{Ctx, Key, Options, Source, Variant, key};

/// Reads one Dockerfile into a variant (its final stage, with the stages it is built `FROM`).
pub(super) fn variant(
    source: &Source,
    options: &Options,
    base_env: &mut dyn FnMut(&str) -> Option<Vec<String>>,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<Variant>> {
    let parsed = match parse_dockerfile::parse(&source.text) {
        Ok(p) => p,
        Err(e) => {
            ctx.errors.push(format!(
                "{}:{}:{}: not a Dockerfile: {e}",
                source.file,
                e.line(),
                e.column()
            ));
            return None;
        }
    };
    // Global ARGs (before the first FROM): known to FROM lines, and to stages that redeclare them.
    let mut global: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut stages: Vec<(Option<String>, usize, usize)> = Vec::new(); // (name, index of FROM, end)
    for (i, ins) in parsed.instructions.iter().enumerate() {
        match ins {
            Instruction::From(f) => {
                if let Some(last) = stages.last_mut() {
                    last.2 = i;
                }
                let name = f.as_.as_ref().map(|(_, n)| n.value.to_lowercase());
                stages.push((name, i, parsed.instructions.len()));
            }
            Instruction::Arg(a) if stages.is_empty() => {
                let lookup = |n: &str| match global.get(n) {
                    Some(Some(v)) => Lookup::Set(v.clone()),
                    _ => Lookup::Unset,
                };
                let (pairs, _) = lex::pairs(&a.arguments.value, &lookup);
                for (k, v) in pairs {
                    let v = options.build_args.get(&k).cloned().or(v);
                    global.insert(k, v);
                }
            }
            _ => {}
        }
    }
    let Some(last) = stages.len().checked_sub(1) else {
        ctx.error(0, "no FROM: nothing to import");
        return None;
    };
    let refs = StageRefs {
        by_name: stages
            .iter()
            .enumerate()
            .filter_map(|(i, (n, _, _))| n.clone().map(|n| (n, i)))
            .collect(),
        targets: (0..stages.len())
            .map(|i| {
                let label = stages[i].0.clone().unwrap_or_else(|| format!("stage{i}"));
                format!("{}-{}", source.name, sanitize(&label))
            })
            .collect(),
        count: stages.len(),
    };
    // The final stage, then every stage something reads (COPY --from, RUN --mount from=), once.
    let mut read: Vec<Variant> = Vec::new();
    let mut queue: Vec<usize> = vec![last];
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut in_chains: BTreeSet<usize> = BTreeSet::new();
    while let Some(s) = queue.pop() {
        if !done.insert(s) {
            continue;
        }
        let name = if s == last {
            source.name.clone()
        } else {
            refs.targets[s].clone()
        };
        let v = stage_variant(
            source, options, base_env, ctx, &parsed, &stages, &global, &refs, s, name,
        )?;
        in_chains.extend(v.chain.iter().copied());
        for &r in v.reads.iter().rev() {
            if !done.contains(&r) {
                queue.push(r);
            }
        }
        read.push(v);
    }
    for (i, (name, at, _)) in stages.iter().enumerate() {
        if !in_chains.contains(&i) && !done.contains(&i) {
            let start = instruction_start(&parsed.instructions[*at]);
            let label = name.clone().unwrap_or_else(|| format!("#{i}"));
            ctx.note(
                start,
                format!(
                    "stage `{label}` is read by nothing the final stage needs: not imported (docker build skips it too)"
                ),
            );
        }
    }
    Some(read)
}

/// A Dockerfile's stages as manifest targets: a stage read by name or index becomes the
/// target `VARIANT-STAGE` (`stage: true`).
pub(super) struct StageRefs {
    by_name: BTreeMap<String, usize>,
    /// The target name of each stage, by index.
    pub(super) targets: Vec<String>,
    count: usize,
}

impl StageRefs {
    /// The stage `--from=value` names, if it names one (else it is an image).
    pub(super) fn stage(&self, value: &str) -> Option<usize> {
        self.by_name
            .get(&value.to_lowercase())
            .copied()
            .or_else(|| value.parse::<usize>().ok().filter(|&i| i < self.count))
    }
}

/// One stage of a Dockerfile (with the stages it is built `FROM`) as a variant.
#[allow(clippy::too_many_arguments)]
fn stage_variant(
    source: &Source,
    options: &Options,
    base_env: &mut dyn FnMut(&str) -> Option<Vec<String>>,
    ctx: &mut Ctx<'_>,
    parsed: &parse_dockerfile::Dockerfile<'_>,
    stages: &[(Option<String>, usize, usize)],
    global: &BTreeMap<String, Option<String>>,
    refs: &StageRefs,
    last: usize,
    name: String,
) -> Option<Variant> {
    // The chain of stages the last one is built FROM, root first.
    let mut chain = vec![last];
    let image;
    loop {
        let (_, at, _) = stages[*chain.last().unwrap_or(&last)];
        let Instruction::From(f) = &parsed.instructions[at] else {
            return None;
        };
        for flag in &f.options {
            ctx.error(
                f.from.span.start,
                format!(
                    "FROM --{}: flags on FROM are not supported by the manifest",
                    flag.name.value
                ),
            );
        }
        let lookup = |n: &str| match global.get(n) {
            Some(Some(v)) => Lookup::Set(v.clone()),
            _ => Lookup::Unset,
        };
        let (words, _) = lex::words(&f.image.value, false, &lookup);
        let name = words.concat();
        let parent = stages[..*chain.last().unwrap_or(&last)]
            .iter()
            .rposition(|(n, _, _)| n.as_deref() == Some(name.to_lowercase().as_str()));
        match parent {
            Some(p) => chain.push(p),
            None => {
                image = name;
                break;
            }
        }
    }
    chain.reverse();
    if image.eq_ignore_ascii_case("scratch") {
        ctx.error(
            instruction_start(&parsed.instructions[stages[chain[0]].1]),
            "FROM scratch: a manifest target needs a base image (an empty one can be made with `docker import`)",
        );
        return None;
    }
    let known = base_env(&image);
    if known.is_none() {
        ctx.note(
            instruction_start(&parsed.instructions[stages[chain[0]].1]),
            format!(
                "the base image `{image}` is not in the local engine: its env is not known, so `$PATH` in ENV is taken as Docker's default ({DEFAULT_PATH}) and other names it may set are kept as written"
            ),
        );
    }
    let mut state = State {
        base_env: known.map(|env| {
            env.iter()
                .filter_map(|e| e.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        }),
        ..State::default()
    };
    let mut out = Variant {
        name,
        stage: last + 1 != stages.len(),
        chain: chain.clone(),
        reads: Vec::new(),
        file: source.file.clone(),
        from: image,
        steps: Vec::new(),
        state: State::default(),
        comments: Vec::new(),
    };
    for &s in &chain {
        let (_, at, end) = stages[s];
        state.args.clear();
        for ins in &parsed.instructions[at + 1..end] {
            instruction(
                ins, source, options, global, refs, &mut state, &mut out, ctx,
            );
        }
    }
    out.state = state;
    Some(out)
}

/// Stages of several Dockerfiles with the same base and steps become one stage target (the
/// first), so what copies from them is one step too. Repeated until nothing merges: a stage
/// that reads merged stages may become identical in turn.
pub(super) fn merge_identical_stages(variants: &mut Vec<Variant>, notes: &mut Vec<String>) {
    loop {
        let mut rename: BTreeMap<String, String> = BTreeMap::new();
        let mut first: BTreeMap<(String, Vec<Key>), String> = BTreeMap::new();
        for v in variants.iter().filter(|v| v.stage) {
            let sig = (v.from.clone(), v.steps.iter().map(key).collect());
            match first.get(&sig) {
                Some(kept) => {
                    rename.insert(v.name.clone(), kept.clone());
                }
                None => {
                    first.insert(sig, v.name.clone());
                }
            }
        }
        if rename.is_empty() {
            return;
        }
        for (gone, kept) in &rename {
            notes.push(format!(
                "stage `{gone}` has the same base and steps as `{kept}`: one stage, so the copies from it are one step"
            ));
        }
        variants.retain(|v| !(v.stage && rename.contains_key(&v.name)));
        for v in variants.iter_mut() {
            for s in &mut v.steps {
                let renamed = |name: &mut String, written: &mut String| {
                    if let Some(kept) = rename.get(name.as_str()) {
                        *written = written.replace(&format!("{name:?}"), &format!("{kept:?}"));
                        name.clone_from(kept);
                    }
                };
                if let Action::Copy(Copy { stage: Some(n), .. }) = &mut s.action {
                    renamed(n, &mut s.written_key);
                }
                for m in &mut s.context.mounts {
                    if let Mount::Bind { stage: Some(n), .. } = m {
                        renamed(n, &mut s.written_key);
                    }
                }
            }
        }
    }
}

//! `dockopt import`: Dockerfiles → a manifest whose targets hold the Dockerfiles' steps as sets,
//! with the `after` constraints import infers (each with a comment saying why).
//!
//! Parsing is `parse-dockerfile`'s (BuildKit's grammar: continuations, heredocs, flags, exec and
//! shell forms, byte spans); this module turns instructions into steps: it folds ENV, ARG,
//! USER, WORKDIR and SHELL into each step's context, follows a `FROM stage` chain, refuses what
//! the manifest cannot express with `file:line`, and reports what it only carries partly.
//! Pure: text in, text out; the CLI reads the files and asks the engine for base images' env.
//!
//! Here: the input and output, the variants being read, and [`import`], the sequence: each
//! Dockerfile's stages (`stages.rs`) read instruction by instruction (`instruction.rs`,
//! `copy.rs`, `mount.rs`, with the stage's `state.rs`), checks across files, steps interned by
//! identity and named (`names.rs`), the `after` pairs (`after.rs`, from `order.rs`'s facts),
//! the YAML (`render.rs`), and the notes.

mod after;
mod copy;
mod instruction;
mod lex;
mod mount;
mod names;
mod order;
mod render;
mod stages;
mod state;

use std::collections::{BTreeMap, BTreeSet};

use dockopt_manifest::{Action, StepContext};

use order::Facts;
use state::{AMBIENT, State};

/// One Dockerfile to import.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The path as the user gave it (messages, comments).
    pub(crate) file: String,
    /// The variant's name.
    pub(crate) name: String,
    /// Its text.
    pub(crate) text: String,
    /// Its build context (its folder) relative to the manifest's folder: `""` or `"dir/"`;
    /// COPY sources are rewritten under it.
    pub(crate) context: String,
}

/// How to import.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// Keep each Dockerfile's order (every step in `finally`).
    pub(crate) keep_order: bool,
    /// `--build-arg` values.
    pub(crate) build_args: BTreeMap<String, String>,
}

/// The written manifest and what import assumed.
#[derive(Clone, Debug)]
pub(crate) struct Imported {
    /// The manifest (YAML).
    pub(crate) yaml: String,
    /// Assumptions and things carried only partly, one per line, for stderr.
    pub(crate) notes: Vec<String>,
    /// Steps `docker build` runs for the Dockerfiles as written, each prefix once.
    pub(crate) as_written_runs: usize,
}

/// A step of a variant as read, before steps are interned across Dockerfiles.
#[derive(Clone, Debug)]
struct VStep {
    action: Action,
    context: StepContext,
    line: usize,
    facts: Facts,
    /// The step as `docker build` keys it (all env and args in effect), for the as-written count.
    written_key: String,
}

/// One target being imported: a Dockerfile's final stage, or a stage something reads.
#[derive(Clone, Debug)]
struct Variant {
    name: String,
    /// A stage other stages read (`stage: true`), not the Dockerfile's final stage.
    stage: bool,
    /// The Dockerfile's stages this one is built from (`FROM stage`), root first.
    chain: Vec<usize>,
    /// The Dockerfile's stages its steps read, in order of first use.
    reads: Vec<usize>,
    file: String,
    from: String,
    steps: Vec<VStep>,
    state: State,
    /// Comments for the target (what was carried partly).
    comments: Vec<String>,
}

/// Reading one Dockerfile: its text (for line numbers), the errors and notes it gives, and the
/// context files seen (for copying identical files from one place).
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    /// Offsets at which the text's lines after the first start (one per newline).
    newlines: Vec<usize>,
    errors: Vec<String>,
    notes: Vec<String>,
    /// A context file's contents and mode (path relative to the manifest's folder), when it is
    /// a regular file.
    contents: &'a mut dyn FnMut(&str) -> Option<Vec<u8>>,
    /// Contents seen → the first path that had them.
    seen: &'a mut BTreeMap<Vec<u8>, String>,
}

impl Ctx<'_> {
    /// The 1-based line of a byte offset (the newlines before it, plus one).
    fn line(&self, offset: usize) -> usize {
        self.newlines
            .partition_point(|&n| n < offset.min(self.text.len()))
            + 1
    }
    fn error(&mut self, offset: usize, message: impl std::fmt::Display) {
        let line = self.line(offset);
        self.errors.push(format!("{}:{line}: {message}", self.file));
    }
    fn note(&mut self, offset: usize, message: impl std::fmt::Display) {
        let line = self.line(offset);
        self.notes.push(format!("{}:{line}: {message}", self.file));
    }
}

/// Identity of a step across Dockerfiles.
type Key = (Action, StepContext);

/// A step's [`Key`].
fn key(s: &VStep) -> Key {
    (s.action.clone(), s.context.clone())
}

/// Imports Dockerfiles into one manifest.
///
/// `base_env` answers a base image's env when the engine has the image (else `None`);
/// `contents` a context file's mode and bytes (path relative to the manifest's folder) when it
/// is a regular file, so identical files in several folders are copied from one.
///
/// # Errors
/// Every problem, one `file:line: message` per entry.
#[allow(clippy::too_many_lines)]
pub(crate) fn import(
    sources: &[Source],
    options: &Options,
    base_env: &mut dyn FnMut(&str) -> Option<Vec<String>>,
    contents: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
) -> Result<Imported, Vec<String>> {
    let mut seen = BTreeMap::new();
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut variants = Vec::new();
    let mut variant_names = BTreeSet::new();
    for s in sources {
        if !variant_names.insert(s.name.clone()) {
            errors.push(format!(
                "{}: variant name `{}` is taken by another Dockerfile; pass --name for each file",
                s.file, s.name
            ));
        }
        let mut ctx = Ctx {
            file: &s.file,
            text: &s.text,
            newlines: s
                .text
                .bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
            errors: Vec::new(),
            notes: Vec::new(),
            contents: &mut *contents,
            seen: &mut seen,
        };
        let v = stages::variant(s, options, base_env, &mut ctx);
        errors.extend(ctx.errors);
        notes.extend(ctx.notes);
        if let Some(v) = v {
            variants.extend(v);
        }
    }
    // A stage target is named `VARIANT-STAGE`: it must not take another target's name.
    let mut taken: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
    for v in &variants {
        if let Some((file, stage)) = taken.insert(&v.name, (&v.file, v.stage))
            && (stage || v.stage)
        {
            errors.push(format!(
                "{}: target `{}` (a variant, or a stage named VARIANT-STAGE) has the name of a target from {file}; pass --name so that the names differ",
                v.file, v.name
            ));
        }
    }
    stages::merge_identical_stages(&mut variants, &mut notes);
    // A step twice in one Dockerfile cannot be a set's member twice.
    for v in &variants {
        let mut seen: BTreeMap<Key, usize> = BTreeMap::new();
        for s in &v.steps {
            if let Some(first) = seen.insert(key(s), s.line) {
                errors.push(format!(
                    "{}:{}: the same step as line {first} runs again; a target's steps are a set: make the commands differ (e.g. `apt-get update -q` the second time)",
                    v.file, s.line
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Distinct steps, named in order of first appearance.
    let mut ids: BTreeMap<Key, usize> = BTreeMap::new();
    let mut steps: Vec<&VStep> = Vec::new();
    for v in &variants {
        for s in &v.steps {
            ids.entry(key(s)).or_insert_with(|| {
                steps.push(s);
                steps.len() - 1
            });
        }
    }
    let step_names = names::step_names(&steps);

    // Inferred order (none with --keep-order).
    let after = if options.keep_order {
        BTreeMap::new()
    } else {
        after::infer(&variants, &ids, &step_names)?
    };

    // ENV that no step reads: image config only.
    let mut image_only = 0usize;
    for v in variants.iter().filter(|v| !v.stage) {
        for (k, (_, line)) in &v.state.env {
            if AMBIENT.contains(&k.as_str()) {
                continue;
            }
            let read = v.steps.iter().any(|s| s.context.env.contains_key(k));
            if !read {
                image_only += 1;
                notes.push(format!(
                    "{}:{line}: ENV {k} is read by no later RUN (none names `${k}`): image config only, not in any step's env; if a program reads it from its environment, add it to that step's `env:`",
                    v.file
                ));
            }
        }
    }

    // As written: every distinct prefix docker build would run, as the nodes of a trie (a
    // node per (parent node, step), the base as the parent of the first step).
    let mut prefixes: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    let mut roots: BTreeMap<&str, usize> = BTreeMap::new();
    let mut nodes = 0usize;
    for v in &variants {
        let mut node = *roots.entry(v.from.as_str()).or_insert_with(|| {
            nodes += 1;
            nodes
        });
        for s in &v.steps {
            node = *prefixes
                .entry((node, s.written_key.as_str()))
                .or_insert_with(|| {
                    nodes += 1;
                    nodes
                });
        }
    }

    let yaml = render::manifest(
        sources,
        options,
        &steps,
        &step_names,
        &ids,
        &after,
        &variants,
    );

    let folded = steps.iter().filter(|s| !s.context.env.is_empty()).count();
    let stage_count = variants.iter().filter(|v| v.stage).count();
    let finals = variants.len() - stage_count;
    notes.push(format!(
        "imported {finals} Dockerfile{} into {} distinct steps{}; {}",
        if finals == 1 { "" } else { "s" },
        steps.len(),
        if stage_count == 0 {
            String::new()
        } else {
            format!(
                " and {stage_count} stage{} (`stage: true`: built for the copies from them, never tagged)",
                if stage_count == 1 { "" } else { "s" }
            )
        },
        if options.keep_order {
            "each keeps its Dockerfile's order (--keep-order)".to_owned()
        } else {
            format!(
                "{} order constraints inferred (`after`, each with its reason in the file): installs after their index update, package-list removal after its users, scripts after every package operation, a script after every script and copy before it, copies after steps that touch their destination; independent package operations and copies are free",
                after.len()
            )
        }
    ));
    notes.push(format!(
        "ENV/ARG: {} an env: the ENV/ARG they name ({} kept everywhere: programs read them unnamed); {image_only} ENV read by no step {} image config only; USER, WORKDIR and SHELL are folded into every step after them",
        match folded {
            1 => "1 step carries".to_owned(),
            n => format!("{n} steps carry"),
        },
        AMBIENT.join(", "),
        if image_only == 1 { "is" } else { "are" }
    ));
    Ok(Imported {
        yaml,
        notes,
        as_written_runs: prefixes.len(),
    })
}

#[cfg(test)]
mod tests;

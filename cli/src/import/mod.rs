//! `dockopt import`: Dockerfiles → a manifest whose targets hold the Dockerfiles' steps as sets,
//! with the `after` constraints import infers (each with a comment saying why).
//!
//! Parsing is `parse-dockerfile`'s (BuildKit's grammar: continuations, heredocs, flags, exec and
//! shell forms, byte spans); this module turns instructions into steps: it folds ENV, ARG,
//! USER, WORKDIR and SHELL into each step's context, follows a `FROM stage` chain, refuses what
//! the manifest cannot express with `file:line`, and reports what it only carries partly.
//! Pure: text in, text out; the CLI reads the files and asks the engine for base images' env.

mod lex;
mod mount;
mod order;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use dockopt_manifest::{Action, Copy, Mount, RunCommand, StepContext};
use parse_dockerfile::{
    Command as DCommand, HealthcheckArguments, Instruction, JsonOrStringArray, Source as DSource,
};

use lex::Lookup;
use order::Facts;

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

/// The PATH Docker gives images that set none (assumed for `$PATH` when the base image is not
/// in the local engine; said so on stderr).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Env vars a program reads without the command naming them: kept in every step's context.
const AMBIENT: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "DEBIAN_FRONTEND",
    "HOME",
    "TZ",
    "SHELL",
];

#[derive(Clone, Debug, Default)]
struct State {
    /// ENV in effect, with the line that set it.
    env: BTreeMap<String, (String, usize)>,
    /// The base image's env, when the engine knows the image (substitution only).
    base_env: Option<BTreeMap<String, String>>,
    /// ARGs declared in this stage: value (None: declared without one).
    args: BTreeMap<String, Option<String>>,
    workdir: Option<String>,
    user: Option<String>,
    shell: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    labels: BTreeMap<String, String>,
    expose: Vec<String>,
    volumes: Vec<String>,
    stop_signal: Option<String>,
    /// `healthcheck:` as YAML (flow mapping, or `none`).
    healthcheck: Option<String>,
}

impl State {
    fn lookup(&self, name: &str) -> Lookup {
        if let Some((v, _)) = self.env.get(name) {
            return Lookup::Set(v.clone());
        }
        match self.args.get(name) {
            Some(Some(v)) => return Lookup::Set(v.clone()),
            Some(None) => return Lookup::Unset,
            None => {}
        }
        match &self.base_env {
            Some(env) => env
                .get(name)
                .map_or(Lookup::Unset, |v| Lookup::Set(v.clone())),
            // Docker's default PATH, which images without their own have.
            None if name == "PATH" => Lookup::Set(DEFAULT_PATH.into()),
            None => Lookup::Unknown,
        }
    }
}

#[derive(Clone, Debug)]
struct VStep {
    action: Action,
    context: StepContext,
    line: usize,
    facts: Facts,
    /// The step as `docker build` keys it (all env and args in effect), for the as-written count.
    written_key: String,
}

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

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<String>,
    notes: Vec<String>,
    /// A context file's contents and mode (path relative to the manifest's folder), when it is
    /// a regular file.
    contents: &'a mut dyn FnMut(&str) -> Option<Vec<u8>>,
    /// Contents seen → the first path that had them.
    seen: &'a mut BTreeMap<Vec<u8>, String>,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
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

fn instruction_start(i: &Instruction<'_>) -> usize {
    match i {
        Instruction::Add(x) => x.add.span.start,
        Instruction::Arg(x) => x.arg.span.start,
        Instruction::Cmd(x) => x.cmd.span.start,
        Instruction::Copy(x) => x.copy.span.start,
        Instruction::Entrypoint(x) => x.entrypoint.span.start,
        Instruction::Env(x) => x.env.span.start,
        Instruction::Expose(x) => x.expose.span.start,
        Instruction::From(x) => x.from.span.start,
        Instruction::Healthcheck(x) => x.healthcheck.span.start,
        Instruction::Label(x) => x.label.span.start,
        Instruction::Maintainer(x) => x.maintainer.span.start,
        Instruction::Onbuild(x) => x.onbuild.span.start,
        Instruction::Run(x) => x.run.span.start,
        Instruction::Shell(x) => x.shell.span.start,
        Instruction::Stopsignal(x) => x.stopsignal.span.start,
        Instruction::User(x) => x.user.span.start,
        Instruction::Volume(x) => x.volume.span.start,
        Instruction::Workdir(x) => x.workdir.span.start,
        _ => 0,
    }
}

/// A command of RUN/CMD/ENTRYPOINT as argv (shell form through SHELL, else `/bin/sh -c`).
fn command_argv(cmd: &DCommand<'_>, shell: Option<&Vec<String>>) -> Vec<String> {
    match cmd {
        DCommand::Exec(argv) => argv.value.iter().map(|s| s.value.to_string()).collect(),
        DCommand::Shell(text) => {
            let text = lex::normalise_whitespace(&lex::join_continuations(text.value));
            let mut argv = shell
                .cloned()
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            argv.push(text);
            argv
        }
        _ => Vec::new(),
    }
}

fn resolve_dir(current: Option<&str>, dir: &str) -> String {
    if dir.starts_with('/') {
        return dir.to_owned();
    }
    match current {
        Some(c) => format!("{}/{dir}", c.trim_end_matches('/')),
        None => dir.to_owned(),
    }
}

/// Reads one Dockerfile into a variant (its final stage, with the stages it is built `FROM`).
fn variant(
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
struct StageRefs {
    by_name: BTreeMap<String, usize>,
    targets: Vec<String>,
    count: usize,
}

impl StageRefs {
    /// The stage `--from=value` names, if it names one (else it is an image).
    fn stage(&self, value: &str) -> Option<usize> {
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
#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
fn instruction(
    ins: &Instruction<'_>,
    source: &Source,
    options: &Options,
    global: &BTreeMap<String, Option<String>>,
    refs: &StageRefs,
    state: &mut State,
    out: &mut Variant,
    ctx: &mut Ctx<'_>,
) {
    let start = instruction_start(ins);
    let warn_unknown = |ctx: &mut Ctx<'_>, unknown: Vec<String>| {
        for name in unknown {
            ctx.note(
                start,
                format!(
                    "`${name}` is not set in this Dockerfile and the base image's env is not known here: kept as written"
                ),
            );
        }
    };
    let snapshot = state.clone();
    let lookup = move |n: &str| snapshot.lookup(n);
    match ins {
        Instruction::Arg(a) => {
            let (pairs, unknown) = lex::pairs(&a.arguments.value, &lookup);
            warn_unknown(ctx, unknown);
            for (k, v) in pairs {
                let value = options
                    .build_args
                    .get(&k)
                    .cloned()
                    .or(v)
                    .or_else(|| global.get(&k).cloned().flatten());
                state.args.insert(k, value);
            }
        }
        Instruction::Env(e) => {
            let (pairs, unknown) = lex::pairs(&e.arguments.value, &lookup);
            warn_unknown(ctx, unknown);
            let line = ctx.line(start);
            for (k, v) in pairs {
                state.env.insert(k, (v.unwrap_or_default(), line));
            }
        }
        Instruction::Workdir(w) => {
            let (words, unknown) = lex::words(&w.arguments.value, false, &lookup);
            warn_unknown(ctx, unknown);
            state.workdir = Some(resolve_dir(state.workdir.as_deref(), &words.concat()));
        }
        Instruction::User(u) => {
            let (words, unknown) = lex::words(&u.arguments.value, false, &lookup);
            warn_unknown(ctx, unknown);
            state.user = Some(words.concat());
        }
        Instruction::Shell(s) => {
            state.shell = Some(s.arguments.iter().map(|a| a.value.to_string()).collect());
        }
        Instruction::Cmd(c) => state.cmd = Some(command_argv(&c.arguments, state.shell.as_ref())),
        Instruction::Entrypoint(e) => {
            state.entrypoint = Some(command_argv(&e.arguments, state.shell.as_ref()));
            // As docker build: an ENTRYPOINT drops the CMD set before it.
            state.cmd = None;
        }
        Instruction::Label(l) => {
            let (pairs, unknown) = lex::pairs(&l.arguments.value, &lookup);
            warn_unknown(ctx, unknown);
            for (k, v) in pairs {
                state.labels.insert(k, v.unwrap_or_default());
            }
        }
        Instruction::Expose(e) => {
            for a in &e.arguments {
                let (words, unknown) = lex::words(&a.value, false, &lookup);
                warn_unknown(ctx, unknown);
                let port = words.concat();
                if !state.expose.contains(&port) {
                    state.expose.push(port);
                }
            }
        }
        Instruction::Run(r) => {
            let mut ok = true;
            let mut mounts = Vec::new();
            for flag in &r.options {
                let value = flag.value.as_ref().map(|v| v.value.to_string());
                match (flag.name.value.as_ref(), value) {
                    ("mount", Some(spec)) => {
                        match mount::parse(&spec, &lookup, source, refs, &mut out.reads) {
                            Ok(m) => mounts.push(m),
                            Err(e) => {
                                ctx.error(start, format!("RUN --mount={spec}: {e}"));
                                ok = false;
                            }
                        }
                    }
                    (name, _) => {
                        ctx.error(
                            start,
                            format!(
                                "RUN --{name}: not supported by the manifest (only --mount is)"
                            ),
                        );
                        ok = false;
                    }
                }
            }
            if !r.here_docs.is_empty() {
                ctx.error(
                    start,
                    "RUN with a here-document: not supported yet; write it as a script file and COPY it",
                );
                ok = false;
            }
            if !ok {
                return;
            }
            let command = match (&r.arguments, &state.shell) {
                (DCommand::Shell(text), None) => RunCommand::Shell(lex::normalise_whitespace(
                    &lex::join_continuations(text.value),
                )),
                (cmd, shell) => RunCommand::Exec(command_argv(cmd, shell.as_ref())),
            };
            let text = match &command {
                RunCommand::Shell(s) => s.clone(),
                RunCommand::Exec(a) => a.join(" "),
            };
            if text.trim().is_empty() {
                ctx.error(start, "RUN without a command");
                return;
            }
            let mut env = BTreeMap::new();
            for (k, (v, _)) in &state.env {
                if AMBIENT.contains(&k.as_str()) || lex::references(&text, k) {
                    env.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in &state.args {
                if let Some(v) = v
                    && !state.env.contains_key(k)
                    && lex::references(&text, k)
                {
                    env.insert(k.clone(), v.clone());
                }
            }
            let context = StepContext {
                env,
                workdir: state.workdir.clone(),
                user: state.user.clone(),
                mounts,
            };
            let action = Action::Run(command);
            push_step(out, state, action, context, ctx.line(start));
        }
        Instruction::Copy(_) | Instruction::Add(_) => {
            copy(ins, source, refs, state, out, ctx, &lookup);
        }
        Instruction::Healthcheck(h) => {
            let mut yaml = match &h.arguments {
                HealthcheckArguments::None { .. } => "none".to_owned(),
                HealthcheckArguments::Cmd { arguments, .. } => {
                    let test = match arguments {
                        DCommand::Shell(text) => vec![
                            "CMD-SHELL".to_owned(),
                            lex::normalise_whitespace(&lex::join_continuations(text.value)),
                        ],
                        DCommand::Exec(argv) => std::iter::once("CMD".to_owned())
                            .chain(argv.value.iter().map(|a| a.value.to_string()))
                            .collect(),
                        _ => Vec::new(),
                    };
                    format!("{{test: {}", yaml_list(&test))
                }
                _ => String::new(),
            };
            if yaml.starts_with('{') {
                for flag in &h.options {
                    let name = flag.name.value.replace('-', "_");
                    let value = flag
                        .value
                        .as_ref()
                        .map(|v| v.value.to_string())
                        .unwrap_or_default();
                    match name.as_str() {
                        "interval" | "timeout" | "start_period" => {
                            yaml.push_str(&format!(", {name}: {}", quote(&value)));
                        }
                        "retries" if value.parse::<u64>().is_ok() => {
                            yaml.push_str(&format!(", retries: {value}"));
                        }
                        _ => ctx.note(
                            start,
                            format!(
                                "HEALTHCHECK --{}: the manifest has no field for it: not carried",
                                flag.name.value
                            ),
                        ),
                    }
                }
                yaml.push('}');
            }
            state.healthcheck = Some(yaml).filter(|y| !y.is_empty());
        }
        Instruction::Stopsignal(x) => {
            let (words, unknown) = lex::words(&x.arguments.value, false, &lookup);
            warn_unknown(ctx, unknown);
            state.stop_signal = Some(words.concat());
        }
        Instruction::Volume(x) => {
            let items: Vec<&str> = match &x.arguments {
                JsonOrStringArray::Json(list) => {
                    list.value.iter().map(|a| a.value.as_ref()).collect()
                }
                JsonOrStringArray::String(list) => list.iter().map(|a| a.value.as_ref()).collect(),
            };
            for item in items {
                let (words, unknown) = lex::words(item, false, &lookup);
                warn_unknown(ctx, unknown);
                let path = words.concat();
                if !state.volumes.contains(&path) {
                    state.volumes.push(path);
                }
            }
        }
        Instruction::Onbuild(_) => {
            ctx.note(
                start,
                "ONBUILD: the manifest has no field for it: not carried into the image config",
            );
            out.comments.push(format!(
                "ONBUILD at {}:{} not carried",
                source.file,
                ctx.line(start)
            ));
        }
        Instruction::Maintainer(_) => {
            ctx.note(
                start,
                "MAINTAINER (deprecated) sets the image's author, which the manifest has no field for: not carried (a `labels:` entry is the modern form)",
            );
            out.comments.push(format!(
                "MAINTAINER at {}:{} not carried",
                source.file,
                ctx.line(start)
            ));
        }
        Instruction::From(_) => {}
        _ => ctx.error(start, "an instruction import does not know"),
    }
}

fn push_step(out: &mut Variant, state: &State, action: Action, context: StepContext, line: usize) {
    let facts = order::facts(&action, context.workdir.as_deref());
    let mut all = BTreeMap::new();
    for (k, (v, _)) in &state.env {
        all.insert(k.clone(), v.clone());
    }
    for (k, v) in &state.args {
        all.entry(k.clone())
            .or_insert_with(|| v.clone().unwrap_or_default());
    }
    let written_key = match &action {
        Action::Run(_) => format!(
            "{action:?} {all:?} {:?} {:?}",
            context.workdir, context.user
        ),
        Action::Copy(_) => format!("{action:?} {:?}", context.workdir),
    };
    out.steps.push(VStep {
        action,
        context,
        line,
        facts,
        written_key,
    });
}

fn copy(
    ins: &Instruction<'_>,
    source: &Source,
    refs: &StageRefs,
    state: &State,
    out: &mut Variant,
    ctx: &mut Ctx<'_>,
    lookup: &dyn Fn(&str) -> Lookup,
) {
    let start = instruction_start(ins);
    let (is_add, options, src, dest) = match ins {
        Instruction::Copy(c) => (false, &c.options, &c.src, &c.dest),
        Instruction::Add(a) => (true, &a.options, &a.src, &a.dest),
        _ => return,
    };
    let word = "COPY/ADD";
    let mut from = None;
    let mut stage = None;
    let mut ok = true;
    for flag in options {
        let value = flag.value.as_ref().map(|v| v.value.to_string());
        match (flag.name.value.as_ref(), value) {
            ("from", Some(v)) => {
                let (w, _) = lex::words(&v, false, lookup);
                let v = w.concat();
                if let Some(i) = refs.stage(&v) {
                    if !out.reads.contains(&i) {
                        out.reads.push(i);
                    }
                    stage = Some(refs.targets[i].clone());
                } else if !v.contains([':', '/', '@']) {
                    // The manifest reads a bare name as a stage: an image gets its tag.
                    from = Some(format!("{v}:latest"));
                } else {
                    from = Some(v);
                }
            }
            (name, _) => {
                ctx.error(
                    start,
                    format!("{word} --{name}: not supported by the manifest yet"),
                );
                ok = false;
            }
        }
    }
    let mut srcs = Vec::new();
    for s in src {
        match s {
            DSource::Path(p) => {
                let (w, unknown) = lex::words(&p.value, false, lookup);
                for name in unknown {
                    ctx.note(
                        start,
                        format!("`${name}` is not known here: kept as written"),
                    );
                }
                srcs.push(w.concat());
            }
            _ => {
                ctx.error(
                    start,
                    format!("{word} of a here-document: not supported yet"),
                );
                ok = false;
            }
        }
    }
    if is_add {
        for s in &srcs {
            if s.contains("://") || s.starts_with("git@") {
                ctx.error(
                    start,
                    format!("ADD {s}: fetching URLs is not supported; use RUN curl/wget, or download it into the context"),
                );
                ok = false;
            } else if [
                ".tar", ".tgz", ".tar.gz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.zst",
            ]
            .iter()
            .any(|ext| s.ends_with(ext))
                && from.is_none()
                && stage.is_none()
            {
                ctx.error(
                    start,
                    format!("ADD {s}: ADD unpacks local archives and the manifest only copies; unpack it with a RUN after a COPY"),
                );
                ok = false;
            }
        }
        if ok {
            ctx.note(start, "ADD of local files: imported as a copy");
        }
    }
    if !ok {
        return;
    }
    let (w, _) = lex::words(&dest.value, false, lookup);
    let dest = w.concat();
    let mut src: Vec<String> = srcs
        .into_iter()
        .map(|s| {
            if from.is_some() || stage.is_some() {
                s
            } else {
                let s = s.trim_start_matches("./").trim_start_matches('/');
                format!("{}{s}", source.context)
            }
        })
        .map(|s| if s.is_empty() { ".".into() } else { s })
        .collect();
    // The same file in several folders (one entrypoint copied into every variant's folder):
    // copied from the first, so the copies are one step. Single files only, by contents and mode.
    if from.is_none() && stage.is_none() && src.len() == 1 && !src[0].contains(['*', '?', '[']) {
        let name_of = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
        if let Some(bytes) = (ctx.contents)(&src[0]) {
            let mut key = name_of(&src[0]).into_bytes();
            key.push(0);
            key.extend(bytes);
            match ctx.seen.get(&key) {
                Some(first) if *first != src[0] => {
                    let first = first.clone();
                    ctx.note(
                        start,
                        format!(
                            "`{}` has the same contents and mode as `{first}`: copied from there, so the copies are one step",
                            src[0]
                        ),
                    );
                    src[0] = first;
                }
                Some(_) => {}
                None => {
                    ctx.seen.insert(key, src[0].clone());
                }
            }
        }
    }
    // A relative destination needs the working directory; an absolute one does not.
    let workdir = if dest.starts_with('/') {
        None
    } else {
        state.workdir.clone()
    };
    let action = Action::Copy(Copy {
        src,
        dest,
        from,
        stage,
    });
    let context = StepContext {
        env: BTreeMap::new(),
        workdir,
        user: None,
        mounts: Vec::new(),
    };
    let line = ctx.line(start);
    push_step(out, state, action, context, line);
}

/// Stages of several Dockerfiles with the same base and steps become one stage target (the
/// first), so what copies from them is one step too. Repeated until nothing merges: a stage
/// that reads merged stages may become identical in turn.
fn merge_identical_stages(variants: &mut Vec<Variant>, notes: &mut Vec<String>) {
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

/// Identity of a step across Dockerfiles.
type Key = (Action, StepContext);

fn key(s: &VStep) -> Key {
    (s.action.clone(), s.context.clone())
}

fn sanitize(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches(['-', '.']).to_owned();
    out.chars().take(32).collect::<String>()
}

fn base_name(s: &VStep) -> String {
    let f = &s.facts;
    let name = match &s.action {
        Action::Copy(c) => format!(
            "copy-{}",
            c.src
                .first()
                .and_then(|p| p.trim_end_matches('/').rsplit('/').next())
                .map(sanitize)
                .unwrap_or_default()
        ),
        Action::Run(_) if f.package && !f.packages.is_empty() => {
            let mut n = format!("install-{}", sanitize(&f.packages[0]));
            if f.packages.len() > 1 {
                n.push_str("-etc");
            }
            n
        }
        Action::Run(_) if f.package && f.fetches => "apt-update".into(),
        Action::Run(_) if f.package && f.drops => "clean-lists".into(),
        Action::Run(cmd) => {
            let text = match cmd {
                RunCommand::Shell(t) => t.clone(),
                RunCommand::Exec(a) => a.join(" "),
            };
            let word = text
                .split(['&', ';', '|'])
                .map(str::trim)
                .find(|seg| !seg.is_empty() && !seg.starts_with("set "))
                .and_then(|seg| seg.split_whitespace().next())
                .map(|w| sanitize(w.rsplit('/').next().unwrap_or(w)))
                .unwrap_or_default();
            format!("run-{word}")
        }
    };
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() { "step".into() } else { name }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A YAML key or step reference: plain when it is a simple name, else quoted.
fn yaml_name(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain { s.to_owned() } else { quote(s) }
}

/// A mount as a YAML flow mapping (`{type: cache, target: "/root/.cache"}`).
fn yaml_mount(m: &Mount) -> String {
    let mut parts: Vec<String> = Vec::new();
    match m {
        Mount::Cache {
            target,
            id,
            sharing,
        } => {
            parts.push("type: cache".into());
            parts.push(format!("target: {}", quote(&strict(target))));
            if let Some(id) = id {
                parts.push(format!("id: {}", quote(&strict(id))));
            }
            parts.push(format!("sharing: {}", sharing.as_str()));
        }
        Mount::Secret {
            id,
            target,
            required,
        } => {
            parts.push("type: secret".into());
            parts.push(format!("id: {}", quote(&strict(id))));
            if let Some(t) = target {
                parts.push(format!("target: {}", quote(&strict(t))));
            }
            if *required {
                parts.push("required: true".into());
            }
        }
        Mount::Bind {
            target,
            source,
            stage,
            rw,
        } => {
            parts.push("type: bind".into());
            parts.push(format!("target: {}", quote(&strict(target))));
            if let Some(s) = source {
                parts.push(format!("source: {}", quote(&strict(s))));
            }
            if let Some(s) = stage {
                parts.push(format!("from: {}", quote(&strict(s))));
            }
            if *rw {
                parts.push("rw: true".into());
            }
        }
        Mount::Tmpfs { target, size } => {
            parts.push("type: tmpfs".into());
            parts.push(format!("target: {}", quote(&strict(target))));
            if let Some(n) = size {
                parts.push(format!("size: {n}"));
            }
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// Writes `$` in strict manifest fields (paths, images) so the manifest keeps it literal.
fn strict(s: &str) -> String {
    s.replace('$', "$$")
}

fn yaml_map(map: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn yaml_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Imports Dockerfiles into one manifest.
///
/// `base_env` answers a base image's env when the engine has the image (else `None`);
/// `contents` a context file's mode and bytes (path relative to the manifest's folder) when it
/// is a regular file, so identical files in several folders are copied from one.
///
/// # Errors
/// Every problem, one `file:line: message` per entry.
#[allow(clippy::too_many_lines, clippy::needless_range_loop)]
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
    let mut names = BTreeSet::new();
    for s in sources {
        if !names.insert(s.name.clone()) {
            errors.push(format!(
                "{}: variant name `{}` is taken by another Dockerfile; pass --name for each file",
                s.file, s.name
            ));
        }
        let mut ctx = Ctx {
            file: &s.file,
            text: &s.text,
            errors: Vec::new(),
            notes: Vec::new(),
            contents: &mut *contents,
            seen: &mut seen,
        };
        let v = variant(s, options, base_env, &mut ctx);
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
    merge_identical_stages(&mut variants, &mut notes);
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
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let step_names: Vec<String> = steps
        .iter()
        .map(|s| {
            let base = base_name(s);
            let n = taken.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}-{n}") }
        })
        .collect();

    // Inferred order: per Dockerfile, reduced to the pairs not implied by others; the reason
    // and the lines of the first Dockerfile that needed each pair.
    let mut after: BTreeMap<(usize, usize), String> = BTreeMap::new();
    let mut inferred = 0usize;
    if !options.keep_order {
        for v in &variants {
            let n = v.steps.len();
            let mut need = vec![vec![None::<String>; n]; n];
            for j in 0..n {
                for i in 0..j {
                    need[i][j] = order::must_follow(&v.steps[i].facts, &v.steps[j].facts);
                }
            }
            // reach[i][j]: j must follow i, directly or through steps between them.
            let mut reach = vec![vec![false; n]; n];
            for j in 0..n {
                for i in (0..j).rev() {
                    reach[i][j] =
                        need[i][j].is_some() || (i + 1..j).any(|k| reach[i][k] && reach[k][j]);
                }
            }
            for j in 0..n {
                for i in 0..j {
                    let Some(why) = &need[i][j] else { continue };
                    // Implied through some k between them: not written.
                    if (i + 1..j).any(|k| reach[i][k] && reach[k][j]) {
                        continue;
                    }
                    let (a, b) = (ids[&key(&v.steps[i])], ids[&key(&v.steps[j])]);
                    after.entry((a, b)).or_insert_with(|| {
                        inferred += 1;
                        format!(
                            "{why} ({}:{} after line {})",
                            v.file, v.steps[j].line, v.steps[i].line
                        )
                    });
                }
            }
        }
        // Every Dockerfile's own order must still be possible.
        let n = steps.len();
        let mut succ = vec![Vec::new(); n];
        for &(a, b) in after.keys() {
            succ[a].push(b);
        }
        let reaches = |from: usize, to: usize| {
            let mut seen = vec![false; n];
            let mut stack = vec![from];
            while let Some(x) = stack.pop() {
                if x == to {
                    return true;
                }
                for &y in &succ[x] {
                    if !std::mem::replace(&mut seen[y], true) {
                        stack.push(y);
                    }
                }
            }
            false
        };
        for v in &variants {
            for j in 0..v.steps.len() {
                for i in 0..j {
                    let (a, b) = (ids[&key(&v.steps[i])], ids[&key(&v.steps[j])]);
                    if reaches(b, a) {
                        errors.push(format!(
                            "{}:{}: `{}` runs before `{}` (line {}) here, but another Dockerfile needs it after; make the Dockerfiles agree, or import with --keep-order",
                            v.file, v.steps[i].line, step_names[a], step_names[b], v.steps[j].line
                        ));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }

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

    // As written: every distinct prefix docker build would run.
    let mut prefixes = BTreeSet::new();
    for v in &variants {
        let mut path = vec![v.from.clone()];
        for s in &v.steps {
            path.push(s.written_key.clone());
            prefixes.insert(path.clone());
        }
    }

    // The manifest.
    let mut y = String::new();
    let files: Vec<&str> = sources.iter().map(|s| s.file.as_str()).collect();
    let _ = writeln!(y, "# syntax=dockopt/frontend:local");
    let _ = writeln!(
        y,
        "# Written by `dockopt import` from {} Dockerfile{}: {}.",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        files.join(", ")
    );
    if options.keep_order {
        let _ = writeln!(
            y,
            "# --keep-order: each target runs its steps in the Dockerfile's order (`finally`)."
        );
    } else {
        let _ = writeln!(
            y,
            "# Each `after` below is an order import inferred; the comment above it says why."
        );
    }
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "steps:");
    let mut preds: BTreeMap<usize, Vec<(usize, &String)>> = BTreeMap::new();
    for ((a, b), why) in &after {
        preds.entry(*b).or_default().push((*a, why));
    }
    for (id, s) in steps.iter().enumerate() {
        let _ = writeln!(y, "  {}:", yaml_name(&step_names[id]));
        match &s.action {
            Action::Run(RunCommand::Shell(t)) => {
                let _ = writeln!(y, "    run: {}", quote(t));
            }
            Action::Run(RunCommand::Exec(argv)) => {
                let _ = writeln!(y, "    run: {}", yaml_list(argv));
            }
            Action::Copy(c) => {
                let src: Vec<String> = c.src.iter().map(|p| strict(p)).collect();
                let _ = write!(
                    y,
                    "    copy: {{src: {}, dest: {}",
                    yaml_list(&src),
                    quote(&strict(&c.dest))
                );
                if let Some(f) = c.stage.as_ref().or(c.from.as_ref()) {
                    let _ = write!(y, ", from: {}", quote(&strict(f)));
                }
                let _ = writeln!(y, "}}");
            }
        }
        if !s.context.env.is_empty() {
            let _ = writeln!(y, "    env: {}", yaml_map(&s.context.env));
        }
        if let Some(w) = &s.context.workdir {
            let _ = writeln!(y, "    workdir: {}", quote(w));
        }
        if let Some(u) = &s.context.user {
            let _ = writeln!(y, "    user: {}", quote(u));
        }
        if !s.context.mounts.is_empty() {
            let _ = writeln!(y, "    mounts:");
            for m in &s.context.mounts {
                let _ = writeln!(y, "      - {}", yaml_mount(m));
            }
        }
        if let Some(p) = preds.get(&id) {
            let _ = writeln!(y, "    after:");
            for (a, why) in p {
                let _ = writeln!(y, "      # {why}");
                let _ = writeln!(y, "      - {}", yaml_name(&step_names[*a]));
            }
        }
    }
    let _ = writeln!(y, "targets:");
    for v in &variants {
        let _ = writeln!(y, "  {}:", yaml_name(&v.name));
        if v.stage {
            let _ = writeln!(
                y,
                "    # a stage of {}, read by the targets that copy from it",
                v.file
            );
            let _ = writeln!(y, "    stage: true");
        } else {
            let _ = writeln!(y, "    # from {}", v.file);
        }
        for c in &v.comments {
            let _ = writeln!(y, "    # {c}");
        }
        let _ = writeln!(y, "    from: {}", quote(&strict(&v.from)));
        let list: Vec<String> = v
            .steps
            .iter()
            .map(|s| yaml_name(&step_names[ids[&key(s)]]))
            .collect();
        let field = if options.keep_order {
            "finally"
        } else {
            "steps"
        };
        let _ = writeln!(y, "    {field}: [{}]", list.join(", "));
        if v.stage {
            // A stage's image config is never used: only its files are read.
            continue;
        }
        let st = &v.state;
        if !st.env.is_empty() {
            let env: BTreeMap<String, String> = st
                .env
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect();
            let _ = writeln!(y, "    env: {}", yaml_map(&env));
        }
        if let Some(w) = &st.workdir {
            let _ = writeln!(y, "    workdir: {}", quote(w));
        }
        if let Some(u) = &st.user {
            let _ = writeln!(y, "    user: {}", quote(u));
        }
        if let Some(c) = &st.entrypoint {
            let _ = writeln!(y, "    entrypoint: {}", yaml_list(c));
        }
        if let Some(c) = &st.cmd {
            let _ = writeln!(y, "    cmd: {}", yaml_list(c));
        }
        if !st.labels.is_empty() {
            let _ = writeln!(y, "    labels: {}", yaml_map(&st.labels));
        }
        if !st.expose.is_empty() {
            let _ = writeln!(y, "    expose: {}", yaml_list(&st.expose));
        }
        if !st.volumes.is_empty() {
            let volumes: Vec<String> = st.volumes.iter().map(|v| strict(v)).collect();
            let _ = writeln!(y, "    volumes: {}", yaml_list(&volumes));
        }
        if let Some(s) = &st.stop_signal {
            let _ = writeln!(y, "    stop_signal: {}", quote(&strict(s)));
        }
        if let Some(h) = &st.healthcheck {
            let _ = writeln!(y, "    healthcheck: {h}");
        }
    }

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
                "{inferred} order constraints inferred (`after`, each with its reason in the file): installs after their index update, package-list removal after its users, scripts after every package operation, a script after every script and copy before it, copies after steps that touch their destination; independent package operations and copies are free"
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
        yaml: y,
        notes,
        as_written_runs: prefixes.len(),
    })
}

#[cfg(test)]
mod tests;

//! One instruction of a stage: ENV, ARG, USER, WORKDIR and SHELL update the stage's state; RUN
//! becomes a step with the state it needs folded into its context; the image config
//! instructions (CMD, ENTRYPOINT, LABEL, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK) are kept for
//! the target; what the manifest cannot express is an error or a note naming `file:line`.

use std::collections::BTreeMap;

use dockopt_manifest::{Action, RunCommand, StepContext};
use parse_dockerfile::{Command as DCommand, HealthcheckArguments, Instruction, JsonOrStringArray};

use super::copy::copy;
use super::render::{quote, yaml_list};
use super::stages::StageRefs;
use super::state::{AMBIENT, State};
use super::{Ctx, Options, Source, VStep, Variant, lex, mount, order};

/// Where an instruction starts (its keyword), for `file:line`.
pub(super) fn instruction_start(i: &Instruction<'_>) -> usize {
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

/// Reads one instruction of a stage into `state` (and `out`'s steps, reads and comments).
#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
pub(super) fn instruction(
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

/// Adds a step to `out`, with its ordering facts and its key as `docker build` sees it.
pub(super) fn push_step(
    out: &mut Variant,
    state: &State,
    action: Action,
    context: StepContext,
    line: usize,
) {
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

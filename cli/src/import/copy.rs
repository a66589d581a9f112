//! `COPY` and `ADD` → a copy step: `--from` an image or a stage (a stage read is recorded), local
//! sources rewritten under the Dockerfile's context prefix, the same file in several folders
//! copied from the first, and what the manifest cannot copy (URLs, archives ADD would unpack,
//! here-documents, other flags) refused.

use std::collections::BTreeMap;

use dockopt_manifest::{Action, Copy, StepContext};
use parse_dockerfile::{Instruction, Source as DSource};

use super::instruction::{instruction_start, push_step};
use super::lex::{self, Lookup};
use super::stages::StageRefs;
use super::state::State;
use super::{Ctx, Source, Variant};

/// Reads a `COPY` or `ADD` into a copy step of `out` (nothing, with an error, when it cannot).
pub(super) fn copy(
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

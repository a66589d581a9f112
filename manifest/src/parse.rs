//! YAML text → [`Manifest`], collecting every problem with its place.

use std::collections::{BTreeMap, BTreeSet};

use dockopt_diagnostics::yaml::{Reader, describe, join};
use dockopt_diagnostics::{Diagnostic, Diagnostics, Span, did_you_mean};
use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::image_ref;
use crate::model::{
    Action, Arg, CacheSharing, Copy, Healthcheck, ImageConfig, Manifest, Mount, RunCommand, Step,
    StepContext, Target,
};
use crate::subst::{Mode, SubstError, substitute_noting};

const TOP_KEYS: &[&str] = &[
    "version", "args", "defaults", "steps", "targets", "default", "layers",
];
/// Layers a target may add to its base unless `layers:` says otherwise.
pub const DEFAULT_LAYER_LIMIT: usize = 100;
/// Docker's own limit on an image's layers (base included): `layers:` may not go past it.
pub const DOCKER_LAYER_LIMIT: usize = 125;
const DEFAULTS_KEYS: &[&str] = &["from"];
/// The largest `time:` a step may give: a year in seconds. Sums over a million such steps stay
/// far from overflow, and anything longer is a typo.
const MAX_TIME: f64 = 31_536_000.0;

const STEP_KEYS: &[&str] = &[
    "run", "copy", "time", "after", "env", "workdir", "user", "mounts",
];
const INLINE_STEP_KEYS: &[&str] = &[
    "name", "run", "copy", "time", "after", "env", "workdir", "user", "mounts",
];
const MOUNT_TYPES: &[&str] = &["cache", "secret", "bind", "tmpfs"];
const COPY_KEYS: &[&str] = &["src", "dest", "from"];
const TARGET_KEYS: &[&str] = &[
    "from",
    "steps",
    "finally",
    "env",
    "workdir",
    "user",
    "cmd",
    "entrypoint",
    "labels",
    "expose",
    "tags",
    "matrix",
    "exclude",
    "volumes",
    "stop_signal",
    "healthcheck",
    "stage",
    "squash",
];
const HEALTHCHECK_KEYS: &[&str] = &["test", "interval", "timeout", "start_period", "retries"];

/// A step's identity: what it does and the context it does it in.
type StepKey = (Action, StepContext);

/// One declaration of a step, global or inline.
struct Decl {
    name: Option<String>,
    key: StepKey,
    time: Option<f64>,
    after: Vec<(String, Span, String)>,
    /// Targets it reads (`copy: {from: STAGE}`, bind mounts): name, place of the name, field.
    stages: Vec<(String, Span, String)>,
    span: Span,
    field: String,
}

/// A target's list entry before names are resolved.
enum Entry {
    /// A reference to a named step.
    Ref {
        name: String,
        span: Span,
        field: String,
    },
    /// An inline declaration (index into the decls).
    Inline(usize),
}

struct RawTarget {
    name: String,
    span: Span,
    from: String,
    base: String,
    steps: Vec<Entry>,
    finally: Vec<Entry>,
    config: ImageConfig,
    tags: Vec<String>,
    stage: bool,
    squash: bool,
}

/// Parses and validates a manifest.
///
/// `file` names the text in messages; `build_args` override declared args (`--build-arg`).
///
/// # Errors
/// Every problem found, each with line, column, field and what was expected.
pub fn parse(
    file: &str,
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Manifest, Diagnostics> {
    let mut p = Parser {
        yaml: Reader::default(),
        args: BTreeMap::new(),
        declared_args: BTreeMap::new(),
        name_lookup: BTreeMap::new(),
        broken_steps: BTreeSet::new(),
        broken_defaults: false,
        stage_refs: Vec::new(),
        layer_limit: DEFAULT_LAYER_LIMIT,
    };
    let manifest = p.manifest(file, text, build_args);
    match manifest {
        Some(m) if p.yaml.errors.is_empty() => Ok(m),
        _ => {
            let mut errors = p.yaml.errors;
            errors.sort_by_key(|e| e.span);
            errors.dedup();
            if errors.is_empty() {
                errors.push(Diagnostic {
                    span: Span::default(),
                    field: String::new(),
                    message: "the manifest is not valid".into(),
                    help: None,
                });
            }
            Err(Diagnostics {
                file: file.to_owned(),
                errors,
            })
        }
    }
}

struct Parser {
    /// The problems found so far, and the YAML shape checks.
    yaml: Reader,
    args: BTreeMap<String, String>,
    /// Declared args: default, declaration and the values that use them.
    declared_args: BTreeMap<String, Arg>,
    /// Step names → ids, once interned.
    name_lookup: BTreeMap<String, usize>,
    /// Names of declared steps that had errors: uses of them are not errors of their own.
    broken_steps: BTreeSet<String>,
    /// `defaults:` had errors: targets without `from` are not errors of their own.
    broken_defaults: bool,
    /// Stage names read by the step being parsed (moved into its [`Decl`]).
    stage_refs: Vec<(String, Span, String)>,
    /// `layers:` as read (0: no budget).
    layer_limit: usize,
}

impl Parser {
    fn error(&mut self, span: Span, field: &str, message: impl Into<String>, help: Option<String>) {
        self.yaml.error(span, field, message, help);
    }

    fn manifest(
        &mut self,
        file: &str,
        text: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Option<Manifest> {
        let top_must = "the manifest must be a YAML mapping (`version: 1`, `targets:`, …)";
        let root = match dockopt_diagnostics::yaml::load(file, text, top_must) {
            Ok(root) => root,
            Err(d) => {
                self.yaml.errors.extend(d.errors);
                return None;
            }
        };
        let top = self.mapping(&root, "", "a mapping")?;
        self.check_keys(top, TOP_KEYS, "");

        match top.get_node("version") {
            None => self.error(
                Span { line: 1, column: 1 },
                "version",
                "missing `version: 1`",
                None,
            ),
            Some(v) => {
                if let Some(s) = self.scalar(v, "version", "`1`")
                    && s.as_str() != "1"
                {
                    self.error(
                        Span::of(s.span()),
                        "version",
                        format!("unsupported version `{}`: expected `1`", s.as_str()),
                        None,
                    );
                }
            }
        }

        let mut unused_build_args = Vec::new();
        if let Some(args) = top
            .get_node("args")
            .and_then(|n| self.mapping(n, "args", "a mapping of NAME: default"))
        {
            for (k, v) in args.iter() {
                let field = join("args", k.as_str());
                let value = self
                    .scalar(v, &field, "a default value")
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                self.declared_args.insert(
                    k.as_str().to_owned(),
                    Arg {
                        default: value.clone(),
                        span: Span::of(k.span()),
                        uses: Vec::new(),
                    },
                );
                self.args.insert(k.as_str().to_owned(), value);
            }
        }
        for (name, value) in build_args {
            if let Some(slot) = self.args.get_mut(name) {
                value.clone_into(slot);
            } else {
                unused_build_args.push(name.clone());
            }
        }

        let mut default_from = None;
        let errors_before = self.yaml.errors.len();
        if let Some(d) = top
            .get_node("defaults")
            .and_then(|n| self.mapping(n, "defaults", "a mapping"))
        {
            self.check_keys(d, DEFAULTS_KEYS, "defaults");
            if let Some(from) = d
                .get_node("from")
                .and_then(|n| self.scalar(n, "defaults.from", "an image reference"))
            {
                default_from = self
                    .image(from, "defaults.from")
                    .map(|(f, b)| (f, b, Span::of(from.span())));
            }
        }
        self.broken_defaults = self.yaml.errors.len() > errors_before;

        let mut decls: Vec<Decl> = Vec::new();
        if let Some(steps) = top
            .get_node("steps")
            .and_then(|n| self.mapping(n, "steps", "a mapping of step names to steps"))
        {
            for (k, v) in steps.iter() {
                let field = join("steps", k.as_str());
                match self.step(v, &field, Some(k), false, true) {
                    Some(decl) => decls.push(decl),
                    None => {
                        self.broken_steps.insert(k.as_str().to_owned());
                    }
                }
            }
        }

        let mut targets: Vec<RawTarget> = Vec::new();
        let mut first_target = None;
        match top.get_node("targets") {
            None => self.error(
                Span { line: 1, column: 1 },
                "targets",
                "missing `targets:`: name at least one target",
                None,
            ),
            Some(node) => {
                if let Some(map) =
                    self.mapping(node, "targets", "a mapping of target names to targets")
                {
                    if map.is_empty() {
                        self.error(
                            Span::of(map.span()),
                            "targets",
                            "`targets` is empty: name at least one target",
                            None,
                        );
                    }
                    for (k, v) in map.iter() {
                        for (name, values) in self.matrix(k, v) {
                            first_target.get_or_insert_with(|| name.clone());
                            let saved = self.args.clone();
                            self.args.extend(values);
                            let t = self.target(k, &name, v, default_from.as_ref(), &mut decls);
                            self.args = saved;
                            if let Some(t) = t {
                                if let Some(first) = targets.iter().find(|x| x.name == t.name) {
                                    let line = first.span.line;
                                    self.error(
                                        t.span,
                                        &join("targets", k.as_str()),
                                        format!(
                                            "target `{}` is declared twice (first at line {line})",
                                            t.name
                                        ),
                                        Some("give every target, and every matrix combination, its own name: `name-${AXIS}`".into()),
                                    );
                                }
                                targets.push(t);
                            }
                        }
                    }
                }
            }
        }

        let default_target = match top.get_node("default") {
            Some(node) => {
                let s = self.scalar(node, "default", "a target name")?;
                let name = s.as_str().to_owned();
                match targets.iter().find(|t: &&RawTarget| t.name == name) {
                    None => {
                        let help = did_you_mean(&name, targets.iter().map(|t| t.name.as_str()));
                        self.error(
                            Span::of(s.span()),
                            "default",
                            format!("no target is named `{name}`"),
                            help,
                        );
                    }
                    Some(t) if t.stage => self.error(
                        Span::of(s.span()),
                        "default",
                        format!("target `{name}` is a stage: it is not built on its own"),
                        None,
                    ),
                    Some(_) => {}
                }
                Some(name)
            }
            None => match targets.iter().find(|t| !t.stage) {
                Some(t) => Some(t.name.clone()),
                None if targets.is_empty() => first_target,
                None => {
                    let at = top
                        .iter()
                        .find(|(k, _)| k.as_str() == "targets")
                        .map_or_else(|| Span::of(top.span()), |(k, _)| Span::of(k.span()));
                    self.error(
                        at,
                        "targets",
                        "every target is a stage (`stage: true`): there is nothing to build",
                        None,
                    );
                    first_target
                }
            },
        };

        let listed: BTreeSet<&str> = targets
            .iter()
            .flat_map(|t| t.steps.iter().chain(&t.finally))
            .filter_map(|e| match e {
                Entry::Ref { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let unused_steps: Vec<(String, Span)> = decls
            .iter()
            .filter_map(|d| Some((d.name.clone()?, d.span)))
            .filter(|(name, _)| !listed.contains(name.as_str()))
            .collect();
        let (steps, after, ids) = self.intern(&decls)?;
        let mut out_targets = Vec::new();
        for t in targets {
            let steps_of = |p: &mut Self, entries: &[Entry], what: &str| -> Vec<usize> {
                entries
                    .iter()
                    .filter_map(|e| p.resolve_entry(e, &decls, &ids, &t.name, what))
                    .collect()
            };
            let set = steps_of(self, &t.steps, "steps");
            let finally = steps_of(self, &t.finally, "finally");
            let mut seen = BTreeSet::new();
            for (&id, entry) in set
                .iter()
                .chain(&finally)
                .zip(t.steps.iter().chain(&t.finally))
            {
                if !seen.insert(id) {
                    let (span, field) = entry_place(entry, &decls);
                    let label = steps[id].label();
                    self.error(
                        span,
                        &field,
                        format!("step `{label}` appears twice in target `{}`", t.name),
                        None,
                    );
                }
            }
            out_targets.push(Target {
                name: t.name,
                span: t.span,
                from: t.from,
                base: t.base,
                steps: set,
                finally,
                config: t.config,
                tags: t.tags,
                stage: t.stage,
                squash: t.squash,
            });
        }
        out_targets.sort_by(|a, b| a.name.cmp(&b.name));
        self.check_order(&steps, &after, &out_targets, &decls);
        self.check_stages(&steps, &out_targets, &decls, &ids);
        self.check_layers(top, &out_targets);
        if !self.yaml.errors.is_empty() {
            return None;
        }
        Some(Manifest {
            file: file.to_owned(),
            args: std::mem::take(&mut self.args),
            declared_args: std::mem::take(&mut self.declared_args),
            unused_build_args,
            unused_steps,
            default_target: default_target?,
            steps,
            targets: out_targets,
            after,
            layer_limit: self.layer_limit,
        })
    }

    // ---- shapes --------------------------------------------------------------------------------

    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Option<&'n MarkedMappingNode> {
        self.yaml.mapping(node, field, expected)
    }

    fn scalar<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Option<&'n MarkedScalarNode> {
        self.yaml.scalar(node, field, expected)
    }

    fn wrong_type(&mut self, node: &Node, field: &str, expected: &str) {
        self.yaml.wrong_type(node, field, expected);
    }

    /// A string or a list of strings.
    fn strings<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Vec<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(s) => vec![s],
            Node::Sequence(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| self.scalar(n, &format!("{field}[{i}]"), expected))
                .collect(),
            Node::Mapping(_) => {
                self.error(
                    Span::of(node.span()),
                    field,
                    format!("expected {expected} or a list of them, found a mapping"),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn string_map(&mut self, node: &Node, field: &str, mode: Mode) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(map) = self.mapping(node, field, "a mapping of NAME: value") {
            for (k, v) in map.iter() {
                let f = join(field, k.as_str());
                if let Some(s) = self.scalar(v, &f, "a string")
                    && let Some(value) = self.subst(s, &f, mode)
                {
                    out.insert(k.as_str().to_owned(), value);
                }
            }
        }
        out
    }

    fn check_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], field: &str) {
        self.yaml.check_keys(map, allowed, field);
    }

    fn subst(&mut self, s: &MarkedScalarNode, field: &str, mode: Mode) -> Option<String> {
        let mut used = Vec::new();
        match substitute_noting(s.as_str(), &self.args, mode, &mut |n| {
            used.push(n.to_owned());
        }) {
            Ok(v) => {
                let at = Span::of(s.span());
                for name in used {
                    if let Some(arg) = self.declared_args.get_mut(&name) {
                        // A value read twice (defaults applied to several targets) counts once.
                        if !arg.uses.contains(&at) {
                            arg.uses.push(at);
                        }
                    }
                }
                Some(v)
            }
            Err(SubstError::Unknown(name)) => {
                let declared: Vec<&str> = self.args.keys().map(String::as_str).collect();
                let help = did_you_mean(&name, declared.iter().copied()).or_else(|| {
                    Some(format!(
                        "declare it under `args:` (declared: {})",
                        if declared.is_empty() {
                            "none".into()
                        } else {
                            declared.join(", ")
                        }
                    ))
                });
                self.error(
                    Span::of(s.span()),
                    field,
                    format!("`{name}` is not a declared arg"),
                    help,
                );
                None
            }
            Err(SubstError::Malformed(text)) => {
                self.error(
                    Span::of(s.span()),
                    field,
                    format!("`{text}`: expected `${{NAME}}` of a declared arg here"),
                    None,
                );
                None
            }
        }
    }

    /// An image reference: (as written after substitution, fully qualified).
    fn image(&mut self, s: &MarkedScalarNode, field: &str) -> Option<(String, String)> {
        let from = self.subst(s, field, Mode::Strict)?;
        match image_ref::normalize(&from) {
            Ok(base) => Some((from, base)),
            Err(e) => {
                self.error(
                    Span::of(s.span()),
                    field,
                    format!("bad image reference `{from}`: {e}"),
                    None,
                );
                None
            }
        }
    }

    // ---- steps ---------------------------------------------------------------------------------

    fn step(
        &mut self,
        node: &Node,
        field: &str,
        name: Option<&MarkedScalarNode>,
        inline: bool,
        allow_after: bool,
    ) -> Option<Decl> {
        let span = name.map_or_else(|| Span::of(node.span()), |n| Span::of(n.span()));
        let mut decl_name = name.map(|n| n.as_str().to_owned());
        self.stage_refs.clear();
        if let Node::Scalar(s) = node
            && !inline
        {
            // `name: command` is shorthand for `name: {run: command}`.
            let text = self.subst(s, field, Mode::Shell)?;
            return Some(Decl {
                name: decl_name,
                key: (Action::Run(RunCommand::Shell(text)), StepContext::default()),
                time: None,
                after: Vec::new(),
                stages: Vec::new(),
                span,
                field: field.to_owned(),
            });
        }
        let map = self.mapping(node, field, "a step (`run:` or `copy:`)")?;
        self.check_keys(
            map,
            if inline { INLINE_STEP_KEYS } else { STEP_KEYS },
            field,
        );
        if inline && let Some(n) = map.get_node("name") {
            decl_name = self
                .scalar(n, &join(field, "name"), "a step name")
                .map(|s| s.as_str().to_owned());
        }
        let action = match (map.get_node("run"), map.get_node("copy")) {
            (Some(_), Some(_)) => {
                self.error(
                    span,
                    field,
                    "a step has either `run` or `copy`, not both",
                    None,
                );
                None
            }
            (None, None) => {
                self.error(
                    Span::of(node.span()),
                    field,
                    "a step needs `run:` (a command) or `copy:` (`src`, `dest`)",
                    None,
                );
                None
            }
            (Some(run), None) => self.run(run, &join(field, "run")),
            (None, Some(copy)) => self.copy(copy, &join(field, "copy")),
        };
        let time = map.get_node("time").and_then(|n| {
            let f = join(field, "time");
            let s = self.scalar(n, &f, "a number of seconds")?;
            match s.as_str().parse::<f64>() {
                Ok(t) if t.is_finite() && (0.0..=MAX_TIME).contains(&t) => Some(t),
                _ => {
                    self.error(
                        Span::of(s.span()),
                        &f,
                        format!(
                            "expected a number of seconds from 0 to {MAX_TIME} (a year), found `{}`",
                            s.as_str()
                        ),
                        None,
                    );
                    None
                }
            }
        });
        let mut after = Vec::new();
        if let Some(n) = map.get_node("after") {
            let f = join(field, "after");
            if allow_after {
                for (i, s) in self.strings(n, &f, "a step name").into_iter().enumerate() {
                    after.push((
                        s.as_str().to_owned(),
                        Span::of(s.span()),
                        format!("{f}[{i}]"),
                    ));
                }
            } else {
                self.error(
                    Span::of(n.span()),
                    &f,
                    "`after` has no meaning in `finally`, which runs in the order listed",
                    None,
                );
            }
        }
        let mut context = StepContext::default();
        if let Some(n) = map.get_node("env") {
            context.env = self.string_map(n, &join(field, "env"), Mode::Shell);
        }
        for (key, slot) in [
            ("workdir", &mut context.workdir),
            ("user", &mut context.user),
        ] {
            if let Some(n) = map.get_node(key) {
                let f = join(field, key);
                *slot = self
                    .scalar(n, &f, "a string")
                    .and_then(|s| self.subst(s, &f, Mode::Shell));
            }
        }
        if let Some(n) = map.get_node("mounts") {
            let f = join(field, "mounts");
            if matches!(action, Some(Action::Copy(_))) {
                self.error(
                    Span::of(n.span()),
                    &f,
                    "`mounts` belong to `run` steps (a copy runs no command)",
                    None,
                );
            } else {
                context.mounts = self.mounts(n, &f);
            }
        }
        Some(Decl {
            name: decl_name,
            key: (action?, context),
            time,
            after,
            stages: std::mem::take(&mut self.stage_refs),
            span,
            field: field.to_owned(),
        })
    }

    fn run(&mut self, node: &Node, field: &str) -> Option<Action> {
        let command = match node {
            Node::Scalar(s) => RunCommand::Shell(self.subst(s, field, Mode::Shell)?),
            Node::Sequence(items) => {
                let mut argv = Vec::new();
                for (i, n) in items.iter().enumerate() {
                    let f = format!("{field}[{i}]");
                    let s = self.scalar(n, &f, "an argument")?;
                    argv.push(self.subst(s, &f, Mode::Shell)?);
                }
                RunCommand::Exec(argv)
            }
            Node::Mapping(_) => {
                self.error(
                    Span::of(node.span()),
                    field,
                    "expected a command (a string, or a list for exec form), found a mapping",
                    None,
                );
                return None;
            }
        };
        let empty = match &command {
            RunCommand::Shell(text) => text.trim().is_empty(),
            RunCommand::Exec(argv) => argv.is_empty(),
        };
        if empty {
            self.error(
                Span::of(node.span()),
                field,
                "`run` is empty: expected a command",
                None,
            );
            return None;
        }
        Some(Action::Run(command))
    }

    fn copy(&mut self, node: &Node, field: &str) -> Option<Action> {
        let map = self.mapping(node, field, "a mapping with `src` and `dest`")?;
        self.check_keys(map, COPY_KEYS, field);
        let src_field = join(field, "src");
        let src: Vec<String> = match map.get_node("src") {
            Some(n) => self
                .strings(n, &src_field, "a source path")
                .into_iter()
                .filter_map(|s| self.subst(s, &src_field, Mode::Strict))
                .collect(),
            None => {
                self.error(
                    Span::of(map.span()),
                    &src_field,
                    "missing `src`: the paths to copy",
                    None,
                );
                return None;
            }
        };
        if src.is_empty() {
            self.error(
                Span::of(map.span()),
                &src_field,
                "`src` is empty: expected at least one path",
                None,
            );
        }
        let dest_field = join(field, "dest");
        let dest = match map.get_node("dest") {
            Some(n) => {
                let dest = self
                    .scalar(n, &dest_field, "a destination path")
                    .and_then(|s| self.subst(s, &dest_field, Mode::Strict));
                // Several sources go into a folder, as in a Dockerfile COPY.
                if let Some(d) = &dest
                    && src.len() > 1
                    && !d.ends_with('/')
                {
                    self.error(
                        Span::of(n.span()),
                        &dest_field,
                        format!(
                            "copying {} sources needs a folder: a destination ending in `/`, found `{d}`",
                            src.len()
                        ),
                        Some(format!("write `{d}/`")),
                    );
                    return None;
                }
                dest
            }
            None => {
                self.error(
                    Span::of(map.span()),
                    &dest_field,
                    "missing `dest`: where to copy to",
                    None,
                );
                None
            }
        };
        let (mut from, mut stage) = (None, None);
        if let Some(n) = map.get_node("from") {
            let f = join(field, "from");
            let s = self.scalar(n, &f, "a stage name or an image reference")?;
            let value = self.subst(s, &f, Mode::Strict)?;
            if is_stage_name(&value) {
                self.stage_refs.push((value.clone(), Span::of(s.span()), f));
                stage = Some(value);
            } else {
                from = Some(self.image(s, &f)?.1);
            }
        }
        Some(Action::Copy(Copy {
            src,
            dest: dest?,
            from,
            stage,
        }))
    }

    /// `mounts:` of a run step: a list of `{type: cache|secret|bind|tmpfs, …}`.
    fn mounts(&mut self, node: &Node, field: &str) -> Vec<Mount> {
        let Node::Sequence(items) = node else {
            self.wrong_type(
                node,
                field,
                "a list of mounts (`{type: cache, target: /path}`)",
            );
            return Vec::new();
        };
        let mut out: Vec<Mount> = Vec::new();
        let mut targets: BTreeMap<String, usize> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(mount) = self.mount(item, &f) else {
                continue;
            };
            let target = mount.target();
            if let Some(first) = targets.insert(target.clone(), i) {
                self.error(
                    Span::of(item.span()),
                    &f,
                    format!("two mounts at `{target}` (the first is mounts[{first}])"),
                    None,
                );
                continue;
            }
            out.push(mount);
        }
        out
    }

    fn mount(&mut self, node: &Node, field: &str) -> Option<Mount> {
        let map = self.mapping(node, field, "a mount (`{type: cache, target: /path}`)")?;
        let Some(type_node) = map.get_node("type") else {
            self.error(
                Span::of(map.span()),
                &join(field, "type"),
                format!("missing `type`: one of {}", MOUNT_TYPES.join(", ")),
                None,
            );
            return None;
        };
        let tf = join(field, "type");
        let kind = self.scalar(type_node, &tf, "a mount type")?;
        let keys: &[&str] = match kind.as_str() {
            "cache" => &["type", "target", "id", "sharing"],
            "secret" => &["type", "id", "target", "required"],
            "bind" => &["type", "target", "source", "from", "rw"],
            "tmpfs" => &["type", "target", "size"],
            other => {
                let help = did_you_mean(other, MOUNT_TYPES.iter().copied())
                    .or_else(|| Some(format!("expected one of: {}", MOUNT_TYPES.join(", "))));
                self.error(
                    Span::of(kind.span()),
                    &tf,
                    format!("unknown mount type `{other}`"),
                    help,
                );
                return None;
            }
        };
        self.check_keys(map, keys, field);
        let text = |p: &mut Self, key: &str, what: &str| -> Option<Option<String>> {
            let Some(n) = map.get_node(key) else {
                return Some(None);
            };
            let f = join(field, key);
            let s = p.scalar(n, &f, what)?;
            let v = p.subst(s, &f, Mode::Strict)?;
            if v.is_empty() || v.contains(',') || v.contains('\n') {
                p.error(
                    Span::of(s.span()),
                    &f,
                    format!("expected {what} (not empty, without `,`), found `{v}`"),
                    None,
                );
                return None;
            }
            Some(Some(v))
        };
        let flag = |p: &mut Self, key: &str| -> Option<bool> {
            let Some(n) = map.get_node(key) else {
                return Some(false);
            };
            let f = join(field, key);
            let s = p.scalar(n, &f, "`true` or `false`")?;
            match s.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                other => {
                    p.error(
                        Span::of(s.span()),
                        &f,
                        format!("expected `true` or `false`, found `{other}`"),
                        None,
                    );
                    None
                }
            }
        };
        let required_target = |p: &mut Self, target: Option<String>| -> Option<String> {
            let t = target.or_else(|| {
                p.error(
                    Span::of(map.span()),
                    &join(field, "target"),
                    format!(
                        "missing `target`: where the {} mount appears",
                        kind.as_str()
                    ),
                    None,
                );
                None
            })?;
            if t.trim_end_matches('/').is_empty() {
                p.error(
                    Span::of(map.span()),
                    &join(field, "target"),
                    "a mount cannot replace `/`, the step's own filesystem",
                    None,
                );
                return None;
            }
            Some(t)
        };
        let target = text(self, "target", "a path")?;
        match kind.as_str() {
            "cache" => {
                let id = text(self, "id", "a cache id")?;
                let sharing = match map.get_node("sharing") {
                    None => CacheSharing::Shared,
                    Some(n) => {
                        let f = join(field, "sharing");
                        let s = self.scalar(n, &f, "`shared`, `private` or `locked`")?;
                        match s.as_str() {
                            "shared" => CacheSharing::Shared,
                            "private" => CacheSharing::Private,
                            "locked" => CacheSharing::Locked,
                            other => {
                                let help = did_you_mean(other, ["shared", "private", "locked"]);
                                self.error(
                                    Span::of(s.span()),
                                    &f,
                                    format!(
                                        "expected `shared`, `private` or `locked`, found `{other}`"
                                    ),
                                    help,
                                );
                                return None;
                            }
                        }
                    }
                };
                Some(Mount::Cache {
                    target: required_target(self, target)?,
                    id,
                    sharing,
                })
            }
            "secret" => {
                let id = text(self, "id", "a secret id")?;
                let required = flag(self, "required")?;
                let Some(id) = id else {
                    self.error(
                        Span::of(map.span()),
                        &join(field, "id"),
                        "missing `id`: the secret's id (`docker build --secret id=ID,src=FILE`)",
                        None,
                    );
                    return None;
                };
                Some(Mount::Secret {
                    id,
                    target,
                    required,
                })
            }
            "bind" => {
                let source = text(self, "source", "a path")?;
                let rw = flag(self, "rw")?;
                let mut stage = None;
                if let Some(n) = map.get_node("from") {
                    let f = join(field, "from");
                    let s = self.scalar(n, &f, "`context` or a stage name")?;
                    let v = self.subst(s, &f, Mode::Strict)?;
                    if v != "context" {
                        if !is_stage_name(&v) {
                            self.error(
                                Span::of(s.span()),
                                &f,
                                format!("expected `context` or a stage name, found `{v}`"),
                                Some("bind mounts read the build context or a target of this manifest".into()),
                            );
                            return None;
                        }
                        self.stage_refs.push((v.clone(), Span::of(s.span()), f));
                        stage = Some(v);
                    }
                }
                Some(Mount::Bind {
                    target: required_target(self, target)?,
                    source,
                    stage,
                    rw,
                })
            }
            _ => {
                let size = match map.get_node("size") {
                    None => None,
                    Some(n) => {
                        let f = join(field, "size");
                        let s = self.scalar(n, &f, "a size like `64m`")?;
                        match parse_size(s.as_str()) {
                            Some(b) => Some(b),
                            None => {
                                self.error(
                                    Span::of(s.span()),
                                    &f,
                                    format!(
                                        "expected a size in bytes, or with a unit like `64m` or `1g`, found `{}`",
                                        s.as_str()
                                    ),
                                    None,
                                );
                                return None;
                            }
                        }
                    }
                };
                Some(Mount::Tmpfs {
                    target: required_target(self, target)?,
                    size,
                })
            }
        }
    }

    // ---- targets -------------------------------------------------------------------------------

    /// The targets one `targets:` entry stands for: itself, or with `matrix:` one per
    /// combination of the axes' values (first axis slowest, values as listed) less those
    /// `exclude:` names, each with its name substituted and the axis values to substitute.
    fn matrix(
        &mut self,
        key: &MarkedScalarNode,
        node: &Node,
    ) -> Vec<(String, BTreeMap<String, String>)> {
        let field = join("targets", key.as_str());
        let plain = vec![(key.as_str().to_owned(), BTreeMap::new())];
        let Node::Mapping(map) = node else {
            return plain;
        };
        let Some(m) = map.get_node("matrix") else {
            if let Some(e) = map.get_node("exclude") {
                self.error(
                    Span::of(e.span()),
                    &join(&field, "exclude"),
                    "`exclude` without `matrix`: there are no combinations to leave out",
                    None,
                );
            }
            return plain;
        };
        let mfield = join(&field, "matrix");
        let matrix_span = map
            .iter()
            .find(|(k, _)| k.as_str() == "matrix")
            .map_or_else(|| Span::of(m.span()), |(k, _)| Span::of(k.span()));
        let Some(axes_map) = self.mapping(m, &mfield, "a mapping of AXIS: [values]") else {
            return Vec::new();
        };
        let mut axes: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in axes_map.iter() {
            let f = join(&mfield, k.as_str());
            let name = k.as_str();
            if !(name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                self.error(
                    Span::of(k.span()),
                    &f,
                    format!("matrix axis `{name}` must be a name (letters, digits, `_`) to be used as `${{{name}}}`"),
                    None,
                );
                return Vec::new();
            }
            let Node::Sequence(items) = v else {
                self.wrong_type(v, &f, "a list of values");
                return Vec::new();
            };
            let mut values: Vec<String> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(s) = self.scalar(item, &format!("{f}[{i}]"), "a value") else {
                    return Vec::new();
                };
                if values.iter().any(|x| x == s.as_str()) {
                    self.error(
                        Span::of(s.span()),
                        &format!("{f}[{i}]"),
                        format!("value `{}` appears twice in axis `{name}`", s.as_str()),
                        None,
                    );
                    return Vec::new();
                }
                values.push(s.as_str().to_owned());
            }
            if values.is_empty() {
                self.error(
                    Span::of(k.span()),
                    &f,
                    format!("axis `{name}` has no values"),
                    None,
                );
                return Vec::new();
            }
            axes.push((name.to_owned(), values));
        }
        if axes.is_empty() {
            self.error(
                matrix_span,
                &mfield,
                "`matrix` is empty: give at least one axis with values",
                None,
            );
            return Vec::new();
        }
        // exclude: a list of {AXIS: value} mappings; a combination matching every pair of one
        // entry is left out.
        let mut excludes: Vec<BTreeMap<String, String>> = Vec::new();
        if let Some(e) = map.get_node("exclude") {
            let efield = join(&field, "exclude");
            let Node::Sequence(items) = e else {
                self.wrong_type(e, &efield, "a list of {AXIS: value} mappings");
                return Vec::new();
            };
            for (i, item) in items.iter().enumerate() {
                let fi = format!("{efield}[{i}]");
                let Some(entry) = self.mapping(item, &fi, "a mapping of AXIS: value") else {
                    return Vec::new();
                };
                let mut pairs = BTreeMap::new();
                for (k, v) in entry.iter() {
                    let fk = join(&fi, k.as_str());
                    let Some((_, values)) = axes.iter().find(|(a, _)| a == k.as_str()) else {
                        let help = did_you_mean(k.as_str(), axes.iter().map(|(a, _)| a.as_str()))
                            .or_else(|| {
                                Some(format!(
                                    "the axes are: {}",
                                    axes.iter()
                                        .map(|(a, _)| a.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ))
                            });
                        self.error(
                            Span::of(k.span()),
                            &fk,
                            format!("`{}` is not an axis of this matrix", k.as_str()),
                            help,
                        );
                        return Vec::new();
                    };
                    let Some(s) = self.scalar(v, &fk, "a value") else {
                        return Vec::new();
                    };
                    if !values.iter().any(|x| x == s.as_str()) {
                        let help = did_you_mean(s.as_str(), values.iter().map(String::as_str))
                            .or_else(|| Some(format!("its values are: {}", values.join(", "))));
                        self.error(
                            Span::of(s.span()),
                            &fk,
                            format!("`{}` is not a value of axis `{}`", s.as_str(), k.as_str()),
                            help,
                        );
                        return Vec::new();
                    }
                    pairs.insert(k.as_str().to_owned(), s.as_str().to_owned());
                }
                excludes.push(pairs);
            }
        }
        let mut combos: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
        for (axis, values) in &axes {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(axis.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        combos.retain(|c| {
            !excludes
                .iter()
                .any(|e| e.iter().all(|(k, v)| c.get(k) == Some(v)))
        });
        if combos.is_empty() {
            self.error(
                matrix_span,
                &mfield,
                format!(
                    "the matrix of target `{}` is empty: `exclude` leaves out every combination",
                    key.as_str()
                ),
                None,
            );
            return Vec::new();
        }
        let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
        for c in combos {
            let mut args = self.args.clone();
            args.extend(c.clone());
            let name = match substitute_noting(key.as_str(), &args, Mode::Strict, &mut |_| {}) {
                Ok(n) => n,
                Err(SubstError::Unknown(n)) => {
                    self.error(
                        Span::of(key.span()),
                        &field,
                        format!("`{n}` in the target name is neither an axis nor a declared arg"),
                        did_you_mean(&n, axes.iter().map(|(a, _)| a.as_str())).or_else(|| {
                            Some(format!(
                                "the axes are: {}",
                                axes.iter()
                                    .map(|(a, _)| a.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        }),
                    );
                    return Vec::new();
                }
                Err(SubstError::Malformed(t)) => {
                    self.error(
                        Span::of(key.span()),
                        &field,
                        format!("`{t}`: expected `${{AXIS}}` in the target name"),
                        None,
                    );
                    return Vec::new();
                }
            };
            if let Some((_, first)) = out.iter().find(|(n, _)| *n == name) {
                let show = |c: &BTreeMap<String, String>| {
                    c.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let missing: Vec<&str> = axes
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .filter(|a| !crate::subst::mentions(key.as_str(), a))
                    .collect();
                self.error(
                    Span::of(key.span()),
                    &field,
                    format!(
                        "matrix target `{}` is named `{name}` for both {} and {}",
                        key.as_str(),
                        show(first),
                        show(&c)
                    ),
                    Some(format!(
                        "put every axis in the name, e.g. `{}-${{{}}}`",
                        key.as_str(),
                        missing.first().copied().unwrap_or("AXIS")
                    )),
                );
                return Vec::new();
            }
            out.push((name, c));
        }
        out
    }

    fn target(
        &mut self,
        key: &MarkedScalarNode,
        name: &str,
        node: &Node,
        default_from: Option<&(String, String, Span)>,
        decls: &mut Vec<Decl>,
    ) -> Option<RawTarget> {
        let name = name.to_owned();
        let field = join("targets", key.as_str());
        let span = Span::of(key.span());
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(
                span,
                &field,
                format!("target name `{name}` must be non-empty without spaces"),
                None,
            );
        }
        let map = self.mapping(node, &field, "a target (`from`, `steps`, …)")?;
        self.check_keys(map, TARGET_KEYS, &field);
        let image = match map.get_node("from") {
            Some(n) => {
                let f = join(&field, "from");
                self.scalar(n, &f, "an image reference")
                    .and_then(|s| self.image(s, &f))
            }
            None => match default_from {
                Some((from, base, _)) => Some((from.clone(), base.clone())),
                // `defaults:` is wrong and said so; its targets are not wrong as well.
                None if self.broken_defaults => None,
                None => {
                    self.error(
                        span,
                        &field,
                        format!("target `{name}` has no base image"),
                        Some("add `from: IMAGE` to it, or `defaults: {from: IMAGE}`".into()),
                    );
                    None
                }
            },
        };
        let mut entries = |p: &mut Self, key: &str, allow_after: bool| -> Vec<Entry> {
            let Some(n) = map.get_node(key) else {
                return Vec::new();
            };
            let f = join(&field, key);
            let Node::Sequence(items) = n else {
                p.error(
                    Span::of(n.span()),
                    &f,
                    format!("expected a list of steps, found {}", describe(n)),
                    None,
                );
                return Vec::new();
            };
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let fi = format!("{f}[{i}]");
                match item {
                    Node::Scalar(s) => out.push(Entry::Ref {
                        name: if s.as_str().contains('$') {
                            p.subst(s, &fi, Mode::Strict).unwrap_or_default()
                        } else {
                            s.as_str().to_owned()
                        },
                        span: Span::of(s.span()),
                        field: fi,
                    }),
                    Node::Mapping(_) => {
                        if let Some(decl) = p.step(item, &fi, None, true, allow_after) {
                            decls.push(decl);
                            out.push(Entry::Inline(decls.len() - 1));
                        }
                    }
                    Node::Sequence(_) => p.error(
                        Span::of(item.span()),
                        &fi,
                        "expected a step name or an inline step, found a list",
                        None,
                    ),
                }
            }
            out
        };
        let steps = entries(self, "steps", true);
        let finally = entries(self, "finally", false);

        let mut config = ImageConfig::default();
        if let Some(n) = map.get_node("env") {
            config.env = self.string_map(n, &join(&field, "env"), Mode::Shell);
        }
        if let Some(n) = map.get_node("labels") {
            config.labels = self.string_map(n, &join(&field, "labels"), Mode::Shell);
        }
        for (key, slot) in [("workdir", &mut config.workdir), ("user", &mut config.user)] {
            if let Some(n) = map.get_node(key) {
                let f = join(&field, key);
                *slot = self
                    .scalar(n, &f, "a string")
                    .and_then(|s| self.subst(s, &f, Mode::Shell));
            }
        }
        for (key, slot) in [
            ("cmd", &mut config.cmd),
            ("entrypoint", &mut config.entrypoint),
        ] {
            if let Some(n) = map.get_node(key) {
                let f = join(&field, key);
                *slot = match n {
                    Node::Scalar(s) => self
                        .subst(s, &f, Mode::Shell)
                        .map(|c| vec!["/bin/sh".into(), "-c".into(), c]),
                    Node::Sequence(_) => self
                        .strings(n, &f, "an argument")
                        .into_iter()
                        .map(|s| self.subst(s, &f, Mode::Shell))
                        .collect(),
                    Node::Mapping(_) => {
                        self.error(Span::of(n.span()), &f, "expected a command (a list, or a string for shell form), found a mapping", None);
                        None
                    }
                };
            }
        }
        if let Some(n) = map.get_node("expose") {
            let f = join(&field, "expose");
            for s in self.strings(n, &f, "a port like `8080/tcp`") {
                let Some(port) = self.subst(s, &f, Mode::Strict) else {
                    continue;
                };
                let (num, proto) = port.split_once('/').unwrap_or((&port, "tcp"));
                if num.parse::<u16>().is_err() || !["tcp", "udp", "sctp"].contains(&proto) {
                    self.error(
                        Span::of(s.span()),
                        &f,
                        format!("expected a port like `8080` or `53/udp`, found `{port}`"),
                        None,
                    );
                } else {
                    config.expose.push(format!("{num}/{proto}"));
                }
            }
        }
        if let Some(n) = map.get_node("volumes") {
            let f = join(&field, "volumes");
            for s in self.strings(n, &f, "a path") {
                if let Some(v) = self.subst(s, &f, Mode::Strict) {
                    config.volumes.push(v);
                }
            }
        }
        if let Some(n) = map.get_node("stop_signal") {
            let f = join(&field, "stop_signal");
            config.stop_signal = self
                .scalar(n, &f, "a signal like `SIGTERM`")
                .and_then(|s| self.subst(s, &f, Mode::Strict));
        }
        if let Some(n) = map.get_node("healthcheck") {
            config.healthcheck = self.healthcheck(n, &join(&field, "healthcheck"));
        }
        let mut tags = Vec::new();
        if let Some(n) = map.get_node("tags") {
            let f = join(&field, "tags");
            for s in self.strings(n, &f, "an image tag") {
                let Some(tag) = self.subst(s, &f, Mode::Strict) else {
                    continue;
                };
                match image_ref::normalize(&tag) {
                    Ok(_) if !tag.contains('@') => tags.push(tag),
                    Ok(_) => self.error(
                        Span::of(s.span()),
                        &f,
                        format!("tag `{tag}` cannot hold a digest"),
                        None,
                    ),
                    Err(e) => self.error(
                        Span::of(s.span()),
                        &f,
                        format!("bad tag `{tag}`: {e}"),
                        None,
                    ),
                }
            }
        }
        let mut stage = false;
        if let Some(n) = map.get_node("stage") {
            let f = join(&field, "stage");
            if let Some(s) = self.scalar(n, &f, "`true` or `false`") {
                match s.as_str() {
                    "true" => stage = true,
                    "false" => {}
                    other => self.error(
                        Span::of(s.span()),
                        &f,
                        format!("expected `true` or `false`, found `{other}`"),
                        None,
                    ),
                }
            }
            if stage && let Some(t) = map.get_node("tags") {
                self.error(
                    Span::of(t.span()),
                    &join(&field, "tags"),
                    format!("target `{name}` is a stage: stages are not tagged"),
                    Some("remove `tags`, or `stage: true` to build and tag it".into()),
                );
            }
        }
        let mut squash = false;
        if let Some(n) = map.get_node("squash") {
            let f = join(&field, "squash");
            if let Some(s) = self.scalar(n, &f, "`true` or `false`") {
                match s.as_str() {
                    "true" => squash = true,
                    "false" => {}
                    other => self.error(
                        Span::of(s.span()),
                        &f,
                        format!("expected `true` or `false`, found `{other}`"),
                        None,
                    ),
                }
            }
        }
        // A bad base is already reported; keep checking the rest of the target.
        let (from, base) = image.unwrap_or_default();
        Some(RawTarget {
            name,
            span,
            from,
            base,
            steps,
            finally,
            config,
            tags,
            stage,
            squash,
        })
    }

    /// `healthcheck: none`, or `{test: [CMD, …] | "shell command", interval: 30s, timeout,
    /// start_period, retries}`.
    fn healthcheck(&mut self, node: &Node, field: &str) -> Option<Healthcheck> {
        if let Node::Scalar(s) = node
            && s.as_str().eq_ignore_ascii_case("none")
        {
            return Some(Healthcheck {
                test: vec!["NONE".into()],
                ..Healthcheck::default()
            });
        }
        let map = self.mapping(node, field, "`none` or a mapping with `test`")?;
        self.check_keys(map, HEALTHCHECK_KEYS, field);
        let tf = join(field, "test");
        let test = match map.get_node("test") {
            Some(Node::Scalar(s)) => vec!["CMD-SHELL".into(), self.subst(s, &tf, Mode::Shell)?],
            Some(n @ Node::Sequence(_)) => {
                let argv: Vec<String> = self
                    .strings(n, &tf, "an argument")
                    .into_iter()
                    .filter_map(|s| self.subst(s, &tf, Mode::Shell))
                    .collect();
                match argv.first().map(String::as_str) {
                    Some("CMD" | "CMD-SHELL" | "NONE") => argv,
                    _ => std::iter::once("CMD".to_owned()).chain(argv).collect(),
                }
            }
            Some(n) => {
                self.wrong_type(n, &tf, "a command (a string, or a list)");
                return None;
            }
            None => {
                self.error(
                    Span::of(map.span()),
                    &tf,
                    "missing `test`: the command that checks health",
                    None,
                );
                return None;
            }
        };
        let mut check = Healthcheck {
            test,
            ..Healthcheck::default()
        };
        for (key, slot) in [
            ("interval", &mut check.interval),
            ("timeout", &mut check.timeout),
            ("start_period", &mut check.start_period),
        ] {
            if let Some(n) = map.get_node(key) {
                let f = join(field, key);
                let s = self.scalar(n, &f, "a duration like `30s`")?;
                match crate::duration::nanos(s.as_str()) {
                    Some(ns) => *slot = ns,
                    None => {
                        self.error(
                            Span::of(s.span()),
                            &f,
                            format!(
                                "expected a duration like `30s`, `1m30s` or `500ms`, found `{}`",
                                s.as_str()
                            ),
                            None,
                        );
                        return None;
                    }
                }
            }
        }
        if let Some(n) = map.get_node("retries") {
            let f = join(field, "retries");
            let s = self.scalar(n, &f, "a number")?;
            match s.as_str().parse::<u64>() {
                Ok(r) => check.retries = r,
                Err(_) => {
                    self.error(
                        Span::of(s.span()),
                        &f,
                        format!("expected a number of retries, found `{}`", s.as_str()),
                        None,
                    );
                    return None;
                }
            }
        }
        Some(check)
    }

    // ---- resolution ----------------------------------------------------------------------------

    /// Interns declarations into distinct steps; returns the steps, the `after` pairs and the
    /// id of each declaration.
    #[allow(clippy::type_complexity)]
    fn intern(&mut self, decls: &[Decl]) -> Option<(Vec<Step>, Vec<(usize, usize)>, Vec<usize>)> {
        let mut by_key: BTreeMap<&StepKey, Vec<usize>> = BTreeMap::new();
        for (i, d) in decls.iter().enumerate() {
            by_key.entry(&d.key).or_default().push(i);
        }
        let mut ids = vec![0usize; decls.len()];
        let mut steps = Vec::with_capacity(by_key.len());
        for (id, (key, members)) in by_key.iter().enumerate() {
            for &i in members {
                ids[i] = id;
            }
            let name = members.iter().filter_map(|&i| decls[i].name.clone()).min();
            let time = members
                .iter()
                .filter_map(|&i| decls[i].time)
                .fold(None, |acc: Option<f64>, t| {
                    Some(acc.map_or(t, |a| a.max(t)))
                });
            let span = members
                .iter()
                .map(|&i| decls[i].span)
                .min()
                .unwrap_or_default();
            steps.push(Step {
                name,
                action: key.0.clone(),
                context: key.1.clone(),
                time: time.unwrap_or(1.0),
                span,
            });
        }
        // Names → step ids; a name must not name two different steps.
        let mut names: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (i, d) in decls.iter().enumerate() {
            let Some(name) = &d.name else { continue };
            match names.get(name.as_str()) {
                Some(&(id, first)) if id != ids[i] => {
                    let other = &decls[first];
                    self.error(
                        d.span,
                        &d.field,
                        format!(
                            "step name `{name}` already names a different step (at line {}, `{}`)",
                            other.span.line, other.field
                        ),
                        Some("give one of them another name".into()),
                    );
                }
                Some(_) => {}
                None => {
                    names.insert(name, (ids[i], i));
                }
            }
        }
        let mut after = BTreeSet::new();
        for (i, d) in decls.iter().enumerate() {
            for (name, span, field) in &d.after {
                match names.get(name.as_str()) {
                    Some(&(pred, _)) => {
                        after.insert((pred, ids[i]));
                    }
                    None if self.broken_steps.contains(name) => {}
                    None => {
                        let help = did_you_mean(name, names.keys().copied());
                        self.error(*span, field, format!("no step is named `{name}`"), help);
                    }
                }
            }
        }
        self.name_lookup = names
            .iter()
            .map(|(&n, &(id, _))| (n.to_owned(), id))
            .collect();
        Some((steps, after.into_iter().collect(), ids))
    }

    fn resolve_entry(
        &mut self,
        entry: &Entry,
        _decls: &[Decl],
        ids: &[usize],
        target: &str,
        what: &str,
    ) -> Option<usize> {
        match entry {
            Entry::Inline(i) => Some(ids[*i]),
            Entry::Ref { name, span, field } => {
                if let Some(&id) = self.name_lookup.get(name) {
                    return Some(id);
                }
                if self.broken_steps.contains(name) {
                    // Its declaration was reported; its uses are not new errors.
                    return None;
                }
                let help =
                    did_you_mean(name, self.name_lookup.keys().map(String::as_str)).or_else(|| {
                        Some(
                            "declare it under `steps:`, or write the step inline as a mapping"
                                .into(),
                        )
                    });
                self.error(
                    *span,
                    field,
                    format!("target `{target}` {what}: no step is named `{name}`"),
                    help,
                );
                None
            }
        }
    }

    /// Every step is a layer: a target with more than `layers:` (default
    /// [`DEFAULT_LAYER_LIMIT`]; 0: no budget) steps and `finally` steps is an error at its name.
    fn check_layers(&mut self, top: &MarkedMappingNode, targets: &[Target]) {
        let mut limit = DEFAULT_LAYER_LIMIT;
        if let Some(n) = top.get_node("layers")
            && let Some(s) = self.scalar(n, "layers", "a number of layers")
        {
            match s.as_str().parse::<usize>() {
                // 0: no budget (planning experiments; Docker refuses such images).
                Ok(0) => {
                    self.layer_limit = 0;
                    return;
                }
                Ok(l) if l <= DOCKER_LAYER_LIMIT => limit = l,
                _ => {
                    self.error(
                        Span::of(s.span()),
                        "layers",
                        format!(
                            "expected a number of layers from 1 to {DOCKER_LAYER_LIMIT} (Docker's limit), or 0 for no budget, found `{}`",
                            s.as_str()
                        ),
                        None,
                    );
                    return;
                }
            }
        }
        self.layer_limit = limit;
        // A squashed target's layers depend on its plan: `dockopt_project` checks them.
        for t in targets.iter().filter(|t| !t.squash) {
            let count = t.steps.len() + t.finally.len();
            if count > limit {
                self.error(
                    t.span,
                    &format!("targets.{}", t.name),
                    format!(
                        "target `{}` adds {count} layers (one per step), over the limit of {limit}",
                        t.name
                    ),
                    Some(format!(
                        "merge steps that always run together into one `run`, or raise `layers:` (Docker allows {DOCKER_LAYER_LIMIT}, the base image's layers included)"
                    )),
                );
            }
        }
    }

    /// Every stage a step reads names a target; no target reads itself, directly or through
    /// other stages.
    fn check_stages(&mut self, steps: &[Step], targets: &[Target], decls: &[Decl], ids: &[usize]) {
        let index: BTreeMap<&str, usize> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        let mut unknown = false;
        for d in decls {
            for (name, span, field) in &d.stages {
                if !index.contains_key(name.as_str()) {
                    unknown = true;
                    let stages = targets.iter().filter(|t| t.stage).map(|t| t.name.as_str());
                    let help = did_you_mean(name, stages)
                        .or_else(|| did_you_mean(name, index.keys().copied()))
                        .or_else(|| {
                            Some(format!(
                                "declare a target `{name}` with `stage: true`, or give an image with its tag (`{name}:latest`)"
                            ))
                        });
                    self.error(*span, field, format!("no stage is named `{name}`"), help);
                }
            }
        }
        if unknown {
            return;
        }
        // Edges target → the targets its steps read; a depth-first search finds a cycle.
        let reads = |t: usize| -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            for &s in targets[t].steps.iter().chain(&targets[t].finally) {
                for name in steps[s].stages() {
                    if let Some(&i) = index.get(name) {
                        out.push((i, s));
                    }
                }
            }
            out
        };
        // 0: unvisited, 1: on the path, 2: done.
        let mut state = vec![0u8; targets.len()];
        for start in 0..targets.len() {
            if state[start] != 0 {
                continue;
            }
            // (target, its edges (target read, via step), next edge to follow)
            let mut path: Vec<Frame> = vec![(start, reads(start), 0)];
            state[start] = 1;
            while let Some(top) = path.last_mut() {
                let Some(&(next, via)) = top.1.get(top.2) else {
                    state[top.0] = 2;
                    path.pop();
                    continue;
                };
                top.2 += 1;
                let from = top.0;
                match state[next] {
                    0 => {
                        state[next] = 1;
                        path.push((next, reads(next), 0));
                    }
                    1 => {
                        let at = path.iter().position(|p| p.0 == next).unwrap_or(0);
                        let mut chain: Vec<&str> = path[at..]
                            .iter()
                            .map(|p| targets[p.0].name.as_str())
                            .collect();
                        chain.push(&targets[next].name);
                        let (span, field) = decls
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| ids.get(*i) == Some(&via))
                            .flat_map(|(_, d)| &d.stages)
                            .find(|(n, _, _)| *n == targets[next].name)
                            .map_or_else(
                                || {
                                    (
                                        targets[from].span,
                                        format!("targets.{}", targets[from].name),
                                    )
                                },
                                |(_, sp, f)| (*sp, f.clone()),
                            );
                        let message = if from == next {
                            format!("target `{}` copies from itself", targets[from].name)
                        } else {
                            format!(
                                "stages read each other in a cycle: {} (each needs the next built first)",
                                chain
                                    .iter()
                                    .map(|n| format!("`{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(" → ")
                            )
                        };
                        self.error(span, &field, message, None);
                        return;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Cycles in `after`, and `after` pairs a target's fixed `finally` order contradicts.
    fn check_order(
        &mut self,
        steps: &[Step],
        after: &[(usize, usize)],
        targets: &[Target],
        decls: &[Decl],
    ) {
        let problem = dockopt_planner::Problem {
            costs: vec![0.0; steps.len()],
            targets: Vec::new(),
            after: after.to_vec(),
        };
        if let Err(dockopt_planner::ProblemError::Cycle { cycle }) = problem.validate() {
            let names: Vec<String> = cycle
                .iter()
                .map(|&s| format!("`{}`", steps[s].label()))
                .collect();
            let first = &steps[cycle[0]];
            let span = decls
                .iter()
                .find(|d| d.name.as_deref() == first.name.as_deref() && !d.after.is_empty())
                .map_or(first.span, |d| d.after[0].1);
            let mut chain = names.join(" → ");
            chain.push_str(&format!(" → {}", names[0]));
            self.error(
                span,
                "after",
                format!(
                    "the `after` constraints form a cycle: {chain} (each must run before the next)"
                ),
                None,
            );
            return;
        }
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
        for &(a, b) in after {
            succ[a].push(b);
        }
        let reaches = |from: usize, to: usize| {
            let mut seen = vec![false; steps.len()];
            let mut stack = vec![from];
            while let Some(x) = stack.pop() {
                for &y in &succ[x] {
                    if y == to {
                        return true;
                    }
                    if !std::mem::replace(&mut seen[y], true) {
                        stack.push(y);
                    }
                }
            }
            false
        };
        for t in targets {
            for (i, &f) in t.finally.iter().enumerate() {
                let later_steps = t.steps.iter().chain(&t.finally[..i]);
                if let Some(&b) = later_steps.clone().find(|&&b| reaches(f, b)) {
                    self.error(
                        t.span,
                        &format!("targets.{}.finally", t.name),
                        format!(
                            "`{}` must run before `{}` (by `after`), but target `{}` runs it later, in `finally`",
                            steps[f].label(),
                            steps[b].label(),
                            t.name
                        ),
                        None,
                    );
                }
            }
        }
    }
}

/// A depth-first search frame: a target, the (target read, via step) edges out of it, and
/// the next edge to follow.
type Frame = (usize, Vec<(usize, usize)>, usize);

/// A `from:` value that names a target of the manifest rather than an image: a name without
/// `:`, `/` or `@` (an image needs its tag there: `busybox:latest`).
fn is_stage_name(value: &str) -> bool {
    !value.is_empty() && !value.contains([':', '/', '@'])
}

/// `64m`, `1g`, `512k`, `4096` (binary units, as Docker reads `size=`) → bytes.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (digits, shift) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 10),
        'm' => (&t[..t.len() - 1], 20),
        'g' => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

fn entry_place(entry: &Entry, decls: &[Decl]) -> (Span, String) {
    match entry {
        Entry::Ref { span, field, .. } => (*span, field.clone()),
        Entry::Inline(i) => (decls[*i].span, decls[*i].field.clone()),
    }
}

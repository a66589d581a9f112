//! YAML text → [`Manifest`], collecting every problem with its place. The top level and the
//! parser's state are here; shapes, steps, targets and resolution each have a module.

mod resolve;
mod shapes;
mod steps;
mod targets;

use std::collections::{BTreeMap, BTreeSet};

use dockopt_diagnostics::yaml::{Reader, join};
use dockopt_diagnostics::{Diagnostic, Diagnostics, Span, did_you_mean};

use crate::model::{Action, Arg, ImageConfig, Manifest, StepContext, Target};

const TOP_KEYS: &[&str] = &[
    "version", "args", "defaults", "steps", "targets", "default", "layers",
];
/// Build args Docker predefines (its client passes the proxy settings on its own): never
/// "not declared", in either case.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
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
            } else if !PROXY_ARGS.contains(&name.to_ascii_uppercase().as_str()) {
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
}

/// A depth-first search frame: a target, the (target read, via step) edges out of it, and
/// the next edge to follow.
type Frame = (usize, Vec<(usize, usize)>, usize);

/// A `from:` value that names a target of the manifest rather than an image: a name without
/// `:`, `/` or `@` (an image needs its tag there: `busybox:latest`).
fn is_stage_name(value: &str) -> bool {
    !value.is_empty() && !value.contains([':', '/', '@'])
}

/// `64m`, `1g`, `512k`, `4096` (binary units, as Docker reads `size=`) → bytes; `None` when it
/// is not a size or does not fit 64 bits.
#[must_use]
pub fn parse_size(text: &str) -> Option<u64> {
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

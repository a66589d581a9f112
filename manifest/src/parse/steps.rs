//! Steps: `run`, `copy` (from the context, an image or a stage), `RUN` mounts, and each step's context, time and `after`.

use std::collections::BTreeMap;

use dockopt_diagnostics::yaml::join;
use dockopt_diagnostics::{Span, did_you_mean};
use marked_yaml::Node;
use marked_yaml::types::MarkedScalarNode;

use crate::model::{Action, CacheSharing, Copy, Mount, RunCommand, StepContext};
use crate::subst::Mode;

use super::*;

impl Parser {
    pub(super) fn step(
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

    pub(super) fn run(&mut self, node: &Node, field: &str) -> Option<Action> {
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

    pub(super) fn copy(&mut self, node: &Node, field: &str) -> Option<Action> {
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
    pub(super) fn mounts(&mut self, node: &Node, field: &str) -> Vec<Mount> {
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

    pub(super) fn mount(&mut self, node: &Node, field: &str) -> Option<Mount> {
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
        let flag = |p: &mut Self, key: &str| p.yaml.flag(map, key, field);
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
}

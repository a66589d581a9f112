//! Targets: matrices and their expansion, a target's steps, `finally`, image config and health check.

use std::collections::BTreeMap;

use dockopt_diagnostics::yaml::{describe, join};
use dockopt_diagnostics::{Span, did_you_mean};
use marked_yaml::Node;
use marked_yaml::types::MarkedScalarNode;

use crate::image_ref;
use crate::model::{Healthcheck, ImageConfig};
use crate::subst::{Mode, SubstError, substitute_noting};

use super::*;

impl Parser {
    /// The targets one `targets:` entry stands for: itself, or with `matrix:` one per
    /// combination of the axes' values (first axis slowest, values as listed) less those
    /// `exclude:` names, each with its name substituted and the axis values to substitute.
    pub(super) fn matrix(
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

    pub(super) fn target(
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
        let stage = self.yaml.flag(map, "stage", &field).unwrap_or(false);
        if stage && let Some(t) = map.get_node("tags") {
            self.error(
                Span::of(t.span()),
                &join(&field, "tags"),
                format!("target `{name}` is a stage: stages are not tagged"),
                Some("remove `tags`, or `stage: true` to build and tag it".into()),
            );
        }
        let squash = self.yaml.flag(map, "squash", &field).unwrap_or(false);
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
    pub(super) fn healthcheck(&mut self, node: &Node, field: &str) -> Option<Healthcheck> {
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
}

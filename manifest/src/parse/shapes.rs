//! Node shapes: mappings, values, lists of strings, string maps, substitution and image references, each with its error.

use std::collections::BTreeMap;

use dockopt_diagnostics::yaml::join;
use dockopt_diagnostics::{Span, did_you_mean};
use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::image_ref;
use crate::subst::{Mode, SubstError, substitute_noting};

use super::*;

impl Parser {
    pub(super) fn mapping<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Option<&'n MarkedMappingNode> {
        self.yaml.mapping(node, field, expected)
    }

    pub(super) fn scalar<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Option<&'n MarkedScalarNode> {
        self.yaml.scalar(node, field, expected)
    }

    pub(super) fn wrong_type(&mut self, node: &Node, field: &str, expected: &str) {
        self.yaml.wrong_type(node, field, expected);
    }

    /// A string or a list of strings.
    pub(super) fn strings<'n>(
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

    pub(super) fn string_map(
        &mut self,
        node: &Node,
        field: &str,
        mode: Mode,
    ) -> BTreeMap<String, String> {
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

    pub(super) fn check_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], field: &str) {
        self.yaml.check_keys(map, allowed, field);
    }

    pub(super) fn subst(
        &mut self,
        s: &MarkedScalarNode,
        field: &str,
        mode: Mode,
    ) -> Option<String> {
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
    pub(super) fn image(&mut self, s: &MarkedScalarNode, field: &str) -> Option<(String, String)> {
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
}

//! Reading YAML with a diagnostic for every wrong shape: loading (with the loader's errors given
//! a place), and a [`Reader`] that checks each node is what the caller expects.

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node};

use crate::{Diagnostic, Diagnostics, Span, did_you_mean};

/// Loads `text` (a YAML mapping; duplicate keys are errors). `top` says what the file must be
/// when it is not a mapping (e.g. "the manifest must be a YAML mapping (`version: 1`, …)").
///
/// # Errors
/// The loader's error, with its line and column.
pub fn load(file: &str, text: &str, top: &str) -> Result<Node, Diagnostics> {
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| {
        let (span, message) = load_error(&e, top);
        Diagnostics {
            file: file.to_owned(),
            errors: vec![Diagnostic {
                span,
                field: String::new(),
                message,
                help: None,
            }],
        }
    })
}

/// Where a load error is and what it says (the loader's own text would say `0:0`).
fn load_error(e: &LoadError, top: &str) -> (Span, String) {
    let (marker, message) = match e {
        LoadError::ScanError(m, err) => (Some(*m), format!("invalid YAML: {}", err.info())),
        LoadError::TopLevelMustBeMapping(m) => (Some(*m), top.to_owned()),
        LoadError::UnexpectedAnchor(m) => (
            Some(*m),
            "YAML anchors and aliases are not supported".into(),
        ),
        LoadError::MappingKeyMustBeScalar(m) => {
            (Some(*m), "mapping keys must be plain strings".into())
        }
        LoadError::UnexpectedTag(m) => (Some(*m), "YAML tags (`!name`) are not supported".into()),
        LoadError::DuplicateKey(inner) => (
            inner.key.span().start().copied(),
            format!(
                "key `{}` appears twice in one mapping (first at line {})",
                inner.key.as_str(),
                inner
                    .prev_key
                    .span()
                    .start()
                    .map_or(0, marked_yaml::Marker::line)
            ),
        ),
        other => (None, format!("invalid YAML: {other}")),
    };
    // Without a place from the loader: the file's start, where an editor can jump.
    let span = marker.map_or(Span { line: 1, column: 1 }, |m| Span {
        line: m.line(),
        column: m.column(),
    });
    (span, message)
}

/// What a node is, as an error message names it.
#[must_use]
pub fn describe(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a string",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

/// `field.key`, or `key` at the top.
#[must_use]
pub fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_owned()
    } else {
        format!("{field}.{key}")
    }
}

/// Collects the problems of one file while its nodes are read.
#[derive(Debug, Default)]
pub struct Reader {
    /// The problems so far, in the order found.
    pub errors: Vec<Diagnostic>,
}

impl Reader {
    /// Records a problem.
    pub fn error(
        &mut self,
        span: Span,
        field: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.errors.push(Diagnostic {
            span,
            field: field.to_owned(),
            message: message.into(),
            help,
        });
    }

    /// The node as a mapping, else "expected EXPECTED, found …" (or "found nothing").
    pub fn mapping<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Option<&'n MarkedMappingNode> {
        if let Node::Mapping(m) = node {
            return Some(m);
        }
        if let Node::Scalar(s) = node
            && s.as_str().is_empty()
        {
            self.error(
                Span::of(node.span()),
                field,
                format!("expected {expected}, found nothing"),
                None,
            );
            return None;
        }
        self.wrong_type(node, field, expected);
        None
    }

    /// The node as a single value, else "expected EXPECTED, found …".
    pub fn scalar<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Option<&'n MarkedScalarNode> {
        if let Node::Scalar(s) = node {
            return Some(s);
        }
        self.wrong_type(node, field, expected);
        None
    }

    /// `key` of `map` as `true`/`false`: `Some(false)` when absent, `None` (and an error naming
    /// `field.key`) when it is anything else.
    pub fn flag(&mut self, map: &MarkedMappingNode, key: &str, field: &str) -> Option<bool> {
        let Some(node) = map.get_node(key) else {
            return Some(false);
        };
        let f = join(field, key);
        let s = self.scalar(node, &f, "`true` or `false`")?;
        match s.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                self.error(
                    Span::of(s.span()),
                    &f,
                    format!("expected `true` or `false`, found `{other}`"),
                    None,
                );
                None
            }
        }
    }

    /// "expected EXPECTED, found a list" at the node.
    pub fn wrong_type(&mut self, node: &Node, field: &str, expected: &str) {
        self.error(
            Span::of(node.span()),
            field,
            format!("expected {expected}, found {}", describe(node)),
            None,
        );
    }

    /// Every key of `map` not in `allowed` is an error, with the likely typo's fix or the list
    /// of keys allowed.
    pub fn check_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], field: &str) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let help = did_you_mean(key.as_str(), allowed.iter().copied())
                    .or_else(|| Some(format!("expected one of: {}", allowed.join(", "))));
                self.error(
                    Span::of(key.span()),
                    &join(field, key.as_str()),
                    format!("unknown key `{}`", key.as_str()),
                    help,
                );
            }
        }
    }
}

//! Errors with a place: file, line, column and the field they concern.

use std::fmt;

/// A place in the manifest text, 1-based; line 0 means "the whole file".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Line, from 1.
    pub line: usize,
    /// Column (characters), from 1.
    pub column: usize,
}

impl Span {
    pub(crate) fn of(node: &marked_yaml::Span) -> Self {
        node.start().map_or(Self::default(), |m| Self {
            line: m.line(),
            column: m.column(),
        })
    }
}

/// One problem with the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub span: Span,
    /// The field path, e.g. `targets.tools.steps[2]`.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// A fix, e.g. "did you mean `after`?".
    pub help: Option<String>,
}

/// Every problem found in one manifest file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics {
    /// The file name as the user gave it.
    pub file: String,
    /// The problems, in file order.
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    /// One line per problem: `file:line:column: field: message (help)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: ", self.file, e.span.line, e.span.column)?;
            if !e.field.is_empty() {
                write!(f, "{}: ", e.field)?;
            }
            write!(f, "{}", e.message)?;
            if let Some(help) = &e.help {
                write!(f, " ({help})")?;
            }
        }
        Ok(())
    }
}

impl Diagnostics {
    /// Renders every problem with the source line and a caret under the column.
    #[must_use]
    pub fn render(&self, source: &str) -> String {
        let lines: Vec<&str> = source.lines().collect();
        let mut out = String::new();
        for e in &self.errors {
            let field = if e.field.is_empty() {
                String::new()
            } else {
                format!(" in `{}`", e.field)
            };
            out.push_str(&format!("error: {}{field}\n", e.message));
            out.push_str(&format!(
                "  --> {}:{}:{}\n",
                self.file, e.span.line, e.span.column
            ));
            if let Some(text) = e.span.line.checked_sub(1).and_then(|i| lines.get(i)) {
                let num = e.span.line.to_string();
                let pad = " ".repeat(num.len());
                let caret_at: String = text
                    .chars()
                    .take(e.span.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!("{pad} |\n{num} | {text}\n{pad} | {caret_at}^\n"));
            }
            if let Some(help) = &e.help {
                out.push_str(&format!("  = help: {help}\n"));
            }
        }
        out
    }
}

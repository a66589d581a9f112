//! Errors with a place: file, line, column and the field they concern, and how they are shown.

use std::fmt;

/// A place in a file's text, 1-based; line 0 means "the whole file".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Line, from 1.
    pub line: usize,
    /// Column (characters), from 1.
    pub column: usize,
}

impl Span {
    /// Where a YAML node starts (line 0 when the loader gave no place).
    #[must_use]
    pub fn of(node: &marked_yaml::Span) -> Self {
        node.start().map_or(Self::default(), |m| Self {
            line: m.line(),
            column: m.column(),
        })
    }
}

/// One problem with a file.
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

/// Every problem found in one file.
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
                let (shown, caret_at) = excerpt(text, e.span.column.saturating_sub(1));
                out.push_str(&format!("{pad} |\n{num} | {shown}\n{pad} | {caret_at}^\n"));
            }
            if let Some(help) = &e.help {
                out.push_str(&format!("  = help: {help}\n"));
            }
        }
        out
    }
}

/// Display columns of a source line shown around the caret; longer lines are cut with `…`.
const SHOWN: usize = 100;

/// The part of `line` to show and the padding that puts a caret under character `at` (a
/// character index): tabs are kept in the padding so it lines up with the text above it, and a
/// wide character (CJK, most emoji) counts two columns.
fn excerpt(line: &str, at: usize) -> (String, String) {
    use unicode_width::UnicodeWidthChar;
    let chars: Vec<char> = line.chars().collect();
    let at = at.min(chars.len());
    let width = |c: char| if c == '\t' { 1 } else { c.width().unwrap_or(0) };
    let total: usize = chars.iter().map(|&c| width(c)).sum();
    let (mut start, mut end) = (0, chars.len());
    if total > SHOWN {
        // Up to half the room before the caret, the rest after it.
        let mut room = SHOWN / 2;
        start = at;
        while start > 0 && width(chars[start - 1]) <= room {
            room -= width(chars[start - 1]);
            start -= 1;
        }
        let mut room = SHOWN - (SHOWN / 2 - room);
        end = at;
        while end < chars.len() && width(chars[end]) <= room {
            room -= width(chars[end]);
            end += 1;
        }
    }
    let mut shown = String::new();
    let mut pad = String::new();
    if start > 0 {
        shown.push('…');
        pad.push(' ');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    for &c in &chars[start..at] {
        if c == '\t' {
            pad.push('\t');
        } else {
            pad.push_str(&" ".repeat(width(c)));
        }
    }
    (shown, pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: usize, column: usize, source: &str) -> String {
        Diagnostics {
            file: "f.yaml".into(),
            errors: vec![Diagnostic {
                span: Span { line, column },
                field: "x".into(),
                message: "bad".into(),
                help: None,
            }],
        }
        .render(source)
    }

    #[test]
    fn the_caret_is_under_the_column_past_wide_characters_and_tabs() {
        let out = one(1, 5, "名前:\tvalue\n");
        // `名` and `前` take two columns each, `:` one, then the tab.
        assert!(out.contains("1 | 名前:\tvalue\n  |      \t^\n"), "{out}");
    }

    #[test]
    fn a_long_line_is_cut_around_the_column() {
        let line = format!("{}BAD{}", "a".repeat(500), "b".repeat(500));
        let out = one(1, 501, &line);
        let shown = out.lines().nth(3).expect("the source line");
        let caret = out.lines().nth(4).expect("the caret line");
        assert!(
            shown.starts_with("1 | …") && shown.ends_with('…'),
            "{shown}"
        );
        assert!(shown.chars().count() < 120, "{shown}");
        let col = caret.find('^').expect("a caret");
        assert_eq!(
            &shown[shown.char_indices().nth(col).expect("in range").0..][..3],
            "BAD"
        );
    }

    #[test]
    fn a_span_past_the_end_of_its_line_does_not_panic() {
        let out = one(1, 99, "short\n");
        assert!(out.contains("1 | short\n  |      ^"), "{out}");
        let out = one(7, 1, "one line\n");
        assert!(!out.contains('^'), "no line 7: {out}");
    }
}

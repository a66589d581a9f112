//! Dockerfile word handling: line continuations, whitespace, and the quoting and `$VAR`
//! expansion Docker applies to the arguments of ENV, ARG, LABEL, WORKDIR, USER, COPY, ADD,
//! EXPOSE and FROM (never to RUN, CMD or ENTRYPOINT: the shell expands those).

/// What a variable is worth where it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Set (by ENV, ARG, `--build-arg` or the base image).
    Set(String),
    /// Known not to be set (a declared ARG without a value): expands to nothing.
    Unset,
    /// Not set in the Dockerfile, and the base image's env is not known: it may come from there.
    Unknown,
}

/// Joins line continuations (`\` at the end of a line) and drops the comment and empty lines
/// between them, as Docker does; the joined line has single spaces where lines met.
pub(crate) fn join_continuations(raw: &str) -> String {
    let mut out = String::new();
    for (i, line) in raw.lines().enumerate() {
        let trimmed = line.trim();
        if i > 0 && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        let body = line.trim_end();
        let body = body.strip_suffix('\\').unwrap_or(body);
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        out.push_str(body.trim_start_matches([' ', '\t']).trim_end());
    }
    out
}

/// Collapses runs of spaces and tabs outside quotes to one space and trims the ends, so
/// commands that differ only in layout are the same step.
pub(crate) fn normalise_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    let mut chars = text.trim().chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c == ' ' || c == '\t' => pending_space = true,
            None => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else if c == '\'' || c == '"' {
                    quote = Some(c);
                }
            }
        }
    }
    out
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `text` into words as Docker's word lexer does: quotes removed, `\` escapes, `$NAME`,
/// `${NAME}`, `${NAME:-word}` and `${NAME:+word}` expanded outside single quotes. With `split`
/// false the whole text is one word (legacy `ENV KEY value with spaces`). Returns the words and
/// the names that were [`Lookup::Unknown`] (kept as written).
pub(crate) fn words(
    text: &str,
    split: bool,
    vars: &dyn Fn(&str) -> Lookup,
) -> (Vec<String>, Vec<String>) {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            ' ' | '\t' | '\n' if split => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(&n) = chars.get(i) {
                    cur.push(n);
                    i += 1;
                }
            }
            '\'' => {
                in_word = true;
                while let Some(&n) = chars.get(i) {
                    i += 1;
                    if n == '\'' {
                        break;
                    }
                    cur.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(&n) = chars.get(i) {
                    i += 1;
                    match n {
                        '"' => break,
                        '\\' if matches!(chars.get(i), Some('"' | '\\' | '$')) => {
                            cur.push(chars[i]);
                            i += 1;
                        }
                        '$' => i = expand(&chars, i, &mut cur, vars, &mut unknown),
                        _ => cur.push(n),
                    }
                }
            }
            '$' => {
                in_word = true;
                i = expand(&chars, i, &mut cur, vars, &mut unknown);
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    (out, unknown)
}

/// Expands the reference after a `$` at `chars[i]`; returns the index after it.
fn expand(
    chars: &[char],
    i: usize,
    out: &mut String,
    vars: &dyn Fn(&str) -> Lookup,
    unknown: &mut Vec<String>,
) -> usize {
    if chars.get(i) == Some(&'{') {
        let Some(close) = chars[i..].iter().position(|&c| c == '}') else {
            out.push('$');
            return i;
        };
        let inner: String = chars[i + 1..i + close].iter().collect();
        let original: String = chars[i - 1..=i + close].iter().collect();
        let name_len = inner
            .find(|c: char| !is_name_char(c))
            .unwrap_or(inner.len());
        let (name, op) = inner.split_at(name_len);
        let value = vars(name);
        let text = match (value, op) {
            (Lookup::Unknown, _) => {
                unknown.push(name.to_owned());
                original
            }
            (Lookup::Set(v), "") => v,
            (Lookup::Unset, "") => String::new(),
            (Lookup::Set(v), _) if op.starts_with(":-") && !v.is_empty() => v,
            (_, _) if op.starts_with(":-") => words(&op[2..], false, vars).0.concat(),
            (Lookup::Set(v), _) if op.starts_with(":+") && !v.is_empty() => {
                words(&op[2..], false, vars).0.concat()
            }
            (_, _) if op.starts_with(":+") => String::new(),
            _ => {
                unknown.push(name.to_owned());
                original
            }
        };
        out.push_str(&text);
        return i + close + 1;
    }
    if chars.get(i).is_some_and(|&c| is_name_start(c)) {
        let len = chars[i..]
            .iter()
            .position(|&c| !is_name_char(c))
            .unwrap_or(chars.len() - i);
        let name: String = chars[i..i + len].iter().collect();
        match vars(&name) {
            Lookup::Set(v) => out.push_str(&v),
            Lookup::Unset => {}
            Lookup::Unknown => {
                out.push('$');
                out.push_str(&name);
                unknown.push(name);
            }
        }
        return i + len;
    }
    out.push('$');
    i
}

/// `KEY=value KEY2="v 2"` (or the legacy `KEY value`) of ENV, ARG and LABEL, expanded.
pub(crate) fn pairs(
    text: &str,
    vars: &dyn Fn(&str) -> Lookup,
) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let text = text.trim();
    let first = text.split([' ', '\t']).next().unwrap_or_default();
    if !first.contains('=') {
        let rest = text[first.len()..].trim();
        if rest.is_empty() {
            return (vec![(first.to_owned(), None)], Vec::new());
        }
        let (value, unknown) = words(rest, false, vars);
        return (vec![(first.to_owned(), Some(value.concat()))], unknown);
    }
    let (ws, unknown) = words(text, true, vars);
    let out = ws
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (w, None),
        })
        .collect();
    (out, unknown)
}

/// Whether shell text refers to `$NAME` or `${NAME…}`.
pub(crate) fn references(text: &str, name: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        let after = after.strip_prefix('{').unwrap_or(after);
        if let Some(tail) = after.strip_prefix(name)
            && !tail.starts_with(is_name_char)
        {
            return true;
        }
        rest = &rest[at + 1..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Lookup {
        match name {
            "PY" => Lookup::Set("3.12".into()),
            "EMPTY" => Lookup::Unset,
            _ => Lookup::Unknown,
        }
    }

    #[test]
    fn continuations_join_and_comments_between_them_go() {
        let raw = "apt-get update \\\n    # a comment\n\n    && apt-get install -y \\\n\tcurl";
        assert_eq!(
            join_continuations(raw),
            "apt-get update && apt-get install -y curl"
        );
    }

    #[test]
    fn whitespace_collapses_outside_quotes_only() {
        assert_eq!(
            normalise_whitespace("  echo   'a   b'  \"c  \\\" d\"   e\\  f "),
            "echo 'a   b' \"c  \\\" d\" e\\  f"
        );
    }

    #[test]
    fn words_expand_quote_and_escape_like_docker() {
        let (w, unknown) = words(
            r#"a$PY "b ${PY}" 'c $PY' d\ e ${EMPTY:-dflt} ${PY:+yes} $PATH x\$PY"#,
            true,
            &vars,
        );
        assert_eq!(
            w,
            [
                "a3.12", "b 3.12", "c $PY", "d e", "dflt", "yes", "$PATH", "x$PY"
            ]
        );
        assert_eq!(unknown, ["PATH"]);
    }

    #[test]
    fn pairs_read_both_env_forms() {
        let (p, _) = pairs(r#"A=1 B="two words" C"#, &vars);
        assert_eq!(
            p,
            [
                ("A".into(), Some("1".into())),
                ("B".into(), Some("two words".into())),
                ("C".into(), None)
            ]
        );
        let (p, _) = pairs("LANG C.UTF-8 x", &vars);
        assert_eq!(p, [("LANG".into(), Some("C.UTF-8 x".into()))]);
    }

    #[test]
    fn references_need_the_whole_name() {
        assert!(references("echo ${PY}", "PY"));
        assert!(references("echo $PY/x", "PY"));
        assert!(!references("echo $PYTHON", "PY"));
        assert!(!references("echo PY", "PY"));
    }
}

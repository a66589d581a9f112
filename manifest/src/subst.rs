//! `${NAME}` / `$NAME` substitution of declared build args.

use std::collections::BTreeMap;

/// How to treat a reference that names no declared arg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Shell text: unknown references and `$$` belong to the shell and stay as they are.
    Shell,
    /// Image refs, tags, paths: an unknown reference is an error, `$$` is a literal `$`.
    Strict,
}

/// Why a strict substitution failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SubstError {
    /// `${NAME}` or `$NAME` with no such arg declared.
    Unknown(String),
    /// `${…}` that is not a plain name, or an unclosed `${`.
    Malformed(String),
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `text` refers to `name` (`$NAME` or `${NAME}`).
pub(crate) fn mentions(text: &str, name: &str) -> bool {
    let mut found = false;
    let args: BTreeMap<String, String> = [(name.to_owned(), String::new())].into();
    let _ = substitute_noting(text, &args, Mode::Shell, &mut |_| found = true);
    found
}

/// Substitutes every reference to a declared arg in `text`.
#[cfg(test)]
pub(crate) fn substitute(
    text: &str,
    args: &BTreeMap<String, String>,
    mode: Mode,
) -> Result<String, SubstError> {
    substitute_noting(text, args, mode, &mut |_| {})
}

/// [`substitute`], calling `used` with the name of every declared arg it substitutes.
pub(crate) fn substitute_noting(
    text: &str,
    args: &BTreeMap<String, String>,
    mode: Mode,
    used: &mut dyn FnMut(&str),
) -> Result<String, SubstError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push_str(if mode == Mode::Shell { "$$" } else { "$" });
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(close) = inner.find('}') else {
                if mode == Mode::Strict {
                    return Err(SubstError::Malformed(format!("${{{inner}")));
                }
                out.push_str(&rest[at..]);
                rest = "";
                continue;
            };
            let name = &inner[..close];
            let plain = name.starts_with(is_name_start) && name.chars().all(is_name_char);
            match (plain, args.get(name), mode) {
                (true, Some(value), _) => {
                    used(name);
                    out.push_str(value);
                }
                (true, None, Mode::Strict) => return Err(SubstError::Unknown(name.to_owned())),
                (false, _, Mode::Strict) => {
                    return Err(SubstError::Malformed(format!("${{{name}}}")));
                }
                _ => out.push_str(&rest[at..at + 2 + close + 1]),
            }
            rest = &inner[close + 1..];
        } else if after.starts_with(is_name_start) {
            let len = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            let name = &after[..len];
            match (args.get(name), mode) {
                (Some(value), _) => {
                    used(name);
                    out.push_str(value);
                }
                (None, Mode::Strict) => return Err(SubstError::Unknown(name.to_owned())),
                (None, Mode::Shell) => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = &after[len..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> BTreeMap<String, String> {
        [("DEBIAN".to_owned(), "bookworm".to_owned())].into()
    }

    #[test]
    fn declared_args_are_substituted_in_both_forms() {
        assert_eq!(
            substitute("debian:${DEBIAN}", &args(), Mode::Strict),
            Ok("debian:bookworm".into())
        );
        assert_eq!(
            substitute("x $DEBIAN-y", &args(), Mode::Shell),
            Ok("x bookworm-y".into())
        );
    }

    #[test]
    fn substituted_names_are_noted() {
        let mut seen = Vec::new();
        let out = substitute_noting(
            "$DEBIAN ${DEBIAN} $$DEBIAN $HOME",
            &args(),
            Mode::Shell,
            &mut |n| seen.push(n.to_owned()),
        );
        assert_eq!(out, Ok("bookworm bookworm $$DEBIAN $HOME".into()));
        assert_eq!(seen, ["DEBIAN", "DEBIAN"]);
    }

    #[test]
    fn shell_keeps_what_is_not_ours() {
        let text = r#"v=${var##*-} $HOME $$ ${DEBIAN:-x} ${"#;
        assert_eq!(substitute(text, &args(), Mode::Shell), Ok(text.into()));
    }

    #[test]
    fn strict_rejects_unknown_and_malformed() {
        assert_eq!(
            substitute("a:${TAG}", &args(), Mode::Strict),
            Err(SubstError::Unknown("TAG".into()))
        );
        assert_eq!(
            substitute("a:$TAG", &args(), Mode::Strict),
            Err(SubstError::Unknown("TAG".into()))
        );
        assert!(matches!(
            substitute("a:${T:-x}", &args(), Mode::Strict),
            Err(SubstError::Malformed(_))
        ));
        assert_eq!(
            substitute("cost $$5", &args(), Mode::Strict),
            Ok("cost $5".into())
        );
    }
}

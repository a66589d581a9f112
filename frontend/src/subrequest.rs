//! Subrequests: `docker buildx build --print=targets|outline|subrequests.describe` (newer buildx:
//! `--call …`) set the frontend option `requestid`; the frontend then answers about the manifest
//! instead of building it (parsed only, never planned or solved).
//!
//! The answer is the result's metadata, in the shapes of BuildKit's `frontend/subrequests`
//! packages (`targets.List`, `outline.Outline`, `[]subrequests.Request`, v1.0.0): `result.json`
//! (what buildx decodes and prints, or prints as is with `format=json`), `result.txt` (the same
//! table, which buildx prints when the JSON is of a newer version than it knows) and `version`.

use std::collections::BTreeMap;

use base64::Engine as _;
use dockopt_manifest::{Manifest, Span};
use serde_json::{Value, json};

/// The version of every answer's shape (BuildKit's `Version: "1.0.0"` for all three).
const VERSION: &str = "1.0.0";

/// A subrequest dockopt answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// `frontend.subrequests.describe`: the subrequests supported.
    Describe,
    /// `frontend.targets`: every variant.
    Targets,
    /// `frontend.outline`: the build args of a target.
    Outline,
}

impl Request {
    /// All of them, in the order BuildKit's Dockerfile frontend describes its own.
    const ALL: [Self; 3] = [Self::Outline, Self::Targets, Self::Describe];

    /// The request a `requestid` names, if dockopt answers it.
    pub(crate) fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Its `requestid`.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Self::Describe => "frontend.subrequests.describe",
            Self::Targets => "frontend.targets",
            Self::Outline => "frontend.outline",
        }
    }

    /// Its entry in the describe answer (`subrequests.Request`).
    fn definition(self) -> Value {
        let (description, opts) = match self {
            Self::Describe => ("List available subrequest types", json!([])),
            Self::Targets => (
                "List all variants (targets) the manifest declares",
                json!([]),
            ),
            Self::Outline => (
                "List the build args of a variant: value, declaration and uses",
                json!([{"name": "target", "description": "Variant (target) to outline"}]),
            ),
        };
        json!({
            "name": self.id(),
            "version": VERSION,
            "type": "rpc",
            "description": description,
            "opts": opts,
            "inputs": [],
            "metadata": [{"name": "result.json"}, {"name": "result.txt"}],
            "refs": [],
        })
    }
}

/// The metadata of an answer: `result.json`, `result.txt` and `version`.
fn answer(json: &Value, txt: String) -> BTreeMap<String, Vec<u8>> {
    // serde_json's pretty form is Go's `json.MarshalIndent(v, "", "  ")` for these values.
    let json = serde_json::to_vec_pretty(json).unwrap_or_default();
    BTreeMap::from([
        ("result.json".to_owned(), json),
        ("result.txt".to_owned(), txt.into_bytes()),
        ("version".to_owned(), VERSION.as_bytes().to_vec()),
    ])
}

/// `frontend.subrequests.describe`.
pub(crate) fn describe() -> BTreeMap<String, Vec<u8>> {
    let all: Vec<Value> = Request::ALL.iter().map(|r| r.definition()).collect();
    let mut rows = vec![cells(["NAME", "VERSION", "DESCRIPTION"])];
    for r in Request::ALL {
        let def = r.definition();
        rows.push(cells([
            r.id().trim_start_matches("frontend."),
            VERSION,
            def["description"].as_str().unwrap_or_default(),
        ]));
    }
    answer(&Value::Array(all), table(&rows, 1))
}

/// `frontend.targets`: every variant in declaration order, with its base, a description, the
/// default flag and the lines that declare it.
pub(crate) fn targets(manifest: &Manifest, text: &str) -> BTreeMap<String, Vec<u8>> {
    let mut order: Vec<usize> = (0..manifest.targets.len()).collect();
    order.sort_by_key(|&t| manifest.targets[t].span);
    let mut list = Vec::new();
    let mut rows = vec![cells(["TARGET", "DESCRIPTION"])];
    for t in order {
        let target = &manifest.targets[t];
        let default = target.name == manifest.default_target;
        let description = describe_target(manifest, t);
        let mut entry = json!({
            "name": target.name,
            "description": description,
            "base": target.from,
            "location": location(target.span.line, block_end(text, target.span)),
        });
        if default {
            entry["default"] = Value::Bool(true);
        }
        list.push(entry);
        let name = if default {
            format!("{} (default)", target.name)
        } else {
            target.name.clone()
        };
        rows.push(vec![name, description]);
    }
    let json = json!({"targets": list, "sources": [base64(text)]});
    answer(&json, table(&rows, 1))
}

/// `frontend.outline` of one target: its name and description, and every declared arg with the
/// value this build would use, where it is declared and the lines that use it.
pub(crate) fn outline(manifest: &Manifest, text: &str, target: usize) -> BTreeMap<String, Vec<u8>> {
    let t = &manifest.targets[target];
    let description = describe_target(manifest, target);
    let mut decls: Vec<(&String, &dockopt_manifest::Arg)> = manifest.declared_args.iter().collect();
    decls.sort_by_key(|(_, a)| a.span);
    let mut args = Vec::new();
    let mut rows = vec![cells(["BUILD ARG", "VALUE", "DESCRIPTION"])];
    for (name, arg) in decls {
        let value = manifest.args.get(name).unwrap_or(&arg.default);
        let mut lines: Vec<usize> = arg.uses.iter().map(|s| s.line).collect();
        lines.sort_unstable();
        lines.dedup();
        let mut what = if lines.is_empty() {
            "not used".to_owned()
        } else {
            let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
            format!(
                "used on line{} {}",
                if lines.len() == 1 { "" } else { "s" },
                lines.join(", ")
            )
        };
        if *value != arg.default {
            what.push_str(&format!(" (default `{}`)", arg.default));
        }
        let mut entry = json!({
            "name": name,
            "description": what,
            "location": location(arg.span.line, arg.span.line),
        });
        if !value.is_empty() {
            entry["value"] = Value::String(value.clone());
        }
        args.push(entry);
        rows.push(vec![name.clone(), value.clone(), what]);
    }
    let mut json = json!({
        "name": t.name,
        "description": description,
        "sources": [base64(text)],
    });
    if !args.is_empty() {
        json["args"] = Value::Array(args);
    }
    let head = table(
        &[
            cells(["TARGET:", &t.name]),
            cells(["DESCRIPTION:", &description]),
        ],
        1,
    );
    let mut txt = format!("{head}\n");
    if rows.len() > 1 {
        txt.push_str(&table(&rows, 3));
        txt.push('\n');
    }
    answer(&json, txt)
}

/// One line about a target: its base and how many steps it runs.
fn describe_target(manifest: &Manifest, t: usize) -> String {
    let target = &manifest.targets[t];
    let n = target.steps.len();
    let mut text = format!(
        "from {}, {n} step{}",
        target.from,
        if n == 1 { "" } else { "s" }
    );
    if !target.finally.is_empty() {
        text.push_str(&format!(" + {} finally", target.finally.len()));
    }
    text
}

/// A `pb.Location` in the first source (the manifest): lines `start..=end`, from 1.
fn location(start: usize, end: usize) -> Value {
    json!({"ranges": [{"start": {"line": start}, "end": {"line": end}}]})
}

/// The last line of the YAML block whose key starts at `span`: the lines after it that are
/// indented deeper (or blank, or comments) belong to it; trailing blank and comment lines do not.
fn block_end(text: &str, span: Span) -> usize {
    let key_indent = span.column.saturating_sub(1);
    let mut end = span.line;
    for (i, line) in text.lines().enumerate().skip(span.line) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.len() - trimmed.len() <= key_indent {
            break;
        }
        end = i + 1;
    }
    end
}

/// Go's `[]byte` in JSON: standard base64.
fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn cells<const N: usize>(c: [&str; N]) -> Vec<String> {
    c.iter().map(|s| (*s).to_owned()).collect()
}

/// Rows as Go's `tabwriter` (padding `pad`, spaces) aligns them: every cell but the last of a row
/// padded to its column's width plus `pad`.
fn table(rows: &[Vec<String>], pad: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let fill = widths[i] + pad - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', fill));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const TEXT: &str = "\
# syntax=dockopt/frontend:local
version: 1
args:
  BASE: busybox
  SALT: \"\"
default: b
steps:
  s1: {run: 'echo ${SALT}'}
targets:
  b:
    from: ${BASE}
    steps: [s1]

  a: {from: alpine, steps: [s1], finally: [{run: 'true'}]}
";

    fn manifest(args: &[(&str, &str)]) -> Manifest {
        let args: BTreeMap<String, String> = args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        dockopt_manifest::parse("variants.yaml", TEXT, &args).expect("valid manifest")
    }

    fn json(meta: &BTreeMap<String, Vec<u8>>) -> Value {
        serde_json::from_slice(&meta["result.json"]).expect("result.json is JSON")
    }

    #[test]
    fn request_ids_are_buildkits() {
        assert_eq!(Request::from_id("frontend.targets"), Some(Request::Targets));
        assert_eq!(Request::from_id("frontend.outline"), Some(Request::Outline));
        assert_eq!(
            Request::from_id("frontend.subrequests.describe"),
            Some(Request::Describe)
        );
        assert_eq!(Request::from_id("frontend.lint"), None);
    }

    #[test]
    fn describe_lists_every_request_in_buildkits_shape() {
        let meta = describe();
        assert_eq!(meta["version"], b"1.0.0");
        let all = json(&meta);
        let names: Vec<&str> = all
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| r["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names,
            [
                "frontend.outline",
                "frontend.targets",
                "frontend.subrequests.describe"
            ]
        );
        for r in all.as_array().expect("an array") {
            assert_eq!(r["version"], "1.0.0");
            assert_eq!(r["type"], "rpc");
            assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()));
            assert_eq!(
                r["metadata"],
                json!([{"name": "result.json"}, {"name": "result.txt"}])
            );
            for key in ["opts", "inputs", "refs"] {
                assert!(r[key].is_array(), "{key}");
            }
        }
        let txt = String::from_utf8(meta["result.txt"].clone()).expect("utf-8");
        assert_eq!(
            txt.lines().next(),
            Some("NAME                 VERSION DESCRIPTION")
        );
        assert!(txt.contains("\ntargets              1.0.0   List all variants"));
    }

    #[test]
    fn targets_are_listed_in_declaration_order_with_base_default_and_lines() {
        let meta = targets(&manifest(&[]), TEXT);
        assert_eq!(meta["version"], b"1.0.0");
        let list = json(&meta);
        assert_eq!(
            list["targets"],
            json!([
                {
                    "name": "b",
                    "default": true,
                    "description": "from busybox, 1 step",
                    "base": "busybox",
                    "location": {"ranges": [{"start": {"line": 10}, "end": {"line": 12}}]},
                },
                {
                    "name": "a",
                    "description": "from alpine, 1 step + 1 finally",
                    "base": "alpine",
                    "location": {"ranges": [{"start": {"line": 14}, "end": {"line": 14}}]},
                },
            ])
        );
        // Go's `[][]byte`: the manifest as base64, the source `location` indexes (0).
        let source = list["sources"][0].as_str().expect("a string");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(source)
            .expect("base64");
        assert_eq!(decoded, TEXT.as_bytes());
        let txt = String::from_utf8(meta["result.txt"].clone()).expect("utf-8");
        assert_eq!(
            txt,
            "TARGET      DESCRIPTION\n\
             b (default) from busybox, 1 step\n\
             a           from alpine, 1 step + 1 finally\n"
        );
    }

    #[test]
    fn outline_lists_args_with_value_declaration_and_uses() {
        let m = manifest(&[("SALT", "x1")]);
        let t = m
            .targets
            .iter()
            .position(|t| t.name == "b")
            .expect("target b");
        let meta = outline(&m, TEXT, t);
        let o = json(&meta);
        assert_eq!(o["name"], "b");
        assert_eq!(o["description"], "from busybox, 1 step");
        assert_eq!(
            o["args"],
            json!([
                {
                    "name": "BASE",
                    "value": "busybox",
                    "description": "used on line 11",
                    "location": {"ranges": [{"start": {"line": 4}, "end": {"line": 4}}]},
                },
                {
                    "name": "SALT",
                    "value": "x1",
                    "description": "used on line 8 (default ``)",
                    "location": {"ranges": [{"start": {"line": 5}, "end": {"line": 5}}]},
                },
            ])
        );
        assert!(o["sources"].is_array());
        let txt = String::from_utf8(meta["result.txt"].clone()).expect("utf-8");
        assert!(txt.starts_with("TARGET:      b\nDESCRIPTION: from busybox, 1 step\n\n"));
        assert!(txt.contains("BUILD ARG   VALUE     DESCRIPTION\n"), "{txt}");
    }

    #[test]
    fn a_block_ends_before_the_next_key_at_its_indentation() {
        let text = "a:\n  b:\n    c: 1\n\n    # note\n  d: 2\n# end\n";
        assert_eq!(block_end(text, Span { line: 2, column: 3 }), 3);
        assert_eq!(block_end(text, Span { line: 1, column: 1 }), 6);
        assert_eq!(block_end(text, Span { line: 6, column: 3 }), 6);
    }
}

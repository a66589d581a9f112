//! The lock file (`<manifest>.lock`): each target's step order, pinned by step keys, so that
//! plans stay put as the manifest grows. JSON, one step per line, sorted by target name.

use std::collections::BTreeMap;

use serde_json::Value;

const FORMAT: &str = "dockopt-lock";
const VERSION: u64 = 1;

/// One target's pinned order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedTarget {
    /// The fully qualified base it was planned on.
    pub base: String,
    /// `(step key, label)` in build order (the label is for people; only the key matches).
    pub steps: Vec<(String, String)>,
}

/// A whole lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lock {
    /// Pinned orders by target name.
    pub targets: BTreeMap<String, LockedTarget>,
}

impl Lock {
    /// Reads a lock; an error says where the file is wrong.
    ///
    /// # Errors
    /// Text that is not a dockopt lock, with file, line and column where JSON says so.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "{file}:{}:{}: not a dockopt lock: {e}",
                e.line(),
                e.column()
            )
        })?;
        let bad = |what: &str| format!("{file}: not a dockopt lock: {what}");
        let obj = v.as_object().ok_or_else(|| bad("expected a JSON object"))?;
        match obj.get(FORMAT).and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(other) => {
                return Err(bad(&format!(
                    "format version {other}; this dockopt reads version {VERSION}"
                )));
            }
            None => return Err(bad(&format!("no `\"{FORMAT}\": {VERSION}` key"))),
        }
        let targets = obj
            .get("targets")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("no `targets` object"))?;
        let mut out = BTreeMap::new();
        for (name, t) in targets {
            let base = t
                .get("base")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("target `{name}`: no `base` string")))?;
            let steps = t
                .get("steps")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(&format!("target `{name}`: no `steps` list")))?;
            let mut pinned = Vec::with_capacity(steps.len());
            for (i, s) in steps.iter().enumerate() {
                let pair = s.as_array().filter(|a| a.len() == 2);
                let key = pair.and_then(|a| a[0].as_str());
                let label = pair.and_then(|a| a[1].as_str());
                let (Some(key), Some(label)) = (key, label) else {
                    return Err(bad(&format!(
                        "target `{name}`, step {}: expected [\"KEY\", \"LABEL\"]",
                        i + 1
                    )));
                };
                pinned.push((key.to_owned(), label.to_owned()));
            }
            out.insert(
                name.clone(),
                LockedTarget {
                    base: base.to_owned(),
                    steps: pinned,
                },
            );
        }
        Ok(Self { targets: out })
    }

    /// The file's text: deterministic, one step per line.
    #[must_use]
    pub fn render(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let mut out = format!(
            "{{\n  \"{FORMAT}\": {VERSION},\n  \"about\": \"step orders pinned by dockopt; `dockopt plan --update` re-plans from scratch\",\n  \"targets\": {{"
        );
        for (i, (name, t)) in self.targets.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&format!(
                "    {}: {{\n      \"base\": {},\n      \"steps\": [",
                q(name),
                q(&t.base)
            ));
            for (j, (key, label)) in t.steps.iter().enumerate() {
                out.push_str(if j == 0 { "\n" } else { ",\n" });
                out.push_str(&format!("        [{}, {}]", q(key), q(label)));
            }
            out.push_str(if t.steps.is_empty() {
                "]\n    }"
            } else {
                "\n      ]\n    }"
            });
        }
        out.push_str("\n  }\n}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut lock = Lock::default();
        lock.targets.insert(
            "git \"x\"".into(),
            LockedTarget {
                base: "docker.io/library/debian:bookworm".into(),
                steps: vec![
                    ("0123456789abcdef".into(), "update".into()),
                    ("fedcba9876543210".into(), "echo \"hi\"\n".into()),
                ],
            },
        );
        lock.targets.insert(
            "empty".into(),
            LockedTarget {
                base: "b".into(),
                steps: Vec::new(),
            },
        );
        let text = lock.render();
        assert_eq!(Lock::parse("l", &text), Ok(lock));
        assert!(text.contains("\n        [\"0123456789abcdef\", \"update\"],\n"));
    }

    #[test]
    fn errors_name_the_file_and_place() {
        let e = Lock::parse("v.yaml.lock", "{\n  \"dockopt-lock\": 1,\n  oops\n}")
            .expect_err("an error");
        assert!(e.starts_with("v.yaml.lock:3:3: not a dockopt lock"), "{e}");
        let e = Lock::parse("v.yaml.lock", "{\"dockopt-lock\": 2, \"targets\": {}}")
            .expect_err("an error");
        assert!(e.contains("format version 2"), "{e}");
        let e = Lock::parse(
            "v.yaml.lock",
            "{\"dockopt-lock\": 1, \"targets\": {\"t\": {\"base\": \"b\", \"steps\": [[1, 2]]}}}",
        )
        .expect_err("an error");
        assert!(e.contains("target `t`, step 1"), "{e}");
    }
}

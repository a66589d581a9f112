//! The times store (`<manifest>.times.json`): measured seconds per step and base, merged over
//! runs. A store that cannot be read is never fatal: it is set aside with a warning.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The marker and version of the file format.
const FORMAT: &str = "dockopt-times";
const VERSION: u64 = 1;
/// A new measurement weighs at least this much (an average over the last few runs, so a plan
/// follows a step that got slower or faster).
const MIN_WEIGHT: f64 = 0.25;
/// Measurements above this are refused (a day; a clock gone wrong, not a step).
const MAX_SECONDS: f64 = 86_400.0;

/// One step's measurements on one base.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// How people see the step (for reading the file; not used to match).
    pub label: String,
    /// The base it ran on.
    pub base: String,
    /// How many runs were measured.
    pub runs: u64,
    /// Seconds, averaged over recent runs.
    pub seconds: f64,
}

/// Measured step times, keyed by [`crate::key::time_key`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Times {
    /// The entries, in key order.
    pub entries: BTreeMap<String, Entry>,
}

impl Times {
    /// Reads a store; a file that is not one gives an empty store and a warning that says why.
    #[must_use]
    pub fn parse(file: &str, text: &str) -> (Self, Option<crate::Warning>) {
        match Self::try_parse(text) {
            Ok(t) => (t, None),
            Err(why) => (
                Self::default(),
                Some(crate::Warning {
                    file: file.to_owned(),
                    at: None,
                    message: format!(
                        "not a dockopt times store ({why}); planning with the manifest's `time:` estimates, and the next build writes a new one"
                    ),
                }),
            ),
        }
    }

    fn try_parse(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| format!("line {} column {}: {e}", e.line(), e.column()))?;
        let obj = v.as_object().ok_or("expected a JSON object")?;
        match obj.get(FORMAT).and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(other) => return Err(format!("format version {other}, expected {VERSION}")),
            None => return Err(format!("no `\"{FORMAT}\": {VERSION}` key")),
        }
        let steps = obj
            .get("steps")
            .and_then(Value::as_object)
            .ok_or("no `steps` object")?;
        let mut entries = BTreeMap::new();
        for (key, e) in steps {
            let seconds = e.get("seconds").and_then(Value::as_f64);
            let runs = e.get("runs").and_then(Value::as_u64);
            let (Some(seconds), Some(runs)) = (seconds, runs) else {
                return Err(format!("step `{key}` needs `seconds` and `runs`"));
            };
            if !(0.0..=MAX_SECONDS).contains(&seconds) {
                return Err(format!("step `{key}`: seconds {seconds} out of range"));
            }
            let text = |k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            entries.insert(
                key.clone(),
                Entry {
                    label: text("label"),
                    base: text("base"),
                    runs,
                    seconds,
                },
            );
        }
        Ok(Self { entries })
    }

    /// Merges one measurement: a running mean over the first runs, then a moving average.
    /// Returns `false` (and changes nothing) for a value that is not a duration.
    pub fn record(&mut self, key: &str, label: &str, base: &str, seconds: f64) -> bool {
        if !seconds.is_finite() || !(0.0..=MAX_SECONDS).contains(&seconds) {
            return false;
        }
        let e = self.entries.entry(key.to_owned()).or_insert(Entry {
            label: label.to_owned(),
            base: base.to_owned(),
            runs: 0,
            seconds: 0.0,
        });
        e.runs = e.runs.saturating_add(1);
        let weight = (1.0 / e.runs as f64).max(MIN_WEIGHT);
        e.seconds += weight * (seconds - e.seconds);
        e.label = label.to_owned();
        e.base = base.to_owned();
        true
    }

    /// Merges every entry of `other` (measured later) into this store.
    pub fn merge(&mut self, other: &Times) {
        for (k, e) in &other.entries {
            match self.entries.get_mut(k) {
                Some(mine) if e.runs > 0 => {
                    // Weigh by runs, with the later store's recent average first.
                    let runs = mine.runs.saturating_add(e.runs);
                    let w = (e.runs as f64 / runs as f64).max(MIN_WEIGHT);
                    mine.seconds += w * (e.seconds - mine.seconds);
                    mine.runs = runs;
                    mine.label.clone_from(&e.label);
                }
                Some(_) => {}
                None => {
                    self.entries.insert(k.clone(), e.clone());
                }
            }
        }
    }

    /// The seconds measured for a key.
    #[must_use]
    pub fn seconds(&self, key: &str) -> Option<f64> {
        self.entries.get(key).map(|e| e.seconds)
    }

    /// The file's text: deterministic (keys sorted), one step per line block, ending in a newline.
    #[must_use]
    pub fn render(&self) -> String {
        let mut steps = Map::new();
        for (k, e) in &self.entries {
            steps.insert(
                k.clone(),
                json!({
                    "label": e.label,
                    "base": e.base,
                    "runs": e.runs,
                    "seconds": (e.seconds * 1000.0).round() / 1000.0,
                }),
            );
        }
        let mut top = Map::new();
        top.insert(FORMAT.into(), json!(VERSION));
        top.insert("steps".into(), Value::Object(steps));
        let mut text = serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_merge() {
        let mut t = Times::default();
        assert!(t.record("k1", "update", "debian", 10.0));
        assert!(t.record("k1", "update", "debian", 20.0));
        assert!(!t.record("k2", "x", "debian", f64::NAN));
        assert!(!t.record("k2", "x", "debian", -1.0));
        assert_eq!(t.seconds("k1"), Some(15.0));
        let (back, warning) = Times::parse("f", &t.render());
        assert_eq!(warning, None);
        assert_eq!(back, t);
        let mut later = Times::default();
        later.record("k1", "update", "debian", 30.0);
        later.record("k3", "curl", "debian", 2.0);
        let mut merged = back.clone();
        merged.merge(&later);
        assert_eq!(merged.entries["k1"].runs, 3);
        let s = merged.seconds("k1").unwrap_or_default();
        assert!(s > 15.0 && s < 30.0, "{s}");
        assert_eq!(merged.seconds("k3"), Some(2.0));
    }

    #[test]
    fn corrupt_or_foreign_files_warn() {
        for text in [
            "",
            "{",
            "[]",
            "{\"other\": 1}",
            "{\"dockopt-times\": 7, \"steps\": {}}",
            "{\"dockopt-times\": 1, \"steps\": {\"a\": {\"seconds\": -3, \"runs\": 1}}}",
            "{\"dockopt-times\": 1, \"steps\": {\"a\": {\"seconds\": \"x\"}}}",
        ] {
            let (t, warning) = Times::parse("m.yaml.times.json", text);
            assert!(t.entries.is_empty());
            let w = warning.map(|w| w.to_string()).unwrap_or_default();
            assert!(
                w.starts_with("m.yaml.times.json: not a dockopt times store"),
                "{w}"
            );
        }
    }
}

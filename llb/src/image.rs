//! Image configs: what a base image brings to every step, and the final image's config.

use std::collections::BTreeMap;

use dockopt_manifest::{Action, RunCommand, Step, Target};
use serde_json::{Map, Value, json};

/// The PATH BuildKit and Docker assume when an image sets none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A resolved base image: the reference its source op names and its config.
#[derive(Clone, Debug, PartialEq)]
pub struct BaseConfig {
    /// Fully qualified reference, pinned to a digest when the daemon gave one.
    pub reference: String,
    /// The image config JSON as the registry or daemon gave it (`Null` when unknown).
    pub config: Value,
}

impl BaseConfig {
    /// A base whose config is not known (planning without a daemon): no env but PATH.
    #[must_use]
    pub fn unresolved(reference: &str) -> Self {
        Self {
            reference: reference.to_owned(),
            config: Value::Null,
        }
    }

    fn field(&self, name: &str) -> Option<&Value> {
        self.config.get("config").and_then(|c| c.get(name))
    }

    /// `K=V` entries every step starts from: the image's Env, with a default PATH if it has none.
    #[must_use]
    pub fn env(&self) -> Vec<String> {
        let mut env: Vec<String> = self
            .field("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_owned());
        }
        env
    }

    /// The image's working directory, `/` when unset.
    #[must_use]
    pub fn workdir(&self) -> String {
        self.field("WorkingDir")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_owned()
    }

    /// The image's user, empty (root) when unset.
    #[must_use]
    pub fn user(&self) -> String {
        self.field("User")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sets `KEY=value` in an env list: replaces the entry for KEY where it is, else appends.
pub(crate) fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

/// The final image config JSON of `target`: the base config with the target's env, workdir,
/// user, cmd, entrypoint, labels (then `extra_labels`, e.g. `--label`) and exposed ports over it.
/// `platform` (os, architecture) fills in what the base does not say. `layers` are the target's
/// layers in the order built, each the steps it holds (one, or several for `squash: true`): the
/// history gets one entry per layer (what `docker history` shows), then one empty-layer entry
/// per config setting.
#[must_use]
pub fn final_config(
    base: &BaseConfig,
    target: &Target,
    layers: &[Vec<&Step>],
    extra_labels: &BTreeMap<String, String>,
    platform: (&str, &str),
) -> Vec<u8> {
    let mut image = match &base.config {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let history = history(&image, &base.reference, target, layers);
    image.insert("history".into(), Value::Array(history));
    // The exporter writes rootfs and the creation time for the new image.
    image.remove("rootfs");
    image.remove("created");
    image.entry("os").or_insert_with(|| json!(platform.0));
    image
        .entry("architecture")
        .or_insert_with(|| json!(platform.1));
    let config = image.entry("config").or_insert_with(|| json!({}));
    if !config.is_object() {
        *config = json!({});
    }
    let Value::Object(config) = config else {
        return Vec::new();
    };

    let mut env = base.env();
    for (k, v) in &target.config.env {
        set_env(&mut env, k, v);
    }
    config.insert("Env".into(), json!(env));
    if let Some(w) = &target.config.workdir {
        config.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &target.config.user {
        config.insert("User".into(), json!(u));
    }
    if let Some(e) = &target.config.entrypoint {
        config.insert("Entrypoint".into(), json!(e));
        // As in a Dockerfile: a new ENTRYPOINT drops the base image's CMD.
        if target.config.cmd.is_none() {
            config.insert("Cmd".into(), Value::Null);
        }
    }
    if let Some(c) = &target.config.cmd {
        config.insert("Cmd".into(), json!(c));
    }
    let labels = config.entry("Labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Value::Object(labels) = labels {
        for (k, v) in target.config.labels.iter().chain(extra_labels) {
            labels.insert(k.clone(), json!(v));
        }
    }
    if !target.config.expose.is_empty() {
        let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
        if !ports.is_object() {
            *ports = json!({});
        }
        if let Value::Object(ports) = ports {
            for p in &target.config.expose {
                ports.insert(p.clone(), json!({}));
            }
        }
    }
    if !target.config.volumes.is_empty() {
        let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
        if !volumes.is_object() {
            *volumes = json!({});
        }
        if let Value::Object(volumes) = volumes {
            for v in &target.config.volumes {
                volumes.insert(v.clone(), json!({}));
            }
        }
    }
    if let Some(s) = &target.config.stop_signal {
        config.insert("StopSignal".into(), json!(s));
    }
    if let Some(h) = &target.config.healthcheck {
        let mut check = Map::new();
        check.insert("Test".into(), json!(h.test));
        for (key, value) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
            ("Retries", h.retries),
        ] {
            if value != 0 {
                check.insert(key.into(), json!(value));
            }
        }
        config.insert("Healthcheck".into(), Value::Object(check));
    }
    serde_json::to_vec(&Value::Object(image)).unwrap_or_default()
}

/// The layers of target `t` (its steps, several in a `squash: true` layer), in the order built on
/// `trie` (the plan's): what [`final_config`] takes.
#[must_use]
pub fn target_layers<'m>(
    manifest: &'m dockopt_manifest::Manifest,
    trie: &dockopt_planner::Trie,
    t: usize,
) -> Vec<Vec<&'m Step>> {
    manifest
        .layers(trie, t)
        .iter()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|&n| trie.nodes[n].step)
                .map(|s| &manifest.steps[s])
                .collect()
        })
        .collect()
}

/// The image history: the base's entries (padded or trimmed so that its non-empty entries match
/// its layers, as the exporter pairs them in order), then one entry per layer, then one
/// empty-layer entry per config setting of the target. No timestamps: the config's bytes depend
/// on the manifest only, and the exporter dates the new entries.
fn history(
    image: &Map<String, Value>,
    reference: &str,
    target: &Target,
    layers: &[Vec<&Step>],
) -> Vec<Value> {
    let mut entries: Vec<Value> = image
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let base_layers = image
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(Vec::len);
    if let Some(base_layers) = base_layers {
        let is_empty = |e: &Value| e.get("empty_layer").and_then(Value::as_bool) == Some(true);
        let mut seen = 0;
        for e in &mut entries {
            if is_empty(e) {
                continue;
            }
            if seen == base_layers
                && let Value::Object(e) = e
            {
                e.insert("empty_layer".into(), Value::Bool(true));
            } else {
                seen += 1;
            }
        }
        for _ in seen..base_layers {
            entries.push(json!({ "created_by": format!("(a layer of {reference})") }));
        }
    }
    for layer in layers {
        let what = match layer.as_slice() {
            [step] => match &step.action {
                Action::Run(RunCommand::Shell(s)) => format!("RUN /bin/sh -c {s}"),
                Action::Run(RunCommand::Exec(argv)) => {
                    format!("RUN {}", serde_json::to_string(argv).unwrap_or_default())
                }
                Action::Copy(_) => step.command_text(),
            },
            // Squashed: shell-form runs, one exec.
            steps => {
                let parts: Vec<String> = steps
                    .iter()
                    .map(|s| format!("({})", s.command_text()))
                    .collect();
                format!("RUN /bin/sh -c {}", parts.join(" && "))
            }
        };
        let names: Vec<&str> = layer.iter().filter_map(|s| s.name.as_deref()).collect();
        let who = match names.as_slice() {
            [] => "dockopt".to_owned(),
            [one] => format!("dockopt step {one}"),
            many => format!("dockopt steps {}", many.join(", ")),
        };
        entries.push(json!({ "created_by": format!("{what} # {who}"), "comment": "dockopt" }));
    }
    let c = &target.config;
    let mut settings: Vec<String> = Vec::new();
    settings.extend(c.env.iter().map(|(k, v)| format!("ENV {k}={v}")));
    settings.extend(c.workdir.iter().map(|w| format!("WORKDIR {w}")));
    settings.extend(c.user.iter().map(|u| format!("USER {u}")));
    settings.extend(c.labels.iter().map(|(k, v)| format!("LABEL {k}={v}")));
    settings.extend(c.expose.iter().map(|p| format!("EXPOSE {p}")));
    settings.extend(c.volumes.iter().map(|v| format!("VOLUME {v}")));
    settings.extend(c.stop_signal.iter().map(|s| format!("STOPSIGNAL {s}")));
    settings.extend(c.healthcheck.iter().map(|h| {
        format!(
            "HEALTHCHECK {}",
            serde_json::to_string(&h.test).unwrap_or_default()
        )
    }));
    settings.extend(c.entrypoint.iter().map(|e| {
        format!(
            "ENTRYPOINT {}",
            serde_json::to_string(e).unwrap_or_default()
        )
    }));
    settings.extend(
        c.cmd
            .iter()
            .map(|e| format!("CMD {}", serde_json::to_string(e).unwrap_or_default())),
    );
    entries.extend(settings.into_iter().map(|s| {
        json!({ "created_by": format!("{s} # dockopt"), "comment": "dockopt", "empty_layer": true })
    }));
    entries
}

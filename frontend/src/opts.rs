//! What BuildKit tells a frontend through its environment, and what a build decides from it
//! alone (pure: no gRPC, so the fuzzer drives it too).

use std::collections::BTreeMap;

use dockopt_manifest::Manifest;

/// A cache to import: its type (`registry`, `local`, …) and attributes (`ref`, …).
pub type CacheImport = (String, BTreeMap<String, String>);

/// The frontend's options, decoded from `BUILDKIT_FRONTEND_OPT_<i>=<key>=<value>`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Opts {
    /// Every option as given.
    pub raw: BTreeMap<String, String>,
    /// `BUILDKIT_SESSION_ID`: the client session owning the `context` and `dockerfile` locals.
    pub session: Option<String>,
}

impl Opts {
    /// Decodes `vars` (normally `std::env::vars()`).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut opts = Self::default();
        for (name, value) in vars {
            if name.starts_with("BUILDKIT_FRONTEND_OPT_") {
                // The value is `key=value`; the value part may itself hold `=`.
                let (k, v) = value.split_once('=').unwrap_or((value.as_str(), ""));
                opts.raw.insert(k.to_owned(), v.to_owned());
            } else if name == "BUILDKIT_SESSION_ID" {
                opts.session = Some(value);
            }
        }
        opts
    }

    /// The manifest's file name inside the `dockerfile` local.
    pub fn filename(&self) -> &str {
        self.raw
            .get("filename")
            .map_or("Dockerfile", String::as_str)
    }

    /// `--target`, when given and non-empty.
    pub fn target(&self) -> Option<&str> {
        self.raw
            .get("target")
            .map(String::as_str)
            .filter(|t| !t.is_empty())
    }

    fn prefixed(&self, prefix: &str) -> BTreeMap<String, String> {
        self.raw
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_owned(), v.clone())))
            .collect()
    }

    /// `requestid`: the subrequest a client asks for instead of a build (`--print`, `--call`).
    pub fn request_id(&self) -> Option<&str> {
        self.raw
            .get("requestid")
            .map(String::as_str)
            .filter(|r| !r.is_empty())
    }

    /// `--build-arg NAME=VALUE` values for the manifest: every one but the names BuildKit
    /// (`BUILDKIT_*`) and dockopt (`DOCKOPT_*`) reserve.
    pub fn build_args(&self) -> BTreeMap<String, String> {
        let mut args = self.prefixed("build-arg:");
        args.retain(|k, _| !k.starts_with("BUILDKIT_") && !k.starts_with("DOCKOPT_"));
        args
    }

    /// `--build-arg DOCKOPT_TARGETS=a,b`: the targets a build without `--target` runs (the
    /// CLI's all-at-once pass); `None` for all of them.
    pub fn all_targets(&self) -> Option<Vec<String>> {
        self.raw.get("build-arg:DOCKOPT_TARGETS").map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// `docker build --network`: BuildKit's `force-network-mode` (`host`, `none`, or unset).
    pub fn network(&self) -> Result<dockopt_proto::pb::NetMode, String> {
        use dockopt_proto::pb::NetMode;
        match self.raw.get("force-network-mode").map(String::as_str) {
            None | Some("" | "default" | "sandbox") => Ok(NetMode::Unset),
            Some("host") => Ok(NetMode::Host),
            Some("none") => Ok(NetMode::None),
            Some(other) => Err(format!(
                "network mode `{other}` is not supported by RUN steps; use `default`, `host` or `none`"
            )),
        }
    }

    /// `--label NAME=VALUE` values.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.prefixed("label:")
    }

    /// `--no-cache` (for every step; a list of stage names does not apply to manifests).
    pub fn no_cache(&self) -> bool {
        self.raw.contains_key("no-cache")
    }

    /// Caches to import (`--cache-from`): BuildKit's `cache-imports` option (JSON, a list of
    /// `{Type, Attrs}`) and the older `cache-from` (comma-separated registry refs). The frontend
    /// passes them on with every solve; without that the engine never looks at them.
    pub fn cache_imports(&self) -> Result<Vec<CacheImport>, String> {
        let mut out = Vec::new();
        if let Some(text) = self.raw.get("cache-imports").filter(|t| !t.is_empty()) {
            let list: Vec<serde_json::Value> = serde_json::from_str(text)
                .map_err(|e| format!("the cache-imports option is not a JSON list: {e}"))?;
            for entry in list {
                let Some(obj) = entry.as_object() else {
                    return Err("a cache-imports entry is not an object".into());
                };
                // Go decodes field names without regard to case; do the same.
                let field = |name: &str| {
                    obj.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                };
                let kind = field("type")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let attrs = field("attrs")
                    .and_then(serde_json::Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((kind, attrs));
            }
        }
        if let Some(refs) = self.raw.get("cache-from") {
            for r in refs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                out.push((
                    "registry".to_owned(),
                    BTreeMap::from([("ref".to_owned(), r.to_owned())]),
                ));
            }
        }
        Ok(out)
    }

    /// Whether to use MergeOp where the engine offers it (`--build-arg DOCKOPT_MERGEOP=off`: the
    /// FileOp that every engine runs).
    pub fn use_mergeop(&self) -> bool {
        self.raw
            .get("build-arg:DOCKOPT_MERGEOP")
            .map(String::as_str)
            != Some("off")
    }

    /// Whether to keep the lock beside the manifest (`--build-arg DOCKOPT_LOCK=off`: plan from
    /// scratch, as `dockopt build --no-lock` does).
    pub fn use_lock(&self) -> bool {
        self.raw.get("build-arg:DOCKOPT_LOCK").map(String::as_str) != Some("off")
    }

    /// Whether to send the plan's warnings to the engine (`--build-arg DOCKOPT_WARN=off`: not;
    /// `dockopt build` passes it, having shown the same warnings itself before building).
    pub fn send_warnings(&self) -> bool {
        self.raw.get("build-arg:DOCKOPT_WARN").map(String::as_str) != Some("off")
    }

    /// `--platform` (the first, when several are asked for).
    pub fn platform(&self) -> Option<&str> {
        self.raw
            .get("platform")
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }

    /// How to resolve base images: `default` (local first), `pull` or `local`.
    pub fn resolve_mode(&self) -> &str {
        self.raw
            .get("image-resolve-mode")
            .map_or("default", String::as_str)
    }

    /// `--platform`, checked against the engine's own (`linux/<host_arch>`, with or without a
    /// variant): dockopt does not cross-build yet.
    pub fn check_platform(&self, host_arch: &str) -> Result<(), String> {
        let Some(p) = self.platform() else {
            return Ok(());
        };
        let host = format!("linux/{host_arch}");
        let variant = format!("{host}/");
        if p.split(',')
            .map(str::trim)
            .any(|a| a != host && !a.starts_with(&variant))
        {
            return Err(format!(
                "dockopt builds for the engine's own platform ({host}) only; --platform {p} is not supported yet"
            ));
        }
        Ok(())
    }

    /// Which targets of `manifest` this build runs, and which one it returns.
    pub fn targets(&self, manifest: &Manifest) -> Result<Targets, String> {
        let default = manifest
            .targets
            .iter()
            .position(|t| t.name == manifest.default_target)
            .unwrap_or(0);
        if let Some(name) = self.target() {
            let chosen = manifest.target_index(name)?;
            return Ok(Targets {
                chosen,
                wanted: vec![chosen],
            });
        }
        let mut wanted: Vec<usize> = Vec::new();
        for name in self.all_targets().unwrap_or_default() {
            let t = manifest.target_index(&name)?;
            if !wanted.contains(&t) {
                wanted.push(t);
            }
        }
        if wanted.is_empty() {
            // Stages are built through the targets that read them, never on their own.
            wanted = manifest.variants();
        }
        let chosen = if wanted.contains(&default) {
            default
        } else {
            wanted.first().copied().unwrap_or(default)
        };
        Ok(Targets { chosen, wanted })
    }
}

/// The targets a build runs (indices into the manifest's targets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Targets {
    /// The one returned as the image: `--target`, else the manifest's `default:` when it is
    /// wanted, else the first wanted.
    pub chosen: usize,
    /// Every target solved: `--target` alone; else those `DOCKOPT_TARGETS` lists (in its order,
    /// once each), or every variant (every target but the stages). More than one are solved
    /// together first.
    pub wanted: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::Opts;

    #[test]
    fn options_split_once_on_equals() {
        let vars = [
            ("BUILDKIT_FRONTEND_OPT_0", "filename=variants.yaml"),
            ("BUILDKIT_FRONTEND_OPT_1", "build-arg:X=a=b"),
            ("BUILDKIT_FRONTEND_OPT_2", "label:team=core"),
            ("BUILDKIT_FRONTEND_OPT_3", "no-cache="),
            ("BUILDKIT_FRONTEND_OPT_4", "target="),
            ("BUILDKIT_FRONTEND_OPT_5", "build-arg:BUILDKIT_SYNTAX=img"),
            ("BUILDKIT_FRONTEND_OPT_6", "build-arg:DOCKOPT_TARGETS=a, b,"),
            ("BUILDKIT_FRONTEND_OPT_7", "force-network-mode=host"),
            (
                "BUILDKIT_FRONTEND_OPT_8",
                r#"cache-imports=[{"Type":"registry","Attrs":{"ref":"r/x:1"}},{"type":"local","attrs":{"src":"/c"}}]"#,
            ),
            ("BUILDKIT_FRONTEND_OPT_9", "cache-from=r/y:1, r/z:2"),
            ("BUILDKIT_FRONTEND_OPT_8", "requestid=frontend.targets"),
            ("BUILDKIT_SESSION_ID", "s1"),
            ("HOME", "/root"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
        let o = Opts::from_vars(vars);
        assert_eq!(o.filename(), "variants.yaml");
        assert_eq!(o.build_args().get("X").map(String::as_str), Some("a=b"));
        assert_eq!(o.build_args().len(), 1);
        let imports = o.cache_imports().expect("valid");
        let kinds: Vec<(&str, Option<&str>)> = imports
            .iter()
            .map(|(t, a)| {
                (
                    t.as_str(),
                    a.get("ref").or_else(|| a.get("src")).map(String::as_str),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("registry", Some("r/x:1")),
                ("local", Some("/c")),
                ("registry", Some("r/y:1")),
                ("registry", Some("r/z:2"))
            ]
        );
        assert_eq!(o.all_targets(), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(o.network(), Ok(dockopt_proto::pb::NetMode::Host));
        assert_eq!(o.labels().get("team").map(String::as_str), Some("core"));
        assert!(o.no_cache());
        assert_eq!(o.target(), None);
        assert_eq!(o.session.as_deref(), Some("s1"));
        assert_eq!(o.resolve_mode(), "default");
        assert_eq!(o.request_id(), Some("frontend.targets"));
        assert_eq!(Opts::default().request_id(), None);
    }

    fn with(pairs: &[(&str, &str)]) -> Opts {
        Opts::from_vars(
            pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (format!("BUILDKIT_FRONTEND_OPT_{i}"), format!("{k}={v}"))),
        )
    }

    #[test]
    fn targets_follow_target_then_dockopt_targets_then_all() {
        let text = "version: 1\ndefaults: {from: busybox}\ndefault: b\nsteps:\n  s: {run: x}\n\
                    targets:\n  a: {steps: [s]}\n  b: {steps: [s]}\n  c: {steps: [s]}\n";
        let m = dockopt_manifest::parse("m.yaml", text, &std::collections::BTreeMap::new())
            .expect("parses");
        let index = |n: &str| m.target_index(n).expect("a target");
        let (a, b, c) = (index("a"), index("b"), index("c"));
        let t = with(&[("target", "c")]).targets(&m).expect("ok");
        assert_eq!((t.chosen, t.wanted), (c, vec![c]));
        let t = with(&[("build-arg:DOCKOPT_TARGETS", "c, a,c")])
            .targets(&m)
            .expect("ok");
        assert_eq!(
            (t.chosen, t.wanted),
            (c, vec![c, a]),
            "default b not wanted: first listed"
        );
        let t = with(&[("build-arg:DOCKOPT_TARGETS", "a,b")])
            .targets(&m)
            .expect("ok");
        assert_eq!((t.chosen, t.wanted), (b, vec![a, b]));
        let t = with(&[("build-arg:DOCKOPT_TARGETS", " , ")])
            .targets(&m)
            .expect("ok");
        assert_eq!(t.wanted.len(), 3);
        let e = with(&[("build-arg:DOCKOPT_TARGETS", "a,bb")]).targets(&m);
        assert!(e.is_err_and(|e| e.contains("`bb`") && e.contains("`b`")));
        assert!(with(&[("target", "x")]).targets(&m).is_err());
    }

    #[test]
    fn platforms_other_than_the_engines_are_refused() {
        assert_eq!(with(&[]).check_platform("amd64"), Ok(()));
        assert_eq!(
            with(&[("platform", "linux/amd64")]).check_platform("amd64"),
            Ok(())
        );
        assert_eq!(
            with(&[("platform", "linux/arm64/v8")]).check_platform("arm64"),
            Ok(())
        );
        let e = with(&[("platform", "linux/amd64,linux/arm64")]).check_platform("amd64");
        assert!(e.is_err_and(|e| e.contains("linux/arm64")));
        assert!(
            with(&[("platform", "linux/amd64x")])
                .check_platform("amd64")
                .is_err()
        );
    }
}

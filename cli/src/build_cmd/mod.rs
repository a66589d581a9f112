//! `dockopt build`: every wanted variant built and tagged through the frontend, concurrently.
//!
//! One `docker build --target` per variant, up to `--jobs` at a time, started in the order a
//! depth-first walk of the plan's trie meets the variants. BuildKit runs an op that several
//! builds need once (identical in-flight vertices are one), so independent trie branches run at
//! the same time and a failing step fails only the variants below it. Progress is read back
//! from each build's plain output by vertex name (the frontend names every step vertex after
//! the step and the variants that share it, [`dockopt_llb::step_name`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use dockopt_planner::Options;
use dockopt_project::Planned;

use crate::engine::{self, BuildSpec};
use crate::manifest_files::{load, write_atomic, write_lock};
use crate::plan_view::seconds as secs;
use crate::{BuildArgs, Failure, context, plan_view, progress};

mod schedule;
use schedule::KEEP_LINES;
pub(crate) use schedule::{Outcome, Report, run};

/// Targets in the order a depth-first walk of the plan's trie meets their ends, so that builds
/// started together share the most.
pub(crate) fn build_order(planned: &Planned) -> Vec<usize> {
    let trie = &planned.trie;
    let mut order = Vec::new();
    let mut stack: Vec<usize> = trie.roots().collect::<Vec<_>>().into_iter().rev().collect();
    while let Some(n) = stack.pop() {
        // Stages are built through the targets that read them, never tagged on their own.
        order.extend(
            trie.nodes[n]
                .ends
                .iter()
                .copied()
                .filter(|&t| !planned.manifest.targets[t].stage),
        );
        stack.extend(trie.nodes[n].children.iter().rev().copied());
    }
    order
}

/// The tags of a target: its `tags`, else `PREFIX:TARGET`.
pub(crate) fn tags_of(planned: &Planned, target: usize, prefix: &str) -> Vec<String> {
    let t = &planned.manifest.targets[target];
    if t.tags.is_empty() {
        vec![format!("{prefix}:{}", t.name)]
    } else {
        t.tags.clone()
    }
}

/// A default image name from the manifest's folder: lowercase letters, digits, `-`, `_`, `.`.
pub(crate) fn default_prefix(manifest_path: &Path) -> String {
    let dir = manifest_path
        .canonicalize()
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let clean: String = dir
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    if clean.is_empty() {
        "dockopt".into()
    } else {
        clean
    }
}

/// Options of one `dockopt build` run.
pub(crate) struct Request<'a> {
    pub(crate) manifest_path: &'a Path,
    pub(crate) context: &'a Path,
    /// Wanted targets, in build order.
    pub(crate) targets: Vec<usize>,
    pub(crate) prefix: String,
    pub(crate) build_args: &'a [(String, String)],
    pub(crate) labels: &'a [(String, String)],
    pub(crate) no_cache: bool,
    pub(crate) jobs: usize,
    pub(crate) fail_fast: bool,
    pub(crate) network: Option<&'a str>,
    pub(crate) cache_from: &'a [String],
    /// `--secret` values, passed through to every build.
    pub(crate) secrets: &'a [String],
    pub(crate) cache_to: &'a [String],
    pub(crate) platform: Option<&'a str>,
    pub(crate) builder: Option<&'a str>,
    pub(crate) pull: bool,
    /// The frontend image, passed as `BUILDKIT_SYNTAX`.
    pub(crate) frontend: String,
    /// Whether the plan kept the lock (else the frontend is told to ignore it too).
    pub(crate) use_lock: bool,
}

impl Request<'_> {
    /// Whether `--no-cache` runs as one all-variants build first (then tagging from the cache).
    fn all_at_once(&self) -> bool {
        self.no_cache && self.targets.len() > 1
    }

    /// The `docker build` of one variant (`target`), or of the all-variants pass (`None`).
    fn spec<'s>(
        &'s self,
        target: Option<&'s str>,
        tags: &'s [String],
        build_args: &'s [(String, String)],
    ) -> BuildSpec<'s> {
        BuildSpec {
            manifest: self.manifest_path,
            context: self.context,
            target,
            tags,
            build_args,
            labels: self.labels,
            // The all-variants pass ignores the cache; the tagging builds after it use it.
            no_cache: self.no_cache && (target.is_none() || !self.all_at_once()),
            network: self.network,
            cache_from: self.cache_from,
            secrets: self.secrets,
            cache_to: self.cache_to,
            platform: self.platform,
            builder: self.builder,
            pull: self.pull,
        }
    }

    /// The build args of the all-variants pass: the reserved ones and the wanted targets.
    fn all_at_once_args(&self, planned: &Planned) -> Vec<(String, String)> {
        let names: Vec<&str> = self
            .targets
            .iter()
            .map(|&t| planned.manifest.targets[t].name.as_str())
            .collect();
        let mut args = reserved_args(self);
        args.push(("DOCKOPT_TARGETS".into(), names.join(",")));
        args
    }
}

/// The table of every variant, then the totals.
pub(crate) fn summary(planned: &Planned, req: &Request<'_>, report: &Report) -> String {
    let m = &planned.manifest;
    let width = req
        .targets
        .iter()
        .map(|&t| m.targets[t].name.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = String::new();
    out.push_str(&format!("{:<width$}  RESULT\n", "VARIANT"));
    let label = |n: usize| -> String {
        planned.trie.nodes[n].step.map_or_else(
            || planned.trie.nodes[n].base.clone(),
            |s| m.steps[s].label(),
        )
    };
    for &t in &req.targets {
        let name = &m.targets[t].name;
        match report.outcomes.get(&t) {
            Some(Outcome::Built { seconds }) => out.push_str(&format!(
                "{name:<width$}  built in {}  → {}\n",
                secs(*seconds),
                tags_of(planned, t, &req.prefix).join(", ")
            )),
            Some(Outcome::Failed { node, log }) => {
                let at = node.map_or_else(
                    || "before any step ran".to_owned(),
                    |n| format!("at `{}`", label(n)),
                );
                out.push_str(&format!("{name:<width$}  FAILED {at}\n"));
                for l in log.iter().rev().take(KEEP_LINES).rev() {
                    out.push_str(&format!("{:width$}  │ {l}\n", ""));
                }
            }
            Some(Outcome::Skipped { because }) => {
                out.push_str(&format!("{name:<width$}  skipped: {because}\n"));
            }
            None => out.push_str(&format!("{name:<width$}  not built\n")),
        }
    }
    let built = report
        .outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Built { .. }))
        .count();
    let measured: f64 = report.ran.iter().map(|(_, s)| s).sum::<f64>() + 0.0;
    let predicted: f64 = report
        .ran
        .iter()
        .filter_map(|&(n, _)| planned.trie.nodes[n].step)
        .map(|s| planned.problem.costs[s])
        .sum::<f64>()
        + 0.0;
    out.push_str(&format!(
        "built {built} of {} in {}: {} ran ({} of work; the plan predicted {} for them), {} from the cache\n",
        crate::plan_view::count(req.targets.len(), "variant"),
        secs(report.wall),
        crate::plan_view::count(report.ran.len(), "step"),
        secs(measured),
        secs(predicted),
        report.cached
    ));
    out
}

/// The user's build args and the ones the frontend reads: its image, whether to keep the lock,
/// and no warnings from it (the plan's warnings were shown once before the builds; the engine
/// would show them again for every variant).
pub(super) fn reserved_args(req: &Request<'_>) -> Vec<(String, String)> {
    let mut args: Vec<(String, String)> = req.build_args.to_vec();
    args.push(("BUILDKIT_SYNTAX".into(), req.frontend.clone()));
    args.push(("DOCKOPT_WARN".into(), "off".into()));
    if !req.use_lock {
        args.push(("DOCKOPT_LOCK".into(), "off".into()));
    }
    args
}

/// `--print`: the commands a build would run.
pub(crate) fn print_commands(planned: &Planned, req: &Request<'_>, out: &mut impl Write) {
    let args = reserved_args(req);
    let _ = writeln!(
        out,
        "# {}, up to {} at a time",
        crate::plan_view::count(req.targets.len(), "variant"),
        crate::plan_view::count(req.jobs, "build")
    );
    if req.all_at_once() {
        let all = req.all_at_once_args(planned);
        let _ = writeln!(out, "# --no-cache: every step once, without the cache");
        let spec = req.spec(None, &[], &all);
        let _ = writeln!(out, "{}", engine::shell_line(&engine::build_command(&spec)));
        let _ = writeln!(out, "# then each variant tagged from the cache");
    }
    for &t in &req.targets {
        let tags = tags_of(planned, t, &req.prefix);
        let spec = req.spec(Some(&planned.manifest.targets[t].name), &tags, &args);
        let _ = writeln!(out, "{}", engine::shell_line(&engine::build_command(&spec)));
    }
}

/// The image a manifest's `# syntax=IMAGE` directive names (in its leading comments), if any.
pub(crate) fn syntax_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches('#').split_once('='))
        .find(|(k, v)| k.trim().eq_ignore_ascii_case("syntax") && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
}

/// The frontend image: `--frontend`, else the manifest's `# syntax=` line, else the default.
pub(crate) fn frontend_image(flag: Option<&str>, text: &str) -> String {
    flag.map(str::to_owned)
        .or_else(|| syntax_line(text))
        .unwrap_or_else(|| DEFAULT_FRONTEND.to_owned())
}

/// The image `scripts/frontend-image` makes.
const DEFAULT_FRONTEND: &str = "dockopt/frontend:local";

/// `dockopt build`: the variants chosen (never a stage), the request, `--print`, the checks
/// before the engine (copy sources, the engine, the frontend image), the run, then the learned
/// times, the lock, `--push` and the summary.
pub(crate) fn build(args: &BuildArgs) -> Result<(), Failure> {
    let file = args.manifest.display().to_string();
    let planned = load(
        &args.manifest,
        &args.build_args,
        Options::default(),
        !args.no_lock,
    )?;
    let manifest = &planned.manifest;
    let mut targets = build_order(&planned);
    if !args.target.is_empty() {
        for t in &args.target {
            let i = planned
                .target(t)
                .map_err(|e| Failure::User(format!("error: {e}\n")))?;
            if manifest.targets[i].stage {
                let readers: Vec<&str> = (0..manifest.targets.len())
                    .filter(|&x| manifest.stage_closure(x).contains(&i))
                    .map(|x| manifest.targets[x].name.as_str())
                    .collect();
                return Err(Failure::User(format!(
                    "error: {file}: target `{t}` is a stage (`stage: true`): it is built, untagged, by the targets that read it ({})\n",
                    if readers.is_empty() {
                        "none does".to_owned()
                    } else {
                        readers.join(", ")
                    }
                )));
            }
        }
        targets.retain(|&t| args.target.contains(&manifest.targets[t].name));
    }
    let context = match &args.context {
        Some(c) => c.clone(),
        None => args
            .manifest
            .parent()
            .map(std::path::Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let text = std::fs::read_to_string(&args.manifest).unwrap_or_default();
    let request = Request {
        manifest_path: &args.manifest,
        context: &context,
        targets,
        prefix: args
            .tag_prefix
            .clone()
            .unwrap_or_else(|| default_prefix(&args.manifest)),
        build_args: &args.build_args,
        labels: &args.labels,
        no_cache: args.no_cache,
        jobs: usize::from(args.jobs),
        fail_fast: args.fail_fast,
        network: args.network.as_deref(),
        cache_from: &args.cache_from,
        secrets: &args.secrets,
        cache_to: &args.cache_to,
        platform: args.platform.as_deref(),
        builder: args.builder.as_deref(),
        pull: args.pull,
        frontend: frontend_image(args.frontend.as_deref(), &text),
        use_lock: !args.no_lock,
    };
    if args.print {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(plan_view::text(&planned, None).as_bytes());
        let _ = writeln!(out);
        print_commands(&planned, &request, &mut out);
        return Ok(());
    }
    // The stages the chosen variants read are built too.
    let mut built: Vec<usize> = request
        .targets
        .iter()
        .flat_map(|&t| std::iter::once(t).chain(manifest.stage_closure(t)))
        .collect();
    built.sort_unstable();
    built.dedup();
    let missing = context::missing_sources(&planned, &built, &context);
    if !missing.is_empty() {
        return Err(Failure::User(
            missing.iter().map(|m| format!("error: {m}\n")).collect(),
        ));
    }
    engine::check().map_err(|e| Failure::User(format!("error: {e}\n")))?;
    // A frontend from a registry is pulled by the engine; a local name must be there already.
    let from_registry = request
        .frontend
        .split_once('/')
        .is_some_and(|(host, _)| host.contains('.') || host.contains(':') || host == "localhost");
    if !from_registry && !engine::has_image(&request.frontend) {
        let how = if request.frontend == DEFAULT_FRONTEND {
            "make it with `scripts/frontend-image` in a dockopt checkout".to_owned()
        } else {
            format!("pull or build it, or pass `--frontend {DEFAULT_FRONTEND}`")
        };
        return Err(Failure::User(format!(
            "error: the frontend image `{}` is not in the local Docker engine ({}); {how}\n",
            request.frontend,
            engine::client()
        )));
    }
    let mut sink = progress::Sink::new(args.progress);
    let report = run(&planned, &request, &mut sink);
    sink.finish();

    // Learned times and the lock, written whole, beside the manifest.
    let mut measured = dockopt_project::Times::default();
    for &(node, seconds) in &report.ran {
        let n = &planned.trie.nodes[node];
        if let Some(s) = n.step {
            let key = dockopt_project::time_key(&planned.keys[s], &n.base);
            measured.record(&key, &manifest.steps[s].label(), &n.base, seconds);
        }
    }
    let mut err = std::io::stderr();
    if !measured.entries.is_empty() {
        let times_path = dockopt_project::times_name(&file);
        let mut store = match std::fs::read_to_string(&times_path) {
            Ok(t) => dockopt_project::Times::parse(&times_path, &t).0,
            Err(_) => dockopt_project::Times::default(),
        };
        store.merge(&measured);
        if let Err(e) = write_atomic(&times_path, &store.render()) {
            let _ = writeln!(err, "warning: cannot write {times_path}: {e}");
        }
    }
    if !args.no_lock {
        write_lock(&file, &planned)?;
    }
    let mut failed = report
        .outcomes
        .values()
        .any(|o| !matches!(o, Outcome::Built { .. }));
    if args.push {
        for (&t, o) in &report.outcomes {
            if !matches!(o, Outcome::Built { .. }) {
                continue;
            }
            for tag in tags_of(&planned, t, &request.prefix) {
                match engine::push(&tag) {
                    Ok((true, _)) => {
                        let _ = writeln!(err, "pushed {tag}");
                    }
                    Ok((false, log)) => {
                        failed = true;
                        let _ = writeln!(err, "error: pushing {tag} failed:\n{log}");
                    }
                    Err(e) => {
                        failed = true;
                        let _ = writeln!(err, "error: cannot run {}: {e}", engine::client());
                    }
                }
            }
        }
    }
    if !sink.is_json() {
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(summary(&planned, &request, &report).as_bytes())
            .and_then(|()| out.flush());
    }
    if failed {
        return Err(Failure::User(String::new()));
    }
    Ok(())
}

//! `dockopt build`: every wanted variant built and tagged through the frontend, concurrently.
//!
//! One `docker build --target` per variant, up to `--jobs` at a time, started in the order a
//! depth-first walk of the plan's trie meets the variants. BuildKit runs an op that several
//! builds need once (identical in-flight vertices are one), so independent trie branches run at
//! the same time and a failing step fails only the variants below it. Progress is read back
//! from each build's plain output by vertex name (the frontend names every step vertex after
//! the step and the variants that share it, [`dockopt_llb::step_name`]).

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dockopt_planner::Options;
use dockopt_project::Planned;

use crate::engine::{self, BuildSpec, VertexLine};
use crate::manifest_files::{load, write_atomic, write_lock};
use crate::plan_view::seconds as secs;
use crate::progress::{Event, Sink};
use crate::{BuildArgs, Failure, context, plan_view, progress};

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

/// What became of one variant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    Built {
        seconds: f64,
    },
    Failed {
        node: Option<usize>,
        log: Vec<String>,
    },
    Skipped {
        because: String,
    },
}

/// A trie node's state during the run.
#[derive(Clone, Debug, Default)]
struct StepState {
    started: Option<Instant>,
    cached: bool,
    seconds: Option<f64>,
    error: Option<String>,
    /// The build whose output is kept (several builds print the same merged vertex).
    owner: Option<usize>,
    /// The last lines of its output.
    log: VecDeque<String>,
}

/// Lines of output kept per step and per build.
const KEEP_LINES: usize = 12;

/// What a finished run reports.
pub(crate) struct Report {
    /// Per wanted target (manifest index), what became of it.
    pub(crate) outcomes: BTreeMap<usize, Outcome>,
    /// Steps that ran: (trie node, seconds).
    pub(crate) ran: Vec<(usize, f64)>,
    /// Steps found in the cache.
    pub(crate) cached: usize,
    pub(crate) wall: f64,
}

enum Msg {
    Line(usize, String),
    Eof(usize),
}

struct Job {
    id: usize,
    /// The variant (`None`: the all-variants pass).
    target: Option<usize>,
    child: Child,
    started: Instant,
    vertices: BTreeMap<u32, Option<usize>>,
    failed_node: Option<usize>,
    tail: VecDeque<String>,
}

/// The run's state: the trie's steps, by vertex name.
struct Run<'a> {
    planned: &'a Planned,
    names: BTreeMap<String, usize>,
    steps: Vec<StepState>,
    labels: Vec<String>,
    variants: Vec<Vec<&'a str>>,
}

impl<'a> Run<'a> {
    fn new(planned: &'a Planned) -> Self {
        let m = &planned.manifest;
        let trie = &planned.trie;
        let mut names = BTreeMap::new();
        let mut labels = Vec::with_capacity(trie.nodes.len());
        let mut variants = Vec::with_capacity(trie.nodes.len());
        for (i, node) in trie.nodes.iter().enumerate() {
            let label = match node.step {
                Some(s) => {
                    names
                        .entry(dockopt_llb::step_name(m, &m.steps[s], &node.targets))
                        .or_insert(i);
                    m.steps[s].label()
                }
                None => format!("FROM {}", node.base),
            };
            labels.push(label);
            variants.push(
                node.targets
                    .iter()
                    .map(|&t| m.targets[t].name.as_str())
                    .collect(),
            );
        }
        Self {
            planned,
            names,
            steps: vec![StepState::default(); trie.nodes.len()],
            labels,
            variants,
        }
    }

    /// Nodes on a target's path, root first.
    fn path(&self, target: usize) -> Vec<usize> {
        let trie = &self.planned.trie;
        let mut at = Some(trie.leaf_of[target]);
        let mut path = Vec::new();
        while let Some(n) = at {
            path.push(n);
            at = trie.nodes[n].parent;
        }
        path.reverse();
        path
    }

    fn predicted(&self, node: usize) -> f64 {
        self.planned.trie.nodes[node]
            .step
            .map_or(0.0, |s| self.planned.problem.costs[s])
    }

    /// Reads one progress line of a job.
    fn line(&mut self, job: &mut Job, line: &str, sink: &mut Sink) {
        if job.tail.len() == 4 * KEEP_LINES {
            job.tail.pop_front();
        }
        job.tail.push_back(line.to_owned());
        let Some((id, rest)) = engine::progress_line(line) else {
            return;
        };
        let what = engine::vertex_line(rest);
        let node = match job.vertices.get(&id) {
            Some(n) => *n,
            None => {
                // The first line of a vertex is its name.
                let VertexLine::Text(name) = what else {
                    return;
                };
                let node = self.names.get(name).copied();
                job.vertices.insert(id, node);
                if let Some(n) = node
                    && self.steps[n].started.is_none()
                {
                    self.steps[n].started = Some(Instant::now());
                    sink.event(&Event::StepStarted {
                        node: n,
                        label: &self.labels[n],
                        variants: &self.variants[n],
                        predicted: self.predicted(n),
                    });
                }
                return;
            }
        };
        let Some(n) = node else {
            return;
        };
        let st = &mut self.steps[n];
        let settled = st.cached || st.seconds.is_some() || st.error.is_some();
        match what {
            VertexLine::Cached if !settled => {
                st.cached = true;
                sink.event(&Event::StepCached {
                    node: n,
                    label: &self.labels[n],
                });
            }
            VertexLine::Done(s) if !settled => {
                st.seconds = Some(s);
                sink.event(&Event::StepDone {
                    node: n,
                    label: &self.labels[n],
                    seconds: s,
                });
            }
            VertexLine::Error(e) => {
                job.failed_node = Some(n);
                if !settled {
                    st.error = Some(e.to_owned());
                    sink.event(&Event::StepFailed {
                        node: n,
                        label: &self.labels[n],
                        error: e,
                    });
                }
            }
            VertexLine::Output(text) | VertexLine::Text(text)
                if *st.owner.get_or_insert(job.id) == job.id =>
            {
                if st.log.len() == KEEP_LINES {
                    st.log.pop_front();
                }
                st.log.push_back(text.to_owned());
            }
            _ => {}
        }
    }

    /// The first node on `target`'s path that failed.
    fn failed_on_path(&self, target: usize) -> Option<usize> {
        self.path(target)
            .into_iter()
            .find(|&n| self.steps[n].error.is_some())
    }
}

/// Runs the builds; `sink` hears every event.
pub(crate) fn run(planned: &Planned, req: &Request<'_>, sink: &mut Sink) -> Report {
    let started = Instant::now();
    let mut state = Run::new(planned);
    let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::new();
    let args = reserved_args(req);

    // Under --no-cache, one all-variants build runs every step once; the tagging builds after
    // it take everything from the cache.
    let all_at_once = req.all_at_once();
    if all_at_once {
        sink.event(&Event::Phase(
            "every wanted variant in one build, without the cache (--no-cache)",
        ));
        let args = req.all_at_once_args(planned);
        let spec = req.spec(None, &[], &args);
        let (tx, rx) = mpsc::channel();
        match spawn(&spec, 0, &tx) {
            Ok(child) => {
                let mut job = new_job(usize::MAX, None, child);
                loop {
                    match rx.recv_timeout(Duration::from_millis(150)) {
                        Ok(Msg::Line(_, l)) => state.line(&mut job, &l, sink),
                        Ok(Msg::Eof(_)) => break,
                        Err(mpsc::RecvTimeoutError::Timeout) => sink.tick(),
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                let ok = job.child.wait().is_ok_and(|s| s.success());
                if !ok && req.fail_fast {
                    for &t in &req.targets {
                        let node = state.failed_on_path(t);
                        outcomes.insert(
                            t,
                            Outcome::Failed {
                                node,
                                log: job.tail.iter().cloned().collect(),
                            },
                        );
                    }
                    return report(state, outcomes, started);
                }
            }
            Err(e) => {
                for &t in &req.targets {
                    outcomes.insert(
                        t,
                        Outcome::Failed {
                            node: None,
                            log: vec![format!("cannot run {}: {e}", engine::client())],
                        },
                    );
                }
                return report(state, outcomes, started);
            }
        }
        sink.event(&Event::Phase("tagging every variant"));
    }

    let (tx, rx) = mpsc::channel::<Msg>();
    let mut queue: VecDeque<usize> = req.targets.iter().copied().collect();
    let mut jobs: BTreeMap<usize, Job> = BTreeMap::new();
    let mut next_id = 0usize;
    let mut stop = false;
    loop {
        while !stop && jobs.len() < req.jobs.max(1) {
            let Some(t) = queue.pop_front() else { break };
            let name = planned.manifest.targets[t].name.as_str();
            if let Some(f) = state.failed_on_path(t) {
                if all_at_once {
                    // It was tried in the all-variants build and failed there.
                    sink.event(&Event::VariantFailed {
                        name,
                        step: Some(&state.labels[f]),
                    });
                    let log = state.steps[f].log.iter().cloned().collect();
                    outcomes.insert(t, Outcome::Failed { node: Some(f), log });
                    continue;
                }
                let because = format!("`{}` failed", state.labels[f]);
                sink.event(&Event::VariantSkipped {
                    name,
                    because: &because,
                });
                outcomes.insert(t, Outcome::Skipped { because });
                continue;
            }
            let tags = tags_of(planned, t, &req.prefix);
            let spec = req.spec(Some(name), &tags, &args);
            sink.event(&Event::VariantStarted { name });
            match spawn(&spec, next_id, &tx) {
                Ok(child) => {
                    jobs.insert(next_id, new_job(next_id, Some(t), child));
                    next_id += 1;
                }
                Err(e) => {
                    outcomes.insert(
                        t,
                        Outcome::Failed {
                            node: None,
                            log: vec![format!("cannot run {}: {e}", engine::client())],
                        },
                    );
                    sink.event(&Event::VariantFailed { name, step: None });
                }
            }
        }
        if jobs.is_empty() {
            break;
        }
        let msg = match rx.recv_timeout(Duration::from_millis(150)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                sink.tick();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Msg::Line(id, l) => {
                if let Some(job) = jobs.get_mut(&id) {
                    state.line(job, &l, sink);
                }
            }
            Msg::Eof(id) => {
                let Some(mut job) = jobs.remove(&id) else {
                    continue;
                };
                let Some(t) = job.target else { continue };
                let name = planned.manifest.targets[t].name.as_str();
                let ok = job.child.wait().is_ok_and(|s| s.success());
                if ok {
                    let seconds = job.started.elapsed().as_secs_f64();
                    let tags = tags_of(planned, t, &req.prefix);
                    sink.event(&Event::VariantBuilt {
                        name,
                        tags: &tags,
                        seconds,
                    });
                    outcomes.insert(t, Outcome::Built { seconds });
                    continue;
                }
                let node = job.failed_node.or_else(|| state.failed_on_path(t));
                let log = match node {
                    Some(n) if !state.steps[n].log.is_empty() => {
                        state.steps[n].log.iter().cloned().collect()
                    }
                    _ => job.tail.iter().cloned().collect(),
                };
                sink.event(&Event::VariantFailed {
                    name,
                    step: node.map(|n| state.labels[n].as_str()),
                });
                outcomes.insert(t, Outcome::Failed { node, log });
                if req.fail_fast && !stop {
                    stop = true;
                    for (_, other) in jobs.iter_mut() {
                        let _ = other.child.kill();
                    }
                }
            }
        }
    }
    // Builds killed by --fail-fast, and variants never started.
    for (_, mut job) in jobs {
        let _ = job.child.kill();
        let _ = job.child.wait();
    }
    for &t in &req.targets {
        if let std::collections::btree_map::Entry::Vacant(slot) = outcomes.entry(t) {
            let because = "an earlier variant failed (--fail-fast)".to_owned();
            sink.event(&Event::VariantSkipped {
                name: &planned.manifest.targets[t].name,
                because: &because,
            });
            slot.insert(Outcome::Skipped { because });
        }
    }
    report(state, outcomes, started)
}

fn report(state: Run<'_>, outcomes: BTreeMap<usize, Outcome>, started: Instant) -> Report {
    let ran = state
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.cached && s.error.is_none())
        .filter_map(|(n, s)| s.seconds.map(|secs| (n, secs)))
        .collect();
    let cached = state.steps.iter().filter(|s| s.cached).count();
    Report {
        outcomes,
        ran,
        cached,
        wall: started.elapsed().as_secs_f64(),
    }
}

fn new_job(id: usize, target: Option<usize>, child: Child) -> Job {
    Job {
        id,
        target,
        child,
        started: Instant::now(),
        vertices: BTreeMap::new(),
        failed_node: None,
        tail: VecDeque::new(),
    }
}

/// Starts one build; a thread sends its stderr lines, then `Eof`.
fn spawn(spec: &BuildSpec<'_>, id: usize, tx: &mpsc::Sender<Msg>) -> std::io::Result<Child> {
    let mut cmd = engine::build_command(spec);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take();
    let tx = tx.clone();
    std::thread::spawn(move || {
        if let Some(err) = stderr {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(Msg::Line(id, line)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Msg::Eof(id));
    });
    Ok(child)
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

/// The user's build args and the ones the frontend reads: its image, and whether to keep the lock.
fn reserved_args(req: &Request<'_>) -> Vec<(String, String)> {
    let mut args: Vec<(String, String)> = req.build_args.to_vec();
    args.push(("BUILDKIT_SYNTAX".into(), req.frontend.clone()));
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

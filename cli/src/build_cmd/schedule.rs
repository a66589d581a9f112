//! The scheduler of `dockopt build`: up to `--jobs` builds at a time, each build's plain
//! progress read back by vertex name into the trie's steps, a failed step skipping the variants
//! below it.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dockopt_project::Planned;

use super::{Request, reserved_args, tags_of};
use crate::engine::{self, BuildSpec, VertexLine};
use crate::progress::{Event, Sink};

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
pub(super) const KEEP_LINES: usize = 12;

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

//! What `dockopt build` tells the user while it works: a live view on a terminal, one line per
//! event for CI logs, or one JSON object per event for machines.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::plan_view::seconds as secs;

/// How to show progress (`--progress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// `tty` when stderr is a terminal, else `plain`.
    Auto,
    /// A live view of the running steps.
    Tty,
    /// One line per event on stderr.
    Plain,
    /// One JSON object per event on stdout.
    Json,
}

/// One thing that happened.
#[derive(Clone, Debug)]
pub(crate) enum Event<'a> {
    /// A phase of the run begins (`all variants at once (--no-cache)`, `tagging`).
    Phase(&'a str),
    /// A step began to run (or to be looked up in the cache).
    StepStarted {
        /// Trie node.
        node: usize,
        /// How people see the step.
        label: &'a str,
        /// Variants that wait on it.
        variants: &'a [&'a str],
        /// Seconds the plan expects it to take.
        predicted: f64,
    },
    /// A step came from the cache.
    StepCached {
        /// Trie node.
        node: usize,
        /// How people see the step.
        label: &'a str,
    },
    /// A step ran to its end.
    StepDone {
        /// Trie node.
        node: usize,
        /// How people see the step.
        label: &'a str,
        /// Seconds BuildKit measured.
        seconds: f64,
    },
    /// A step failed.
    StepFailed {
        /// Trie node.
        node: usize,
        /// How people see the step.
        label: &'a str,
        /// BuildKit's error.
        error: &'a str,
    },
    /// A variant's build began.
    VariantStarted {
        /// Its name.
        name: &'a str,
    },
    /// A variant was built and tagged.
    VariantBuilt {
        /// Its name.
        name: &'a str,
        /// Its tags.
        tags: &'a [String],
        /// Wall seconds of its build.
        seconds: f64,
    },
    /// A variant failed.
    VariantFailed {
        /// Its name.
        name: &'a str,
        /// The step that failed, when known.
        step: Option<&'a str>,
    },
    /// A variant was not built.
    VariantSkipped {
        /// Its name.
        name: &'a str,
        /// Why.
        because: &'a str,
    },
}

/// Where events go.
pub(crate) struct Sink {
    mode: Mode,
    start: Instant,
    multi: Option<MultiProgress>,
    /// Running steps: node, bar, predicted seconds, start, the message before its estimate.
    bars: Vec<(usize, ProgressBar, f64, Instant, String)>,
}

impl Sink {
    /// A sink for `mode` (`Auto` resolved against stderr).
    pub(crate) fn new(mode: Mode) -> Self {
        let mode = match mode {
            Mode::Auto if std::io::stderr().is_terminal() => Mode::Tty,
            Mode::Auto => Mode::Plain,
            m => m,
        };
        let multi = (mode == Mode::Tty).then(MultiProgress::new);
        Self {
            mode,
            start: Instant::now(),
            multi,
            bars: Vec::new(),
        }
    }

    /// Whether events go out as JSON (then stdout carries only JSON).
    pub(crate) fn is_json(&self) -> bool {
        self.mode == Mode::Json
    }

    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// A line above the live view, or on stderr.
    fn line(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    /// Reports one event.
    pub(crate) fn event(&mut self, e: &Event<'_>) {
        match self.mode {
            Mode::Json => self.json(e),
            Mode::Tty => self.tty(e),
            Mode::Plain | Mode::Auto => self.plain(e),
        }
    }

    fn plain(&self, e: &Event<'_>) {
        let t = self.elapsed();
        let text = match e {
            Event::Phase(p) => format!("[{t:7.1}s] == {p}"),
            Event::StepStarted {
                label,
                variants,
                predicted,
                ..
            } => format!(
                "[{t:7.1}s] start   {label}  (for {}; planned {})",
                variants.join(", "),
                secs(*predicted)
            ),
            Event::StepCached { label, .. } => format!("[{t:7.1}s] cached  {label}"),
            Event::StepDone { label, seconds, .. } => {
                format!("[{t:7.1}s] done    {label}  {}", secs(*seconds))
            }
            Event::StepFailed { label, error, .. } => {
                format!("[{t:7.1}s] FAILED  {label}: {error}")
            }
            Event::VariantStarted { name } => format!("[{t:7.1}s] variant {name}: building"),
            Event::VariantBuilt { name, tags, .. } => {
                format!("[{t:7.1}s] variant {name}: built → {}", tags.join(", "))
            }
            Event::VariantFailed { name, step } => format!(
                "[{t:7.1}s] variant {name}: FAILED{}",
                step.map(|s| format!(" at {s}")).unwrap_or_default()
            ),
            Event::VariantSkipped { name, because } => {
                format!("[{t:7.1}s] variant {name}: skipped, {because}")
            }
        };
        self.line(&text);
    }

    fn tty(&mut self, e: &Event<'_>) {
        match e {
            Event::StepStarted {
                node,
                label,
                variants,
                predicted,
            } => {
                let Some(multi) = &self.multi else { return };
                let bar = multi.add(ProgressBar::new_spinner());
                let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                let message = format!(
                    "{}  (for {})",
                    short(label, 60),
                    short(&variants.join(", "), 40)
                );
                bar.set_message(message.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars
                    .push((*node, bar, *predicted, Instant::now(), message));
            }
            Event::StepCached { node, .. }
            | Event::StepDone { node, .. }
            | Event::StepFailed { node, .. } => {
                if let Some(k) = self.bars.iter().position(|(n, ..)| n == node) {
                    let (_, bar, ..) = self.bars.remove(k);
                    bar.finish_and_clear();
                }
                if !matches!(e, Event::StepCached { .. }) {
                    self.plain(e);
                }
            }
            _ => self.plain(e),
        }
    }

    /// Refreshes the live view's estimates (call a few times a second).
    pub(crate) fn tick(&self) {
        for (_, bar, predicted, since, base) in &self.bars {
            let left = predicted - since.elapsed().as_secs_f64();
            let eta = if left > 0.0 {
                format!("  ~{} left", secs(left))
            } else {
                "  ~over plan".to_owned()
            };
            bar.set_message(format!("{base}{eta}"));
        }
    }

    fn json(&self, e: &Event<'_>) {
        let t = (self.elapsed() * 1000.0).round() / 1000.0;
        let v = match e {
            Event::Phase(p) => json!({"t": t, "event": "phase", "phase": p}),
            Event::StepStarted {
                node,
                label,
                variants,
                predicted,
            } => json!({"t": t, "event": "step-started", "node": node, "step": label,
                        "variants": variants, "predicted": predicted}),
            Event::StepCached { node, label } => {
                json!({"t": t, "event": "step-cached", "node": node, "step": label})
            }
            Event::StepDone {
                node,
                label,
                seconds,
            } => json!({"t": t, "event": "step-done", "node": node, "step": label,
                        "seconds": seconds}),
            Event::StepFailed { node, label, error } => {
                json!({"t": t, "event": "step-failed", "node": node, "step": label, "error": error})
            }
            Event::VariantStarted { name } => {
                json!({"t": t, "event": "variant-started", "variant": name})
            }
            Event::VariantBuilt {
                name,
                tags,
                seconds,
            } => json!({"t": t, "event": "variant-built", "variant": name, "tags": tags,
                        "seconds": seconds}),
            Event::VariantFailed { name, step } => {
                json!({"t": t, "event": "variant-failed", "variant": name, "step": step})
            }
            Event::VariantSkipped { name, because } => {
                json!({"t": t, "event": "variant-skipped", "variant": name, "because": because})
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}").and_then(|()| out.flush());
    }

    /// Clears the live view.
    pub(crate) fn finish(&mut self) {
        for (_, bar, ..) in self.bars.drain(..) {
            bar.finish_and_clear();
        }
    }
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

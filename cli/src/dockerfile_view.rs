//! A target as a plain Dockerfile, in the plan's order or as listed: to read what dockopt does,
//! to leave dockopt, or to compare against in benchmarks.

use std::fmt::Write;

use dockopt_manifest::{Action, Manifest, RunCommand, Step};

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// Shell text that runs `cmd` in `step`'s env and workdir (a Dockerfile has no per-RUN env).
fn shell_line(step: &Step, cmd: &str) -> String {
    let mut prefix = String::new();
    for (k, v) in &step.context.env {
        let _ = write!(prefix, "export {k}='{}'; ", v.replace('\'', r"'\''"));
    }
    if let Some(dir) = &step.context.workdir {
        let _ = write!(prefix, "mkdir -p '{dir}' && cd '{dir}' && ");
    }
    format!("{prefix}{cmd}")
}

/// The Dockerfile of target `t` running `order` (step ids: steps then `finally`).
pub(crate) fn dockerfile(manifest: &Manifest, t: usize, order: &[usize]) -> String {
    let target = &manifest.targets[t];
    let mut out = format!(
        "# target {} of {}\nFROM {}\n",
        target.name, manifest.file, target.from
    );
    for &s in order {
        let step = &manifest.steps[s];
        if let Some(user) = &step.context.user {
            let _ = writeln!(out, "USER {user}");
        }
        match &step.action {
            Action::Run(RunCommand::Shell(cmd)) => {
                let line = shell_line(step, cmd).replace('\n', " \\\n");
                let _ = writeln!(out, "RUN {line}");
            }
            Action::Run(RunCommand::Exec(argv))
                if step.context.env.is_empty() && step.context.workdir.is_none() =>
            {
                let _ = writeln!(out, "RUN {}", json_list(argv));
            }
            Action::Run(RunCommand::Exec(argv)) => {
                let _ = writeln!(out, "RUN {}", shell_line(step, &argv.join(" ")));
            }
            Action::Copy(c) => {
                let mut args = c.src.clone();
                args.push(c.dest.clone());
                let _ = writeln!(out, "COPY {}{}", c.from_flag(), json_list(&args));
            }
        }
        if step.context.user.is_some() {
            out.push_str("USER root\n");
        }
    }
    let cfg = &target.config;
    for (k, v) in &cfg.env {
        let _ = writeln!(out, "ENV {k}={}", quote(v));
    }
    if let Some(w) = &cfg.workdir {
        let _ = writeln!(out, "WORKDIR {w}");
    }
    if let Some(u) = &cfg.user {
        let _ = writeln!(out, "USER {u}");
    }
    for (k, v) in &cfg.labels {
        let _ = writeln!(out, "LABEL {}={}", quote(k), quote(v));
    }
    for p in &cfg.expose {
        let _ = writeln!(out, "EXPOSE {p}");
    }
    if !cfg.volumes.is_empty() {
        let _ = writeln!(out, "VOLUME {}", json_list(&cfg.volumes));
    }
    if let Some(s) = &cfg.stop_signal {
        let _ = writeln!(out, "STOPSIGNAL {s}");
    }
    if let Some(h) = &cfg.healthcheck {
        match h.test.first().map(String::as_str) {
            Some("NONE") | None => out.push_str("HEALTHCHECK NONE\n"),
            Some(kind) => {
                let mut flags = String::new();
                for (name, ns) in [
                    ("interval", h.interval),
                    ("timeout", h.timeout),
                    ("start-period", h.start_period),
                ] {
                    if ns != 0 {
                        let _ = write!(flags, "--{name}={}ms ", ns / 1_000_000);
                    }
                }
                if h.retries != 0 {
                    let _ = write!(flags, "--retries={} ", h.retries);
                }
                let command = if kind == "CMD-SHELL" {
                    h.test[1..].join(" ")
                } else {
                    json_list(&h.test[1..])
                };
                let _ = writeln!(out, "HEALTHCHECK {flags}CMD {command}");
            }
        }
    }
    if let Some(e) = &cfg.entrypoint {
        let _ = writeln!(out, "ENTRYPOINT {}", json_list(e));
    }
    if let Some(c) = &cfg.cmd {
        let _ = writeln!(out, "CMD {}", json_list(c));
    }
    out
}

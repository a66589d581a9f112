//! A target as a plain Dockerfile, in the plan's order or as listed: to read what dockopt does,
//! to leave dockopt, or to compare against in benchmarks.

use std::fmt::Write;

use dockopt_manifest::{Action, Manifest, RunCommand, Step, Target};

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

/// The Dockerfile of target `t`, each target running `order_of(target)` (step ids: steps then
/// `finally`). The stages it reads come first, each as a `FROM … AS NAME` stage.
pub(crate) fn dockerfile(
    manifest: &Manifest,
    t: usize,
    order_of: &dyn Fn(usize) -> Vec<usize>,
) -> String {
    let target = &manifest.targets[t];
    let mut out = String::new();
    // Stages in an order where each comes after the stages it reads.
    let stages = manifest.stages_in_order(&[t]);
    for s in stages.into_iter().filter(|&s| s != t) {
        let st = &manifest.targets[s];
        let _ = writeln!(
            out,
            "# stage {} of {}\nFROM {} AS {}",
            st.name, manifest.file, st.from, st.name
        );
        steps(manifest, &order_of(s), &mut out);
    }
    let _ = write!(
        out,
        "# target {} of {}\nFROM {}\n",
        target.name, manifest.file, target.from
    );
    steps(manifest, &order_of(t), &mut out);
    config(target, &mut out);
    out
}

/// `--mount=…` flags of a run step, each followed by a space.
fn mount_flags(step: &Step) -> String {
    step.context
        .mounts
        .iter()
        .map(|m| format!("--mount={} ", m.flag()))
        .collect()
}

fn steps(manifest: &Manifest, order: &[usize], out: &mut String) {
    for &s in order {
        let step = &manifest.steps[s];
        if let Some(user) = &step.context.user {
            let _ = writeln!(out, "USER {user}");
        }
        match &step.action {
            Action::Run(RunCommand::Shell(cmd)) => {
                let line = shell_line(step, cmd).replace('\n', " \\\n");
                let _ = writeln!(out, "RUN {}{line}", mount_flags(step));
            }
            Action::Run(RunCommand::Exec(argv))
                if step.context.env.is_empty() && step.context.workdir.is_none() =>
            {
                let _ = writeln!(out, "RUN {}{}", mount_flags(step), json_list(argv));
            }
            Action::Run(RunCommand::Exec(argv)) => {
                let _ = writeln!(
                    out,
                    "RUN {}{}",
                    mount_flags(step),
                    shell_line(step, &argv.join(" "))
                );
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
}

fn config(target: &Target, out: &mut String) {
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
}

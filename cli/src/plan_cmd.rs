//! `dockopt plan`: the manifest planned (with the method and effort asked for), missing copy
//! sources warned about, a locked plan given the fresh plan's bound, the plan shown as text,
//! JSON, DOT or a Graphviz drawing, and the lock written with `--lock`/`--update`.

use std::io::Write;

use dockopt_planner::{Method, Options};

use crate::manifest_files::{load, read_beside, write_lock};
use crate::{Failure, Format, MethodArg, PlanArgs, context, plan_view};

/// `dockopt plan`.
pub(crate) fn plan(args: &PlanArgs) -> Result<(), Failure> {
    let file = args.manifest.display().to_string();
    let method = match args.method {
        MethodArg::Auto => Method::Auto,
        MethodArg::Exact => Method::Exact,
        MethodArg::Heuristic => Method::Heuristic,
        MethodArg::CliqueMip => Method::CliqueMip,
        MethodArg::Greedy => Method::Greedy,
    };
    let options = Options {
        method,
        effort: args.effort,
        ..Options::default()
    };
    let use_lock = !args.no_lock && !args.update;
    let mut planned = load(&args.manifest, &args.build_args, options.clone(), use_lock)?;
    let folder = args
        .manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let all: Vec<usize> = (0..planned.manifest.targets.len()).collect();
    for m in context::missing_sources(&planned, &all, folder) {
        let _ = writeln!(std::io::stderr(), "warning: {m}");
    }
    if planned.lock.is_some() {
        // A locked plan carries no proof of its own: the fresh plan's bound holds for it too.
        let fresh = load(&args.manifest, &args.build_args, options.clone(), false)?;
        let plan = &mut planned.plan;
        plan.lower_bound = plan.lower_bound.max(fresh.plan.lower_bound).min(plan.cost);
        plan.optimal = plan.cost <= plan.lower_bound + 1e-9 * plan.cost.abs().max(1.0);
        if fresh.plan.cost + 1e-9 < plan.cost {
            let _ = writeln!(
                std::io::stderr(),
                "note: the lock costs {:.1} s more per full build than a fresh plan; `dockopt plan --update` re-plans",
                plan.cost - fresh.plan.cost
            );
        }
    }
    if let Some(t) = &args.target {
        planned
            .target(t)
            .map_err(|e| Failure::User(format!("error: {e}\n")))?;
    }
    let out: Vec<u8> = match args.format {
        Format::Text => plan_view::text(&planned, args.target.as_deref()).into_bytes(),
        Format::Json => plan_view::json(&planned, args.target.as_deref()).into_bytes(),
        Format::Dot => plan_view::dot(&planned).into_bytes(),
        Format::Svg => render(&plan_view::dot(&planned), "svg")?,
        Format::Png => render(&plan_view::dot(&planned), "png")?,
    };
    if args.update
        && let Ok(Some(_)) = read_beside(&dockopt_project::lock_name(&file))
    {
        let locked = load(&args.manifest, &args.build_args, options, true)?;
        let note = plan_view::update_note(&locked, &planned);
        let _ = write!(std::io::stderr(), "{note}");
    }
    if args.lock || args.update {
        write_lock(&file, &planned)?;
    }
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`dockopt plan … | head`) is not an error worth a message.
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    Ok(())
}

/// DOT drawn by Graphviz (`dot -T FORMAT`).
fn render(dot: &str, format: &str) -> Result<Vec<u8>, Failure> {
    use std::process::{Command, Stdio};
    let missing = |e: std::io::Error| {
        Failure::User(format!(
            "error: --format {format} draws the plan with Graphviz's `dot`, which cannot run here ({e}); install Graphviz (Debian: apt-get install graphviz), or use --format dot and draw it elsewhere\n"
        ))
    };
    let mut child = Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(missing)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| Failure::Internal(format!("writing to dot: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::Internal(format!("dot: {e}")))?;
    if !out.status.success() {
        return Err(Failure::Internal(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

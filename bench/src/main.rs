//! dockopt-bench: runs every planner method and the peer tools on the same instances and prints
//! a results table (Markdown) while appending raw results (JSON lines).
//!
//! `dockopt-bench planner [--shared DIR] [--out FILE] [--reps N] [--quick]`
//! `dockopt-bench shapes [--reps N] [--oneil DIR] [--baseline BIN] [--out FILE]` measures auto,
//! heuristic and exact on the generated stack and chunk shapes (and O'Neil's instances).
//! `dockopt-bench gen stack|chunk TARGETS SEED FILE` writes one generated instance.
//! `dockopt-bench one METHOD FILE [--memory MIB] [--effort UNITS]` runs one method once (in its own process, so
//! its peak memory is its own) and prints one JSON line.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod fuzz;
mod instance;
mod placement;
mod rng;
mod seed_model;
mod shapes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use dockopt_planner::{Method, Options};
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("one") if args.len() >= 3 => {
            let mut memory = None;
            let mut effort = None;
            let mut rest = args[3..].iter();
            let mut bad = None;
            while let Some(flag) = rest.next() {
                let value = rest.next().map(String::as_str).unwrap_or("");
                match flag.as_str() {
                    "--memory" => match value.parse::<usize>() {
                        Ok(mib) => memory = Some(mib << 20),
                        Err(e) => bad = Some(format!("--memory {value}: {e}")),
                    },
                    "--effort" => match value.parse::<f64>() {
                        Ok(units) => effort = Some(units),
                        Err(e) => bad = Some(format!("--effort {value}: {e}")),
                    },
                    other => bad = Some(format!("unknown flag {other}")),
                }
            }
            match bad {
                Some(e) => Err(e),
                None => one(&args[1], Path::new(&args[2]), memory, effort),
            }
        }
        Some("gen") if args.len() == 5 => gen_one(&args[1], &args[2], &args[3], Path::new(&args[4])),
        Some("shapes") => shapes_harness(&args[1..]),
        Some("fuzz") => {
            let num = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            fuzz::run(num(1, 1_000_000), num(2, 1), &root, &root.join("benchmarks/results"))
        }
        Some("planner") => planner(&args[1..]),
        Some("placement-seed") => {
            let limit = args.get(1).and_then(|a| a.parse::<f64>().ok()).unwrap_or(60.0);
            seed_model::run(placement::sets(), limit).and_then(|raw| {
                let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks/results/placement-seed.jsonl");
                std::fs::write(&out, raw).map_err(|e| format!("{}: {e}", out.display()))
            })
        }
        Some("placement") => {
            let raw = placement::run();
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks/results/placement.jsonl");
            std::fs::write(&out, raw).map_err(|e| format!("{}: {e}", out.display()))
        }
        _ => Err("usage: dockopt-bench planner [--shared DIR] [--out FILE] [--reps N] [--quick] | placement | placement-seed [SECONDS] | shapes [--reps N] [--oneil DIR] [--baseline BIN] [--out FILE] | gen stack|chunk TARGETS SEED FILE | one METHOD FILE [--memory MIB] [--effort UNITS] | fuzz [CASES] [SEED]".into()),
    };
    if let Err(e) = result {
        eprintln!("dockopt-bench: {e}");
        std::process::exit(2);
    }
}

fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn one(
    method: &str,
    file: &Path,
    memory: Option<usize>,
    effort: Option<f64>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let inst = instance::from_json(&file.display().to_string(), &text)?;
    let method = match method {
        "auto" => Method::Auto,
        "exact" => Method::Exact,
        "heuristic" => Method::Heuristic,
        "greedy" => Method::Greedy,
        "clique-mip" => Method::CliqueMip,
        other => return Err(format!("unknown method {other}")),
    };
    let defaults = Options::default();
    let options = Options {
        method,
        memory: memory.unwrap_or(defaults.memory),
        effort: effort.unwrap_or(defaults.effort),
        ..defaults
    };
    let start = Instant::now();
    let plan = dockopt_planner::solve(&inst.problem, &options);
    let seconds = start.elapsed().as_secs_f64();
    let line = match plan {
        Ok(p) => {
            json!({"cost": p.cost, "lower_bound": p.lower_bound, "gap": p.gap(), "optimal": p.optimal, "seconds": seconds,
                        "peak_kb": peak_kb(), "methods": p.groups.iter().map(|g| g.method.name()).collect::<Vec<_>>(),
                        "exact_work": p.groups.iter().map(|g| g.exact_work).sum::<f64>()})
        }
        Err(e) => json!({"error": e.to_string(), "seconds": seconds, "peak_kb": peak_kb()}),
    };
    println!("{line}");
    Ok(())
}

/// One instance file and where it came from.
struct Source {
    name: String,
    file: PathBuf,
    origin: String,
}

fn generate(shared: &Path, dir: &Path, quick: bool) -> Result<Vec<Source>, String> {
    let mut specs: Vec<(&str, Vec<&str>)> = vec![
        (
            "random-100x100",
            vec![
                "--mode",
                "random",
                "--targets",
                "100",
                "--commands",
                "100",
                "--density",
                "0.2",
                "--seed",
                "1",
            ],
        ),
        (
            "dicp-30x100",
            vec![
                "--mode",
                "dicp",
                "--targets",
                "30",
                "--commands",
                "100",
                "--seed",
                "1",
            ],
        ),
        ("matrix", vec!["--mode", "matrix", "--seed", "1"]),
        (
            "realish-100",
            vec![
                "--mode",
                "realish",
                "--targets",
                "100",
                "--bases",
                "2",
                "--seed",
                "1",
            ],
        ),
    ];
    if !quick {
        specs.push((
            "random-1000x300",
            vec![
                "--mode",
                "random",
                "--targets",
                "1000",
                "--commands",
                "300",
                "--density",
                "0.1",
                "--seed",
                "1",
            ],
        ));
        specs.push((
            "realish-1000",
            vec![
                "--mode",
                "realish",
                "--targets",
                "1000",
                "--bases",
                "3",
                "--seed",
                "1",
            ],
        ));
    }
    let mut out = Vec::new();
    for (name, args) in specs {
        let file = dir.join(format!("{name}.json"));
        let status = Command::new("python3")
            .arg(shared.join("peers/gen.py"))
            .args(&args)
            .arg("-o")
            .arg(&file)
            .status()
            .map_err(|e| format!("python3: {e}"))?;
        if !status.success() {
            return Err(format!("gen.py {args:?} failed"));
        }
        out.push(Source {
            name: format!("gen:{name}"),
            file,
            origin: format!("gen.py {}", args.join(" ")),
        });
    }
    Ok(out)
}

fn examples(root: &Path, dir: &Path) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for name in ["toolbox", "python-matrix"] {
        let path = root.join("examples").join(name).join("variants.yaml");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let m = dockopt_manifest::parse(&path.display().to_string(), &text, &Default::default())
            .map_err(|e| e.to_string())?;
        let names: Vec<String> = m.targets.iter().map(|t| t.name.clone()).collect();
        let file = dir.join(format!("example-{name}.json"));
        std::fs::write(&file, instance::to_json(&m.problem(), &names))
            .map_err(|e| e.to_string())?;
        out.push(Source {
            name: format!("example:{name}"),
            file,
            origin: format!("examples/{name}/variants.yaml"),
        });
    }
    Ok(out)
}

/// Runs a command that prints a JSON line; kills it after `limit` seconds of wall time (the
/// harness's own guard: microlp and CBC can run for hours on the larger models).
fn run_json_limited(cmd: &mut Command, limit: f64) -> Value {
    use std::process::Stdio;
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed().as_secs_f64() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return json!({"error": format!("no answer within {limit} s (killed)")});
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => return json!({"error": e.to_string()}),
        }
    }
    match child.wait_with_output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines()
                .rev()
                .find_map(|l| serde_json::from_str(l).ok())
                .unwrap_or_else(|| json!({"error": "no JSON"}))
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

fn run_json(cmd: &mut Command) -> Value {
    match cmd.output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| {
                json!({"error": format!("no JSON (exit {:?}): {}", o.status.code(), String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""))})
            })
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn planner(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut shared = root.join("../shared");
    let mut out_path = root.join("benchmarks/results/planner.jsonl");
    let mut reps = 5usize;
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--shared" => shared = PathBuf::from(it.next().ok_or("--shared DIR")?),
            "--out" => out_path = PathBuf::from(it.next().ok_or("--out FILE")?),
            "--reps" => reps = it.next().and_then(|r| r.parse().ok()).ok_or("--reps N")?,
            "--quick" => quick = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let tmp = std::env::temp_dir().join(format!("dockopt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let mut sources = Vec::new();
    let mut oneil: Vec<PathBuf> = std::fs::read_dir(shared.join("data/oneil"))
        .map_err(|e| format!("{}: {e}", shared.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    oneil.sort();
    if quick {
        oneil.retain(|p| p.to_string_lossy().contains("-100cmds"));
    }
    for p in oneil {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        sources.push(Source {
            name: format!("oneil:{stem}"),
            origin: format!("shared/data/oneil/{stem}.json"),
            file: p,
        });
    }
    sources.extend(generate(&shared, &tmp, quick)?);
    sources.extend(examples(&root, &tmp)?);
    sources.extend(shape_sources(&tmp, &[("stack", 27, 1), ("chunk", 36, 1)])?);

    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut raw = String::new();
    println!(
        "| instance | targets | LB | best known | auto | heuristic | greedy | exact.py | seed MIP (CBC) | auto s | heuristic s | greedy s | auto peak MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for src in &sources {
        let text = std::fs::read_to_string(&src.file).map_err(|e| e.to_string())?;
        let inst = instance::from_json(&src.name, &text)?;
        let n = inst.problem.targets.len();
        let mut row = json!({"instance": src.name, "origin": src.origin, "targets": n});
        for method in ["auto", "heuristic", "greedy"] {
            let mut times = Vec::new();
            let mut last = Value::Null;
            for _ in 0..reps {
                last = run_json(Command::new(&me).args(["one", method]).arg(&src.file));
                times.push(last["seconds"].as_f64().unwrap_or(f64::NAN));
                if times[0] > 3.0 {
                    break; // slow runs are timed once
                }
            }
            last["seconds_median"] = json!(median(times.clone()));
            last["reps"] = json!(times.len());
            row[method] = last;
        }
        // Our implementation of the seed's model (microlp), where it finishes in reasonable time.
        if n <= 10 || src.name.starts_with("example:") {
            row["clique_mip"] = run_json_limited(
                Command::new(&me).args(["one", "clique-mip"]).arg(&src.file),
                60.0,
            );
        }
        // Peers: the exact DP (≤ 20 distinct targets per base) and the seed's model (≤ 20 targets).
        if n <= 20 || src.name.starts_with("example:") {
            row["exact_py"] = run_json_limited(
                Command::new("python3")
                    .arg(shared.join("peers/exact.py"))
                    .arg(&src.file),
                300.0,
            );
            row["seed_mip"] = run_json(
                Command::new("python3")
                    .arg(shared.join("peers/seed_pulp.py"))
                    .arg(&src.file)
                    .args(["--time-limit", "60"]),
            );
        }
        let cost = |v: &Value| v["cost"].as_f64();
        let candidates = [
            cost(&row["auto"]),
            cost(&row["heuristic"]),
            cost(&row["greedy"]),
            cost(&row["exact_py"]),
            cost(&row["seed_mip"]),
        ];
        let best = candidates
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let proven = row["auto"]["optimal"].as_bool() == Some(true)
            || row["exact_py"]["status"].as_str() == Some("Optimal");
        row["best_known"] = json!(best);
        row["best_is_optimal"] = json!(proven);
        let cell = |v: &Value| match cost(v) {
            Some(c) if best > 0.0 => format!("{c:.0} (+{:.2} %)", 100.0 * (c - best) / best),
            Some(c) => format!("{c:.0}"),
            None if v.is_null() => "–".into(),
            None => "no plan".into(),
        };
        let secs = |v: &Value| {
            v["seconds_median"]
                .as_f64()
                .map_or("–".into(), |s| format!("{s:.3}"))
        };
        println!(
            "| {} | {n} | {:.0} | {:.0}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            src.name,
            row["auto"]["lower_bound"].as_f64().unwrap_or(f64::NAN),
            best,
            if proven { " (opt)" } else { "" },
            cell(&row["auto"]),
            cell(&row["heuristic"]),
            cell(&row["greedy"]),
            cell(&row["clique_mip"]),
            cell(&row["exact_py"]),
            cell(&row["seed_mip"]),
            secs(&row["auto"]),
            secs(&row["heuristic"]),
            secs(&row["greedy"]),
            row["auto"]["peak_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        );
        raw.push_str(&row.to_string());
        raw.push('\n');
    }
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&out_path, raw).map_err(|e| format!("{}: {e}", out_path.display()))?;
    std::fs::remove_dir_all(&tmp).ok();
    Ok(())
}

/// Writes one generated instance of a real shape.
fn gen_one(mode: &str, targets: &str, seed: &str, file: &Path) -> Result<(), String> {
    let targets: usize = targets
        .parse()
        .map_err(|e| format!("TARGETS {targets}: {e}"))?;
    let seed: u64 = seed.parse().map_err(|e| format!("SEED {seed}: {e}"))?;
    let (problem, names) = match mode {
        "stack" => shapes::stack(targets, seed),
        "chunk" => shapes::chunk(targets, seed),
        other => return Err(format!("unknown shape {other} (stack or chunk)")),
    };
    std::fs::write(file, instance::to_json(&problem, &names))
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Generated instances of the real shapes, written to `dir`.
fn shape_sources(dir: &Path, specs: &[(&str, usize, u64)]) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for &(mode, targets, seed) in specs {
        let name = format!("{mode}-{targets}-s{seed}");
        let file = dir.join(format!("{name}.json"));
        gen_one(mode, &targets.to_string(), &seed.to_string(), &file)?;
        out.push(Source {
            name: format!("gen:{name}"),
            file,
            origin: format!("dockopt-bench gen {mode} {targets} {seed}"),
        });
    }
    Ok(out)
}

/// Auto, heuristic and exact (and optionally another build's auto) on the real shapes and,
/// with `--oneil DIR`, on O'Neil's instances: cost, bound, gap, proof, seconds, peak memory.
fn shapes_harness(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out_path = root.join("benchmarks/results/shapes.jsonl");
    let mut reps = 3usize;
    let mut oneil: Option<PathBuf> = None;
    let mut baseline: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out_path = PathBuf::from(it.next().ok_or("--out FILE")?),
            "--reps" => reps = it.next().and_then(|r| r.parse().ok()).ok_or("--reps N")?,
            "--oneil" => oneil = Some(PathBuf::from(it.next().ok_or("--oneil DIR")?)),
            "--baseline" => baseline = Some(PathBuf::from(it.next().ok_or("--baseline BIN")?)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let tmp = std::env::temp_dir().join(format!("dockopt-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let mut sources = shape_sources(
        &tmp,
        &[
            ("stack", 27, 1),
            ("stack", 27, 2),
            ("stack", 27, 3),
            ("stack", 100, 1),
            ("chunk", 30, 1),
            ("chunk", 36, 2),
            ("chunk", 40, 3),
            ("chunk", 100, 1),
        ],
    )?;
    if let Some(dir) = &oneil {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            sources.push(Source {
                name: format!("oneil:{stem}"),
                origin: format!("shared/data/oneil/{stem}.json"),
                file,
            });
        }
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut runs: Vec<(&str, PathBuf, &str)> = vec![
        ("auto", me.clone(), "auto"),
        ("heuristic", me.clone(), "heuristic"),
        ("exact", me.clone(), "exact"),
    ];
    if let Some(bin) = &baseline {
        runs.push(("auto before", bin.clone(), "auto"));
    }
    let mut raw = String::new();
    println!(
        "| instance | targets | method | cost | bound | gap | proven | seconds | peak MiB | exact work |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for src in &sources {
        let text = std::fs::read_to_string(&src.file).map_err(|e| e.to_string())?;
        let n = instance::from_json(&src.name, &text)?.problem.targets.len();
        let mut row = json!({"instance": src.name, "origin": src.origin, "targets": n});
        for (label, bin, method) in &runs {
            let mut times = Vec::new();
            let mut last = Value::Null;
            for _ in 0..reps {
                last = run_json_limited(
                    Command::new(bin).args(["one", method]).arg(&src.file),
                    120.0,
                );
                times.push(last["seconds"].as_f64().unwrap_or(f64::NAN));
                if times[0] > 3.0 || last.get("error").is_some() {
                    break; // slow runs (and failures) once
                }
            }
            last["seconds_median"] = json!(median(times.clone()));
            last["reps"] = json!(times.len());
            let cell = match (last["cost"].as_f64(), last["lower_bound"].as_f64()) {
                (Some(cost), Some(bound)) => {
                    let gap = last["gap"].as_f64().unwrap_or(if bound > 0.0 {
                        cost / bound - 1.0
                    } else {
                        0.0
                    });
                    let work = last["exact_work"]
                        .as_f64()
                        .map_or("–".into(), |w| format!("{w:.2e}"));
                    format!(
                        "{cost:.0} | {bound:.0} | {:.2} % | {} | {:.3} | {:.0} | {work}",
                        100.0 * gap,
                        if last["optimal"].as_bool() == Some(true) {
                            "yes"
                        } else {
                            "no"
                        },
                        last["seconds_median"].as_f64().unwrap_or(f64::NAN),
                        last["peak_kb"].as_f64().unwrap_or(0.0) / 1024.0,
                    )
                }
                _ => format!(
                    "no plan ({}) | – | – | – | {:.3} | {:.0} | –",
                    last["error"].as_str().unwrap_or("?"),
                    last["seconds_median"].as_f64().unwrap_or(f64::NAN),
                    last["peak_kb"].as_f64().unwrap_or(0.0) / 1024.0,
                ),
            };
            println!("| {} | {n} | {label} | {cell} |", src.name);
            row[*label] = last;
        }
        raw.push_str(&row.to_string());
        raw.push('\n');
    }
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&out_path, raw).map_err(|e| format!("{}: {e}", out_path.display()))?;
    std::fs::remove_dir_all(&tmp).ok();
    Ok(())
}

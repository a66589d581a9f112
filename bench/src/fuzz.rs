//! A fuzzing program (not a test): generated and mutated manifests, locks, times stores,
//! cluster files, stats lines and frontend option sets thrown at the parsers, the planner edge,
//! the LLB emitter and the frontend's option decoding; every panic is counted and its input
//! saved. Seeded, so a run can be repeated exactly.

mod options;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Inputs that got all the way through (planned and emitted; placed; option sets built), to
/// show the mutations reach past the parsers.
static DEEP: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

use crate::rng::Rng;

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Text dropped into inputs: YAML syntax, references, extreme numbers, odd characters.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ": ",
    "- ",
    "  ",
    "\t",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "? ",
    "|\n",
    ">-\n",
    "\"",
    "'",
    "#",
    "${",
    "${X}",
    "$X",
    "${SALT",
    "after: [update]",
    "after: [nope]",
    "after: [",
    "time: 1e308",
    "time: -1",
    "time: NaN",
    "time: .inf",
    "time: 4294967296",
    "time: 0x10",
    "from: Debian",
    "from: docker.io/debian",
    "from: ''",
    "from: a//b",
    "steps: []",
    "steps: [x, x]",
    "finally: [{run: a}]",
    "copy: {src: [a, b], dest: /x}",
    "copy: {src: [], dest: ''}",
    "env: {A: }",
    "env: [A]",
    "workdir: ''",
    "user: 0",
    "version: 2",
    "default: nope",
    "targets: {}",
    "targets:\n  t: {}",
    "\u{0}",
    "\u{feff}",
    "é",
    "日本",
    "\u{202e}",
    "\r\n",
    "9223372036854775807",
    "-0",
    "1e-400",
    "~",
    "null",
    "replicas: 4294967296",
    "memory: 1e3MB",
    "cpu: 0",
    "max_per_host: 18446744073709551615",
    "memory: -1GiB",
    "cpu: NaN",
    "spread_zones: true",
    "current: {}",
    "zone: ",
];

/// Numbers swapped in for numbers.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "NaN",
    "inf",
    "4294967296",
    "18446744073709551616",
    "9223372036854775807",
    "0.0000001",
    "1e-320",
    "999999999999999999999",
    "3.5",
    "",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    for _ in 0..1 + rng.below(4) {
        let n = lines.len().max(1);
        let i = rng.below(n).min(lines.len().saturating_sub(1));
        match rng.below(9) {
            0 if lines.len() > 1 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = rng.below(n).min(lines.len() - 1);
                lines.swap(i, j);
            }
            3 => {
                let at = rng.below(lines[i].len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|&k| lines[i].is_char_boundary(k))
                    .unwrap_or(0);
                let f = rng.pick(FRAGMENTS);
                lines[i].insert_str(at, f);
            }
            4 => {
                // Replace the first number in the line.
                let l = &lines[i];
                if let Some(start) = l.find(|c: char| c.is_ascii_digit()) {
                    let end = l[start..]
                        .find(|c: char| !c.is_ascii_digit() && c != '.')
                        .map_or(l.len(), |e| start + e);
                    let num = rng.pick(NUMBERS);
                    lines[i] = format!("{}{num}{}", &l[..start], &l[end..]);
                }
            }
            5 => {
                // Replace one character with a random ASCII one.
                let chars: Vec<char> = lines[i].chars().collect();
                if !chars.is_empty() {
                    let k = rng.below(chars.len());
                    let c = char::from(b' ' + (rng.below(95) as u8));
                    lines[i] = chars
                        .iter()
                        .enumerate()
                        .map(|(j, &x)| if j == k { c } else { x })
                        .collect();
                }
            }
            6 => {
                let deep = rng.below(64) + 1;
                lines.insert(i, format!("x: {}{}", "[".repeat(deep), "]".repeat(deep)));
            }
            7 => {
                let indent = " ".repeat(rng.below(8));
                let l = lines[i].trim_start().to_owned();
                lines[i] = format!("{indent}{l}");
            }
            _ => {
                let keep = rng.below(lines.len() + 1);
                lines.truncate(keep.max(1));
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// A random small manifest built from scratch.
fn generated(rng: &mut Rng) -> String {
    let steps = 1 + rng.below(12);
    let mut out = String::from("version: 1\nargs: {SALT: ''}\ndefaults: {from: busybox}\nsteps:\n");
    for s in 0..steps {
        let after = if s > 0 && rng.below(3) == 0 {
            format!(", after: [s{}]", rng.below(s))
        } else {
            String::new()
        };
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!(
                "  s{s}: {{run: 'echo {s} ${{SALT}}', time: {}{after}}}\n",
                rng.below(100)
            ),
        );
    }
    out.push_str("targets:\n");
    for t in 0..1 + rng.below(8) {
        let picked: Vec<String> = (0..steps)
            .filter(|_| rng.below(2) == 0)
            .map(|s| format!("s{s}"))
            .collect();
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!("  t{t}: {{steps: [{}]}}\n", picked.join(", ")),
        );
    }
    out
}

/// The planner's limits for a fuzz case: small, so a million cases finish in minutes.
fn planner_options() -> dockopt_planner::Options {
    dockopt_planner::Options {
        effort: 1e5,
        memory: 8 << 20,
        ..dockopt_planner::Options::default()
    }
}

/// One manifest through the whole pure pipeline: parse, plan (with a lock and times when they
/// parse), lock round trip, LLB.
fn manifest_case(text: &str, lock: Option<&str>, times: Option<&str>) {
    let args = BTreeMap::new();
    let options = planner_options();
    let Ok(planned) = dockopt_project::plan(&dockopt_project::Input {
        file: "fuzz.yaml",
        text,
        build_args: &args,
        lock,
        times,
        options,
    }) else {
        return;
    };
    let lock_text = planned.lock().render();
    let _ = dockopt_project::Lock::parse("fuzz.yaml.lock", &lock_text);
    let bases = planned
        .manifest
        .targets
        .iter()
        .map(|t| (t.base.clone(), dockopt_llb::BaseConfig::unresolved(&t.base)))
        .collect();
    if dockopt_llb::build(
        &planned.manifest,
        &planned.plan,
        &bases,
        &dockopt_llb::BuildOptions::default(),
    )
    .is_ok()
    {
        DEEP[0].fetch_add(1, Ordering::Relaxed);
    }
}

fn cluster_case(text: &str) {
    if let Ok(file) = dockopt_placement::cluster_file::parse("fuzz.yaml", text) {
        let containers: usize = file.cluster.pools.iter().map(|p| p.replicas).sum();
        if containers <= 2_000 {
            let options = dockopt_placement::Options {
                effort: 2_000.0,
                ..dockopt_placement::Options::default()
            };
            let _ = dockopt_placement::solve(&file.cluster, &options);
            DEEP[1].fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn stats_case(rng: &mut Rng) -> String {
    let num = |rng: &mut Rng| rng.pick(NUMBERS).to_owned();
    let line = format!(
        "{{\"Name\":\"web-{}\",\"CPUPerc\":\"{}%\",\"MemUsage\":\"{}MiB / {}GiB\",\"NetIO\":\"{}kB / {}MB\"}}",
        rng.below(5),
        num(rng),
        num(rng),
        num(rng),
        num(rng),
        num(rng)
    );
    let text = mutate(rng, &line);
    let _ = dockopt_placement::stats::parse_docker_stats(&text);
    let csv = format!(
        "container,cpu,memory\nweb-1,{},{}\nweb-2,{},{}\n",
        num(rng),
        num(rng),
        num(rng),
        num(rng)
    );
    let csv = mutate(rng, &csv);
    let _ = dockopt_placement::stats::parse_csv(&csv);
    text
}

/// Runs `cases` cases of each kind from `seed`; writes every panicking input under `out_dir`.
pub(crate) fn run(cases: u64, seed: u64, root: &Path, out_dir: &Path) -> Result<(), String> {
    let read = |p: &str| std::fs::read_to_string(root.join(p)).map_err(|e| format!("{p}: {e}"));
    let manifests = [
        read("examples/toolbox/variants.yaml")?,
        read("examples/python-matrix/variants.yaml")?,
        read("benchmarks/apt-toolbox/variants.yaml")?,
        read("integration-tests/fixtures/toolbox/variants.yaml")?,
        read("examples/stages/variants.yaml")?,
        read("integration-tests/fixtures/stages/variants.yaml")?,
    ];
    let clusters = [read("examples/placement/cluster.yaml")?];
    // Locks and times stores of the seeds, to mutate as well.
    let mut locks = Vec::new();
    for m in &manifests {
        let args = BTreeMap::new();
        if let Ok(p) = dockopt_project::plan(&dockopt_project::Input {
            file: "seed.yaml",
            text: m,
            build_args: &args,
            lock: None,
            times: None,
            options: dockopt_planner::Options::default(),
        }) {
            locks.push(p.lock().render());
        }
    }
    let times_seed = "{\n  \"dockopt-times\": 1,\n  \"steps\": {\n    \"0123456789abcdef\": {\"label\": \"update\", \"base\": \"b\", \"runs\": 2, \"seconds\": 12.5}\n  }\n}\n";

    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(seed);
    let (mut panics, mut counts) = (0u64, [0u64; 5]);
    let started = std::time::Instant::now();
    for i in 0..cases {
        let kind = (i % 5) as usize;
        counts[kind] += 1;
        let input: String;
        let outcome = match kind {
            0 => {
                input = if rng.below(4) == 0 {
                    let fresh = generated(&mut rng);
                    mutate(&mut rng, &fresh)
                } else {
                    let seed_text = &manifests[rng.below(manifests.len())];
                    mutate(&mut rng, seed_text)
                };
                catch_unwind(AssertUnwindSafe(|| manifest_case(&input, None, None)))
            }
            1 => {
                // A valid manifest with a mutated lock or times store.
                let k = rng.below(manifests.len().min(locks.len()));
                let lock = mutate(&mut rng, &locks[k]);
                let times = mutate(&mut rng, times_seed);
                input = format!("{lock}\n---times---\n{times}");
                let m = &manifests[k];
                catch_unwind(AssertUnwindSafe(|| {
                    manifest_case(m, Some(&lock), Some(&times));
                }))
            }
            2 => {
                input = mutate(&mut rng, &clusters[0]);
                catch_unwind(AssertUnwindSafe(|| cluster_case(&input)))
            }
            3 => {
                let vars = options::generate(&mut rng);
                input = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                catch_unwind(AssertUnwindSafe(|| {
                    if options::case(vars) {
                        DEEP[2].fetch_add(1, Ordering::Relaxed);
                    }
                }))
            }
            _ => {
                let mut rng2 = Rng(rng.next());
                let r = catch_unwind(AssertUnwindSafe(|| stats_case(&mut rng2)));
                input = format!("stats case with seed state {}", rng2.0);
                r.map(|_| ())
            }
        };
        if outcome.is_err() {
            panics += 1;
            std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
            let path = out_dir.join(format!("fuzz-panic-{i}.txt"));
            std::fs::write(&path, &input).map_err(|e| e.to_string())?;
            eprintln!(
                "case {i} (kind {kind}) panicked; input in {}",
                path.display()
            );
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!(
                "{} cases, {panics} panics, {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "fuzz: {cases} cases (manifests {}, locks+times {}, cluster files {}, frontend option sets {}, stats {}), seed {seed}, {panics} panics, {:.0} s; {} manifests planned and emitted as LLB, {} cluster files placed, {} option sets built to LLB and an image config",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        started.elapsed().as_secs_f64(),
        DEEP[0].load(Ordering::Relaxed),
        DEEP[1].load(Ordering::Relaxed),
        DEEP[2].load(Ordering::Relaxed)
    );
    if panics > 0 {
        return Err(format!("{panics} panics"));
    }
    Ok(())
}

//! `dockopt place` on the example cluster: table, JSON, renderings, failover, bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cluster() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/placement/cluster.yaml")
}

fn place(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .arg("place")
        .arg(cluster())
        .args(args)
        .output()
        .expect("runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = place(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn every_container_is_placed_within_capacity_with_a_bound() {
    let plan = json(&[]);
    assert_eq!(plan["unplaced"], 0);
    let value = plan["value"].as_f64().expect("value");
    let bound = plan["lower_bound"].as_f64().expect("bound");
    assert!(bound > 0.0 && bound <= value, "{bound} ≤ {value}");
    let hosts = plan["hosts"].as_object().expect("hosts");
    let mut placed = 0;
    for (name, h) in hosts {
        for r in ["memory", "cpu", "network"] {
            assert!(
                h[r]["used"].as_f64() <= h[r]["capacity"].as_f64(),
                "{name} {r}"
            );
        }
        placed += h["pools"]
            .as_object()
            .expect("pools")
            .values()
            .map(|n| n.as_u64().expect("count"))
            .sum::<u64>();
        // max_per_host: 1 for db and cache.
        assert!(
            h["pools"]
                .get("db")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
                <= 1
        );
    }
    assert_eq!(placed, 4 + 4 + 5 + 2 + 2 + 1);
    assert_eq!(json(&[]), plan, "deterministic");
}

#[test]
fn failover_moves_only_the_failed_hosts_containers() {
    let plan = json(&["--failover", "node-b2"]);
    assert_eq!(plan["unplaced"], 0);
    assert_eq!(
        plan["hosts"]["node-b2"]["pools"]
            .as_object()
            .map(serde_json::Map::len),
        Some(0)
    );
    let moves = plan["moves"].as_array().expect("moves");
    let from_b2 = moves.iter().filter(|m| m["from"] == "node-b2").count();
    // node-b2 ran web, api, 3 workers and db: six containers must move, and at most 1.2× that do.
    assert_eq!(from_b2, 6);
    assert!(moves.len() as f64 <= 1.2 * 6.0, "{} moves", moves.len());
}

#[test]
fn renderings_for_swarm_and_kubernetes() {
    let swarm = String::from_utf8(place(&["--format", "swarm"]).stdout).expect("utf-8");
    assert!(
        swarm.contains("docker node update --label-add dockopt.db=true"),
        "{swarm}"
    );
    assert!(swarm.contains("--replicas-max-per-node 1 db"), "{swarm}");
    let k8s = String::from_utf8(place(&["--format", "k8s"]).stdout).expect("utf-8");
    assert!(k8s.contains("key: kubernetes.io/hostname"), "{k8s}");
    assert_eq!(k8s.matches("nodeAffinity").count(), 6);
}

#[test]
fn capacity_planning_and_short_capacity() {
    let plan = json(&["--objective", "fewest-hosts"]);
    let hosts = plan["value"].as_f64().expect("value");
    assert!(hosts <= plan["lower_bound"].as_f64().expect("bound") + 1.0);
    // With a CPU limit of 20 % the cluster is short of CPU, and says by how much.
    let out = place(&["--objective", "feasible", "--cpu-limit", "0.2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cpu: the pools need 16.00 cores, the 4 hosts that are up offer 8.00 cores: short by 8.00 cores"), "{err}");
}

#[test]
fn bad_cluster_files_name_the_place() {
    let dir = std::env::temp_dir().join(format!("dockopt-place-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let f = dir.join("c.yaml");
    std::fs::write(&f, "version: 1\npools:\n  web: {replicas: 2, memroy: 1GiB, cpu: 1, network: 1MB}\nhosts:\n  a: {memory: 4GiB, cpu: 2, network: 1GB}\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .arg("place")
        .arg(&f)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key `memroy`"), "{err}");
    assert!(err.contains(&format!("{}:3:22", f.display())), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Moves from the current placement, per pool: (from, to) host names.
fn moves_of(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["moves"]
        .as_array()
        .expect("moves")
        .iter()
        .map(|m| {
            (
                m["from"].as_str().unwrap_or("(unplaced)").to_owned(),
                m["to"].as_str().expect("to").to_owned(),
            )
        })
        .collect()
}

/// Containers per (host, pool) of a JSON plan minus those of the file's `current:`.
fn changed_containers(plan: &serde_json::Value) -> u64 {
    let current: [(&str, &[&str]); 6] = [
        ("web", &["node-a1", "node-a2", "node-b1", "node-b2"]),
        ("api", &["node-a1", "node-a2", "node-b1", "node-b2"]),
        (
            "worker",
            &["node-a2", "node-a2", "node-b2", "node-b2", "node-b2"],
        ),
        ("cache", &["node-a1", "node-b1"]),
        ("db", &["node-a2", "node-b2"]),
        ("metrics", &["node-b1"]),
    ];
    let mut changed = 0;
    for (pool, hosts) in current {
        for (name, h) in plan["hosts"].as_object().expect("hosts") {
            let now = h["pools"][pool].as_u64().unwrap_or(0);
            let before = hosts.iter().filter(|x| **x == name).count() as u64;
            changed += now.saturating_sub(before);
        }
    }
    changed
}

#[test]
fn prove_reports_the_moves_from_the_current_placement() {
    for args in [&["--prove"][..], &["--prove", "--failover", "node-a1"][..]] {
        let plan = json(args);
        let moves = moves_of(&plan);
        // Every container that now runs on a host it did not run on is one move, and the
        // moves never exceed what the counts force (containers stay where their host keeps them).
        assert_eq!(
            moves.len() as u64,
            changed_containers(&plan),
            "{args:?}: {moves:?}"
        );
        assert!(!moves.is_empty(), "{args:?}");
        if args.len() > 1 {
            assert_eq!(
                moves.iter().filter(|(from, _)| from == "node-a1").count(),
                3,
                "node-a1 ran web, api and cache: {moves:?}"
            );
        }
        let text = String::from_utf8(place(args).stdout).expect("utf-8");
        assert!(text.contains(&format!("moves: {} ", moves.len())), "{text}");
    }
}

#[test]
fn json_numbers_are_rounded_and_bounds_never_pass_the_value() {
    let out = place(&["--format", "json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("0000000"), "{text}");
    assert!(!text.contains("9999999"), "{text}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(plan["hosts"]["node-a1"]["cpu"]["used"].as_f64(), Some(3.9));
    assert!(plan["lower_bound"].as_f64() <= plan["value"].as_f64());
    // Short of CPU: no value (infeasible as planned), never a bound above a value or a
    // negative gap.
    let out = place(&["--cpu-limit", "0.2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("infeasible as planned"), "{err}");
    assert!(!err.contains("gap -"), "{err}");
    let out = place(&["--cpu-limit", "0.2", "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let doc = err.split("error:").next().expect("the plan");
    let plan: serde_json::Value = serde_json::from_str(doc).expect("JSON");
    assert_eq!(plan["value"], serde_json::Value::Null);
    assert_eq!(plan["infeasible"], true);
}

#[test]
fn bad_numbers_on_the_command_line_are_refused() {
    for (flag, value) in [
        ("--cpu-limit", "NaN"),
        ("--cpu-limit", "0"),
        ("--cpu-limit", "-0.5"),
        ("--effort", "-1"),
        ("--effort", "inf"),
        ("--k", "NaN"),
        ("--k", "-1"),
        ("--interval", "0"),
        ("--interval", "nan"),
    ] {
        let out = place(&[flag, value]);
        assert_eq!(out.status.code(), Some(1), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}

#[test]
fn engine_flags_need_from_engine() {
    for flag in ["--apply", "--dry-run", "--watch"] {
        let out = place(&[flag]);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs --from-engine"), "{flag}: {err}");
    }
    let out = place(&["--interval", "1h"]);
    assert!(out.status.success(), "a duration with a unit");
    let out = place(&["--interval", "5x"]);
    assert_eq!(out.status.code(), Some(1));
}

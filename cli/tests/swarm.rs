//! `dockopt place --from-engine --apply/--dry-run/--watch` on a real Docker Swarm of three
//! docker-in-docker nodes. Needs `eval "$(scripts/swarm-up)"` first (hence ignored by default;
//! `.ci/run` starts the Swarm, runs these with `--run-ignored only`, and tears it down).

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run eval \"$(scripts/swarm-up)\""))
}

fn nodes() -> Vec<String> {
    env("DOCKOPT_SWARM_NODES")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `docker ARGS` against the manager.
fn docker(args: &[&str]) -> String {
    let out = Command::new("/usr/bin/docker")
        .env("DOCKER_HOST", env("DOCKOPT_SWARM_MANAGER"))
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dockopt place --from-engine` with every node's engine sampled.
fn place(args: &[&str]) -> Output {
    let dir = env("DOCKOPT_SWARM_DIR");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockopt"));
    cmd.env("DOCKER_HOST", env("DOCKOPT_SWARM_MANAGER"))
        .env("DOCKOPT_DOCKER", "/usr/bin/docker")
        .args([
            "place",
            "--from-engine",
            "--samples",
            "1",
            "--apply-timeout",
            "120s",
        ]);
    for n in &nodes()[1..] {
        cmd.arg("--stats-host")
            .arg(format!("unix://{dir}/{n}/docker.sock"));
    }
    cmd.args(args).output().expect("dockopt runs")
}

fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Running tasks per (service, node).
fn tasks(services: &[String]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for s in services {
        for line in docker(&[
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}}\t{{.CurrentState}}",
            s,
        ])
        .lines()
        {
            let (node, state) = line.split_once('\t').expect("two fields");
            if state.starts_with("Running") {
                *out.entry((s.clone(), node.to_owned())).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Waits until every service runs all its replicas (none pending).
fn settle(services: &[(String, usize)]) {
    let names: Vec<String> = services.iter().map(|(s, _)| s.clone()).collect();
    let started = Instant::now();
    loop {
        let t = tasks(&names);
        let all = services.iter().all(|(s, n)| {
            t.iter()
                .filter(|((svc, _), _)| svc == s)
                .map(|(_, c)| c)
                .sum::<usize>()
                == *n
        });
        if all {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "services did not settle: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Removes the test's services and labels and makes every node active again, pass or fail.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let run = |args: &[&str]| {
            let _ = Command::new("/usr/bin/docker")
                .env("DOCKER_HOST", env("DOCKOPT_SWARM_MANAGER"))
                .args(args)
                .output();
        };
        for s in &self.0 {
            run(&["service", "rm", s]);
            for n in nodes() {
                run(&["node", "update", "--label-rm", &format!("dockopt.{s}"), &n]);
            }
        }
        for n in nodes() {
            run(&["node", "update", "--availability", "active", &n]);
        }
    }
}

#[test]
#[ignore = "needs a Swarm: eval \"$(scripts/swarm-up)\""]
fn apply_moves_real_tasks_and_a_second_run_is_a_no_op() {
    let nodes = nodes();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let salt = std::process::id();
    let spec = [("web", 3, "0.2"), ("api", 2, "0.3"), ("worker", 2, "0.4")];
    let services: Vec<(String, usize)> = spec
        .iter()
        .map(|(s, n, _)| (format!("{s}-{salt}"), *n))
        .collect();
    let names: Vec<String> = services.iter().map(|(s, _)| s.clone()).collect();
    let _cleanup = Cleanup(names.clone());
    for ((name, n), (_, _, cpu)) in services.iter().zip(spec) {
        let _ = docker(&[
            "service",
            "create",
            "-q",
            "--detach",
            "--no-resolve-image",
            "--stop-grace-period",
            "1s",
            "--name",
            name,
            "--replicas",
            &n.to_string(),
            "--reserve-cpu",
            cpu,
            "--reserve-memory",
            "16M",
            "dockopt-test/busybox:latest",
            "sleep",
            "100000",
        ]);
    }
    settle(&services);
    // Failover by Swarm: the third node drained, its tasks go to the other two; then it comes
    // back, empty, and the web service runs two of its three replicas on one node.
    let third = nodes[2].as_str();
    let _ = docker(&["node", "update", "--availability", "drain", third]);
    settle(&services);
    assert!(tasks(&names).keys().all(|(_, n)| n != third));
    let _ = docker(&["node", "update", "--availability", "active", third]);

    // --dry-run: the exact commands, and nothing moves.
    let before = tasks(&names);
    let (dry, _) = ok(&place(&["--dry-run"]));
    let web = &names[0];
    assert!(
        dry.contains(&format!(
            "/usr/bin/docker node update --label-add dockopt.{web}=true {third}"
        )),
        "{dry}"
    );
    assert!(
        dry.contains(&format!(
            "service update --detach --no-resolve-image --constraint-add node.labels.dockopt.{web}==true --replicas-max-per-node 1 --force {web}"
        )),
        "{dry}"
    );
    assert_eq!(tasks(&names), before, "--dry-run runs nothing");

    // --apply: real tasks move, and every task runs where the plan says.
    let (plan, log) = ok(&place(&["--apply", "--format", "json"]));
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("JSON");
    assert!(
        !plan["moves"].as_array().expect("moves").is_empty(),
        "{plan}"
    );
    assert!(log.contains("every task runs where the plan says"), "{log}");
    let now = tasks(&names);
    assert_ne!(now, before, "tasks moved");
    for n in &nodes {
        for s in &names {
            let planned = plan["hosts"][n]["pools"][s].as_u64().unwrap_or(0) as usize;
            assert_eq!(
                now.get(&(s.clone(), n.clone())).copied().unwrap_or(0),
                planned,
                "{s} on {n}: {now:?}"
            );
        }
        assert_eq!(now.get(&(web.clone(), n.clone())), Some(&1), "{now:?}");
    }

    // A second run from the new state is a no-op.
    let (again, log) = ok(&place(&["--apply", "--format", "json"]));
    let again: serde_json::Value = serde_json::from_str(&again).expect("JSON");
    assert_eq!(again["moves"], serde_json::json!([]), "{log}");
    assert!(log.contains("nothing to move"), "{log}");
    assert_eq!(tasks(&names), now);

    // --watch: the third node drained again; the first round follows (web may now run two per
    // node), the second has nothing to do.
    let _ = docker(&["node", "update", "--availability", "drain", third]);
    // Swarm reschedules what it can: one web task stays pending (one per node, two nodes left).
    let mut left = services.clone();
    left[0].1 = 2;
    settle(&left);
    let (summary, log) = ok(&place(&["--watch", "--rounds", "2", "--interval", "1s"]));
    assert!(
        summary.contains("2 rounds") && summary.contains("0 failed"),
        "{summary}"
    );
    assert!(log.contains("watch: round 1"), "{log}");
    assert!(
        log.contains("watch: round 2")
            && log
                .lines()
                .last()
                .is_some_and(|l| l.contains("nothing to move")),
        "{log}"
    );
    let after = tasks(&names);
    assert!(after.keys().all(|(_, n)| n != third), "{after:?}");
    for (s, n) in &services {
        let total: usize = after
            .iter()
            .filter(|((svc, _), _)| svc == s)
            .map(|(_, c)| c)
            .sum();
        assert_eq!(total, *n, "{s}: {after:?}");
    }
}

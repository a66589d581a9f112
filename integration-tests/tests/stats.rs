//! Usage history from a real engine: `docker stats` of running containers, read by the
//! placement planner.

use dockopt_integration_tests::{BUSYBOX, engine_ready, ok, run, salt};

/// Removes the containers when the test ends, pass or fail.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = run(&["rm", "-f", name]);
        }
    }
}

#[test]
fn docker_stats_of_running_containers_become_pool_usage() {
    engine_ready();
    let salt = salt("stats").replace('_', "-");
    let names: Vec<String> = (1..=2)
        .map(|i| format!("dockopt-it-{salt}-web-{i}"))
        .collect();
    let _guard = Containers(names.clone());
    for name in &names {
        let _ = ok(&["run", "-d", "--name", name, BUSYBOX, "sleep", "120"]);
    }
    let mut text = String::new();
    for _ in 0..2 {
        let mut args = vec!["stats", "--no-stream", "--format", "{{json .}}"];
        args.extend(names.iter().map(String::as_str));
        text.push_str(&ok(&args));
    }
    let samples =
        dockopt_placement::stats::parse_docker_stats(&text).expect("docker's own lines parse");
    assert_eq!(samples.len(), 4, "{text}");
    for s in &samples {
        assert!(names.contains(&s.container), "{}", s.container);
        assert!(
            s.memory > 0.0 && s.memory < 1e9,
            "a sleeping busybox uses some memory: {}",
            s.memory
        );
        assert!(s.cpu >= 0.0 && s.cpu < 2.0);
    }
    let pools = vec!["web".to_owned(), "db".to_owned()];
    let (usage, unknown) = dockopt_placement::stats::usage(&samples, &pools, 1.0, 60.0);
    assert!(unknown.is_empty(), "{unknown:?}");
    assert_eq!(usage.keys().collect::<Vec<_>>(), ["web"]);
    let mean: f64 = samples.iter().map(|s| s.memory).sum::<f64>() / 4.0;
    assert!(
        usage["web"][0] >= mean,
        "mean + k·stddev is at least the mean"
    );
}

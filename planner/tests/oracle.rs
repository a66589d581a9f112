//! The planner against slow oracles: brute force over every order, and O'Neil's known optima.

use dockopt_planner::{Method, Options, Problem, Target, solve};
use proptest::prelude::*;

/// Every order of `steps` that keeps each `after` pair, in lexicographic order.
fn valid_orders(steps: &[usize], after: &[(usize, usize)]) -> Vec<Vec<usize>> {
    fn rec(
        rest: &mut Vec<usize>,
        acc: &mut Vec<usize>,
        after: &[(usize, usize)],
        out: &mut Vec<Vec<usize>>,
    ) {
        if rest.is_empty() {
            out.push(acc.clone());
            return;
        }
        for i in 0..rest.len() {
            let s = rest[i];
            // s may go next unless some step still waiting must precede it (directly or through others;
            // the pairs generated here are already closed enough: a < b always, checked transitively below).
            if rest.iter().any(|&r| r != s && precedes(r, s, after)) {
                continue;
            }
            rest.remove(i);
            acc.push(s);
            rec(rest, acc, after, out);
            acc.pop();
            rest.insert(i, s);
        }
    }
    let mut out = Vec::new();
    rec(&mut steps.to_vec(), &mut Vec::new(), after, &mut out);
    out
}

/// Whether `a` must run before `b` through a chain of pairs.
fn precedes(a: usize, b: usize, after: &[(usize, usize)]) -> bool {
    let mut frontier = vec![a];
    let mut seen = vec![a];
    while let Some(x) = frontier.pop() {
        for &(p, q) in after {
            if p == x {
                if q == b {
                    return true;
                }
                if !seen.contains(&q) {
                    seen.push(q);
                    frontier.push(q);
                }
            }
        }
    }
    false
}

fn trie_cost(problem: &Problem, orders: &[Vec<usize>]) -> f64 {
    let mut seen = std::collections::BTreeSet::new();
    let mut cost = 0.0;
    for (t, order) in problem.targets.iter().zip(orders) {
        for end in 1..=order.len() {
            if seen.insert((t.base.clone(), order[..end].to_vec())) {
                cost += problem.costs[order[end - 1]];
            }
        }
    }
    cost
}

fn brute_force(problem: &Problem) -> f64 {
    let choices: Vec<Vec<Vec<usize>>> = problem
        .targets
        .iter()
        .map(|t| {
            valid_orders(&t.steps, &problem.after)
                .into_iter()
                .map(|o| o.into_iter().chain(t.tail.iter().copied()).collect())
                .collect()
        })
        .collect();
    let mut best = f64::INFINITY;
    let mut pick = vec![0usize; choices.len()];
    loop {
        let orders: Vec<Vec<usize>> = pick
            .iter()
            .zip(&choices)
            .map(|(&i, c)| c[i].clone())
            .collect();
        best = best.min(trie_cost(problem, &orders));
        let mut k = 0;
        while k < pick.len() {
            pick[k] += 1;
            if pick[k] < choices[k].len() {
                break;
            }
            pick[k] = 0;
            k += 1;
        }
        if k == pick.len() {
            return best;
        }
    }
}

/// Small problems: ≤ 4 targets of ≤ 4 reorderable steps out of 6, two bases, tails from their own ids.
fn small_problem() -> impl Strategy<Value = Problem> {
    let costs = proptest::collection::vec(1u32..20, 8);
    let targets = proptest::collection::vec(
        (
            0usize..2,
            proptest::sample::subsequence((0..6).collect::<Vec<_>>(), 0..=4),
            proptest::option::of(6usize..8),
        ),
        1..=4,
    );
    let after = proptest::collection::vec((0usize..6, 0usize..6), 0..4);
    (costs, targets, after).prop_map(|(costs, targets, after)| Problem {
        costs: costs.into_iter().map(f64::from).collect(),
        targets: targets
            .into_iter()
            .map(|(base, steps, tail)| Target {
                base: format!("b{base}"),
                steps,
                tail: tail.into_iter().collect(),
            })
            .collect(),
        // a < b keeps the relation acyclic.
        after: after.into_iter().filter(|(a, b)| a < b).collect(),
    })
}

fn assert_valid(problem: &Problem, orders: &[Vec<usize>]) {
    for (t, order) in problem.targets.iter().zip(orders) {
        let mut expected: Vec<usize> = t.steps.iter().chain(&t.tail).copied().collect();
        let mut got = order.clone();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected, "not a permutation");
        assert_eq!(
            &order[order.len() - t.tail.len()..],
            &t.tail[..],
            "tail moved"
        );
        for (i, &a) in order.iter().enumerate() {
            for &b in &order[..i] {
                assert!(
                    !(t.steps.contains(&a)
                        && t.steps.contains(&b)
                        && precedes(a, b, &problem.after)),
                    "{a} must run before {b}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn exact_equals_brute_force(problem in small_problem()) {
        let plan = solve(&problem, &Options { method: Method::Exact, ..Options::default() }).expect("plans");
        assert_valid(&problem, &plan.orders);
        let best = brute_force(&problem);
        prop_assert!((plan.cost - best).abs() < 1e-9, "exact {} vs brute force {}", plan.cost, best);
        prop_assert!(plan.optimal);
        prop_assert!(plan.lower_bound <= plan.cost + 1e-9);
    }

    #[test]
    fn greedy_is_valid_and_never_below_the_optimum(problem in small_problem()) {
        let greedy = solve(&problem, &Options { method: Method::Greedy, ..Options::default() }).expect("plans");
        assert_valid(&problem, &greedy.orders);
        let exact = solve(&problem, &Options { method: Method::Exact, ..Options::default() }).expect("plans");
        prop_assert!(greedy.cost + 1e-9 >= exact.cost);
        prop_assert!(greedy.lower_bound <= exact.cost + 1e-9);
        let auto = solve(&problem, &Options::default()).expect("plans");
        prop_assert!(auto.cost <= greedy.cost + 1e-9);
        let heuristic = solve(&problem, &Options { method: Method::Heuristic, ..Options::default() }).expect("plans");
        assert_valid(&problem, &heuristic.orders);
        prop_assert!(heuristic.cost + 1e-9 >= exact.cost);
        prop_assert!(heuristic.cost <= greedy.cost + 1e-9, "the heuristic keeps the better of itself and greedy");
        // With no budget for the exact method, auto falls back to the heuristic: still ≤ greedy.
        let starved = solve(&problem, &Options { method: Method::Auto, effort: 0.0, ..Options::default() }).expect("plans");
        assert_valid(&problem, &starved.orders);
        prop_assert!(starved.cost <= greedy.cost + 1e-9);
    }

    #[test]
    fn same_problem_same_plan(problem in small_problem()) {
        let a = solve(&problem, &Options::default()).expect("plans");
        let b = solve(&problem.clone(), &Options::default()).expect("plans");
        prop_assert_eq!(a, b);
    }
}

/// `../shared/data/oneil` next to the checkout (`DOCKOPT_SHARED` overrides; a git worktree one
/// level deeper finds it one level up).
fn oneil_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("DOCKOPT_SHARED") {
        return std::path::PathBuf::from(dir).join("data/oneil");
    }
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../../shared", "../../../shared"]
        .iter()
        .map(|up| here.join(up).join("data/oneil"))
        .find(|d| d.join("README.md").exists())
        .unwrap_or_else(|| here.join("../../shared/data/oneil"))
}

/// O'Neil's instances with n ≤ 20 and their optima, as `../shared/data/oneil/README.md` lists them.
fn oneil() -> Vec<(String, Problem, f64)> {
    let dir = oneil_dir();
    let readme = std::fs::read_to_string(dir.join("README.md"))
        .expect("../shared/data/oneil/README.md must exist");
    let mut out = Vec::new();
    for line in readme.lines().filter(|l| l.starts_with("| 0")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (name, optimum) = (cells[1], cells[3]);
        let Ok(optimum) = optimum.parse::<f64>() else {
            continue;
        };
        out.push((name.to_owned(), oneil_problem(&dir, name), optimum));
    }
    out
}

/// Larger random problems (up to 12 targets, 10 steps, constraints) where brute force is out of
/// reach: the heuristic against the exact DP.
fn medium_problem() -> impl Strategy<Value = Problem> {
    let costs = proptest::collection::vec(1u32..50, 10);
    let targets = proptest::collection::vec(
        proptest::sample::subsequence((0..10).collect::<Vec<_>>(), 1..=7),
        2..=12,
    );
    let after = proptest::collection::vec((0usize..10, 0usize..10), 0..6);
    (costs, targets, after).prop_map(|(costs, targets, after)| Problem {
        costs: costs.into_iter().map(f64::from).collect(),
        targets: targets
            .into_iter()
            .map(|steps| Target {
                base: "b".into(),
                steps,
                tail: Vec::new(),
            })
            .collect(),
        after: after.into_iter().filter(|(a, b)| a < b).collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn kept_orders_never_move_and_every_order_stays_valid(problem in medium_problem(), drop in 0usize..8) {
        // Plan all but one target, keep those orders, add the last one back.
        let n = problem.targets.len();
        let left_out = drop % n;
        let mut fewer = problem.clone();
        fewer.targets.remove(left_out);
        let first = solve(&fewer, &Options::default()).expect("plans");
        let mut kept: Vec<Option<Vec<usize>>> = first.orders.iter().cloned().map(Some).collect();
        kept.insert(left_out, None);
        let e = dockopt_planner::solve_keeping(&problem, &kept, &Options::default()).expect("plans");
        assert_valid(&problem, &e.plan.orders);
        prop_assert_eq!(e.new.clone(), vec![left_out]);
        for (t, k) in kept.iter().enumerate() {
            if let Some(order) = k {
                prop_assert_eq!(&e.plan.orders[t], order);
            }
        }
        // Adding a target costs at most its own steps on top of the kept plan.
        let own: f64 = problem.targets[left_out].steps.iter().chain(&problem.targets[left_out].tail).map(|&s| problem.costs[s]).sum();
        prop_assert!(e.plan.cost <= first.cost + own + 1e-9);
        prop_assert!(e.plan.lower_bound <= e.plan.cost + 1e-9);
    }

    #[test]
    fn heuristic_is_valid_and_bounded_by_the_exact_method(problem in medium_problem()) {
        let exact = solve(&problem, &Options { method: Method::Exact, ..Options::default() }).expect("plans");
        let heuristic = solve(&problem, &Options { method: Method::Heuristic, ..Options::default() }).expect("plans");
        assert_valid(&problem, &exact.orders);
        assert_valid(&problem, &heuristic.orders);
        prop_assert!(heuristic.cost + 1e-9 >= exact.cost);
        prop_assert!(heuristic.lower_bound <= exact.cost + 1e-9);
        if problem.targets.len() <= 8 {
            let seed = solve(&problem, &Options { method: Method::CliqueMip, ..Options::default() }).expect("plans");
            assert_valid(&problem, &seed.orders);
            prop_assert!(seed.cost + 1e-9 >= exact.cost);
        }
        // A plan may call itself optimal only when it is.
        prop_assert!(exact.optimal);
        prop_assert!(!heuristic.optimal || (heuristic.cost - exact.cost).abs() < 1e-9);
    }
}

/// One O'Neil instance as a problem: targets sorted by name, steps by command id.
fn oneil_problem(dir: &std::path::Path, name: &str) -> Problem {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("instance file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("instance JSON");
    let mut ids: Vec<String> = json["times"]
        .as_object()
        .expect("times")
        .keys()
        .cloned()
        .collect();
    ids.sort();
    let costs = ids
        .iter()
        .map(|k| json["times"][k].as_f64().expect("time"))
        .collect();
    let mut names: Vec<&String> = json["targets"]
        .as_object()
        .expect("targets")
        .keys()
        .collect();
    names.sort();
    let targets = names
        .into_iter()
        .map(|n| Target {
            base: json["targets"][n]["base"]
                .as_str()
                .expect("base")
                .to_owned(),
            steps: json["targets"][n]["commands"]
                .as_array()
                .expect("commands")
                .iter()
                .map(|c| {
                    ids.binary_search(&c.as_str().expect("id").to_owned())
                        .expect("known")
                })
                .collect(),
            tail: Vec::new(),
        })
        .collect();
    Problem {
        costs,
        targets,
        after: Vec::new(),
    }
}

#[test]
fn oneil_optima_up_to_20_targets_are_reached() {
    let instances = oneil();
    assert_eq!(
        instances.len(),
        16,
        "the README lists 16 instances with known optima"
    );
    for (name, problem, optimum) in instances {
        let plan = solve(&problem, &Options::default()).expect("plans");
        assert_eq!(plan.cost, optimum, "{name}");
        assert!(plan.optimal, "{name}");
        let greedy = solve(
            &problem,
            &Options {
                method: Method::Greedy,
                ..Options::default()
            },
        )
        .expect("plans");
        assert!(greedy.cost >= optimum, "{name}");
    }
}

/// Issue 10: the n = 25 instances are proven within the default 128 MiB budget (no dense table:
/// set-partition branch and bound), at the optima the 384 MiB dense DP found.
#[test]
fn oneil_25_targets_are_proven_within_the_default_memory() {
    let dir = oneil_dir();
    for (name, optimum) in [
        ("025images-025cmds", 5521.0),
        ("025images-050cmds", 16569.0),
        ("025images-075cmds", 32325.0),
        ("025images-100cmds", 48179.0),
    ] {
        let plan = solve(&oneil_problem(&dir, name), &Options::default()).expect("plans");
        assert!(plan.optimal, "{name}");
        assert_eq!(plan.cost, optimum, "{name}");
        assert_eq!(plan.lower_bound, optimum, "{name}");
    }
}

/// The seed model's column of `../shared/data/oneil/README.md` (CBC's optimum of the same model).
fn seed_costs() -> Vec<(String, f64)> {
    let dir = oneil_dir();
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
    readme
        .lines()
        .filter(|l| l.starts_with("| 0"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let cost = cells.get(5)?.split_whitespace().next()?.parse().ok()?;
            Some((cells[1].to_owned(), cost))
        })
        .collect()
}

#[test]
fn the_seed_model_matches_its_python_reference() {
    let seed = seed_costs();
    let instances = oneil();
    let mut checked = 0;
    for (name, problem, optimum) in instances
        .iter()
        .filter(|(n, _, _)| n.starts_with("005") || n == "010images-025cmds")
    {
        let want = seed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .expect("listed");
        let plan = solve(
            problem,
            &Options {
                method: Method::CliqueMip,
                ..Options::default()
            },
        )
        .expect("plans");
        assert_eq!(plan.cost, want, "{name}");
        assert!(plan.cost >= *optimum);
        checked += 1;
    }
    assert_eq!(checked, 5);
}

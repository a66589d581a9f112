//! The placement as a mixed-integer program on pool counts, through good_lp (microlp backend).
//!
//! Containers of one pool are identical, so the model counts them: `n[p][h]` containers of pool p
//! on host h (0 ≤ n ≤ the pool's per-host limit), every pool fully placed, capacities and zone
//! spread kept. Its LP relaxation (n continuous) is the bound every answer prints when the
//! model is small enough; the integer model proves optima on small clusters.

use good_lp::{
    Expression, Solution, SolverModel, Variable, constraint, microlp, variable, variables,
};

use crate::model::{CPU, Cluster, MEM, NET, Objective, Options};

/// Largest model (pools × hosts that are up) the LP bound is computed for.
pub const LP_LIMIT: usize = 5_000;

/// Largest integer model (integer variables) `prove` starts. microlp's branch and bound has no
/// node or work limit, so a proof is only offered where it finishes in well under a second on
/// the shapes tested: the example cluster (24 variables) proves in milliseconds; 20 pools × 4
/// hosts (80) ran over 600 s on some instances.
pub const PROVE_LIMIT: usize = 32;

/// Integer variables of the model: one count per pool and host that is up, plus one per host
/// that is up when the objective counts hosts.
#[must_use]
pub fn integer_variables(cl: &Cluster, objective: Objective) -> usize {
    let up = cl.hosts.iter().filter(|h| !h.down).count();
    let open = if objective == Objective::FewestHosts {
        up
    } else {
        0
    };
    cl.pools.len().saturating_mul(up).saturating_add(open)
}

/// Per pool, per host: how many containers, from the integer model.
pub type Counts = Vec<Vec<usize>>;

struct Model {
    vars: good_lp::ProblemVariables,
    n: Vec<Vec<Option<Variable>>>,
    z: Variable,
    open: Vec<Option<Variable>>,
}

fn build(cl: &Cluster, objective: Objective, integer: bool) -> Model {
    let mut vars = variables!();
    let up: Vec<bool> = cl.hosts.iter().map(|h| !h.down).collect();
    let n = (0..cl.pools.len())
        .map(|p| {
            let max = cl.max_per_host(p) as f64;
            (0..cl.hosts.len())
                .map(|h| {
                    up[h].then(|| {
                        let v = variable().min(0.0).max(max);
                        vars.add(if integer { v.integer() } else { v })
                    })
                })
                .collect()
        })
        .collect();
    let z = vars.add(variable().min(0.0));
    let open = (0..cl.hosts.len())
        .map(|h| {
            (up[h] && objective == Objective::FewestHosts).then(|| {
                let v = variable().min(0.0).max(1.0);
                vars.add(if integer { v.integer() } else { v })
            })
        })
        .collect();
    Model { vars, n, z, open }
}

/// Solves the model: the objective value and, for the integer model, the counts.
fn solve_model(cl: &Cluster, options: &Options, integer: bool) -> Result<(f64, Counts), String> {
    let Model { vars, n, z, open } = build(cl, options.objective, integer);
    let objective: Expression = match options.objective {
        Objective::FewestHosts => open
            .iter()
            .flatten()
            .fold(Expression::from(0.0), |e, &v| e + v),
        Objective::Feasible => Expression::from(0.0),
        _ => Expression::from(z),
    };
    let mut model = vars.minimise(objective).using(microlp);
    let pools = cl.pools.len();
    for p in 0..pools {
        let placed = n[p]
            .iter()
            .flatten()
            .fold(Expression::from(0.0), |e, &v| e + v);
        model.add_constraint(constraint!(placed == cl.pools[p].replicas as f64));
    }
    let zones = cl.zones();
    for (h, host) in cl.hosts.iter().enumerate() {
        if host.down {
            continue;
        }
        let load = |r: usize| {
            (0..pools)
                .filter_map(|p| n[p][h].map(|v| cl.pools[p].usage[r] * v))
                .fold(Expression::from(0.0), |e, t| e + t)
        };
        let cap = host.capacity;
        model.add_constraint(constraint!(load(MEM) <= cap[MEM]));
        model.add_constraint(constraint!(load(NET) <= cap[NET]));
        if let Some(l) = options.cpu_limit {
            model.add_constraint(constraint!(load(CPU) <= cap[CPU] * l));
        }
        match options.objective {
            Objective::MaxCpu => {
                model.add_constraint(constraint!(load(CPU) <= cap[CPU] * z));
            }
            Objective::Balance => {
                for r in [MEM, CPU, NET] {
                    model.add_constraint(constraint!(load(r) <= cap[r] * z));
                }
            }
            Objective::FewestHosts => {
                if let Some(o) = open[h] {
                    for (p, row) in n.iter().enumerate() {
                        if let Some(v) = row[h] {
                            model.add_constraint(constraint!(v <= cl.max_per_host(p) as f64 * o));
                        }
                    }
                }
            }
            Objective::Feasible => {}
        }
    }
    for (p, pool) in cl.pools.iter().enumerate() {
        if pool.spread_zones && !zones.is_empty() {
            let zone_max = pool.replicas.div_ceil(zones.len()) as f64;
            for z in &zones {
                let in_zone = (0..cl.hosts.len())
                    .filter(|&h| cl.hosts[h].zone.as_ref() == Some(z))
                    .filter_map(|h| n[p][h])
                    .fold(Expression::from(0.0), |e, v| e + v);
                model.add_constraint(constraint!(in_zone <= zone_max));
            }
        }
    }
    let solution = model.solve().map_err(|e| format!("{e}"))?;
    let value = match options.objective {
        Objective::FewestHosts => open.iter().flatten().map(|&v| solution.value(v)).sum(),
        Objective::Feasible => 0.0,
        _ => solution.value(z),
    };
    let counts = n
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| v.map_or(0, |v| solution.value(v).round().max(0.0) as usize))
                .collect()
        })
        .collect();
    Ok((value, counts))
}

/// The LP relaxation's optimum, a lower bound; `None` when the model is over [`LP_LIMIT`] or
/// infeasible even fractionally.
#[must_use]
pub fn lp_bound(cl: &Cluster, options: &Options) -> Option<f64> {
    let size = cl.pools.len() * cl.hosts.iter().filter(|h| !h.down).count();
    if size > LP_LIMIT || options.objective == Objective::Feasible {
        return None;
    }
    let (v, _) = solve_model(cl, options, false).ok()?;
    // Fewest hosts is a whole number of hosts.
    Some(if options.objective == Objective::FewestHosts {
        (v - 1e-6).ceil()
    } else {
        v
    })
}

/// The integer model's optimum and its counts.
///
/// # Errors
/// The solver's message when the model is infeasible or fails.
pub fn optimum(cl: &Cluster, options: &Options) -> Result<(f64, Counts), String> {
    solve_model(cl, options, true)
}

//! Lower bounds (the fluid relaxation, and the LP's when the model is small) and the reasons
//! no placement can exist.

use crate::model::{CPU, Cluster, MEM, NET, Objective, Options, RESOURCE_NAMES};
use crate::units::show_bytes;

/// No placement beats this (a relaxation: loads spread like a fluid over the hosts that are up).
#[must_use]
pub fn lower_bound(cl: &Cluster, objective: Objective) -> f64 {
    let up: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    let demand = |r: usize| {
        cl.pools
            .iter()
            .map(|p| p.usage[r] * p.replicas as f64)
            .sum::<f64>()
    };
    let supply = |r: usize| up.iter().map(|&h| cl.hosts[h].capacity[r]).sum::<f64>();
    let largest = |r: usize| {
        up.iter()
            .map(|&h| cl.hosts[h].capacity[r])
            .fold(0.0, f64::max)
    };
    let single = |r: usize| {
        cl.pools
            .iter()
            .filter(|p| p.replicas > 0)
            .map(|p| p.usage[r])
            .fold(0.0, f64::max)
    };
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            a / b
        } else if a > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    let per = |r: usize| ratio(demand(r), supply(r)).max(ratio(single(r), largest(r)));
    match objective {
        Objective::MaxCpu => per(CPU),
        Objective::Balance => per(MEM).max(per(CPU)).max(per(NET)),
        Objective::Feasible => 0.0,
        Objective::FewestHosts => {
            // For each limited resource, the fewest of the largest hosts that hold the whole
            // demand; and each pool needs replicas ÷ max-per-host hosts. (CPU limits placement
            // only when a CPU limit is given; the callers scale for it.)
            let mut need = 0usize;
            for r in [MEM, NET] {
                let mut caps: Vec<f64> = up.iter().map(|&h| cl.hosts[h].capacity[r]).collect();
                caps.sort_by(|a, b| b.total_cmp(a));
                let total = demand(r);
                let mut acc = 0.0;
                let mut k = 0;
                while acc < total * (1.0 - 1e-12) && k < caps.len() {
                    acc += caps[k];
                    k += 1;
                }
                need = need.max(k);
            }
            for p in 0..cl.pools.len() {
                if cl.pools[p].replicas > 0 {
                    need = need.max(cl.pools[p].replicas.div_ceil(cl.max_per_host(p)));
                }
            }
            need as f64
        }
    }
}

/// The better of the fluid bound and the LP relaxation (when the model is small enough).
#[must_use]
pub fn bound(cl: &Cluster, options: &Options) -> f64 {
    let fluid = lower_bound(cl, options.objective);
    crate::mip::lp_bound(cl, options).map_or(fluid, |lp| lp.max(fluid))
}

/// Reasons no placement can exist, each naming the resource or rule and the shortfall.
#[must_use]
pub fn infeasibility(cl: &Cluster, cpu_limit: Option<f64>) -> Vec<String> {
    let mut out = Vec::new();
    let up: Vec<usize> = (0..cl.hosts.len()).filter(|&h| !cl.hosts[h].down).collect();
    if up.is_empty() {
        out.push("no host is up".into());
        return out;
    }
    let show = |r: usize, v: f64| {
        if r == CPU {
            format!("{v:.2} cores")
        } else if r == MEM {
            show_bytes(v)
        } else {
            format!("{}/s", show_bytes(v))
        }
    };
    let scale = |r: usize| {
        if r == CPU {
            cpu_limit.unwrap_or(1.0)
        } else {
            1.0
        }
    };
    let resources: Vec<usize> = if cpu_limit.is_some() {
        vec![MEM, CPU, NET]
    } else {
        vec![MEM, NET]
    };
    for &r in &resources {
        let demand: f64 = cl
            .pools
            .iter()
            .map(|p| p.usage[r] * p.replicas as f64)
            .sum();
        let supply: f64 = up.iter().map(|&h| cl.hosts[h].capacity[r] * scale(r)).sum();
        if demand > supply * (1.0 + 1e-9) {
            out.push(format!(
                "{}: the pools need {}, the {} hosts that are up offer {}: short by {}",
                RESOURCE_NAMES[r],
                show(r, demand),
                up.len(),
                show(r, supply),
                show(r, demand - supply)
            ));
        }
        for p in cl.pools.iter().filter(|p| p.replicas > 0) {
            let (best, host) = up
                .iter()
                .map(|&h| (cl.hosts[h].capacity[r] * scale(r), h))
                .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
            if p.usage[r] > best * (1.0 + 1e-9) {
                out.push(format!(
                    "pool {}: one container needs {} of {}; the largest host ({}) offers {}",
                    p.name,
                    show(r, p.usage[r]),
                    RESOURCE_NAMES[r],
                    cl.hosts[host].name,
                    show(r, best)
                ));
            }
        }
    }
    // Spread rules: how many replicas the hosts that are up may hold at all.
    let zones = cl.zones();
    for (k, p) in cl.pools.iter().enumerate() {
        let per_host = cl.max_per_host(k);
        let zone_max = if p.spread_zones && !zones.is_empty() {
            p.replicas.div_ceil(zones.len())
        } else {
            usize::MAX
        };
        let mut room = up
            .iter()
            .filter(|&&h| cl.hosts[h].zone.is_none())
            .count()
            .saturating_mul(per_host);
        for z in &zones {
            let in_zone = up
                .iter()
                .filter(|&&h| cl.hosts[h].zone.as_ref() == Some(z))
                .count();
            room = room.saturating_add(in_zone.saturating_mul(per_host).min(zone_max));
        }
        if p.replicas > room {
            let zone_rule = if zone_max == usize::MAX {
                String::new()
            } else {
                format!(", {zone_max} per zone")
            };
            out.push(format!(
                "pool {}: its spread rules (at most {per_host} per host{zone_rule}) allow {room} of its {} replicas on the {} hosts that are up",
                p.name,
                p.replicas,
                up.len()
            ));
        }
    }
    out
}

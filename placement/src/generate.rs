//! Generated clusters like the seed's and larger, from a seed: the benchmark's and the tests'
//! instances (no data set needed, the same cluster on every machine).

use std::collections::BTreeMap;

use crate::model::{Cluster, Host, Pool};

/// A small deterministic generator (xorshift64*), so every run builds the same clusters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    /// Lognormal with the given median and sigma (Box–Muller).
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        median * (sigma * z).exp()
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// How a generated cluster is shaped beyond its size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Host sizes vary 1×, 2×, 4×.
    pub uneven: bool,
    /// Heavy-tailed, correlated CPU and memory (shaped like the Alibaba 2018 container usage
    /// columns).
    pub alibaba: bool,
    /// Every pool has one replica per host and at most one per host.
    pub spread_binding: bool,
}

/// `pools` pools with 1–7 replicas on `hosts` hosts (64 GiB, 32 cores, 1.25 GB/s each, in
/// three zones); memory sized so the containers fill `fill` of the hosts' memory, CPU 60 % and
/// network 40 %; every fourth pool spread across zones. The same arguments give the same
/// cluster on every machine.
#[must_use]
pub fn cluster(seed: u64, pools: usize, hosts: usize, fill: f64, shape: Shape) -> Cluster {
    let Shape {
        uneven,
        alibaba,
        spread_binding,
    } = shape;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let host_list: Vec<Host> = (0..hosts)
        .map(|h| {
            let scale = if uneven { [1.0, 2.0, 4.0][h % 3] } else { 1.0 };
            Host {
                name: format!("h{h:03}"),
                capacity: [64.0 * GIB * scale, 32.0 * scale, 1.25e9 * scale],
                zone: Some(format!("z{}", h % 3)),
                labels: BTreeMap::new(),
                down: false,
            }
        })
        .collect();
    let mut pool_list: Vec<Pool> = (0..pools)
        .map(|p| {
            let replicas = if spread_binding {
                hosts
            } else {
                rng.range(1, 7)
            };
            let (mem, cpu) = if alibaba {
                let cpu = rng.lognormal(1.0, 0.9).min(16.0);
                (cpu * rng.lognormal(2.0, 0.4) * GIB, cpu)
            } else {
                (rng.lognormal(1.0, 0.6) * GIB, rng.lognormal(0.5, 0.8))
            };
            Pool {
                name: format!("p{p:04}"),
                replicas,
                usage: [mem, cpu, rng.lognormal(5e6, 1.0)],
                max_per_host: if spread_binding { Some(1) } else { None },
                spread_zones: p % 4 == 0,
            }
        })
        .collect();
    // Scale memory so the containers fill `fill` of the hosts' memory, CPU to 60 % and
    // network to 40 % of theirs.
    for (r, target) in [(0, fill), (1, 0.6), (2, 0.4)] {
        let demand: f64 = pool_list
            .iter()
            .map(|p| p.usage[r] * p.replicas as f64)
            .sum();
        let supply: f64 = host_list.iter().map(|h| h.capacity[r]).sum();
        for p in &mut pool_list {
            p.usage[r] *= target * supply / demand;
        }
    }
    Cluster {
        pools: pool_list,
        hosts: host_list,
        current: None,
    }
}

/// A tight failover with a known answer: `pools` pools (1–7 replicas, at most one per host) on
/// `hosts` hosts whose memory is `fill` full; host 0 runs a tenth of the containers, and
/// moving exactly those into the gaps the other hosts leave places everything (the other
/// hosts are sized so that placement fills their memory to `fill` × hosts ÷ (hosts − 1)).
/// Returns the cluster (host 0 up, `current` set) and that planted failover placement (per
/// pool, the host of each replica).
#[must_use]
pub fn planted_failover(
    seed: u64,
    pools: usize,
    hosts: usize,
    fill: f64,
) -> (Cluster, Vec<Vec<usize>>) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let others = hosts.saturating_sub(1).max(1);
    let mut pool_list: Vec<Pool> = (0..pools)
        .map(|p| Pool {
            name: format!("p{p:04}"),
            replicas: rng.range(1, 7.min(others)),
            usage: [
                rng.lognormal(1.0, 0.6) * GIB,
                rng.lognormal(0.5, 0.8),
                rng.lognormal(5e6, 1.0),
            ],
            max_per_host: Some(1),
            spread_zones: false,
        })
        .collect();
    // The planted failover placement: each pool's replicas on distinct hosts 1.., round robin.
    let mut planted = vec![Vec::new(); pools];
    let mut next = 0usize;
    for (p, pool) in pool_list.iter().enumerate() {
        for _ in 0..pool.replicas {
            planted[p].push(1 + next % others);
            next += 1;
        }
    }
    // Host 0 runs one replica of every tenth container's pool (at most one per pool).
    let mut current = planted.clone();
    let mut on_zero = vec![false; pools];
    let mut k = 0usize;
    for (p, hs) in current.iter_mut().enumerate() {
        for h in hs.iter_mut() {
            if k.is_multiple_of(10) && !on_zero[p] {
                *h = 0;
                on_zero[p] = true;
            }
            k += 1;
        }
    }
    let mut planted_mem = vec![0.0f64; hosts];
    let mut current_mem = vec![0.0f64; hosts];
    for p in 0..pools {
        for (&a, &b) in planted[p].iter().zip(&current[p]) {
            planted_mem[a] += pool_list[p].usage[0];
            current_mem[b] += pool_list[p].usage[0];
        }
    }
    // Fill after the failover: what `fill` of all hosts' memory is on the hosts left.
    let after = (fill * hosts as f64 / others as f64).min(1.0);
    let host_list: Vec<Host> = (0..hosts)
        .map(|h| {
            let mem = if h == 0 {
                current_mem[0] / fill
            } else {
                planted_mem[h] / after
            };
            Host {
                name: format!("h{h:03}"),
                capacity: [mem, 32.0, 1.25e9],
                zone: None,
                labels: BTreeMap::new(),
                down: false,
            }
        })
        .collect();
    // CPU to 60 % and network to 40 % of the hosts left.
    for (r, target) in [(1, 0.6), (2, 0.4)] {
        let demand: f64 = pool_list
            .iter()
            .map(|p| p.usage[r] * p.replicas as f64)
            .sum();
        let supply: f64 = host_list.iter().skip(1).map(|h| h.capacity[r]).sum();
        for p in &mut pool_list {
            p.usage[r] *= target * supply / demand;
        }
    }
    let cl = Cluster {
        pools: pool_list,
        hosts: host_list,
        current: Some(current),
    };
    (cl, planted)
}

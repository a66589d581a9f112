//! The cluster file (YAML): pools, hosts and the current placement, every error with its place.
//!
//! ```yaml
//! version: 1
//! pools:
//!   web: {replicas: 6, memory: 512MiB, cpu: 0.5, network: 20MB, max_per_host: 2, spread_zones: true}
//! hosts:
//!   h1: {memory: 16GiB, cpu: 8, network: 1GB, zone: a, labels: {disk: ssd}}
//! current: {web: [h1, h1, h2]}
//! ```
//! Pool usage may be left out when it comes from `docker stats` history instead.

use std::collections::BTreeMap;

use dockopt_diagnostics::yaml::Reader;
use dockopt_diagnostics::{Diagnostics, Span};
use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use crate::model::{Cluster, Host, Pool};
use crate::units::{bytes, cores};

/// A pool as the file gives it: usage fields may be missing (filled from history).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSpec {
    /// The pool, with 0 for usage the file leaves out.
    pub pool: Pool,
    /// Which of memory, CPU, network the file gives.
    pub given: [bool; 3],
    /// Where it is declared.
    pub span: Span,
}

/// A parsed cluster file.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterFile {
    /// Pools, hosts and current placement.
    pub cluster: Cluster,
    /// Per pool, what the file says of it.
    pub pools: Vec<PoolSpec>,
}

/// Every container is planned one by one: keep the input to what a machine plans in seconds.
const MAX_CONTAINERS: usize = 1_000_000;
/// The largest count (replicas, per-host limit) a file may give.
const MAX_COUNT: usize = MAX_CONTAINERS;

struct P {
    yaml: Reader,
}

fn span(node: &marked_yaml::Span) -> Span {
    Span::of(node)
}

impl P {
    fn err(&mut self, at: Span, field: &str, message: impl Into<String>) {
        self.yaml.error(at, field, message, None);
    }

    fn map<'n>(&mut self, node: &'n Node, field: &str) -> Option<&'n MarkedMappingNode> {
        self.yaml.mapping(node, field, "a mapping")
    }

    fn scalar<'n>(&mut self, node: &'n Node, field: &str) -> Option<&'n MarkedScalarNode> {
        self.yaml.scalar(node, field, "a single value")
    }

    fn keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], field: &str) {
        self.yaml.check_keys(map, allowed, field);
    }

    fn number(
        &mut self,
        map: &MarkedMappingNode,
        key: &str,
        field: &str,
        parse: fn(&str) -> Result<f64, String>,
    ) -> Option<f64> {
        let node = map.get_node(key)?;
        let f = format!("{field}.{key}");
        let s = self.scalar(node, &f)?;
        match parse(s.as_str()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(span(s.span()), &f, e);
                None
            }
        }
    }

    fn count(&mut self, map: &MarkedMappingNode, key: &str, field: &str) -> Option<usize> {
        let node = map.get_node(key)?;
        let f = format!("{field}.{key}");
        let s = self.scalar(node, &f)?;
        match s.as_str().parse::<u64>() {
            Ok(v) if v <= MAX_COUNT as u64 => usize::try_from(v).ok(),
            Ok(_) => {
                self.err(
                    span(s.span()),
                    &f,
                    format!("`{}` is more than {MAX_COUNT}", s.as_str()),
                );
                None
            }
            Err(_) => {
                self.err(
                    span(s.span()),
                    &f,
                    format!("expected a whole number ≥ 0, found `{}`", s.as_str()),
                );
                None
            }
        }
    }
}

/// Parses a cluster file.
///
/// # Errors
/// Every problem found, each with line, column and field.
pub fn parse(file: &str, text: &str) -> Result<ClusterFile, Diagnostics> {
    let root = dockopt_diagnostics::yaml::load(
        file,
        text,
        "the cluster file must be a YAML mapping (`version: 1`, `pools:`, `hosts:`)",
    )?;
    let mut p = P {
        yaml: Reader::default(),
    };
    let out = parse_inner(&mut p, &root);
    match out {
        Some(c) if p.yaml.errors.is_empty() => Ok(c),
        _ => {
            if p.yaml.errors.is_empty() {
                p.err(Span::default(), "", "the cluster file is not valid");
            }
            Err(Diagnostics {
                file: file.to_owned(),
                errors: p.yaml.errors,
            })
        }
    }
}

fn parse_inner(p: &mut P, root: &Node) -> Option<ClusterFile> {
    let top = p.map(root, "")?;
    p.keys(top, &["version", "pools", "hosts", "current"], "");
    if let Some(v) = top.get_scalar("version")
        && v.as_str() != "1"
    {
        p.err(
            span(v.span()),
            "version",
            format!("unsupported version `{}`: expected `1`", v.as_str()),
        );
    }
    let mut pools = Vec::new();
    match top.get_node("pools") {
        None => p.err(Span { line: 1, column: 1 }, "pools", "missing `pools:`"),
        Some(node) => {
            for (k, v) in p.map(node, "pools")?.iter() {
                let field = format!("pools.{}", k.as_str());
                let Some(m) = p.map(v, &field) else { continue };
                p.keys(
                    m,
                    &[
                        "replicas",
                        "memory",
                        "cpu",
                        "network",
                        "max_per_host",
                        "spread_zones",
                    ],
                    &field,
                );
                let replicas = p.count(m, "replicas", &field);
                if m.get_node("replicas").is_none() {
                    p.err(span(k.span()), &field, "missing `replicas`");
                }
                let mem = p.number(m, "memory", &field, bytes);
                let cpu = p.number(m, "cpu", &field, cores);
                let net = p.number(m, "network", &field, bytes);
                let max_per_host = p.count(m, "max_per_host", &field);
                if max_per_host == Some(0) {
                    p.err(
                        span(k.span()),
                        &format!("{field}.max_per_host"),
                        "must be at least 1",
                    );
                }
                let spread_zones = m
                    .get_scalar("spread_zones")
                    .is_some_and(|s| s.as_bool() == Some(true));
                // An invalid pool is already reported; keep its name so later references resolve.
                pools.push(PoolSpec {
                    pool: Pool {
                        name: k.as_str().to_owned(),
                        replicas: replicas.unwrap_or(0),
                        usage: [mem.unwrap_or(0.0), cpu.unwrap_or(0.0), net.unwrap_or(0.0)],
                        max_per_host,
                        spread_zones,
                    },
                    given: [mem.is_some(), cpu.is_some(), net.is_some()],
                    span: span(k.span()),
                });
            }
        }
    }
    let mut hosts = Vec::new();
    match top.get_node("hosts") {
        None => p.err(Span { line: 1, column: 1 }, "hosts", "missing `hosts:`"),
        Some(node) => {
            for (k, v) in p.map(node, "hosts")?.iter() {
                let field = format!("hosts.{}", k.as_str());
                let Some(m) = p.map(v, &field) else { continue };
                p.keys(
                    m,
                    &["memory", "cpu", "network", "zone", "labels", "down"],
                    &field,
                );
                let mut cap = [0.0; 3];
                for (r, key, parse) in [
                    (0, "memory", bytes as fn(&str) -> Result<f64, String>),
                    (1, "cpu", cores),
                    (2, "network", bytes),
                ] {
                    match p.number(m, key, &field, parse) {
                        Some(v) if v <= 0.0 && r < 2 => {
                            let at = m.get_node(key).map_or(span(k.span()), |n| span(n.span()));
                            p.err(
                                at,
                                &format!("{field}.{key}"),
                                format!("must be more than 0: a host without {key} runs nothing"),
                            );
                        }
                        Some(v) => cap[r] = v,
                        None if m.get_node(key).is_none() => {
                            p.err(span(k.span()), &field, format!("missing `{key}` capacity"))
                        }
                        None => {}
                    }
                }
                let mut labels = BTreeMap::new();
                if let Some(l) = m
                    .get_node("labels")
                    .and_then(|n| p.map(n, &format!("{field}.labels")))
                {
                    for (lk, lv) in l.iter() {
                        if let Some(s) = p.scalar(lv, &format!("{field}.labels.{}", lk.as_str())) {
                            labels.insert(lk.as_str().to_owned(), s.as_str().to_owned());
                        }
                    }
                }
                hosts.push(Host {
                    name: k.as_str().to_owned(),
                    capacity: cap,
                    zone: m.get_scalar("zone").map(|z| z.as_str().to_owned()),
                    labels,
                    down: p.yaml.flag(m, "down", &field).unwrap_or(false),
                });
            }
        }
    }
    let mut current = None;
    if let Some(node) = top.get_node("current") {
        let mut per_pool = vec![Vec::new(); pools.len()];
        for (k, v) in p.map(node, "current")?.iter() {
            let field = format!("current.{}", k.as_str());
            let Some(pi) = pools.iter().position(|s| s.pool.name == k.as_str()) else {
                p.err(
                    span(k.span()),
                    &field,
                    format!("no pool is named `{}`", k.as_str()),
                );
                continue;
            };
            let Node::Sequence(list) = v else {
                p.err(
                    span(v.span()),
                    &field,
                    "expected a list of host names, one per replica",
                );
                continue;
            };
            for (i, h) in list.iter().enumerate() {
                let f = format!("{field}[{i}]");
                let Some(s) = p.scalar(h, &f) else { continue };
                match hosts.iter().position(|x| x.name == s.as_str()) {
                    Some(hi) => per_pool[pi].push(hi),
                    None => p.err(
                        span(s.span()),
                        &f,
                        format!("no host is named `{}`", s.as_str()),
                    ),
                }
            }
        }
        current = Some(per_pool);
    }
    let total: usize = pools
        .iter()
        .map(|s| s.pool.replicas)
        .fold(0usize, usize::saturating_add);
    if total > MAX_CONTAINERS {
        p.err(
            Span { line: 1, column: 1 },
            "pools",
            format!("{total} containers in all: at most {MAX_CONTAINERS} are planned"),
        );
    }
    if hosts.is_empty() && p.yaml.errors.is_empty() {
        p.err(
            Span { line: 1, column: 1 },
            "hosts",
            "no hosts: name at least one",
        );
    }
    let cluster = Cluster {
        pools: pools.iter().map(|s| s.pool.clone()).collect(),
        hosts,
        current,
    };
    Some(ClusterFile { cluster, pools })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_cluster_file_parses_with_units() {
        let f = parse(
            "c.yaml",
            "version: 1\npools:\n  web: {replicas: 3, memory: 512MiB, cpu: 500m, network: 1MB, max_per_host: 2}\nhosts:\n  a: {memory: 4GiB, cpu: 2, network: 1GB, zone: z1}\n  b: {memory: 4GiB, cpu: 2, network: 1GB, zone: z2, down: true}\ncurrent: {web: [a, a, b]}\n",
        )
        .expect("valid");
        assert_eq!(
            f.cluster.pools[0].usage,
            [512.0 * 1024.0 * 1024.0, 0.5, 1e6]
        );
        assert_eq!(f.cluster.pools[0].max_per_host, Some(2));
        assert!(f.cluster.hosts[1].down);
        assert_eq!(f.cluster.current, Some(vec![vec![0, 0, 1]]));
    }

    #[test]
    fn numbers_are_bounded_with_the_field_named() {
        let err = parse(
            "c.yaml",
            "version: 1\npools:\n  web: {replicas: 9223372036854775807, memory: 1MiB, cpu: 1, network: 1MB, max_per_host: 4294967296}\n  db: {replicas: 2, memory: 99999999999TB, cpu: 1e12, network: 1MB}\nhosts:\n  a: {memory: 4GiB, cpu: 2, network: 1GB}\n",
        )
        .expect_err("out of bounds");
        let text = err.to_string();
        for want in [
            "c.yaml:3:19: pools.web.replicas: `9223372036854775807` is more than 1000000",
            "pools.web.max_per_host: `4294967296` is more than 1000000",
            "pools.db.memory: `99999999999TB` is more than 1EiB",
            "pools.db.cpu: `1e12` is more than 1000000 cores",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
    }

    #[test]
    fn yaml_errors_and_empty_hosts_have_their_place() {
        let dup = parse(
            "c.yaml",
            "version: 1\npools:\n  web: {replicas: 1, memory: 1MiB, cpu: 1, network: 1MB}\n  web: {replicas: 2}\nhosts:\n  a: {memory: 4GiB, cpu: 2, network: 1GB}\n",
        )
        .expect_err("duplicate");
        let text = dup.to_string();
        assert!(
            text.contains("c.yaml:4:3: key `web` appears twice in one mapping (first at line 3)"),
            "{text}"
        );
        let syntax = parse(
            "c.yaml",
            "version: 1\npools:\n  web: {replicas: 1\nhosts: [\n",
        )
        .expect_err("syntax");
        let text = syntax.to_string();
        assert!(!text.contains(":0:0"), "{text}");
        assert!(text.contains("invalid YAML"), "{text}");
        let zero = parse(
            "c.yaml",
            "version: 1\npools:\n  web: {replicas: 1, memory: 1MiB, cpu: 1, network: 1MB}\nhosts:\n  a: {memory: 4GiB, cpu: 0, network: 1GB}\n  b: {memory: 0B, cpu: 1, network: 1GB}\n",
        )
        .expect_err("no cpu");
        let text = zero.to_string();
        assert!(
            text.contains(
                "c.yaml:5:26: hosts.a.cpu: must be more than 0: a host without cpu runs nothing"
            ),
            "{text}"
        );
        assert!(
            text.contains("hosts.b.memory: must be more than 0"),
            "{text}"
        );
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let err = parse("c.yaml", "version: 1\npools:\n  web: {replicas: three, memory: 1XB}\nhosts:\n  a: {memory: 1GiB, cpu: 1}\ncurrent: {web: [zz]}\n")
            .expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains(
                "c.yaml:3:19: pools.web.replicas: expected a whole number ≥ 0, found `three`"
            ),
            "{text}"
        );
        assert!(
            text.contains("c.yaml:3:34: pools.web.memory: `1XB`: unknown unit `XB`"),
            "{text}"
        );
        assert!(
            text.contains("c.yaml:5:3: hosts.a: missing `network` capacity"),
            "{text}"
        );
        assert!(
            text.contains("c.yaml:6:17: current.web[0]: no host is named `zz`"),
            "{text}"
        );
    }

    #[test]
    fn wrong_shapes_and_typos_read_as_in_a_manifest() {
        let err = parse(
            "c.yaml",
            "version: 1\npools:\n  web: {replcas: 1, memory: 1MiB, cpu: 1, network: 1MB}\nhosts: [a, b]\n",
        )
        .expect_err("invalid");
        // `down: yes` was read as up, silently.
        let down = parse(
            "c.yaml",
            "version: 1\npools:\n  web: {replicas: 1, memory: 1MiB, cpu: 1, network: 1MB}\nhosts:\n  a: {memory: 1GiB, cpu: 1, network: 1GB, down: yes}\n",
        )
        .expect_err("not a flag");
        assert!(
            down.to_string()
                .contains("c.yaml:5:49: hosts.a.down: expected `true` or `false`, found `yes`"),
            "{down}"
        );
        let text = err.to_string();
        assert!(
            text.contains(
                "c.yaml:3:9: pools.web.replcas: unknown key `replcas` (did you mean `replicas`?)"
            ),
            "{text}"
        );
        assert!(
            text.contains("c.yaml:4:8: hosts: expected a mapping, found a list"),
            "{text}"
        );
    }
}

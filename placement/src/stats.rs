//! Usage history: `docker stats --no-stream --format '{{json .}}'` lines collected over time, or
//! a CSV of samples, reduced to mean + k·stddev per pool.

use std::collections::BTreeMap;

use crate::model::Resources;
use crate::units::{bytes, cores};

/// One observation of one container.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Container name.
    pub container: String,
    /// Memory in use (bytes).
    pub memory: f64,
    /// CPU in use (cores).
    pub cpu: f64,
    /// Network bytes received + sent so far (a counter).
    pub net_total: f64,
}

/// Parses `docker stats --format '{{json .}}'` lines (blank lines skipped). Errors name the line.
pub fn parse_docker_stats(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", i + 1);
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| at(format!("not a JSON object: {e}")))?;
        let field = |k: &str| match v.get(k) {
            Some(serde_json::Value::String(s)) => Ok(s.as_str()),
            None | Some(serde_json::Value::Null) => Err(at(format!("field `{k}` missing"))),
            Some(other) => Err(at(format!(
                "field `{k}`: expected a string like `{}` (as `docker stats --format '{{{{json .}}}}'` writes it), found `{other}`",
                match k {
                    "CPUPerc" => "12.5%",
                    "MemUsage" => "100MiB / 7.7GiB",
                    "NetIO" => "1.2kB / 3MB",
                    _ => "text",
                }
            ))),
        };
        let name = field("Name").or_else(|_| field("Container"))?.to_owned();
        let mem_used = field("MemUsage")?
            .split('/')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let (rx, tx) = field("NetIO")?
            .split_once('/')
            .ok_or_else(|| at("`NetIO` is not `RX / TX`".into()))?;
        out.push(Sample {
            container: name,
            memory: bytes(&mem_used).map_err(at)?,
            cpu: cores(field("CPUPerc")?).map_err(at)?,
            net_total: bytes(rx).map_err(at)? + bytes(tx).map_err(at)?,
        });
    }
    Ok(out)
}

/// Parses a CSV with a header naming `container`, `memory`, `cpu` and `network` columns (human
/// units allowed; network as a counter like docker's). Quoted fields, CRLF line ends and blank
/// lines are read as the csv crate reads them; errors name the line.
pub fn parse_csv(text: &str) -> Result<Vec<Sample>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let cols: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the CSV header: {e}"))?
        .iter()
        .map(str::to_lowercase)
        .collect();
    if cols.iter().all(String::is_empty) {
        return Err("the CSV is empty".into());
    }
    let col = |name: &str| {
        cols.iter()
            .position(|c| c == name)
            .ok_or(format!("the CSV header has no `{name}` column"))
    };
    let (ci, mi, pi, ni) = (
        col("container")?,
        col("memory")?,
        col("cpu")?,
        col("network")?,
    );
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("the CSV: {e}"))?;
        let line = record.position().map_or(0, csv::Position::line);
        let at = |e: String| format!("line {line}: {e}");
        let cell = |k: usize| {
            record
                .get(k)
                .ok_or_else(|| at(format!("column {} missing", k + 1)))
        };
        out.push(Sample {
            container: cell(ci)?.to_owned(),
            memory: bytes(cell(mi)?).map_err(at)?,
            cpu: cores(cell(pi)?).map_err(at)?,
            net_total: bytes(cell(ni)?).map_err(at)?,
        });
    }
    Ok(out)
}

/// The pool a container belongs to: the longest pool name that is the container's name or a
/// `-`, `_` or `.`-separated run of its parts (`shop_web_1`, `web-3`, `web.2.x7` → `web`).
#[must_use]
pub fn pool_of<'a>(container: &str, pools: &'a [String]) -> Option<&'a str> {
    let parts: Vec<&str> = container.split(['-', '_', '.']).collect();
    pools
        .iter()
        .filter(|p| {
            let want: Vec<&str> = p.split(['-', '_', '.']).collect();
            container == p.as_str() || parts.windows(want.len()).any(|w| w == want.as_slice())
        })
        .max_by_key(|p| (p.len(), std::cmp::Reverse(p.as_str())))
        .map(String::as_str)
}

/// Usage per pool: mean + k·stddev of each resource over its containers' samples. Network is the
/// growth of each container's counter between its consecutive samples, per `interval` seconds.
/// Containers that match no pool are returned apart.
#[must_use]
pub fn usage(
    samples: &[Sample],
    pools: &[String],
    k: f64,
    interval: f64,
) -> (BTreeMap<String, Resources>, Vec<String>) {
    usage_by(samples, |c| pool_of(c, pools), k, interval)
}

/// [`usage`] with the pool of each container given by `pool_of` (e.g. from a container label).
#[must_use]
pub fn usage_by<'p>(
    samples: &[Sample],
    pool_of: impl Fn(&str) -> Option<&'p str>,
    k: f64,
    interval: f64,
) -> (BTreeMap<String, Resources>, Vec<String>) {
    let mut per_pool: BTreeMap<&str, [Vec<f64>; 3]> = BTreeMap::new();
    let mut last_net: BTreeMap<&str, f64> = BTreeMap::new();
    let mut unknown = Vec::new();
    for s in samples {
        let Some(p) = pool_of(&s.container) else {
            if !unknown.contains(&s.container) {
                unknown.push(s.container.clone());
            }
            continue;
        };
        let entry = per_pool.entry(p).or_default();
        entry[0].push(s.memory);
        entry[1].push(s.cpu);
        if let Some(prev) = last_net.insert(&s.container, s.net_total) {
            entry[2].push((s.net_total - prev).max(0.0) / interval.max(1e-9));
        }
    }
    let stat = |xs: &[f64]| {
        if xs.is_empty() {
            return 0.0;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean + k * var.sqrt()).max(0.0)
    };
    let out = per_pool
        .into_iter()
        .map(|(p, [m, c, n])| (p.to_owned(), [stat(&m), stat(&c), stat(&n)]))
        .collect();
    (out, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"{"BlockIO":"0B / 0B","CPUPerc":"50.00%","Container":"a1","ID":"a1","MemPerc":"1%","MemUsage":"100MiB / 7.7GiB","Name":"shop_web_1","NetIO":"1kB / 1kB","PIDs":"3"}
{"BlockIO":"0B / 0B","CPUPerc":"150.00%","Container":"a2","ID":"a2","MemPerc":"1%","MemUsage":"300MiB / 7.7GiB","Name":"shop_web_2","NetIO":"2kB / 0B","PIDs":"3"}
{"BlockIO":"0B / 0B","CPUPerc":"10.00%","Container":"a1","ID":"a1","MemPerc":"1%","MemUsage":"100MiB / 7.7GiB","Name":"shop_web_1","NetIO":"61kB / 1kB","PIDs":"3"}
{"BlockIO":"0B / 0B","CPUPerc":"0.50%","Container":"b","ID":"b","MemPerc":"1%","MemUsage":"1GiB / 7.7GiB","Name":"cache","NetIO":"0B / 0B","PIDs":"3"}
"#;

    #[test]
    fn docker_stats_lines_become_pool_usage() {
        let samples = parse_docker_stats(LINES).expect("parses");
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[1].cpu, 1.5);
        assert_eq!(samples[0].memory, 100.0 * 1024.0 * 1024.0);
        assert_eq!(samples[2].net_total, 62_000.0);
        let pools = vec!["web".to_owned(), "db".to_owned()];
        let (usage, unknown) = usage(&samples, &pools, 1.0, 60.0);
        assert_eq!(unknown, ["cache"]);
        let web = usage["web"];
        // memory samples 100, 300, 100 MiB: mean 166.67, stddev 94.28 MiB.
        let mib = 1024.0 * 1024.0;
        assert!(
            (web[0] / mib - (500.0 / 3.0 + (20000.0f64 / 9.0 * 4.0).sqrt())).abs() < 1e-6,
            "{}",
            web[0] / mib
        );
        // cpu 0.5, 1.5, 0.1: mean 0.7 + stddev.
        let mean = 0.7;
        let sd = (((0.5f64 - mean).powi(2) + (1.5f64 - mean).powi(2) + (0.1f64 - mean).powi(2))
            / 3.0)
            .sqrt();
        assert!((web[1] - (mean + sd)).abs() < 1e-12);
        // network: one delta of 60 kB over 60 s.
        assert!((web[2] - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = parse_docker_stats("{\"Name\":\"x\",\"CPUPerc\":\"1%\",\"MemUsage\":\"1MiB / 2MiB\",\"NetIO\":\"1kB / 1kB\"}\nnot json\n").expect_err("bad");
        assert!(err.starts_with("line 2: not a JSON object"), "{err}");
        let err = parse_docker_stats("{\"Name\":\"x\",\"CPUPerc\":\"1%\",\"MemUsage\":\"1XB / 2MiB\",\"NetIO\":\"1kB / 1kB\"}").expect_err("bad");
        assert!(err.contains("unknown unit `XB`"), "{err}");
        let err = parse_docker_stats("{\"Name\":\"x\",\"CPUPerc\":12.5,\"MemUsage\":\"1MiB / 2MiB\",\"NetIO\":\"1kB / 1kB\"}").expect_err("bad");
        assert!(
            err.starts_with("line 1: field `CPUPerc`: expected a string like `12.5%`"),
            "{err}"
        );
    }

    #[test]
    fn containers_map_to_the_longest_matching_pool() {
        let pools: Vec<String> = ["web", "web-api", "db"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(pool_of("shop_web_1", &pools), Some("web"));
        assert_eq!(pool_of("web-api-3", &pools), Some("web-api"));
        assert_eq!(pool_of("db", &pools), Some("db"));
        assert_eq!(pool_of("webapp", &pools), None);
    }

    #[test]
    fn csv_samples_parse() {
        let s =
            parse_csv("container,memory,cpu,network\nweb-1,512MiB,25%,1MB\nweb-1,1GiB,0.5,3MB\n")
                .expect("parses");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].cpu, 0.5);
        assert!(parse_csv("container,memory\n").is_err());
        assert!(parse_csv("").is_err());
        // Quoted fields (a comma inside), CRLF, and the failing line named.
        let quoted =
            parse_csv("container,memory,cpu,network\r\n\"web,1\",1MiB,1,1MB\r\n").expect("quoted");
        assert_eq!(quoted[0].container, "web,1");
        let bad = parse_csv("container,memory,cpu,network\nweb-1,1MiB,1,1MB\nweb-2,lots,1,1MB\n")
            .expect_err("bad memory");
        assert!(bad.starts_with("line 3: "), "{bad}");
    }
}

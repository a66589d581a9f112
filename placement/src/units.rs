//! Human units as `docker stats` and people write them: `12.5MiB`, `1.2kB`, `3GB`, `150%`, `500m`.

/// The largest size a file may give: 1 EiB (sums over a million containers stay exact enough
/// and far from overflow).
pub const MAX_BYTES: f64 = 1_152_921_504_606_846_976.0;
/// The largest CPU amount a file may give: a million cores.
pub const MAX_CORES: f64 = 1e6;

/// Bytes of a size: decimal (`kB`, `MB`, `GB`, `TB`: powers of 1000) and binary (`KiB`, `MiB`,
/// `GiB`, `TiB`: powers of 1024) units, `B` or no unit for bytes. Case-insensitive `k`/`K`.
pub fn bytes(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `512MiB` or `1.5GB`"))?;
    let factor = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "kB" | "KB" | "k" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "TB" | "T" => 1e12,
        "KiB" | "Ki" | "kiB" => 1024.0,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        "TiB" | "Ti" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (expected B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}` is not a size ≥ 0"));
    }
    let b = value * factor;
    if b > MAX_BYTES {
        return Err(format!("`{text}` is more than 1EiB"));
    }
    Ok(b)
}

/// Cores of a CPU amount: `1.5` cores, `500m` millicores, or `150%` of one core (as `docker
/// stats` reports CPU).
pub fn cores(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, factor) = if let Some(p) = t.strip_suffix('%') {
        (p, 0.01)
    } else if let Some(m) = t.strip_suffix('m') {
        (m, 0.001)
    } else {
        (t, 1.0)
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a CPU amount like `1.5`, `500m` or `150%`"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}` is not a CPU amount ≥ 0"));
    }
    let c = value * factor;
    if c > MAX_CORES {
        return Err(format!("`{text}` is more than {MAX_CORES} cores"));
    }
    Ok(c)
}

/// A size for people, in binary units.
#[must_use]
pub fn show_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v.abs() >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0}{}", UNITS[u])
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_stats_units_parse_exactly() {
        assert_eq!(bytes("12.5MiB"), Ok(12.5 * 1024.0 * 1024.0));
        assert_eq!(bytes("1GiB"), Ok(1024.0 * 1024.0 * 1024.0));
        assert_eq!(bytes("1.2kB"), Ok(1200.0));
        assert_eq!(bytes("3MB"), Ok(3e6));
        assert_eq!(bytes("0B"), Ok(0.0));
        assert_eq!(bytes(" 7.7GiB "), Ok(7.7 * 1024.0 * 1024.0 * 1024.0));
        assert!(bytes("12 parsecs").is_err());
        assert!(bytes("-1MB").is_err());
        assert!(bytes("").is_err());
        assert_eq!(cores("150%"), Ok(1.5));
        assert_eq!(cores("500m"), Ok(0.5));
        assert_eq!(cores("2"), Ok(2.0));
        assert!(cores("lots").is_err());
        assert!(bytes("99999999999TB").is_err_and(|e| e.contains("more than 1EiB")));
        assert!(bytes("NaN").is_err());
        assert!(cores("1e9").is_err_and(|e| e.contains("more than")));
        assert!(cores("inf").is_err());
        assert_eq!(show_bytes(1536.0 * 1024.0 * 1024.0), "1.5GiB");
    }
}

//! Go-style durations (`30s`, `1m30s`, `500ms`, `1h`), as Docker's HEALTHCHECK flags take them.

/// Nanoseconds in `text`, or `None` when it is not a duration (or overflows).
pub(crate) fn nanos(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let part = number * scale;
        if !part.is_finite() || part >= 1.8e19 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let part = part.round() as u64;
        total = total.checked_add(part)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::nanos;

    #[test]
    fn go_durations() {
        assert_eq!(nanos("30s"), Some(30_000_000_000));
        assert_eq!(nanos("1m30s"), Some(90_000_000_000));
        assert_eq!(nanos("500ms"), Some(500_000_000));
        assert_eq!(nanos("1.5h"), Some(5_400_000_000_000));
        assert_eq!(nanos("0"), Some(0));
        assert_eq!(nanos("30"), None);
        assert_eq!(nanos("s"), None);
        assert_eq!(nanos("3x"), None);
    }
}

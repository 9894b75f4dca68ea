//! Parsing the RFC 3339 timestamps Kubernetes writes (`2024-05-01T10:00:00Z`), enough to
//! compare a creation timestamp with the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp, `None` when it does not parse.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 20 || !s.is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || !matches!(rest.as_bytes().first(), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (year, month, day) = (number(d[0])?, number(d[1])?, number(d[2])?);
    let rest = &rest[1..];
    let (hms, mut zone) = rest.split_at(8.min(rest.len()));
    let t: Vec<&str> = hms.split(':').collect();
    if t.len() != 3 {
        return None;
    }
    let (hour, minute, second) = (number(t[0])?, number(t[1])?, number(t[2])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if let Some(frac) = zone.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = &frac[digits..];
    }
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let (h, m) = zone[1..].split_once(':')?;
            sign * (number(h)? * 3600 + number(m)? * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Seconds since the Unix epoch of `t` (negative before it).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `t` minus a duration, in Unix seconds.
pub(crate) fn seconds_before(t: SystemTime, d: Duration) -> i64 {
    unix_seconds(t).saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00Z"), Some(1_714_557_600));
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00.123456Z"), Some(1_714_557_600));
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00+02:00"), Some(1_714_557_600));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400));
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "yesterday", "2024-05-01", "2024-13-01T00:00:00Z", "2024-05-01T10:00:00", "2024-05-01T1a:00:00Z"]
        {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00é"), None);
    }
}

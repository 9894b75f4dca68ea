//! Go's `time.Duration` text format, which Flux's specs use for intervals and timeouts:
//! `1m30s`, `1h1m1.5s`, `500ms`, `0s`.
//!
//! [`parse()`] accepts what Go's `time.ParseDuration` accepts, except negative durations;
//! [`format()`] prints what Go's `Duration.String` prints.

use std::time::Duration;

/// Why a text is no Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is empty.
    #[error("invalid duration: empty")]
    Empty,
    /// The text does not follow `<number><unit>...`.
    #[error("invalid duration {0:?}")]
    Invalid(String),
    /// A number has no unit after it.
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    /// The unit is none of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    #[error("unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole text.
        text: String,
    },
    /// The duration is negative, which no Flux field allows.
    #[error("negative duration {0:?}")]
    Negative(String),
    /// The duration is longer than Go can represent (about 292 years).
    #[error("duration {0:?} is out of range")]
    Overflow(String),
}

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;
const NANOS_PER_MINUTE: u128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u128 = 60 * NANOS_PER_MINUTE;
/// Go keeps durations in an `int64` of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => NANOS_PER_MICRO,
        "ms" => NANOS_PER_MILLI,
        "s" => NANOS_PER_SECOND,
        "m" => NANOS_PER_MINUTE,
        "h" => NANOS_PER_HOUR,
        _ => return None,
    })
}

/// Parses a Go duration such as `1h1m1.5s`. Bad input is an error, never a panic.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = || DurationError::Invalid(text.to_string());
    let overflow = || DurationError::Overflow(text.to_string());
    let mut rest = text;
    let mut negative = false;
    if let Some(r) = rest.strip_prefix('-') {
        negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let frac_len = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(frac_len)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(text.to_string()));
        }
        let scale = unit_nanos(unit)
            .ok_or_else(|| DurationError::UnknownUnit { unit: unit.to_string(), text: text.to_string() })?;
        let mut whole: u128 = 0;
        for digit in int_part.bytes() {
            whole = whole.checked_mul(10).and_then(|w| w.checked_add(u128::from(digit - b'0'))).ok_or_else(overflow)?;
            if whole > MAX_NANOS {
                return Err(overflow());
            }
        }
        let mut nanos = whole.checked_mul(scale).ok_or_else(overflow)?;
        // Digits past the 19th cannot change a value in nanoseconds of at most an hour's scale
        // by more than the rounding Go does itself; ignoring them avoids overflow.
        let mut numerator: u128 = 0;
        let mut denominator: u128 = 1;
        for digit in frac_part.bytes().take(19) {
            numerator = numerator * 10 + u128::from(digit - b'0');
            denominator *= 10;
        }
        nanos = nanos.checked_add(numerator * scale / denominator).ok_or_else(overflow)?;
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
        rest = after;
    }
    if negative && total != 0 {
        return Err(DurationError::Negative(text.to_string()));
    }
    let secs = u64::try_from(total / NANOS_PER_SECOND).map_err(|_| overflow())?;
    let sub = u32::try_from(total % NANOS_PER_SECOND).map_err(|_| overflow())?;
    Ok(Duration::new(secs, sub))
}

/// Prints a duration as Go's `Duration.String` does: `0s`, `500ms`, `1.5µs`, `1m30s`, `2h0m0s`.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < NANOS_PER_SECOND {
        let (scale, digits, unit) = if nanos < NANOS_PER_MICRO {
            (1, 0, "ns")
        } else if nanos < NANOS_PER_MILLI {
            (NANOS_PER_MICRO, 3, "\u{b5}s")
        } else {
            (NANOS_PER_MILLI, 6, "ms")
        };
        return format!("{}{}", with_fraction(nanos / scale, nanos % scale, digits), unit);
    }
    let seconds = with_fraction((nanos / NANOS_PER_SECOND) % 60, nanos % NANOS_PER_SECOND, 9);
    let minutes_total = nanos / NANOS_PER_MINUTE;
    if minutes_total == 0 {
        return format!("{seconds}s");
    }
    let hours = nanos / NANOS_PER_HOUR;
    if hours == 0 {
        return format!("{minutes_total}m{seconds}s");
    }
    format!("{hours}h{}m{seconds}s", minutes_total % 60)
}

/// `whole` followed by the fraction `frac / 10^digits` without trailing zeros.
fn with_fraction(whole: u128, frac: u128, digits: usize) -> String {
    if frac == 0 || digits == 0 {
        return whole.to_string();
    }
    let padded = format!("{frac:0digits$}");
    format!("{whole}.{}", padded.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_what_flux_users_write() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h1m1.5s"), Ok(ms(3_661_500)));
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse(".5s"), Ok(ms(500)));
        assert_eq!(parse("1.s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("+5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("-0s"), Ok(Duration::ZERO));
        assert_eq!(parse("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse("3µs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse("3μs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse("1s1s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("0.000000001s"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse("0.1234567891234s"), Ok(Duration::from_nanos(123_456_789)));
    }

    #[test]
    fn rejects_bad_input_with_an_error() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert!(matches!(parse("1"), Err(DurationError::MissingUnit(_))));
        assert!(matches!(parse("10"), Err(DurationError::MissingUnit(_))));
        assert!(matches!(parse("1d"), Err(DurationError::UnknownUnit { .. })));
        assert!(matches!(parse("1 s"), Err(DurationError::UnknownUnit { .. })));
        assert!(matches!(parse("s"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("."), Err(DurationError::Invalid(_))));
        assert!(matches!(parse(".s"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("-"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("+"), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("1m-1s"), Err(DurationError::UnknownUnit { .. })));
        assert!(matches!(parse("-1s"), Err(DurationError::Negative(_))));
        assert!(matches!(parse("9223372037s"), Err(DurationError::Overflow(_))));
        assert!(matches!(parse("99999999999999999999999999999999999999999h"), Err(DurationError::Overflow(_))));
        assert!(matches!(parse("2562048h"), Err(DurationError::Overflow(_))));
        assert!(parse("2562047h").is_ok());
    }

    #[test]
    fn prints_as_go_does() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_nanos(1)), "1ns");
        assert_eq!(format(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(format(ms(500)), "500ms");
        assert_eq!(format(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format(Duration::from_secs(1)), "1s");
        assert_eq!(format(ms(1500)), "1.5s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(60)), "1m0s");
        assert_eq!(format(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format(ms(3_661_500)), "1h1m1.5s");
        assert_eq!(format(Duration::new(61, 100_000)), "1m1.0001s");
        assert_eq!(format(Duration::from_secs(100 * 3600)), "100h0m0s");
    }

    #[test]
    fn printing_then_parsing_round_trips() {
        for text in ["1h1m1.5s", "5m0s", "1.5µs", "500ms", "10h0m0s", "1m0.000000001s"] {
            let parsed = parse(text).unwrap();
            assert_eq!(format(parsed), text);
        }
    }

    /// Every short string over the characters that matter: no panic, and what parses prints
    /// back to the same duration.
    #[test]
    fn never_panics_and_round_trips() {
        let alphabet = ['0', '1', '9', '.', 's', 'm', 'h', 'n', 'u', '\u{b5}', '-', '+', ' '];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> =
                texts.iter().flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}"))).collect();
            texts.extend(longer);
            texts.dedup();
        }
        for text in &texts {
            if let Ok(duration) = parse(text) {
                assert_eq!(parse(&format(duration)), Ok(duration), "{text:?}");
            }
        }
    }
}

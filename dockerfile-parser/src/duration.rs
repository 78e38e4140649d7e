//! Go's duration syntax (`1m30s`, `1.5h`, `300ms`), which `HEALTHCHECK` options use.
//!
//! A duration is an optional sign and one or more decimal numbers, each with an optional
//! fraction and a unit: `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m`, `h`. `0` alone needs no
//! unit. This follows Go's `time.ParseDuration` exactly, overflow checks included; no crate
//! parses that syntax.

/// Why a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration at all (empty, no digits, overflow).
    #[error("invalid duration `{text}`")]
    Invalid {
        /// The text.
        text: String,
    },
    /// A number without a unit.
    #[error("missing unit in duration `{text}`: expected one of `ns`, `us`, `ms`, `s`, `m`, `h`")]
    MissingUnit {
        /// The text.
        text: String,
    },
    /// A unit that is not one of Go's.
    #[error(
        "unknown unit `{unit}` in duration `{text}`: expected one of `ns`, `us`, `ms`, `s`, `m`, `h`"
    )]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The text.
        text: String,
    },
}

const MAX: u64 = 1 << 63;

/// Parses a Go duration into nanoseconds.
///
/// # Errors
/// When `text` is not a duration or does not fit in an `i64` of nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid {
        text: text.to_owned(),
    };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let whole = leading_int(&rest[..digits]).ok_or_else(invalid)?;
        rest = &rest[digits..];
        let mut fraction = (0, 1.0);
        let mut fraction_digits = 0;
        if let Some(after) = rest.strip_prefix('.') {
            fraction_digits =
                after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            fraction = leading_fraction(&after[..fraction_digits]);
            rest = &after[fraction_digits..];
        }
        if digits == 0 && fraction_digits == 0 {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit {
                text: text.to_owned(),
            });
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_owned(),
                    text: text.to_owned(),
                });
            }
        };
        if whole > MAX / scale {
            return Err(invalid());
        }
        let mut value = whole * scale;
        let (fraction, divisor) = fraction;
        if fraction > 0 {
            // As in Go: float64 is exact enough to the nanosecond for fractions of an hour.
            value += (fraction as f64 * (scale as f64 / divisor)) as u64;
            if value > MAX {
                return Err(invalid());
            }
        }
        total += value;
        if total > MAX {
            return Err(invalid());
        }
    }
    if negative {
        // `total` is at most 2^63, whose negation is `i64::MIN`.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// The integer value of a run of digits; `None` on overflow past 2^63.
fn leading_int(digits: &str) -> Option<u64> {
    let mut value: u64 = 0;
    for digit in digits.bytes() {
        if value > MAX / 10 {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
        if value > MAX {
            return None;
        }
    }
    Some(value)
}

/// The digits after a decimal point as an integer and the power of ten that divides it;
/// digits past what fits are ignored.
fn leading_fraction(digits: &str) -> (u64, f64) {
    let mut value: u64 = 0;
    let mut scale = 1.0;
    for digit in digits.bytes() {
        if value > (MAX - 1) / 10 {
            break;
        }
        let next = value * 10 + u64::from(digit - b'0');
        if next > MAX {
            break;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn go_durations_parse() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600_000_000),
            ("5.s", 5 * S),
            (".5s", S / 2),
            ("1.004s", S + 4_000_000),
            ("100.00100s", 100 * S + 1_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14 * S),
            ("15m", 15 * 60 * S),
            ("16h", 16 * 3600 * S),
            ("3h30m", 3 * 3600 * S + 30 * 60 * S),
            ("10.5s4m", 4 * 60 * S + 10 * S + S / 2),
            ("-2m3.4s", -(2 * 60 * S + 3 * S + 400_000_000)),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * 60 * S),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036.854775807s", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("0.100000000000000000000h", 6 * 60 * S),
            ("0.830103483285477580700h", 2_988_372_539_827),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(*expected), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for text in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{ffed}",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
            "1 s",
            "1S",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
        assert_eq!(
            parse_duration("3").unwrap_err().to_string(),
            "missing unit in duration `3`: expected one of `ns`, `us`, `ms`, `s`, `m`, `h`"
        );
        assert_eq!(
            parse_duration("1sec").unwrap_err().to_string(),
            "unknown unit `sec` in duration `1sec`: expected one of `ns`, `us`, `ms`, `s`, `m`, `h`"
        );
        assert_eq!(
            parse_duration("x").unwrap_err().to_string(),
            "invalid duration `x`"
        );
    }
}

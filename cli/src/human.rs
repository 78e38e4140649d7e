//! Human-readable sizes, ids and ages, as docker prints them.

use std::time::{Duration, SystemTime};

/// `4.26MB`, `1.5kB`, `0B`: decimal units and three significant digits, as docker's
/// `images` and `history` print sizes.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    // Precision is lost only past 2^53 bytes, far beyond any image.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(value, 3), UNITS[unit])
}

/// `value` (below 1000) with `digits` significant digits, trailing zeros removed.
fn significant(value: f64, digits: usize) -> String {
    let whole = if value < 1.0 {
        1
    } else {
        // `value` is below 1000, so this is 1 to 3.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = value.log10().floor() as usize + 1;
        whole
    };
    let decimals = digits.saturating_sub(whole);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Parses a duration of a network option, as humantime reads it (`30s`, `500ms`,
/// `2m`, `1h 30m`); it must not be zero.
///
/// # Errors
///
/// A message naming the accepted forms when `text` is not such a duration.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!(
            "invalid duration `{text}`: expected a number and a unit like 30s, 500ms or 2m"
        )),
    }
}

/// The first 12 hex digits of a digest, docker's short id.
pub(crate) fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

/// `2 weeks ago`, from an RFC 3339 time; empty when there is none or it does not parse.
pub(crate) fn age(created: Option<&str>, now: SystemTime) -> String {
    let Some(created) = created.and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok()) else {
        return String::new();
    };
    let now = chrono::DateTime::<chrono::Utc>::from(now);
    let seconds = (now.timestamp() - created.timestamp()).max(0);
    format!("{} ago", duration(seconds))
}

/// Docker's `HumanDuration`: the rough size of a duration in seconds.
fn duration(seconds: i64) -> String {
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    match () {
        () if seconds < 1 => "Less than a second".to_owned(),
        () if seconds == 1 => "1 second".to_owned(),
        () if seconds < 60 => format!("{seconds} seconds"),
        () if minutes == 1 => "About a minute".to_owned(),
        () if minutes < 60 => format!("{minutes} minutes"),
        () if hours == 1 => "About an hour".to_owned(),
        () if hours < 48 => format!("{hours} hours"),
        () if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        () if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        () if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        () => format!("{} years", hours / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_of_network_options() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "30", "0s", "-1s", "soon"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_like_docker() {
        let cases = [
            (0, "0B"),
            (123, "123B"),
            (1500, "1.5kB"),
            (4_260_000, "4.26MB"),
            (4_264_999, "4.26MB"),
            (1_000_000, "1MB"),
            (77_800_000_000, "77.8GB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(size(bytes), text, "{bytes}");
        }
    }

    #[test]
    fn ages_like_docker() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let at = |ago: i64| {
            let t = chrono::DateTime::from_timestamp(1_700_000_000 - ago, 0).unwrap();
            age(Some(&t.to_rfc3339()), now)
        };
        assert_eq!(at(30), "30 seconds ago");
        assert_eq!(at(90), "About a minute ago");
        assert_eq!(at(3 * 3600), "3 hours ago");
        assert_eq!(at(3 * 86400), "3 days ago");
        assert_eq!(at(20 * 86400), "2 weeks ago");
        assert_eq!(at(400 * 86400), "13 months ago");
        assert_eq!(
            age(Some("2023-11-14T22:13:20+01:00"), now),
            "About an hour ago"
        );
        assert_eq!(age(None, now), "");
        assert_eq!(age(Some("yesterday"), now), "");
    }
}

//! The options of `HEALTHCHECK … CMD`: `--interval`, `--timeout`, `--start-period`,
//! `--start-interval` (Go durations of at least 1ms, or 0 for the default) and `--retries`
//! (a non-negative integer). Docker does not expand variables in them.

use mkimage_plan::HealthcheckOptions;

use crate::duration::{DurationError, parse_duration};

/// Why a `HEALTHCHECK` option is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthcheckError {
    /// A duration option that is not a Go duration.
    #[error("invalid value for `--{flag}`")]
    Duration {
        /// The option, without `--`.
        flag: &'static str,
        /// Why.
        #[source]
        source: DurationError,
    },
    /// A duration option below 1ms (and not 0).
    #[error("`--{flag}` cannot be less than 1ms, got `{value}`")]
    TooShort {
        /// The option, without `--`.
        flag: &'static str,
        /// The value as written.
        value: String,
    },
    /// `--retries` that is not an integer in the `i32` range.
    #[error("invalid value `{value}` for `--retries`: expected a non-negative integer")]
    Retries {
        /// The value as written.
        value: String,
    },
}

/// Option values as written, `None` when not given.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HealthcheckFlags<'a> {
    pub interval: Option<&'a str>,
    pub timeout: Option<&'a str>,
    pub start_period: Option<&'a str>,
    pub start_interval: Option<&'a str>,
    pub retries: Option<&'a str>,
}

impl HealthcheckFlags<'_> {
    /// The options, in the image config's units. A zero value, like an empty or missing
    /// one, keeps the default, as in Docker.
    pub(crate) fn parse(&self) -> Result<HealthcheckOptions, HealthcheckError> {
        Ok(HealthcheckOptions {
            interval: interval("interval", self.interval)?,
            timeout: interval("timeout", self.timeout)?,
            start_period: interval("start-period", self.start_period)?,
            start_interval: interval("start-interval", self.start_interval)?,
            retries: retries(self.retries)?,
        })
    }
}

/// A duration option in nanoseconds.
fn interval(flag: &'static str, value: Option<&str>) -> Result<Option<u64>, HealthcheckError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let nanos =
        parse_duration(value).map_err(|source| HealthcheckError::Duration { flag, source })?;
    match u64::try_from(nanos) {
        Ok(0) => Ok(None),
        Ok(nanos) if nanos >= 1_000_000 => Ok(Some(nanos)),
        _ => Err(HealthcheckError::TooShort {
            flag,
            value: value.to_owned(),
        }),
    }
}

/// `--retries`: Go's `ParseInt(value, 10, 32)`, not negative.
fn retries(value: Option<&str>) -> Result<Option<u32>, HealthcheckError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let error = || HealthcheckError::Retries {
        value: value.to_owned(),
    };
    let retries: i32 = value.parse().map_err(|_| error())?;
    match u32::try_from(retries) {
        Ok(0) => Ok(None),
        Ok(retries) => Ok(Some(retries)),
        Err(_) => Err(error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_parsed_to_nanoseconds() {
        let flags = HealthcheckFlags {
            interval: Some("5m"),
            timeout: Some("3s"),
            start_period: Some("1m30s"),
            start_interval: Some("500ms"),
            retries: Some("3"),
        };
        assert_eq!(
            flags.parse().unwrap(),
            HealthcheckOptions {
                interval: Some(300_000_000_000),
                timeout: Some(3_000_000_000),
                start_period: Some(90_000_000_000),
                start_interval: Some(500_000_000),
                retries: Some(3),
            }
        );
    }

    #[test]
    fn zero_and_empty_keep_the_default() {
        let flags = HealthcheckFlags {
            interval: Some("0"),
            timeout: Some("0s"),
            start_period: Some(""),
            start_interval: None,
            retries: Some("0"),
        };
        assert_eq!(flags.parse().unwrap(), HealthcheckOptions::default());
    }

    #[test]
    fn bad_values_are_errors() {
        let parse = |flags: HealthcheckFlags<'_>| flags.parse().unwrap_err().to_string();
        assert_eq!(
            parse(HealthcheckFlags {
                interval: Some("500us"),
                ..Default::default()
            }),
            "`--interval` cannot be less than 1ms, got `500us`"
        );
        assert_eq!(
            parse(HealthcheckFlags {
                timeout: Some("-1s"),
                ..Default::default()
            }),
            "`--timeout` cannot be less than 1ms, got `-1s`"
        );
        assert_eq!(
            parse(HealthcheckFlags {
                start_period: Some("10"),
                ..Default::default()
            }),
            "invalid value for `--start-period`"
        );
        for retries in ["-1", "x", "2147483648", "1.5"] {
            assert_eq!(
                parse(HealthcheckFlags {
                    retries: Some(retries),
                    ..Default::default()
                }),
                format!(
                    "invalid value `{retries}` for `--retries`: expected a non-negative integer"
                )
            );
        }
    }
}

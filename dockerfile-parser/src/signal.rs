//! `STOPSIGNAL` values, checked as Docker checks them: a non-zero integer, or a Linux
//! signal name with or without `SIG`, in any case (`SIGTERM`, `term`, `RTMIN+3`).

/// A `STOPSIGNAL` value that names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signal `{value}`: expected a signal name like `SIGTERM` or a number")]
pub struct SignalError {
    value: String,
}

/// The signal names Docker knows on Linux, without `SIG`.
const NAMES: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// Checks a `STOPSIGNAL` value; the value itself is kept as written.
///
/// # Errors
/// When it is `0`, or neither an integer nor a known signal name.
pub(crate) fn check_signal(value: &str) -> Result<(), SignalError> {
    let error = || SignalError {
        value: value.to_owned(),
    };
    if let Ok(number) = value.parse::<i64>() {
        return if number == 0 { Err(error()) } else { Ok(()) };
    }
    let upper = value.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let known = NAMES.contains(&name)
        || realtime_offset(name, "RTMIN+").is_some_and(|n| (1..=15).contains(&n))
        || realtime_offset(name, "RTMAX-").is_some_and(|n| (1..=14).contains(&n));
    if known { Ok(()) } else { Err(error()) }
}

/// `n` in `RTMIN+n` or `RTMAX-n`, written without sign or leading zeros.
fn realtime_offset(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_are_signals() {
        for value in [
            "SIGTERM",
            "TERM",
            "sigkill",
            "Sigusr1",
            "9",
            "-1",
            "+15",
            "SIGRTMIN",
            "RTMIN+1",
            "rtmin+15",
            "SIGRTMAX-14",
            "RTMAX",
            "SIGCLD",
            "SIGWINCH",
        ] {
            assert_eq!(check_signal(value), Ok(()), "{value}");
        }
    }

    #[test]
    fn other_values_are_errors() {
        for value in [
            "0",
            "",
            "SIG",
            "SIGFOO",
            "RTMIN+16",
            "RTMIN+0",
            "RTMIN+01",
            "RTMAX-15",
            "RTMAX+1",
            "9x",
            " 9",
            "SIGSIGTERM",
        ] {
            assert!(check_signal(value).is_err(), "{value}");
        }
        assert_eq!(
            check_signal("SIGFOO").unwrap_err().to_string(),
            "invalid signal `SIGFOO`: expected a signal name like `SIGTERM` or a number"
        );
    }
}

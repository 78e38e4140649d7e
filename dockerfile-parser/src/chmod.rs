//! `--chmod` values of `COPY` and `ADD`, checked as Docker checks them.
//!
//! An octal mode up to `7777` (`755`, `0644`), or a symbolic mode as `chmod(1)` takes it:
//! comma-separated clauses of optional `ugoa` followed by one or more actions, each an
//! operator `+ - =` and any of `rwxXst` and `ugo` (`u+x`, `go-w,a+X`, `u=rw,g=u`). A value
//! starting with a digit must be octal.

/// A `--chmod` value that is not a mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid `--chmod` value `{value}`: expected an octal mode up to `7777` or a symbolic mode like `u+x,go-w`"
)]
pub struct ChmodError {
    value: String,
}

/// Checks a `--chmod` value; the value itself is kept as written.
///
/// # Errors
/// When it is neither an octal mode up to `7777` nor a symbolic mode.
pub(crate) fn check_chmod(value: &str) -> Result<(), ChmodError> {
    let valid = if value.starts_with(|c: char| c.is_ascii_digit()) {
        u32::from_str_radix(value, 8).is_ok_and(|mode| mode <= 0o7777)
    } else {
        is_symbolic(value)
    };
    if valid {
        Ok(())
    } else {
        Err(ChmodError {
            value: value.to_owned(),
        })
    }
}

/// Whether `value` is a symbolic mode (BSD `setmode` syntax).
fn is_symbolic(value: &str) -> bool {
    value.split(',').all(|clause| {
        let actions = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        // At least one action, each an operator and its permissions.
        actions.starts_with(['+', '-', '='])
            && actions
                .split_inclusive(['+', '-', '='])
                .flat_map(|part| part.strip_suffix(['+', '-', '=']).or(Some(part)))
                .all(|perms| perms.chars().all(|c| "rwxXstugo".contains(c)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_modes_up_to_7777() {
        for value in ["755", "0644", "0", "7777", "00000755"] {
            assert_eq!(check_chmod(value), Ok(()), "{value}");
        }
        for value in ["10000", "8", "79", "0x1ff", "755a", "1e3"] {
            assert!(check_chmod(value).is_err(), "{value}");
        }
    }

    #[test]
    fn symbolic_modes() {
        for value in [
            "u+x",
            "go-w",
            "a+X",
            "u=rw,g=u,o=",
            "=",
            "+x",
            "u+x-w",
            "ug+rwx,o-rwx",
            "u+s",
            "+t",
            "a=rwxXstugo",
            "uuu+x",
            "-",
        ] {
            assert_eq!(check_chmod(value), Ok(()), "{value}");
        }
        for value in [
            "", "u", "ux", "u+x,", ",u+x", "u+y", "u+x g+w", "x+u", "U+X",
        ] {
            assert!(check_chmod(value).is_err(), "{value:?}");
        }
        assert_eq!(
            check_chmod("u+y").unwrap_err().to_string(),
            "invalid `--chmod` value `u+y`: expected an octal mode up to `7777` or a symbolic mode like `u+x,go-w`"
        );
    }
}

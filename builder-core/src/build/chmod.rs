//! Applying a `--chmod` value: an octal mode, or a symbolic one as `chmod(1)` reads it.

use super::BuildError;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Chmod {
    /// An octal mode, set as it is.
    Octal(u32),
    /// Symbolic clauses, applied to each file's mode.
    Symbolic(Vec<Clause>),
}

/// One clause of a symbolic mode: who (`ugoa`, empty: all) and the actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Clause {
    who: u32,
    actions: Vec<(char, Perm)>,
}

/// What an action grants: bits, `X`, or a copy of another class.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Perm {
    Bits {
        rwx: u32,
        exec_if_dir: bool,
        setid: bool,
        sticky: bool,
    },
    Copy(char),
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl Chmod {
    /// Parses `value` (checked by the frontend, so an error is rare).
    pub(super) fn parse(value: &str) -> Result<Chmod, BuildError> {
        let invalid = || BuildError::InvalidChmod {
            value: value.to_owned(),
        };
        if value.starts_with(|c: char| c.is_ascii_digit()) {
            let mode = u32::from_str_radix(value, 8).map_err(|_| invalid())?;
            return if mode <= 0o7777 {
                Ok(Chmod::Octal(mode))
            } else {
                Err(invalid())
            };
        }
        let mut clauses = Vec::new();
        for text in value.split(',') {
            let mut chars = text.chars().peekable();
            let mut who = 0;
            while let Some(&c) = chars.peek() {
                who |= match c {
                    'u' => USER,
                    'g' => GROUP,
                    'o' => OTHER,
                    'a' => USER | GROUP | OTHER,
                    _ => break,
                };
                chars.next();
            }
            let mut actions = Vec::new();
            while let Some(op) = chars.next() {
                if !matches!(op, '+' | '-' | '=') {
                    return Err(invalid());
                }
                let mut perm = Perm::Bits {
                    rwx: 0,
                    exec_if_dir: false,
                    setid: false,
                    sticky: false,
                };
                while let Some(&c) = chars.peek() {
                    if matches!(c, '+' | '-' | '=') {
                        break;
                    }
                    chars.next();
                    match (&mut perm, c) {
                        (Perm::Bits { .. }, 'u' | 'g' | 'o') => perm = Perm::Copy(c),
                        (Perm::Bits { rwx, .. }, 'r') => *rwx |= 4,
                        (Perm::Bits { rwx, .. }, 'w') => *rwx |= 2,
                        (Perm::Bits { rwx, .. }, 'x') => *rwx |= 1,
                        (Perm::Bits { exec_if_dir, .. }, 'X') => *exec_if_dir = true,
                        (Perm::Bits { setid, .. }, 's') => *setid = true,
                        (Perm::Bits { sticky, .. }, 't') => *sticky = true,
                        _ => return Err(invalid()),
                    }
                }
                actions.push((op, perm));
            }
            if actions.is_empty() {
                return Err(invalid());
            }
            clauses.push(Clause { who, actions });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The mode a file of mode `mode` gets (`is_dir`: a directory, for `X`). A symbolic
    /// mode without `ugoa` applies to all classes (Docker ignores the umask).
    pub(super) fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(octal) => return *octal,
            Chmod::Symbolic(clauses) => clauses,
        };
        let mut mode = mode & 0o7777;
        for clause in clauses {
            let who = if clause.who == 0 {
                USER | GROUP | OTHER
            } else {
                clause.who
            };
            for (op, perm) in &clause.actions {
                let bits = match perm {
                    Perm::Bits {
                        rwx,
                        exec_if_dir,
                        setid,
                        sticky,
                    } => {
                        let any_exec = is_dir || mode & 0o111 != 0;
                        let rwx = rwx | if *exec_if_dir && any_exec { 1 } else { 0 };
                        let mut bits = rwx * 0o111;
                        if *setid {
                            bits |= 0o6000;
                        }
                        if *sticky {
                            bits |= 0o1000;
                        }
                        bits & who
                    }
                    Perm::Copy(class) => {
                        let rwx = match class {
                            'u' => (mode >> 6) & 7,
                            'g' => (mode >> 3) & 7,
                            _ => mode & 7,
                        };
                        (rwx * 0o111) & who & 0o777
                    }
                };
                mode = match op {
                    '+' => mode | bits,
                    '-' => mode & !bits,
                    _ => (mode & !(who & 0o777)) | bits,
                };
            }
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_octal_and_symbolic_modes() {
        let cases = [
            ("755", 0o600, false, 0o755),
            ("u+x", 0o644, false, 0o744),
            ("go-w", 0o666, false, 0o644),
            ("a+X", 0o644, true, 0o755),
            ("a+X", 0o644, false, 0o644),
            ("u=rw,g=u,o=", 0o777, false, 0o660),
            ("+x", 0o600, false, 0o711),
            ("u+s", 0o755, false, 0o4755),
        ];
        for (value, mode, dir, want) in cases {
            let chmod = Chmod::parse(value).unwrap();
            assert_eq!(chmod.apply(mode, dir), want, "{value} on {mode:o}");
        }
        assert!(Chmod::parse("u*x").is_err());
    }
}

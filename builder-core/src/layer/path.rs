//! Normalized paths inside a layer.

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::LayerError;

/// A path inside a layer: relative, `/`-separated, without `.`, `..` or empty components.
///
/// Paths order component by component (`a`, `a/b`, `a-b`), so a directory comes right
/// before its contents; this is the order of entries in a layer tar.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LayerPath(Vec<u8>);

impl LayerPath {
    /// Normalizes `path`: leading `/` and `./`, `.` and empty components are dropped and
    /// `..` removes the component before it.
    ///
    /// # Errors
    ///
    /// [`LayerError::PathEscapes`] when `..` would climb above the root,
    /// [`LayerError::EmptyPath`] when nothing is left (the root itself), and
    /// [`LayerError::PathHasNul`] for a NUL byte.
    pub fn new(path: impl AsRef<Path>) -> Result<Self, LayerError> {
        Self::from_bytes(path.as_ref().as_os_str().as_bytes())
    }

    /// Like [`LayerPath::new`], from raw bytes (a tar header's name).
    ///
    /// # Errors
    ///
    /// As [`LayerPath::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LayerError> {
        let lossy = || String::from_utf8_lossy(bytes).into_owned();
        if bytes.contains(&0) {
            return Err(LayerError::PathHasNul { path: lossy() });
        }
        let mut parts: Vec<&[u8]> = Vec::new();
        for part in bytes.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() {
                        return Err(LayerError::PathEscapes { path: lossy() });
                    }
                }
                _ => parts.push(part),
            }
        }
        if parts.is_empty() {
            return Err(LayerError::EmptyPath { path: lossy() });
        }
        Ok(Self(parts.join(&b'/')))
    }

    /// The path's bytes, `/`-separated.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as a relative host path.
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }

    /// The parent directory, or `None` for a top-level path.
    pub fn parent(&self) -> Option<LayerPath> {
        let slash = self.0.iter().rposition(|b| *b == b'/')?;
        Some(Self(self.0[..slash].to_vec()))
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|b| *b == b'/') {
            Some(slash) => &self.0[slash + 1..],
            None => &self.0,
        }
    }

    /// This path with `name` (one component, no `/`) appended.
    pub(crate) fn join_name(&self, name: &[u8]) -> LayerPath {
        let mut bytes = Vec::with_capacity(self.0.len() + 1 + name.len());
        bytes.extend_from_slice(&self.0);
        bytes.push(b'/');
        bytes.extend_from_slice(name);
        Self(bytes)
    }

    /// A top-level path made of one component (no `/`, not `.` or `..`).
    pub(crate) fn from_name(name: &[u8]) -> LayerPath {
        Self(name.to_vec())
    }

    /// A path in `parent` (or at the top when `None`) named `name`.
    pub(crate) fn child(parent: Option<&LayerPath>, name: &[u8]) -> LayerPath {
        match parent {
            Some(parent) => parent.join_name(name),
            None => Self::from_name(name),
        }
    }

    /// Whether `self` is `ancestor` or lies below it.
    pub fn starts_with(&self, ancestor: &LayerPath) -> bool {
        self.0.starts_with(&ancestor.0)
            && (self.0.len() == ancestor.0.len() || self.0[ancestor.0.len()] == b'/')
    }
}

impl Ord for LayerPath {
    /// Component-wise order: `/` sorts before every other byte.
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |b: &u8| if *b == b'/' { 0 } else { u16::from(*b) + 1 };
        self.0.iter().map(key).cmp(other.0.iter().map(key))
    }
}

impl PartialOrd for LayerPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> LayerPath {
        LayerPath::new(s).expect("valid test path")
    }

    #[test]
    fn normalizes_leading_slash_dots_and_parents() {
        assert_eq!(p("/usr//bin/./sh").as_bytes(), b"usr/bin/sh");
        assert_eq!(p("./a/b/../c/").as_bytes(), b"a/c");
    }

    #[test]
    fn refuses_escape_and_root() {
        assert_eq!(
            LayerPath::new("a/../../etc").unwrap_err().to_string(),
            "path `a/../../etc` leaves the layer root"
        );
        assert!(matches!(
            LayerPath::new("/"),
            Err(LayerError::EmptyPath { .. })
        ));
    }

    #[test]
    fn orders_children_right_after_their_directory() {
        let mut paths = [p("a-b"), p("a/b"), p("a"), p("a/b/c"), p("a.txt")];
        paths.sort();
        let got: Vec<String> = paths.iter().map(ToString::to_string).collect();
        assert_eq!(got, ["a", "a/b", "a/b/c", "a-b", "a.txt"]);
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(p("a/b/c").parent(), Some(p("a/b")));
        assert_eq!(p("a").parent(), None);
        assert_eq!(p("a/b/c").file_name(), b"c");
        assert!(p("a/b").starts_with(&p("a")));
        assert!(!p("ab").starts_with(&p("a")));
    }
}

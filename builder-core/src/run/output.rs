//! The tail of a step's output, kept for the error message of a failed step.

/// How many bytes of output are kept.
const KEEP_BYTES: usize = 8 * 1024;

/// The lines an error shows at most.
pub(super) const KEEP_LINES: usize = 10;

/// The last [`KEEP_BYTES`] of a command's output, standard output and error as they came.
#[derive(Debug, Default)]
pub(super) struct Tail {
    bytes: Vec<u8>,
}

impl Tail {
    /// Adds output.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        if self.bytes.len() > 2 * KEEP_BYTES {
            let cut = self.bytes.len() - KEEP_BYTES;
            self.bytes.drain(..cut);
        }
    }

    /// The last [`KEEP_LINES`] non-empty lines, as text (invalid UTF-8 replaced).
    pub(super) fn lines(&self) -> Vec<String> {
        let start = self.bytes.len().saturating_sub(KEEP_BYTES);
        let text = String::from_utf8_lossy(&self.bytes[start..]);
        let lines: Vec<&str> = text
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.is_empty())
            .collect();
        let skip = lines.len().saturating_sub(KEEP_LINES);
        lines[skip..]
            .iter()
            .map(|line| (*line).to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines() {
        let mut tail = Tail::default();
        for i in 0..30 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        tail.push(b"no newline");
        let lines = tail.lines();
        assert_eq!(lines.len(), KEEP_LINES);
        assert_eq!(lines[0], "line 21");
        assert_eq!(lines[9], "no newline");
        let mut big = Tail::default();
        big.push(&vec![b'x'; 5 * KEEP_BYTES]);
        assert_eq!(big.lines()[0].len(), KEEP_BYTES);
    }
}

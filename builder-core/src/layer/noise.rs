//! Runs of incompressible bytes in a chunk of a layer, which the compressors store as
//! they are instead of trying to compress them.
//!
//! Compressing bytes that do not compress (already compressed files: images, archives,
//! fonts, encrypted data) costs zstd and deflate about as much as text, only to store
//! them in the end: on 160 MB of random files it was a third of a cold zstd build's CPU
//! and most of a gzip one's. Runs of such bytes are found 512 bytes at a time (the tar
//! block: file data starts on one) by their byte histogram: a block in which no byte
//! value occurs more than [`NOISE_MAX_COUNT`] times and at least [`NOISE_MIN_DISTINCT`]
//! values occur has nothing a literal coder can use. Runs of at least [`MIN_RUN`] such
//! blocks are stored; the rest (tar headers, text, code, short runs) is compressed.
//!
//! What is given up: a repeat of incompressible bytes inside a run (the same compressed
//! file twice in one chunk) is stored twice, and compression restarts with an empty
//! window after each run, which costs a few dozen bytes per file next to such runs (≈1 %
//! on the random files of `benches/compare.sh`).

use std::ops::Range;

/// The unit in which incompressible runs are found: a tar block.
const BLOCK: usize = 512;
/// The most times one byte value may occur in a [`BLOCK`] of incompressible bytes.
/// Uniformly random bytes occur twice on average; a block of random bytes exceeds 12
/// about once in 20,000, while text, code and tar headers exceed it within their first
/// few dozen bytes.
const NOISE_MAX_COUNT: u8 = 12;
/// The fewest distinct byte values in a [`BLOCK`] of incompressible bytes: random bytes
/// have about 221; bytes drawn from 128 values (7-bit data, which a literal coder
/// shrinks by an eighth) have at most 128.
const NOISE_MIN_DISTINCT: u32 = 192;
/// The fewest consecutive incompressible blocks stored: shorter runs are not worth
/// interrupting compression for.
const MIN_RUN: usize = 8;

/// The runs of incompressible bytes in `raw` worth storing, in order.
pub(crate) fn noise_runs(raw: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < raw.len() {
            let run = noise_run(&raw[at..]);
            let start = at;
            at += run.max(BLOCK);
            if run >= MIN_RUN * BLOCK {
                return Some(start..start + run);
            }
        }
        None
    })
}

/// The length of the run of incompressible blocks `bytes` starts with (a whole number of
/// blocks; a short last block never counts).
fn noise_run(bytes: &[u8]) -> usize {
    bytes
        .chunks_exact(BLOCK)
        .take_while(|block| looks_random(block))
        .count()
        * BLOCK
}

/// Whether no byte value occurs more than [`NOISE_MAX_COUNT`] times in `block` and at
/// least [`NOISE_MIN_DISTINCT`] values occur.
fn looks_random(block: &[u8]) -> bool {
    let mut counts = [0u8; 256];
    let mut distinct = 0;
    // Checked every 64 bytes, so that a count cannot pass 12 + 64 before it is seen.
    for group in block.chunks(64) {
        let mut over = false;
        for &byte in group {
            let count = &mut counts[usize::from(byte)];
            distinct += u32::from(*count == 0);
            *count += 1;
            over |= *count > NOISE_MAX_COUNT;
        }
        if over {
            return false;
        }
    }
    distinct >= NOISE_MIN_DISTINCT
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::noise;

    /// Source-like text.
    pub(crate) fn text(len: usize) -> Vec<u8> {
        b"fn main() { println!(\"hello\"); }\n"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    #[test]
    fn finds_long_runs_of_random_blocks_only() {
        let mut raw = text(3000);
        raw.extend(noise(300 * 1024 + 512, 1));
        raw.extend(text(700));
        raw.extend(noise(2 * 1024, 2)); // too short a run
        raw.extend(text(512));
        // Block 5 (2560..3072) is mostly text. Block 606 (310272..310784) is 440 bytes
        // of noise and 72 of text, with 9 `n`s; this seed's noise adds 6 more, past the
        // count limit, so the run ends before it.
        assert_eq!(noise_runs(&raw).collect::<Vec<_>>(), vec![3072..310_272]);
        assert_eq!(noise_runs(&text(100_000)).count(), 0);
        assert_eq!(noise_runs(&[]).count(), 0);
        // Random 7-bit bytes compress by an eighth: not noise.
        let seven: Vec<u8> = noise(64 * 1024, 3).iter().map(|b| b & 0x7f).collect();
        assert_eq!(noise_runs(&seven).count(), 0);
        // Random bytes after a tar header at the start of a chunk.
        let mut entry = vec![0; 512];
        entry.extend(noise(8192, 4));
        assert_eq!(noise_runs(&entry).collect::<Vec<_>>(), vec![512..8704]);
    }
}

//! Seeded bytes that do not compress.

/// `len` pseudo-random bytes from a xorshift64 generator seeded with `seed` (made odd):
/// the same bytes for the same seed, and nothing on the way can compress them.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // The low byte, truncated on purpose.
            state as u8
        })
        .collect()
}

//! Seeded bytes that do not compress.

/// `len` pseudo-random bytes from `fastrand`'s generator seeded with `seed`: the same
/// bytes for the same seed, different ones for another seed, and nothing on the way
/// (gzip, zstd) can compress them. The one generator of the tests and the benches.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    fastrand::Rng::with_seed(seed).fill(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_seeded_and_incompressible() {
        assert_eq!(noise(4096, 7), noise(4096, 7));
        assert_ne!(noise(4096, 0), noise(4096, 1));
        assert_ne!(noise(4096, 2), noise(4096, 3));
        assert_eq!(noise(13, 7), noise(4096, 7)[..13]);
        let bytes = noise(1 << 20, 1);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &bytes).expect("compress in memory");
        let compressed = gz.finish().expect("compress in memory");
        assert!(
            compressed.len() >= bytes.len(),
            "{} bytes",
            compressed.len()
        );
    }
}

//! A chunk of a layer as zstd frames: runs of incompressible bytes ([`noise_runs`])
//! stored in frames of raw blocks, everything else compressed by libzstd, one frame per
//! stretch. Every frame is a standard zstd frame (RFC 8878), so the chunk decodes with
//! any zstd decoder. Raw frames carry no checksum: the layer's SHA-256 digest covers
//! every byte already. libzstd has no public call that writes raw blocks (its
//! block-level API is deprecated), hence the framing by hand below.

use std::cell::RefCell;
use std::io;

use super::noise::noise_runs;

/// The largest block of a zstd frame.
const MAX_BLOCK: usize = 128 * 1024;
/// The zstd frame magic number, little-endian.
const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

thread_local! {
    /// Each pool thread keeps its zstd state (with its level) between chunks; building
    /// it anew costs more than compressing a small chunk.
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// `raw` as a sequence of zstd frames at `level` (see the [module](self) docs).
pub(crate) fn zstd_frames(raw: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 64 + 64);
    let mut from = 0;
    for run in noise_runs(raw) {
        if from < run.start {
            out.extend_from_slice(&compressed_frame(&raw[from..run.start], level)?);
        }
        raw_frame(&raw[run.clone()], &mut out);
        from = run.end;
    }
    if from < raw.len() || raw.is_empty() {
        out.extend_from_slice(&compressed_frame(&raw[from..], level)?);
    }
    Ok(out)
}

/// Appends a frame that stores `bytes` (not empty) in raw blocks: a single-segment frame
/// header with the content size, no checksum.
fn raw_frame(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    let size = bytes.len() as u64;
    // Frame header descriptor: Single_Segment_flag (bit 5) and Frame_Content_Size_flag
    // (bits 7-6) for the smallest field that holds the size.
    match size {
        0..=255 => {
            out.push(0x20);
            out.push(size as u8);
        }
        256..=65_791 => {
            out.push(0x60);
            out.extend_from_slice(&((size - 256) as u16).to_le_bytes());
        }
        65_792..=0xffff_ffff => {
            out.push(0xa0);
            out.extend_from_slice(&(size as u32).to_le_bytes());
        }
        _ => {
            out.push(0xe0);
            out.extend_from_slice(&size.to_le_bytes());
        }
    }
    let blocks = bytes.chunks(MAX_BLOCK);
    let last = blocks.len() - 1;
    for (index, block) in blocks.enumerate() {
        // Block header: Last_Block (bit 0), Block_Type 0 = raw (bits 1-2), Block_Size.
        let header = u32::from(index == last) | ((block.len() as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(block);
    }
}

/// One zstd frame of `raw` compressed by libzstd, with its content size and a checksum.
fn compressed_frame(raw: &[u8], level: i32) -> io::Result<Vec<u8>> {
    ZSTD.with_borrow_mut(|state| {
        let compressor = match state {
            Some((l, compressor)) if *l == level => compressor,
            _ => {
                let mut fresh = zstd::bulk::Compressor::new(level)?;
                fresh.include_checksum(true)?;
                &mut state.insert((level, fresh)).1
            }
        };
        compressor.compress(raw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::noise::tests::text;
    use crate::testutil::noise;

    /// The frames of `out`: (raw, content size) each, read from their headers.
    fn frames(mut out: &[u8]) -> Vec<(bool, usize)> {
        let mut frames = Vec::new();
        while !out.is_empty() {
            let size = zstd::zstd_safe::find_frame_compressed_size(out).unwrap();
            let content = zstd::zstd_safe::get_frame_content_size(&out[..size])
                .unwrap()
                .unwrap() as usize;
            // A raw frame has no checksum flag; libzstd's frames here all have one.
            frames.push((out[4] & 0x04 == 0, content));
            out = &out[size..];
        }
        frames
    }

    #[test]
    fn decodes_to_the_input_with_noise_stored_raw() {
        let mut raw = text(3000);
        raw.extend(noise(300 * 1024 + 512, 1));
        raw.extend(text(700));
        raw.extend(noise(2 * 1024, 2)); // too short a run: compressed
        raw.extend(text(512));
        let out = zstd_frames(&raw, 3).unwrap();
        assert_eq!(zstd::decode_all(&out[..]).unwrap(), raw);
        let frames = frames(&out);
        assert_eq!(frames.iter().map(|f| f.1).sum::<usize>(), raw.len());
        // Block 5 (bytes 2560..3072) mixes text and noise; the noise run starts at 3072.
        assert_eq!(frames[0], (false, 3072));
        assert!(frames[1].0, "the long noise run is raw: {frames:?}");
        assert!(frames[1].1 >= 300 * 1024, "{frames:?}");
        assert!(!frames[2].0 && frames.len() == 3, "{frames:?}");
        let plain = compressed_frame(&raw, 3).unwrap();
        assert!(
            out.len() < plain.len() + 64,
            "{} vs {} bytes",
            out.len(),
            plain.len()
        );
    }

    #[test]
    fn frame_headers_hold_every_size_class() {
        for len in [512, 4096, 65_791, 65_792, 200_000] {
            let raw = noise(len, len as u64);
            let mut out = Vec::new();
            raw_frame(&raw, &mut out);
            assert_eq!(zstd::decode_all(&out[..]).unwrap(), raw, "{len}");
            assert_eq!(frames(&out), [(true, len)], "{len}");
        }
    }

    #[test]
    fn text_and_empty_input_are_one_compressed_frame() {
        for raw in [text(100_000), Vec::new()] {
            let out = zstd_frames(&raw, 3).unwrap();
            assert_eq!(out, compressed_frame(&raw, 3).unwrap());
            assert_eq!(zstd::decode_all(&out[..]).unwrap(), raw);
        }
    }
}

//! A chunk of a layer as one gzip member (RFC 1952) whose deflate stream (RFC 1951)
//! stores runs of incompressible bytes ([`noise_runs`]) in stored blocks and compresses
//! the rest.
//!
//! Each compressed stretch is deflated on its own and ended with a full flush (an empty
//! stored block that leaves the stream on a byte boundary), so stored blocks can follow
//! it; the stream's last block carries the final flag. A deflate stream may mix block
//! types freely, so every inflater reads it; zlib has no call that writes a stored block
//! for given bytes, hence the few bytes of framing by hand below. A chunk without such
//! runs is one deflate pass, as before.

use std::cell::RefCell;
use std::io;

use super::noise::noise_runs;

/// The most bytes of a stored block.
const MAX_STORED: usize = 65_535;

thread_local! {
    /// Each pool thread keeps its deflate state (with its level) between chunks;
    /// building it anew costs more than compressing a small chunk.
    static DEFLATE: RefCell<Option<(u32, flate2::Compress)>> = const { RefCell::new(None) };
}

/// One gzip member of `raw` at `level`, with a fixed header: no name, mtime 0, OS
/// "unknown", so the bytes do not depend on the host or the time.
pub(crate) fn gzip_member(raw: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 64 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]);
    let mut from = 0;
    for run in noise_runs(raw) {
        if from < run.start {
            deflate(&raw[from..run.start], level, false, &mut out)?;
        }
        stored(&raw[run.clone()], run.end == raw.len(), &mut out);
        from = run.end;
    }
    if from < raw.len() || raw.is_empty() {
        deflate(&raw[from..], level, true, &mut out)?;
    }
    let mut crc = flate2::Crc::new();
    crc.update(raw);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the input size modulo 2^32; a chunk is far smaller.
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    Ok(out)
}

/// Appends `raw` deflated on its own at `level`: ending the stream when `last`, else
/// with a full flush, on a byte boundary.
fn deflate(raw: &[u8], level: u32, last: bool, out: &mut Vec<u8>) -> io::Result<()> {
    let flush = if last {
        flate2::FlushCompress::Finish
    } else {
        flate2::FlushCompress::Full
    };
    DEFLATE.with_borrow_mut(|state| {
        let deflate = match state {
            Some((l, deflate)) if *l == level => {
                deflate.reset();
                deflate
            }
            _ => {
                let fresh = flate2::Compress::new(flate2::Compression::new(level), false);
                &mut state.insert((level, fresh)).1
            }
        };
        let mut input = raw;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(raw.len() / 8 + 64);
            }
            let before = deflate.total_in();
            let status = deflate
                .compress_vec(input, out, flush)
                .map_err(io::Error::other)?;
            let consumed = usize::try_from(deflate.total_in() - before)
                .expect("deflate consumes at most its input");
            input = &input[consumed..];
            let done = if last {
                status == flate2::Status::StreamEnd
            } else {
                // A flush is complete once a call leaves output room unused.
                input.is_empty() && out.len() < out.capacity()
            };
            if done {
                return Ok(());
            }
        }
    })
}

/// Appends `bytes` (not empty) as stored blocks, the last one final when `last`; the
/// stream is on a byte boundary before and after.
fn stored(bytes: &[u8], last: bool, out: &mut Vec<u8>) {
    let blocks = bytes.chunks(MAX_STORED);
    let count = blocks.len();
    for (index, block) in blocks.enumerate() {
        // BFINAL (bit 0) and BTYPE 00 (bits 1-2), padded to the byte; LEN and NLEN.
        out.push(u8::from(last && index + 1 == count));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::layer::noise::tests::text;
    use crate::testutil::noise;

    fn gunzip(member: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(member)
            .read_to_end(&mut raw)
            .unwrap();
        raw
    }

    #[test]
    fn stores_noise_and_decodes_to_the_input() {
        let mut raw = text(3000);
        raw.extend(noise(200 * 1024 + 512, 1));
        raw.extend(text(700));
        let member = gzip_member(&raw, 6).unwrap();
        assert_eq!(gunzip(&member), raw);
        // About the noise stored plus the text compressed.
        assert!(member.len() < 200 * 1024 + 512 + 400, "{}", member.len());
        // Ending on a stored run; all noise; text only (one deflate pass, as before).
        let tail = [text(1000), noise(70_000, 2)].concat();
        for raw in [tail, noise(100_000, 3), text(50_000), Vec::new()] {
            let member = gzip_member(&raw, 6).unwrap();
            assert_eq!(gunzip(&member), raw);
            assert_eq!(member[member.len() - 4..], (raw.len() as u32).to_le_bytes());
        }
    }
}

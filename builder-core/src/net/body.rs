//! Reading small answers (manifests, tokens) into memory, bounded.

use std::io::Read as _;

use ureq::Body;
use ureq::http::Response;

use super::error::Failure;
use super::options::NetOptions;

/// Reads the body of `response` whole when it has at most `limit` bytes; `Ok(None)`
/// when it has more (only `limit + 1` bytes are read to know it).
///
/// # Errors
///
/// The [`Failure`] of reading: a timeout, a broken connection.
pub(crate) fn read_small(
    response: &mut Response<Body>,
    limit: u64,
    options: &NetOptions,
) -> Result<Option<Vec<u8>>, Failure> {
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| Failure::from_io(error, options))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

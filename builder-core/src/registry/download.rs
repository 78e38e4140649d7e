//! Blob downloads: streamed into the store, resumed with `Range` when the connection
//! breaks, verified against the digest before they are committed.

use std::io::{self, Read as _};

use oci_spec::image::Descriptor;

use crate::events::Events;
use crate::store::Store;

use super::RegistryError;
use super::client::{header, status_error};
use super::progress::Task;
use super::repository::Repository;

impl Repository<'_> {
    /// Downloads the blob `descriptor` names into the store, unless it is there already.
    /// Returns whether it was downloaded.
    ///
    /// A broken transfer is resumed from the bytes received (`Range`) after a backoff, up
    /// to the client's retry count; a registry that ignores `Range` sends the whole blob
    /// again, which starts the temp afresh. The blob is committed only with the
    /// descriptor's size and digest; otherwise its temp is dropped and nothing is stored.
    pub(crate) fn download(
        &self,
        store: &Store,
        descriptor: &Descriptor,
        events: &dyn Events,
    ) -> crate::Result<bool> {
        let digest = descriptor.digest();
        if store.has_blob(digest) {
            return Ok(false);
        }
        let size = descriptor.size();
        let url = self.blob_url(digest.as_ref());
        let mut task = Task::start(events, "pull", digest, size);
        let mut blob = store.begin_blob()?;
        let mut failures = 0;
        loop {
            let offset = blob.written();
            let mut response = self.send(&url, |agent, auth| {
                let request = auth.apply(agent.get(&url));
                if offset > 0 {
                    request.header("Range", format!("bytes={offset}-")).call()
                } else {
                    request.call()
                }
            })?;
            match response.status().as_u16() {
                200 if offset > 0 => {
                    // The whole blob again: start over.
                    blob = store.begin_blob()?;
                    task.set(0);
                }
                200 => {}
                206 if resumes_at(header(&response, "Content-Range"), offset) => {}
                _ => return Err(status_error("GET", &url, &mut response).into()),
            }
            // One byte more than the size, to notice an overlong blob.
            let left = (size + 1).saturating_sub(blob.written());
            let mut body = response.body_mut().as_reader().take(left);
            // A connection closed early reads as a short body: a break like any other.
            let copied = copy(&mut body, &mut task.writer(&mut blob)).and_then(|()| {
                if blob.written() < size {
                    Err(io::Error::from(io::ErrorKind::UnexpectedEof))
                } else {
                    Ok(())
                }
            });
            match copied {
                Ok(()) => break,
                Err(_) if failures < self.client().options().retries => {
                    std::thread::sleep(self.client().backoff(failures));
                    failures += 1;
                }
                Err(source) => {
                    return Err(RegistryError::Download {
                        digest: digest.clone(),
                        source,
                    }
                    .into());
                }
            }
        }
        if blob.written() != size {
            return Err(RegistryError::BlobSize {
                digest: digest.clone(),
                expected: size,
                actual: blob.written(),
            }
            .into());
        }
        blob.commit_verified(digest)?;
        task.finish();
        Ok(true)
    }
}

/// Whether a `Content-Range: bytes START-END/TOTAL` starts at `offset`.
fn resumes_at(content_range: Option<&str>, offset: u64) -> bool {
    content_range
        .and_then(|r| r.strip_prefix("bytes "))
        .and_then(|r| r.split('-').next())
        .and_then(|start| start.trim().parse::<u64>().ok())
        == Some(offset)
}

/// Copies `reader` into the blob with a fixed buffer.
fn copy(reader: &mut impl io::Read, writer: &mut impl io::Write) -> io::Result<()> {
    io::copy(reader, writer)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_must_start_at_the_offset() {
        assert!(resumes_at(Some("bytes 100-199/200"), 100));
        assert!(!resumes_at(Some("bytes 0-199/200"), 100));
        assert!(!resumes_at(None, 100));
    }
}

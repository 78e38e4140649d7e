//! Blob downloads: streamed into the store, resumed with `Range` when the connection
//! breaks or stalls, verified against the digest before they are committed.

use std::io::{self, Read as _, Write as _};

use oci_spec::image::Descriptor;

use crate::events::Events;
use crate::net::{Attempts, Failure, NetOptions};
use crate::store::{BlobWriter, Store, StoreError};

use super::RegistryError;
use super::client::{header, status_error};
use super::progress::Task;
use super::repository::Repository;

/// The size of the buffer a blob is streamed through.
const BUFFER: usize = 64 * 1024;

impl Repository<'_> {
    /// Downloads the blob `descriptor` names into the store, unless it is there already.
    /// Returns whether it was downloaded.
    ///
    /// A transfer that breaks or stalls (the idle timeout) is resumed from the bytes
    /// received (`Range`) after a pause, within the client's retries and deadline for
    /// the blob; a registry that ignores `Range` sends the whole blob again, which starts
    /// the temp afresh. The blob is committed only with the descriptor's size and
    /// digest; otherwise its temp is dropped and nothing is stored.
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
        let mut attempts = self.attempts(format!("blob `{digest}` of `{}`", self.name()));
        let mut task = Task::start(events, "pull", digest, size, attempts.pulse());
        let mut blob = store.begin_blob()?;
        loop {
            let offset = blob.written();
            let mut response = self.send(&mut attempts, |agent, auth| {
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
            let body = response.body_mut().as_reader().take(left);
            let options = self.client().http().options();
            match copy(body, &mut blob, &mut task, size, options)? {
                None => break,
                Some(failure) => retry(&mut attempts, failure)?,
            }
        }
        if blob.written() != size {
            return Err(RegistryError::BlobSize {
                digest: digest.clone(),
                repository: self.name(),
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

/// Streams `body` into `blob` with a fixed buffer. Returns the failure of the network
/// when the body breaks, stalls or ends before `size` bytes are in the blob (a
/// connection closed early reads as a short body).
///
/// # Errors
///
/// [`StoreError::WriteBlob`] when the blob cannot be written.
fn copy(
    mut body: impl io::Read,
    blob: &mut BlobWriter,
    task: &mut Task<'_>,
    size: u64,
    options: &NetOptions,
) -> crate::Result<Option<Failure>> {
    let mut buffer = vec![0; BUFFER];
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Ok(Some(Failure::from_io(error, options))),
        };
        task.writer(&mut *blob)
            .write_all(&buffer[..n])
            .map_err(|source| StoreError::WriteBlob { source })?;
    }
    blob.flush()
        .map_err(|source| StoreError::WriteBlob { source })?;
    if blob.written() < size {
        let short = format!("the answer ended after {} of {size} bytes", blob.written());
        return Ok(Some(Failure::Connection(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            short,
        ))));
    }
    Ok(None)
}

/// Pauses before the next try of a download, or fails it.
fn retry(attempts: &mut Attempts<'_>, failure: Failure) -> crate::Result<()> {
    Ok(attempts.retry(failure).map_err(RegistryError::from)?)
}

/// Whether a `Content-Range: bytes START-END/TOTAL` starts at `offset`.
fn resumes_at(content_range: Option<&str>, offset: u64) -> bool {
    content_range
        .and_then(|r| r.strip_prefix("bytes "))
        .and_then(|r| r.split('-').next())
        .and_then(|start| start.trim().parse::<u64>().ok())
        == Some(offset)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::net::TcpListener;
    use std::time::Duration;

    use oci_spec::image::MediaType;

    use super::*;
    use crate::NoEvents;
    use crate::digest::sha256;
    use crate::net::Watch;
    use crate::plan::Reference;
    use crate::registry::Client;

    /// Answers one request on 127.0.0.1 with `body`, in a thread; the server's port.
    fn serve_once(body: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("an address").port();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("a connection");
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut stream = &stream;
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        });
        port
    }

    #[test]
    fn an_overlong_blob_is_refused_naming_its_repository() -> crate::Result<()> {
        let port = serve_once(b"hello!");
        let reference: Reference = format!("127.0.0.1:{port}/it/app:1").parse()?;
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path())?;
        let digest = sha256(b"hello");
        let descriptor = Descriptor::new(MediaType::ImageLayer, 5, digest.clone());
        let client = Client::default();
        let error = Watch::run(&NoEvents, Duration::from_secs(5), |watch| {
            let repository = Repository::new(&client, &reference, false, watch);
            repository.download(&store, &descriptor, &NoEvents)
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("blob `{digest}` of `127.0.0.1:{port}/it/app` has 6 bytes, expected 5")
        );
        assert!(!store.has_blob(&digest));
        Ok(())
    }

    #[test]
    fn content_range_must_start_at_the_offset() {
        assert!(resumes_at(Some("bytes 100-199/200"), 100));
        assert!(!resumes_at(Some("bytes 0-199/200"), 100));
        assert!(!resumes_at(None, 100));
    }
}

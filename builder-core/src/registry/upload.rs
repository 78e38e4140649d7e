//! Blob uploads: skipped when the registry has the blob, mounted from another repository
//! of the same registry when possible, else sent whole (one `PUT`) or in chunks (`PATCH`
//! per chunk, then `PUT`); a failed try starts again in a new session.
//!
//! The bytes come from a [`VerifiedBlob`], checked in the pass that sends them: a blob
//! that is corrupt in the store fails the request that would carry its last bytes, so the
//! registry never receives the whole of it and the upload is never committed, and the
//! failure is not retried.

use std::io::{self, Read};

use oci_spec::image::Descriptor;
use ureq::SendBody;

use crate::events::Events;
use crate::store::{Store, StoreError, VerifiedBlob};

use super::RegistryError;
use super::client::{header, status_error};
use super::progress::Task;
use super::repository::{Repository, failed_try};
use crate::net::Attempts;

/// What happened to one blob of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The registry had it in this repository.
    Exists,
    /// The registry linked it from another repository.
    Mounted,
    /// Its bytes were uploaded.
    Uploaded,
}

impl Repository<'_> {
    /// Puts the blob `descriptor` names, from the store, into the repository. `mount_from`
    /// names other repositories of the same registry that may have it.
    ///
    /// A try that fails (a timeout, a broken connection, a server error) is made again
    /// from the start, in a new upload session, as the distribution spec allows: only
    /// the registry knows how much of a broken request it kept. The tries share the
    /// client's retries and deadline for the blob.
    pub(crate) fn upload(
        &self,
        store: &Store,
        descriptor: &Descriptor,
        mount_from: &[String],
        events: &dyn Events,
    ) -> crate::Result<Sent> {
        let digest = descriptor.digest();
        let mut attempts = self.attempts(format!("upload of blob `{digest}` to `{}`", self.name()));
        let mut task = None;
        loop {
            let mut once = attempts.once();
            match self.upload_once(store, descriptor, mount_from, &mut once, events, &mut task) {
                Ok(sent) => {
                    if let Some(task) = task {
                        task.finish();
                    }
                    return Ok(sent);
                }
                Err(error) => {
                    let failure = failed_try(error)?;
                    attempts.retry(failure).map_err(RegistryError::from)?;
                }
            }
        }
    }

    /// One try of [`upload`](Repository::upload): skipped when the repository has the
    /// blob, mounted when it can be, else sent whole or in chunks; `task` shows the
    /// bytes sent from the first try that sends any.
    fn upload_once<'e>(
        &self,
        store: &Store,
        descriptor: &Descriptor,
        mount_from: &[String],
        attempts: &mut Attempts<'_>,
        events: &'e dyn Events,
        task: &mut Option<Task<'e>>,
    ) -> crate::Result<Sent> {
        let digest = descriptor.digest().to_string();
        if self.has_blob(&digest, attempts)? {
            return Ok(Sent::Exists);
        }
        // A registry that cannot mount opens an upload session instead, used as any other.
        let mount = mount_from
            .first()
            .map(|from| (digest.as_str(), from.as_str()));
        let location = match self.start_upload(mount, attempts)? {
            Started::Mounted => return Ok(Sent::Mounted),
            Started::Session(url) => url,
        };
        let mut blob = store.open_verified(descriptor.digest())?;
        let size = blob.size();
        let task = task.get_or_insert_with(|| {
            Task::start(events, "push", descriptor.digest(), size, attempts.pulse())
        });
        let chunk = self.client().options().chunk_size.max(1);
        let sent = if size <= chunk {
            self.put_whole(&mut blob, &location, &digest, attempts, task)
        } else {
            self.put_chunks(&mut blob, location, &digest, chunk, attempts, task)
        };
        if let Some(corrupt) = blob.corruption() {
            return Err(corrupt.into());
        }
        sent?;
        Ok(Sent::Uploaded)
    }

    /// Whether the repository has the blob `digest` (`HEAD`).
    fn has_blob(&self, digest: &str, attempts: &mut Attempts<'_>) -> Result<bool, RegistryError> {
        let url = self.blob_url(digest);
        let mut response =
            self.send(attempts, |agent, auth| auth.apply(agent.head(&url)).call())?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(status_error("HEAD", &url, &mut response)),
        }
    }

    /// `POST …/blobs/uploads/`, with `?mount=&from=` when `mount` is given.
    fn start_upload(
        &self,
        mount: Option<(&str, &str)>,
        attempts: &mut Attempts<'_>,
    ) -> Result<Started, RegistryError> {
        let url = self.uploads_url();
        let mut response = self.send(attempts, |agent, auth| {
            let mut request = auth.apply(agent.post(&url));
            if let Some((digest, from)) = mount {
                request = request.query("mount", digest).query("from", from);
            }
            request.header("Content-Length", "0").send_empty()
        })?;
        match response.status().as_u16() {
            201 if mount.is_some() => Ok(Started::Mounted),
            202 => Ok(Started::Session(self.location("POST", &url, &response)?)),
            _ => Err(status_error("POST", &url, &mut response)),
        }
    }

    /// Sends the blob in one `PUT <location>?digest=…`.
    fn put_whole(
        &self,
        blob: &mut VerifiedBlob,
        location: &str,
        digest: &str,
        attempts: &mut Attempts<'_>,
        task: &mut Task<'_>,
    ) -> Result<(), RegistryError> {
        let size = blob.size();
        let start = blob.checkpoint();
        let mut response = self.send(attempts, |agent, auth| {
            blob.rewind(&start).map_err(ureq::Error::Io)?;
            task.set(0);
            let mut body = task.reader(Body(&mut *blob));
            auth.apply(agent.put(location))
                .query("digest", digest)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", size.to_string())
                .send(SendBody::from_reader(&mut body))
        })?;
        if response.status().as_u16() != 201 {
            return Err(status_error("PUT", location, &mut response));
        }
        Ok(())
    }

    /// Sends the blob as `PATCH` requests of `chunk` bytes, then `PUT …?digest=…`.
    fn put_chunks(
        &self,
        blob: &mut VerifiedBlob,
        mut location: String,
        digest: &str,
        chunk: u64,
        attempts: &mut Attempts<'_>,
        task: &mut Task<'_>,
    ) -> Result<(), RegistryError> {
        let size = blob.size();
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let end = offset + len - 1;
            let url = location.clone();
            let start = blob.checkpoint();
            let mut response = self.send(attempts, |agent, auth| {
                blob.rewind(&start).map_err(ureq::Error::Io)?;
                task.set(offset);
                let mut body = task.reader(Body((&mut *blob).take(len)));
                auth.apply(agent.patch(&url))
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{offset}-{end}"))
                    .header("Content-Length", len.to_string())
                    .send(SendBody::from_reader(&mut body))
            })?;
            if response.status().as_u16() != 202 {
                return Err(status_error("PATCH", &url, &mut response));
            }
            location = self.location("PATCH", &url, &response)?;
            offset += len;
        }
        let mut response = self.send(attempts, |agent, auth| {
            auth.apply(agent.put(&location))
                .query("digest", digest)
                .header("Content-Length", "0")
                .send_empty()
        })?;
        if response.status().as_u16() != 201 {
            return Err(status_error("PUT", &location, &mut response));
        }
        Ok(())
    }

    /// The absolute upload URL in a response's `Location`.
    fn location(
        &self,
        method: &'static str,
        url: &str,
        response: &ureq::http::Response<ureq::Body>,
    ) -> Result<String, RegistryError> {
        header(response, "Location")
            .map(|location| self.absolute(location))
            .ok_or_else(|| RegistryError::Protocol {
                method,
                url: url.to_owned(),
                what: "the answer has no `Location`".to_owned(),
            })
    }
}

/// How `POST …/blobs/uploads/` answered.
enum Started {
    /// The blob was mounted from another repository: nothing to upload.
    Mounted,
    /// An upload session, at this URL.
    Session(String),
}

/// The body of an upload: a read of a corrupt blob becomes an error that is not retried
/// (ureq hands an error it finds wrapped in an I/O error back as itself, and a request
/// is tried again only after an I/O error or a broken connection).
struct Body<R>(R);

impl<R: Read> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|error| {
            if error
                .get_ref()
                .is_some_and(|inner| inner.is::<StoreError>())
            {
                ureq::Error::Other(Box::new(error)).into_io()
            } else {
                error
            }
        })
    }
}

//! Blob uploads: skipped when the registry has the blob, mounted from another repository
//! of the same registry when possible, else sent whole (one `PUT`) or in chunks (`PATCH`
//! per chunk, then `PUT`); a failed try starts again in a new session.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};

use oci_spec::image::Descriptor;
use ureq::SendBody;

use crate::events::Events;
use crate::store::{Store, StoreError};

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
        let size = store.blob_size(descriptor.digest())?;
        let task = task.get_or_insert_with(|| {
            Task::start(events, "push", descriptor.digest(), size, attempts.pulse())
        });
        let blob = Blob {
            store,
            descriptor,
            digest: &digest,
            size,
        };
        let chunk = self.client().options().chunk_size.max(1);
        if size <= chunk {
            self.put_whole(&blob, &location, attempts, task)?;
        } else {
            self.put_chunks(&blob, location, chunk, attempts, task)?;
        }
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
        blob: &Blob<'_>,
        location: &str,
        attempts: &mut Attempts<'_>,
        task: &mut Task<'_>,
    ) -> crate::Result<()> {
        let mut response = self.send(attempts, |agent, auth| {
            let file = blob.open(0).map_err(ureq::Error::Io)?;
            task.set(0);
            let mut body = task.reader(file);
            auth.apply(agent.put(location))
                .query("digest", blob.digest)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", blob.size.to_string())
                .send(SendBody::from_reader(&mut body))
        })?;
        if response.status().as_u16() != 201 {
            return Err(status_error("PUT", location, &mut response).into());
        }
        Ok(())
    }

    /// Sends the blob as `PATCH` requests of `chunk` bytes, then `PUT …?digest=…`.
    fn put_chunks(
        &self,
        blob: &Blob<'_>,
        mut location: String,
        chunk: u64,
        attempts: &mut Attempts<'_>,
        task: &mut Task<'_>,
    ) -> crate::Result<()> {
        let mut offset = 0;
        while offset < blob.size {
            let len = chunk.min(blob.size - offset);
            let end = offset + len - 1;
            let url = location.clone();
            let mut response = self.send(attempts, |agent, auth| {
                let file = blob.open(offset).map_err(ureq::Error::Io)?;
                task.set(offset);
                let mut body = task.reader(file.take(len));
                auth.apply(agent.patch(&url))
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{offset}-{end}"))
                    .header("Content-Length", len.to_string())
                    .send(SendBody::from_reader(&mut body))
            })?;
            if response.status().as_u16() != 202 {
                return Err(status_error("PATCH", &url, &mut response).into());
            }
            location = self.location("PATCH", &url, &response)?;
            offset += len;
        }
        let mut response = self.send(attempts, |agent, auth| {
            auth.apply(agent.put(&location))
                .query("digest", blob.digest)
                .header("Content-Length", "0")
                .send_empty()
        })?;
        if response.status().as_u16() != 201 {
            return Err(status_error("PUT", &location, &mut response).into());
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

/// The blob an upload sends, from the store.
struct Blob<'a> {
    store: &'a Store,
    descriptor: &'a Descriptor,
    digest: &'a str,
    size: u64,
}

impl Blob<'_> {
    /// The store's file of the blob, opened at `offset`.
    fn open(&self, offset: u64) -> std::io::Result<File> {
        let mut file =
            self.store
                .open_blob(self.descriptor.digest())
                .map_err(|error| match error {
                    StoreError::ReadBlob { source, .. } => source,
                    other => std::io::Error::other(other.to_string()),
                })?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(file)
    }
}

/// How `POST …/blobs/uploads/` answered.
enum Started {
    /// The blob was mounted from another repository: nothing to upload.
    Mounted,
    /// An upload session, at this URL.
    Session(String),
}

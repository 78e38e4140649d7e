//! Blob uploads: skipped when the registry has the blob, mounted from another repository
//! of the same registry when possible, else sent whole (one `PUT`) or in chunks (`PATCH`
//! per chunk, then `PUT`).

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};

use oci_spec::image::Descriptor;
use ureq::SendBody;

use crate::events::Events;
use crate::store::{Store, StoreError};

use super::RegistryError;
use super::client::{header, status_error};
use super::progress::Task;
use super::repository::Repository;

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
    /// Whether the repository has the blob `digest` (`HEAD`).
    pub(crate) fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.blob_url(digest);
        let mut response = self.send(&url, |agent, auth| auth.apply(agent.head(&url)).call())?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(status_error("HEAD", &url, &mut response)),
        }
    }

    /// Puts the blob `descriptor` names, from the store, into the repository. `mount_from`
    /// names other repositories of the same registry that may have it.
    pub(crate) fn upload(
        &self,
        store: &Store,
        descriptor: &Descriptor,
        mount_from: &[String],
        events: &dyn Events,
    ) -> crate::Result<Sent> {
        let digest = descriptor.digest().to_string();
        if self.has_blob(&digest)? {
            return Ok(Sent::Exists);
        }
        // A registry that cannot mount opens an upload session instead, used as any other.
        let mount = mount_from
            .first()
            .map(|from| (digest.as_str(), from.as_str()));
        let location = match self.start_upload(mount)? {
            Started::Mounted => return Ok(Sent::Mounted),
            Started::Session(url) => url,
        };
        let size = store.blob_size(descriptor.digest())?;
        let mut task = Task::start(events, "push", descriptor.digest(), size);
        let chunk = self.client().options().chunk_size.max(1);
        if size <= chunk {
            self.put_whole(store, descriptor, &location, &digest, size, &mut task)?;
        } else {
            self.put_chunks(store, descriptor, location, &digest, size, chunk, &mut task)?;
        }
        task.finish();
        Ok(Sent::Uploaded)
    }

    /// `POST …/blobs/uploads/`, with `?mount=&from=` when `mount` is given.
    fn start_upload(&self, mount: Option<(&str, &str)>) -> Result<Started, RegistryError> {
        let url = self.uploads_url();
        let mut response = self.send(&url, |agent, auth| {
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
        store: &Store,
        descriptor: &Descriptor,
        location: &str,
        digest: &str,
        size: u64,
        task: &mut Task<'_>,
    ) -> crate::Result<()> {
        let mut response = self.send(location, |agent, auth| {
            let file = reopen(store, descriptor, 0).map_err(ureq::Error::Io)?;
            task.set(0);
            let mut body = task.reader(file);
            auth.apply(agent.put(location))
                .query("digest", digest)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", size.to_string())
                .send(SendBody::from_reader(&mut body))
        })?;
        if response.status().as_u16() != 201 {
            return Err(status_error("PUT", location, &mut response).into());
        }
        Ok(())
    }

    /// Sends the blob as `PATCH` requests of `chunk` bytes, then `PUT …?digest=…`.
    #[allow(clippy::too_many_arguments)]
    fn put_chunks(
        &self,
        store: &Store,
        descriptor: &Descriptor,
        mut location: String,
        digest: &str,
        size: u64,
        chunk: u64,
        task: &mut Task<'_>,
    ) -> crate::Result<()> {
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let end = offset + len - 1;
            let url = location.clone();
            let mut response = self.send(&url, |agent, auth| {
                let file = reopen(store, descriptor, offset).map_err(ureq::Error::Io)?;
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
        let mut response = self.send(&location, |agent, auth| {
            auth.apply(agent.put(&location))
                .query("digest", digest)
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

/// How `POST …/blobs/uploads/` answered.
enum Started {
    /// The blob was mounted from another repository: nothing to upload.
    Mounted,
    /// An upload session, at this URL.
    Session(String),
}

/// The store's blob, opened at `offset`.
fn reopen(store: &Store, descriptor: &Descriptor, offset: u64) -> std::io::Result<File> {
    let mut file = store
        .open_blob(descriptor.digest())
        .map_err(|error| match error {
            StoreError::ReadBlob { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        })?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
}

//! Where a build writes its image besides the store: a registry, an archive, or the
//! image's filesystem.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::Descriptor;

use crate::Events;
use crate::atomic::AtomicFile;
use crate::build::{export_rootfs, export_rootfs_tar};
use crate::oci::{ArchiveFormat, ArchiveImage, write_archive};
use crate::plan::{Platform, Reference};
use crate::registry::{Client, push};
use crate::store::Store;

use super::FrontendError;

/// The destination that is standard output, as BuildKit reads `dest=-` and `-o -`.
const STDOUT: &str = "-";

/// An output of a build (`-o`, `--push`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A registry, as this reference (`type=registry`).
    Registry(Reference),
    /// The store, under this name besides the tags; with `push`, its registry too
    /// (`type=image`).
    Image {
        /// The name.
        name: Reference,
        /// Whether it is pushed.
        push: bool,
    },
    /// An OCI image-layout tarball.
    Oci(PathBuf),
    /// A docker archive that is also an OCI layout (one platform only).
    Docker(PathBuf),
    /// The image's filesystem, in a directory (a subdirectory per platform for several).
    Local(PathBuf),
    /// The image's filesystem, as one tar file.
    Tar(PathBuf),
}

impl FromStr for Output {
    type Err = FrontendError;

    /// `type=oci|docker|local|tar,dest=PATH`, `type=registry,name=REF`, or a bare path
    /// for `type=local`, as `docker build -o` takes them. `dest=-` is standard output,
    /// and a bare `-` a tar of the filesystem there.
    fn from_str(text: &str) -> Result<Output, FrontendError> {
        if text == STDOUT {
            return Ok(Output::Tar(PathBuf::from(STDOUT)));
        }
        if !text.contains('=') {
            return Ok(Output::Local(PathBuf::from(text)));
        }
        let invalid = |problem: String| FrontendError::InvalidOutput {
            text: text.to_owned(),
            problem,
        };
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for part in text.split(',') {
            let field = part
                .split_once('=')
                .ok_or_else(|| invalid(format!("`{part}` is not `key=value`")))?;
            fields.push(field);
        }
        let kind = fields
            .iter()
            .find(|(key, _)| *key == "type")
            .map(|(_, value)| *value)
            .ok_or_else(|| invalid("`type=` is missing".to_owned()))?;
        let accepted: &[&str] = match kind {
            "oci" | "docker" | "local" | "tar" => &["dest"],
            "registry" => &["name"],
            "image" => &["name", "push"],
            other => {
                return Err(invalid(format!(
                    "unknown type `{other}` (oci, docker, local, tar, image, registry)"
                )));
            }
        };
        let value = |wanted: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == wanted)
                .map(|(_, value)| *value)
        };
        if let Some((key, _)) = fields
            .iter()
            .find(|(key, _)| *key != "type" && !accepted.contains(key))
        {
            let names: Vec<String> = accepted.iter().map(|name| format!("`{name}`")).collect();
            return Err(invalid(format!(
                "unknown attribute `{key}` for `type={kind}` (it takes {})",
                names.join(", ")
            )));
        }
        if kind == "registry" || kind == "image" {
            let name = value("name").ok_or_else(|| invalid("`name=REF` is missing".to_owned()))?;
            let reference = name
                .parse()
                .map_err(|source| FrontendError::InvalidOutputName {
                    text: text.to_owned(),
                    source,
                })?;
            let push = match value("push") {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(invalid(format!("`push={other}` is not `true` or `false`")));
                }
            };
            return Ok(if kind == "registry" {
                Output::Registry(reference)
            } else {
                Output::Image {
                    name: reference,
                    push,
                }
            });
        }
        let dest = value("dest")
            .map(PathBuf::from)
            .ok_or_else(|| invalid("`dest=PATH` is missing".to_owned()))?;
        Ok(match kind {
            "oci" => Output::Oci(dest),
            "docker" => Output::Docker(dest),
            "local" => Output::Local(dest),
            _ => Output::Tar(dest),
        })
    }
}

impl Output {
    /// The type, as `-o type=` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Output::Registry(_) => "registry",
            Output::Image { .. } => "image",
            Output::Oci(_) => "oci",
            Output::Docker(_) => "docker",
            Output::Local(_) => "local",
            Output::Tar(_) => "tar",
        }
    }

    /// Whether the output goes to standard output (`dest=-`): the archive for `oci` and
    /// `docker`, a tar of the filesystem for `tar` and `local`.
    pub fn is_stdout(&self) -> bool {
        match self {
            Output::Registry(_) | Output::Image { .. } => false,
            Output::Oci(path) | Output::Docker(path) | Output::Local(path) | Output::Tar(path) => {
                path.as_os_str() == STDOUT
            }
        }
    }
}

/// What every output of one build writes.
pub(super) struct Written<'a> {
    pub store: &'a Store,
    /// The image: a manifest, or an index of one per platform.
    pub image: &'a Descriptor,
    /// Its names, for archives.
    pub tags: &'a [Reference],
    /// The platforms built, in order.
    pub platforms: &'a [Platform],
    /// Pushes to registries.
    pub client: &'a Client,
    pub events: &'a dyn Events,
}

impl Written<'_> {
    /// Writes the image to `output`.
    pub(super) fn write(&self, output: &Output) -> Result<(), FrontendError> {
        let (format, path) = match output {
            Output::Registry(name) => {
                push(self.client, self.store, self.image, name, self.events)?;
                return Ok(());
            }
            // Named in the store with the tags (see `Frontend::build`).
            Output::Image { name, push: true } => {
                push(self.client, self.store, self.image, name, self.events)?;
                return Ok(());
            }
            Output::Image { push: false, .. } => return Ok(()),
            // A directory cannot stream: its files go out as a tar, as in BuildKit.
            Output::Local(dir) if output.is_stdout() => (None, dir),
            Output::Local(dir) => {
                export_rootfs(self.store, self.image, self.platforms, dir)?;
                return Ok(());
            }
            Output::Tar(path) => (None, path),
            Output::Oci(path) => (Some(ArchiveFormat::Oci), path),
            // As BuildKit's docker exporter: `docker load` takes no image index.
            Output::Docker(_) if self.platforms.len() > 1 => {
                return Err(FrontendError::DockerArchivePlatforms);
            }
            Output::Docker(path) => (Some(ArchiveFormat::Docker), path),
        };
        self.write_file(format, path)
    }

    /// Writes an archive of the image (`format`) or, without one, a tar of its
    /// filesystem, to a temporary file beside `path`, then renames it there; or, for
    /// `-`, to standard output.
    fn write_file(&self, format: Option<ArchiveFormat>, path: &Path) -> Result<(), FrontendError> {
        let failed = |source| FrontendError::WriteOutput {
            path: path.to_owned(),
            source,
        };
        if path.as_os_str() == STDOUT {
            let mut sink = self.write_to(format, BufWriter::new(io::stdout()))?;
            return sink.flush().map_err(failed);
        }
        let sink = AtomicFile::new(path, ".mkimage-build-").map_err(failed)?;
        self.write_to(format, sink)?.commit().map_err(failed)
    }

    /// Writes an archive of the image (`format`) or, without one, a tar of its
    /// filesystem, to `sink`.
    fn write_to<W: Write + Send + 'static>(
        &self,
        format: Option<ArchiveFormat>,
        sink: W,
    ) -> Result<W, FrontendError> {
        Ok(match format {
            Some(format) => {
                let images = [ArchiveImage {
                    descriptor: self.image.clone(),
                    names: self.tags.to_vec(),
                }];
                write_archive(self.store, &images, format, &self.platforms[0], sink)?
            }
            None => export_rootfs_tar(self.store, self.image, self.platforms, sink)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_as_docker_writes_them() -> Result<(), FrontendError> {
        let cases = [
            ("out", Output::Local("out".into())),
            ("type=local,dest=d", Output::Local("d".into())),
            ("-", Output::Tar("-".into())),
            ("type=oci,dest=-", Output::Oci("-".into())),
            ("type=tar,dest=f.tar", Output::Tar("f.tar".into())),
            ("type=oci,dest=o.tar", Output::Oci("o.tar".into())),
            ("dest=x.tar,type=docker", Output::Docker("x.tar".into())),
            (
                "type=registry,name=localhost/a:1",
                Output::Registry("localhost/a:1".parse().map_err(crate::Error::from)?),
            ),
            (
                "type=image,name=localhost/a:1,push=true",
                Output::Image {
                    name: "localhost/a:1".parse().map_err(crate::Error::from)?,
                    push: true,
                },
            ),
            (
                "type=image,name=localhost/a:1",
                Output::Image {
                    name: "localhost/a:1".parse().map_err(crate::Error::from)?,
                    push: false,
                },
            ),
        ];
        for (text, output) in cases {
            assert_eq!(text.parse::<Output>()?, output, "{text}");
        }
        let errors = [
            (
                "type=oci",
                "invalid output `type=oci`: `dest=PATH` is missing",
            ),
            ("dest=x", "invalid output `dest=x`: `type=` is missing"),
            (
                "type=registry",
                "invalid output `type=registry`: `name=REF` is missing",
            ),
            (
                "type=oci,dest=x,zip=1",
                "invalid output `type=oci,dest=x,zip=1`: unknown attribute `zip` for `type=oci` \
                 (it takes `dest`)",
            ),
            (
                "type=image,name=a,compression=zstd",
                "invalid output `type=image,name=a,compression=zstd`: unknown attribute \
                 `compression` for `type=image` (it takes `name`, `push`)",
            ),
            (
                "type=image,name=a,push=yes",
                "invalid output `type=image,name=a,push=yes`: `push=yes` is not `true` or `false`",
            ),
            (
                "type=oci,dest",
                "invalid output `type=oci,dest`: `dest` is not `key=value`",
            ),
            (
                "type=s3,dest=x",
                "invalid output `type=s3,dest=x`: unknown type `s3` (oci, docker, local, tar, \
                 image, registry)",
            ),
        ];
        for (text, message) in errors {
            let error = text.parse::<Output>().err().map(|e| e.to_string());
            assert_eq!(error.as_deref(), Some(message), "{text}");
        }
        Ok(())
    }
}

//! `ADD`: the part of `COPY` that differs. Remote sources (URLs, git) and the extraction
//! of local archives are not done yet and fail with [`BuildError::AddUnsupported`];
//! local files and directories are copied as `COPY` copies them.
//!
//! [`prepare`] and [`run`] are where `ADD` enters the `COPY` path.

use std::fs::File;
use std::io::Read;

use crate::plan::{AddOptions, Copy, CopySource, Platform};

use super::BuildError;
use super::copy::{self, Prepared};
use super::executor::NewLayer;
use super::stage::{BuildRun, StageState};

/// Finds the sources of an `ADD`: remote ones are refused, local ones selected as for
/// `COPY`, and a local archive that `ADD` would extract is refused.
pub(super) fn prepare(
    run: &BuildRun<'_>,
    copy: &Copy,
    options: &AddOptions,
    platform: &Platform,
) -> crate::Result<Prepared> {
    for source in &copy.sources {
        let what = match source {
            CopySource::Url(url) => format!("the URL `{url}`"),
            CopySource::Git(url) => format!("the git repository `{url}`"),
            CopySource::Path(_) | CopySource::Inline(_) => continue,
        };
        return Err(BuildError::AddUnsupported { what }.into());
    }
    let prepared = copy::prepare_copy(run, copy, platform)?;
    if options.unpack != Some(false)
        && let Some(selection) = copy::context_selection(&prepared)
    {
        for matched in &selection.matches {
            let Some(path) = matched.path.as_ref().filter(|_| !matched.is_dir) else {
                continue;
            };
            if is_archive(&selection.root().join(path.as_path())) {
                return Err(BuildError::AddUnsupported {
                    what: format!("the archive `{path}` (extraction)"),
                }
                .into());
            }
        }
    }
    Ok(prepared)
}

/// Runs a prepared `ADD` onto `state`.
pub(super) fn run(
    run: &mut BuildRun<'_>,
    state: &mut StageState,
    copy: &Copy,
    _options: &AddOptions,
    prepared: &Prepared,
) -> crate::Result<Option<NewLayer>> {
    copy::run_copy(run, state, copy, prepared)
}

/// Whether the file at `path` starts like a tar archive, plain or compressed (gzip,
/// bzip2, xz, zstd), as Docker detects what `ADD` extracts.
fn is_archive(path: &std::path::Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    let head = &head[..len];
    let compressed = head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    compressed || head.get(257..262) == Some(b"ustar")
}

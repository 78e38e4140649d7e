//! `mkimage images`: the store's images, as `docker images` lists them.

use std::process::ExitCode;
use std::time::SystemTime;

use mkimage_core::store::Store;

use crate::args::ImagesArgs;
use crate::{human, render};

/// Runs `mkimage images`.
pub(crate) fn run(store: &Store, args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now();
    let id = |digest: &str| {
        if args.no_trunc {
            digest.to_owned()
        } else {
            human::short_id(digest)
        }
    };
    let images = store.images()?;
    if args.quiet {
        let mut seen = Vec::new();
        for image in &images {
            let digest = image.descriptor.digest().to_string();
            if !seen.contains(&digest) {
                render::line(&id(&digest))?;
                seen.push(digest);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for image in images {
        let (repository, tag) = match &image.name {
            Some(name) => {
                let familiar = name.familiar();
                let repository = match name.tag() {
                    Some(tag) => familiar[..familiar.len() - tag.len() - 1].to_owned(),
                    None => familiar,
                };
                (repository, name.tag().unwrap_or("<none>").to_owned())
            }
            None => ("<none>".to_owned(), "<none>".to_owned()),
        };
        rows.push(vec![
            repository,
            tag,
            id(image.descriptor.digest().as_ref()),
            human::age(image.created.as_deref(), now),
            human::size(image.size),
        ]);
    }
    render::table(&rows)?;
    Ok(ExitCode::SUCCESS)
}

//! `mkimage history`: an image's steps, newest first, as `docker history` shows them.

use std::process::ExitCode;
use std::time::SystemTime;

use mkimage_core::oci::Image;
use mkimage_core::plan::Platform;
use mkimage_core::store::Store;

use crate::args::HistoryArgs;
use crate::{human, render};

/// The width `CREATED BY` is cut to without `--no-trunc`, as docker cuts it.
const CREATED_BY_WIDTH: usize = 45;

/// Runs `mkimage history`.
pub(crate) fn run(store: &Store, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let descriptor = store.find_image(&args.image)?;
    let image = Image::load(store, &descriptor, &Platform::host())?;
    let now = SystemTime::now();
    // Each history entry that made a layer takes the next layer, bottom first.
    let mut layers = image.layers().iter();
    let mut rows: Vec<Vec<String>> = image
        .config()
        .history
        .iter()
        .map(|entry| {
            let size = if entry.empty_layer {
                0
            } else {
                layers.next().map_or(0, |layer| layer.size())
            };
            let created_by = entry.created_by.clone().unwrap_or_default();
            let created_by = if args.no_trunc {
                created_by
            } else {
                truncate(&created_by, CREATED_BY_WIDTH)
            };
            vec![
                "<missing>".to_owned(),
                human::age(entry.created.as_deref(), now),
                created_by,
                human::size(size),
                entry.comment.clone().unwrap_or_default(),
            ]
        })
        .collect();
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top[0] = if args.no_trunc {
            descriptor.digest().to_string()
        } else {
            human::short_id(descriptor.digest().as_ref())
        };
    }
    rows.insert(
        0,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
            .map(str::to_owned)
            .to_vec(),
    );
    render::table(&rows)?;
    Ok(ExitCode::SUCCESS)
}

/// `text` cut to `width` characters, the last one `…` when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}
